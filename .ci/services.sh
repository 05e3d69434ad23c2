#!/usr/bin/env bash
# Sourced by .ci/run (after install, before the tests): start throwaway services the
# test suite needs and stop them when the run exits.
#
# PostgreSQL (issue 9, concurrent workers on a real server): a fresh cluster in a
# temporary folder, listening on 127.0.0.1 only, with a database "warmstart_test";
# exports WARMSTART_TEST_POSTGRES_URL for tests/reliability/. Stopped and removed by
# an EXIT trap. Runs the server as the "postgres" user when this script runs as root.

_ws_pg_start() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "services: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    return 1
  fi
  WS_PG_DIR=$(mktemp -d /tmp/warmstart-pg.XXXXXX)
  local port=${WARMSTART_PG_PORT:-$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$WS_PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bindir/initdb" -D "$WS_PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  "${as[@]}" "$bindir/pg_ctl" -D "$WS_PG_DIR/data" -l "$WS_PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $WS_PG_DIR -c fsync=off -c max_connections=200" start >/dev/null
  "${as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres warmstart_test
  WS_PG_BIN=$bindir
  WS_PG_AS="${as[*]}"
  export WARMSTART_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/warmstart_test"
  echo "services: PostgreSQL on 127.0.0.1:$port ($WARMSTART_TEST_POSTGRES_URL)"
}

_ws_pg_stop() {
  if [ -n "${WS_PG_DIR:-}" ] && [ -d "$WS_PG_DIR/data" ]; then
    # shellcheck disable=SC2086
    $WS_PG_AS "$WS_PG_BIN/pg_ctl" -D "$WS_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WS_PG_DIR"
  fi
}

trap _ws_pg_stop EXIT
_ws_pg_start
