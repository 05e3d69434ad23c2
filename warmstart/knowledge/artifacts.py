"""Artifacts (trained checkpoints) in an Optuna artifact store every worker can reach.

* A folder (default ``$WARMSTART_CACHE/artifacts``; on many machines, a shared
  file system path): :class:`optuna.artifacts.FileSystemArtifactStore`.
* ``s3://BUCKET[/PREFIX]``: :class:`optuna.artifacts.Boto3ArtifactStore`
  (``pip install warmstart[s3]``; credentials and endpoint from the usual
  ``AWS_*`` environment variables, so any S3-compatible server works).

A checkpoint folder is uploaded as one tar file; the artifact id is stored in
the trial's user attribute ``checkpoint_artifact``.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact

from warmstart._atomic import atomic_path
from warmstart._paths import cache_dir
from warmstart.errors import ConfigError, StorageError

ARTIFACT_ATTR = "checkpoint_artifact"


def artifact_store(location: str | Path | None = None) -> Any:
    """An Optuna artifact store for ``location`` (folder path or ``s3://bucket/prefix``).

    Raises:
        StorageError: the folder cannot be created, or boto3 is missing for s3.
    """
    loc = str(location) if location is not None else str(cache_dir() / "artifacts")
    if loc.startswith("s3://"):
        try:
            import boto3
        except ImportError:
            raise StorageError(f"artifact store {loc} needs boto3: pip install warmstart[s3]") from None
        from optuna.artifacts import Boto3ArtifactStore

        bucket, _, prefix = loc[len("s3://"):].partition("/")
        if not bucket:
            raise StorageError(f"artifact store {loc!r} names no bucket; use s3://BUCKET[/PREFIX]")
        store = Boto3ArtifactStore(bucket, client=boto3.client("s3"))
        if prefix:  # keep every id under the prefix
            return _Prefixed(store, prefix.rstrip("/") + "/")
        return store
    if "://" in loc:
        raise StorageError(f"artifact store {loc!r}: use a folder path or s3://BUCKET[/PREFIX]")
    path = Path(loc).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create artifact folder {path}: {exc}") from None
    return FileSystemArtifactStore(str(path))


class _Prefixed:
    """An artifact store that puts every artifact id under a key prefix."""

    def __init__(self, inner: Any, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def open_reader(self, artifact_id: str) -> Any:
        return self.inner.open_reader(self.prefix + artifact_id)

    def write(self, artifact_id: str, content_body: Any) -> None:
        self.inner.write(self.prefix + artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self.inner.remove(self.prefix + artifact_id)


def upload_checkpoint(store: Any, trial: optuna.Trial, folder: str | Path) -> str:
    """Upload a checkpoint folder as a tar artifact of ``trial``; return the artifact id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"checkpoint folder {folder} does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / f"{folder.name}.tar"
        with tarfile.open(tar_path, "w") as tar:
            for f in sorted(folder.iterdir()):
                tar.add(f, arcname=f.name)
        artifact_id = upload_artifact(artifact_store=store, file_path=str(tar_path), study_or_trial=trial,
                                      mimetype="application/x-tar")
    trial.set_user_attr(ARTIFACT_ATTR, artifact_id)
    return artifact_id


def download_checkpoint(store: Any, artifact_id: str, out: str | Path) -> Path:
    """Download a checkpoint artifact into the folder ``out`` (atomically)."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "ckpt.tar"
        try:
            download_artifact(artifact_store=store, file_path=str(tar_path), artifact_id=artifact_id)
        except Exception as exc:
            raise StorageError(f"cannot download artifact {artifact_id}: {exc}") from None
        with atomic_path(out) as tmp_out, tarfile.open(tar_path) as tar:
            tmp_out.mkdir()
            for member in tar.getmembers():
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise StorageError(f"artifact {artifact_id} holds an unexpected entry {member.name!r}")
                tar.extract(member, tmp_out, filter="data")
    return out
