from __future__ import annotations

import optuna
import torch

from warmstart.knowledge import meta_features, normalized_l1, open_storage, rank_similar
from warmstart.knowledge.metafeatures import probe_embedding
from warmstart.knowledge.records import make_record_attr
from warmstart.tasks import Task, load_task


def _tab(name: str, x: torch.Tensor, y: torch.Tensor) -> Task:
    return Task(name, x, y, None, None, x[:10], y[:10], ["a", "b"], "tabular", (x.shape[1],))


def _tasks() -> tuple[Task, Task, Task]:
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(6, 6, generator=g)

    def correlated(n: int) -> torch.Tensor:
        x = torch.randn(n, 6, generator=g) @ mix
        return (x - x.mean(0)) / x.std(0)

    y = lambda n: torch.arange(n) % 2  # noqa: E731
    target = _tab("target", correlated(200), y(200))
    same_kind = _tab("same-kind", correlated(240), y(240))  # more examples, same input structure
    xb = correlated(200)[:, torch.tensor([3, 0, 5, 1, 4, 2])] * torch.tensor([1, -1, 1, -1, 1, -1.0])
    other = _tab("other", xb, y(200))  # same size and statistics, different structure
    return target, same_kind, other


def test_normalized_l1_basics():
    d = normalized_l1({"a": 0.0, "b": 1.0}, [{"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 0.0}, {"a": 1.0}])
    assert d[0] == 0.0 and d[1] == 1.0 and d[2] == 1.0  # missing feature counts as maximal


def test_probe_is_fixed_and_deterministic():
    t = load_task("iris")
    assert probe_embedding(t) == probe_embedding(t)
    m, s = probe_embedding(t)
    assert len(m) == len(s) == 8 and all(v >= 0 for v in s)


def test_probe_changes_which_task_is_nearest(tmp_path):
    target, same_kind, other = _tasks()
    metas = {t.name: meta_features(t) for t in (same_kind, other)}
    tm = meta_features(target)
    assert rank_similar(tm, metas, exclude_prefixes=("probe_",))[0][0] == "other"
    assert rank_similar(tm, metas)[0][0] == "same-kind"
    # and through the CLI, from studies in a knowledge base
    from typer.testing import CliRunner

    from warmstart.cli.main import app

    st = open_storage(f"sqlite:///{tmp_path}/kb.db")
    for t in (target, same_kind, other):
        s = optuna.create_study(study_name=f"{t.name}|tune:scratch", storage=st)
        s.set_user_attr("warmstart", make_record_attr(t.name, "tune:scratch", meta_features(t), {}, {}))
    run = CliRunner().invoke
    out = run(app, ["kb", "similar", "target", "--storage", f"{tmp_path}/kb.db", "--json"])
    assert out.exit_code == 0, out.output
    assert '"same-kind"' in out.output.split("distance")[0]
    out = run(app, ["kb", "similar", "target", "--storage", f"{tmp_path}/kb.db", "--json", "--no-probe"])
    assert '"other"' in out.output.split("distance")[0]
