"""A prior's file (warmstart/knowledge/_prior_io.py): plain JSON, gzip by name, the ranker refitted on load."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.knowledge._prior_data import situation, synthetic_rows
from warmstart.errors import DataError
from warmstart.knowledge._prior_io import VERSION
from warmstart.knowledge.prior import Prior, fit_prior


@pytest.fixture(scope="module")
def prior() -> Prior:
    return fit_prior(synthetic_rows())


def test_save_load_round_trip_is_json_not_pickle(prior, tmp_path):
    for name in ("prior.json", "prior.json.gz"):
        path = prior.save(tmp_path / name)
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode() if name.endswith(".gz") else raw.decode()
        data = json.loads(text)  # plain JSON: nothing to unpickle
        assert data["format"] == "warmstart-prior" and data["table"]["target"] == "score"
        back = Prior.load(path)
        assert back.path == str(path)
        assert back.portfolio == prior.portfolio and back.tasks == prior.tasks
        for kind in ("image", "tabular"):
            assert [p.to_json() for p in back.suggest(situation(kind), k=4)] == \
                   [p.to_json() for p in prior.suggest(situation(kind), k=4)]
        r = {"strategy": "finetune", "params": {"lr": 1e-2}}
        assert back.predict_final([0.4, 0.6], r, situation("image")) == \
            prior.predict_final([0.4, 0.6], r, situation("image"))


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        Prior.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a warmstart prior"):
        Prior.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(f'{{"format": "warmstart-prior", "version": {VERSION}, "config": {{}}}}')
    with pytest.raises(DataError, match="malformed"):
        Prior.load(tmp_path / "y.json")
    (tmp_path / "old.json").write_text('{"format": "warmstart-prior", "version": 1, "config": {}}')
    with pytest.raises(DataError, match=r"format version 1; .*\(refit it: warmstart kb fit-prior\)"):
        Prior.load(tmp_path / "old.json")
    (tmp_path / "z.json").write_bytes(b"\x80\x04K\x01.")  # a pickle: refused as unreadable, never unpickled
    with pytest.raises(DataError, match="unreadable"):
        Prior.load(tmp_path / "z.json")
