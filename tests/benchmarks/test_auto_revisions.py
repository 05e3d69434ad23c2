"""The auto benchmark's run log: which finished runs are current (each arm's revision, the revisions scoped to some
shots, the single strategies' own revisions), so that a rerun skips them and runs the stale ones again."""

from __future__ import annotations

from benchmarks._auto_report import HERE
from benchmarks._auto_revisions import ARM_REVISION, AUTO_REVISION, FIRST_FIT, SCOPED, RunLog, unchanged_since


def _as_of(monkeypatch, revision: int, first_trial: int | None = None) -> None:
    """Patch the auto arms' revisions to what they were at ``revision`` (the first trial's to ``first_trial``,
    default ``revision``)."""
    import benchmarks._auto_revisions as arms

    monkeypatch.setattr(arms, "AUTO_REVISION", revision)
    monkeypatch.setitem(arms.ARM_REVISION, "auto_prior", revision)
    monkeypatch.setitem(arms.ARM_REVISION, "first_trial", revision if first_trial is None else first_trial)


def test_run_log_reads_back_finished_runs(tmp_path) -> None:
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"situation": "s", "seed": 0, "arm": "single", "strategy": "finetune", "accuracy": 0.5})
    log.add({"situation": "s", "seed": 0, "arm": "auto_none", "auto_revision": ARM_REVISION["auto_none"],
             "accuracy": 0.6})
    log.add({"situation": "s", "seed": 1, "arm": "auto_prior", "auto_revision": AUTO_REVISION - 1, "accuracy": 0.7})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("s", 0, "single", "finetune")["accuracy"] == 0.5
    assert again.get("s", 0, "auto_none")["accuracy"] == 0.6
    assert again.get("s", 1, "auto_none") is None and again.get("s", 0, "single", "l2sp") is None
    assert again.get("s", 1, "auto_prior") is None  # of the revision before auto (prior)'s last change


def test_an_auto_run_stays_current_where_the_later_revisions_changed_nothing(tmp_path, monkeypatch) -> None:
    """Revision 13 changed only the situations with one label per class (SCOPED): when it was the latest, a
    revision-12 run of another situation was still a run of today's auto there; one of digits-1shot, or of revision
    11, was not. Revision 14 changed every situation: no earlier run stays current."""
    import benchmarks._auto_revisions as arms

    assert 14 not in SCOPED and AUTO_REVISION >= 14
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"situation": "digits-5shot", "seed": 0, "arm": "auto_prior", "auto_revision": 13, "accuracy": 0.9})
    assert RunLog(tmp_path / "runs.jsonl").get("digits-5shot", 0, "auto_prior") is None
    (tmp_path / "runs.jsonl").unlink()
    # revision 18 changed every situation (the length gains): a revision-17 run is stale everywhere
    assert 18 not in SCOPED and AUTO_REVISION >= 18
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-1shot", "digits-unlabelled", "digits-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 17, "accuracy": 0.9})
    assert not RunLog(tmp_path / "runs.jsonl").runs
    (tmp_path / "runs.jsonl").unlink()
    # revision 20 made the adaptation strategies' fits faster (no epoch scored at select_by="last"): every auto run
    # before it is stale, but the first trial's fit (no deadline, the same weights) stays current
    assert 20 not in SCOPED and AUTO_REVISION >= 20 and ARM_REVISION["first_trial"] >= 19
    from benchmarks._revision import current_revision

    # revision 21 changed the labelled searches only: a revision-20 run without labels or with one stayed current
    # while revision 23 was the latest
    assert SCOPED[21] == (2, 5, 10, 20)
    monkeypatch.setattr(arms, "AUTO_REVISION", 23)
    monkeypatch.setitem(arms.ARM_REVISION, "auto_prior", 23)
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-unlabelled", "digits-1shot", "digits-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 20, "accuracy": 0.9})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-1shot", 0, "auto_prior")
    assert again.get("digits-5shot", 0, "auto_prior") is None
    # ... and revision 22 the label-free searches only: there a revision-20 run is stale, a one-shot one is not
    assert SCOPED[22] == (0,) and again.get("digits-unlabelled", 0, "auto_prior") is None
    assert SCOPED[23] == (2, 5, 10, 20)  # revision 23: the draws of labelled searches only
    monkeypatch.undo()
    # revision 24 fits the final fit's schedule to the budget wherever the budget would cut it, and revisions 25
    # and 26 change the prior's ranker (the first pick too): every situation, all three
    assert 24 not in SCOPED and 25 not in SCOPED and 26 not in SCOPED and AUTO_REVISION >= 26
    assert ARM_REVISION["first_trial"] >= 26
    assert RunLog(tmp_path / "runs.jsonl").get("digits-1shot", 0, "auto_prior") is None
    (tmp_path / "runs.jsonl").unlink()
    # revision 27 changed the labelled searches only (the final choice's tie-break, no search when the picks would
    # cut the first one's final fit): a revision-26 run without labels or with one label per class stays current
    assert SCOPED[27] == (2, 5, 10, 20) and AUTO_REVISION >= 27
    _as_of(monkeypatch, 27)  # as it was until revision 28
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-unlabelled", "digits-1shot", "digits-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 26, "accuracy": 0.9})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-unlabelled", 0, "auto_prior") and again.get("digits-1shot", 0, "auto_prior")
    assert again.get("digits-5shot", 0, "auto_prior") is None
    # ... and the first trial of a labelled run (no search: its own), so a revision-26 first trial is stale there
    for situation in ("digits-1shot", "digits-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "first_trial", "auto_revision": 26, "accuracy": 0.9,
                 "first_fit": FIRST_FIT, "label": "finetune | seed 0"})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-1shot", 0, "first_trial") and again.get("digits-5shot", 0, "first_trial") is None
    monkeypatch.undo()
    (tmp_path / "runs.jsonl").unlink()
    # revision 28 changed the picks of every labelled situation (their reach): a revision-27 run stays current only
    # without labels, and so does its first trial
    assert SCOPED[28] == (1, 2, 5, 10, 20) and AUTO_REVISION >= 28
    _as_of(monkeypatch, 28)  # as it was until revision 29
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-unlabelled", "digits-1shot", "digits-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 27, "accuracy": 0.9})
        log.add({"situation": situation, "seed": 0, "arm": "first_trial", "auto_revision": 27, "accuracy": 0.9,
                 "first_fit": FIRST_FIT, "label": "finetune | seed 0"})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-unlabelled", 0, "auto_prior") and again.get("digits-unlabelled", 0, "first_trial")
    assert not any(again.get(s, 0, a) for s in ("digits-1shot", "digits-5shot") for a in ("auto_prior", "first_trial"))
    monkeypatch.undo()
    # revision 29 plans mcc's final fit past its full length under a deadline, revision 30 fits its horizon: every
    # situation's auto run is stale, and so is its first trial (a run without a search is its own)
    assert 29 not in SCOPED and 30 not in SCOPED and AUTO_REVISION >= 30 and ARM_REVISION["first_trial"] >= 30
    again = RunLog(tmp_path / "runs.jsonl")
    assert not any(again.get(s, 0, a) for s in ("digits-unlabelled", "digits-1shot", "digits-5shot")
                   for a in ("auto_prior", "first_trial"))
    (tmp_path / "runs.jsonl").unlink()
    _as_of(monkeypatch, 20, first_trial=19)  # as it was until revision 25
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"situation": "digits-5shot", "seed": 0, "arm": "auto_prior", "auto_revision": 19, "accuracy": 0.9})
    log.add({"situation": "digits-5shot", "seed": 0, "arm": "first_trial", "auto_revision": 18, "accuracy": 0.9,
             "first_fit": FIRST_FIT, "label": "mcc | seed 0", "revision": current_revision("mcc")})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-5shot", 0, "auto_prior") is None and again.get("digits-5shot", 0, "first_trial")
    (tmp_path / "runs.jsonl").unlink()
    # revision 19 changed the source of the prior's picks, where several are given: scoped to 10 labels per class
    # (the rotated situation; inverted has one source), so a revision-18 run of another situation, and its first
    # trial, stay current
    assert SCOPED[19] == (10,) and AUTO_REVISION >= 19 and ARM_REVISION["first_trial"] >= 19
    monkeypatch.setattr(arms, "AUTO_REVISION", 19)
    monkeypatch.setitem(arms.ARM_REVISION, "auto_prior", 19)

    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-5shot", "mnist5k-b-inverted-10shot"):
        for arm in ("auto_prior", "first_trial"):
            row = {"situation": situation, "seed": 0, "arm": arm, "auto_revision": 18, "accuracy": 0.9}
            if arm == "first_trial":  # a recipe run: its strategy's revision and how it was retrained
                row.update(first_fit=FIRST_FIT, label="mcc | seed 0", revision=current_revision("mcc"))
            log.add(row)
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-5shot", 0, "auto_prior") and again.get("digits-5shot", 0, "first_trial")
    assert again.get("mnist5k-b-inverted-10shot", 0, "auto_prior") is None
    assert again.get("mnist5k-b-inverted-10shot", 0, "first_trial") is None
    (tmp_path / "runs.jsonl").unlink()
    # revision 16 changed the labelled searches only, revision 17 the label-free ones: when 17 was the latest, a
    # revision-15 run with one label per class was still current, one without labels or with 5 or 10 was not
    assert SCOPED[16] == (2, 5, 10, 20) and SCOPED[17] == (0,)
    monkeypatch.setattr(arms, "AUTO_REVISION", 17)
    monkeypatch.setitem(arms.ARM_REVISION, "auto_prior", 17)
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-5shot", "digits-unlabelled", "digits-1shot", "mnist5k-b-inverted-10shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 15, "accuracy": 0.9})
    log.add({"situation": "digits-5shot", "seed": 1, "arm": "auto_prior", "auto_revision": 16, "accuracy": 0.9})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-1shot", 0, "auto_prior") and again.get("digits-5shot", 1, "auto_prior")
    for situation in ("digits-5shot", "digits-unlabelled", "mnist5k-b-inverted-10shot"):
        assert again.get(situation, 0, "auto_prior") is None
    (tmp_path / "runs.jsonl").unlink()
    monkeypatch.setattr(arms, "AUTO_REVISION", 13)
    monkeypatch.setitem(arms.ARM_REVISION, "auto_prior", 13)
    assert SCOPED[13] == (1,)
    log = RunLog(tmp_path / "runs.jsonl")
    for situation, rev in (("digits-5shot", 12), ("digits-unlabelled", 12), ("digits-1shot", 12),
                           ("breast_cancer-b-5shot", 11)):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": rev, "accuracy": 0.9})
    log.add({"situation": "digits-5shot", "seed": 0, "arm": "auto_none", "auto_revision": 12, "accuracy": 0.9})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-5shot", 0, "auto_prior") and again.get("digits-unlabelled", 0, "auto_prior")
    assert again.get("digits-1shot", 0, "auto_prior") is None
    assert again.get("breast_cancer-b-5shot", 0, "auto_prior") is None  # revision 12 changed every situation
    assert again.get("digits-5shot", 0, "auto_none") is None  # auto without the prior has its own revision
    assert unchanged_since(12, "mnist5k-b-rotated-10shot") and not unchanged_since(12, "no such situation")


def test_run_log_reads_runs_of_an_older_revision_as_not_done(tmp_path) -> None:
    from benchmarks._meta_portfolio import REVISION

    rev = REVISION["self_training"][0]
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"situation": "s", "seed": 0, "arm": "single", "strategy": "self_training", "accuracy": 0.5})
    log.add({"situation": "s", "seed": 0, "arm": "single", "strategy": "finetune", "accuracy": 0.6})
    log.add({"situation": "s", "seed": 0, "arm": "auto_none", "accuracy": 0.7})
    log.add({"situation": "s", "seed": 0, "arm": "first_trial", "label": "mcc | 5 shots | seed 0",
             "auto_revision": ARM_REVISION["first_trial"], "accuracy": 0.8})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("s", 0, "single", "self_training") is None  # revision 1 < today's
    assert again.get("s", 0, "single", "finetune")["accuracy"] == 0.6  # never revised: current
    assert again.get("s", 0, "auto_none") is None  # no auto_revision: the old auto
    assert again.get("s", 0, "first_trial") is None  # its strategy (mcc) is of an older revision
    trial = {"situation": "s", "seed": 1, "arm": "first_trial", "label": "finetune | 5 shots | seed 1",
             "auto_revision": ARM_REVISION["first_trial"], "accuracy": 0.8}
    again.add(trial)  # retrained at its trials' length: the first-trial arm's older way
    assert RunLog(tmp_path / "runs.jsonl").get("s", 1, "first_trial") is None
    again.add({**trial, "first_fit": FIRST_FIT})
    assert RunLog(tmp_path / "runs.jsonl").get("s", 1, "first_trial")["accuracy"] == 0.8
    again.add({"situation": "s", "seed": 0, "arm": "single", "strategy": "self_training", "revision": rev,
               "accuracy": 0.9})
    assert RunLog(tmp_path / "runs.jsonl").get("s", 0, "single", "self_training")["accuracy"] == 0.9
    # the best single strategy's rerun here is current at its strategy's revision (it is not run again)
    again.add({"situation": "s", "seed": 0, "arm": HERE, "strategy": "self_training", "revision": rev, "accuracy": 0.8})
    assert RunLog(tmp_path / "runs.jsonl").get("s", 0, HERE, "self_training")["accuracy"] == 0.8


def test_a_revision_scoped_to_some_situations_leaves_the_others_current(tmp_path) -> None:
    """Revision 31 (three more tabular families in the priors' rows) changed only breast_cancer-b-5shot's plan,
    revision 32 (channels-last convolutions on CPU) only the image situations, revision 33 (the source's held-out
    labels choose) only the tabular one again, revision 34 none, 35 and 36 the tabular one, 37 (the soup), 38 (the
    source's standardization), 39 (the soup's refit), 40 (no refit) and 41 (the ensemble) both tabular ones
    (SCOPED_SITUATIONS): a revision-32 run of an image situation stays current, the tabular situations' are run again,
    and a run of revision 30 is stale everywhere; the first trial's arm (revision 32) stays current on images, and on a
    table while its input revision is today's."""
    from benchmarks._auto_revisions import SCOPED_SITUATIONS
    from benchmarks._revision import current_revision, input_revision

    assert SCOPED_SITUATIONS[31] == SCOPED_SITUATIONS[33] == ("breast_cancer-b-5shot",) and AUTO_REVISION == 41
    assert SCOPED_SITUATIONS[34] == () and SCOPED_SITUATIONS[35] == SCOPED_SITUATIONS[36] == SCOPED_SITUATIONS[33]
    assert SCOPED_SITUATIONS[37] == SCOPED_SITUATIONS[40] == SCOPED_SITUATIONS[41] == ("breast_cancer-b-5shot",
                                                                                      "spam7-b-5shot")
    assert unchanged_since(32, "mnist5k-b-inverted-10shot") and not unchanged_since(36, "spam7-b-5shot")
    assert "breast_cancer-b-5shot" not in SCOPED_SITUATIONS[32] and "digits-5shot" in SCOPED_SITUATIONS[32]
    assert unchanged_since(32, "digits-5shot") and not unchanged_since(32, "breast_cancer-b-5shot")
    assert not unchanged_since(31, "digits-5shot") and not unchanged_since(31, "breast_cancer-b-5shot")
    assert not unchanged_since(30, "digits-5shot")
    log = RunLog(tmp_path / "runs.jsonl")
    for situation in ("digits-5shot", "breast_cancer-b-5shot"):
        log.add({"situation": situation, "seed": 0, "arm": "auto_prior", "auto_revision": 32, "accuracy": 0.9})
        log.add({"situation": situation, "seed": 0, "arm": "first_trial", "auto_revision": 32, "first_fit": FIRST_FIT,
                 "label": "mcc | seed 0", "revision": current_revision("mcc"), "accuracy": 0.9})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("digits-5shot", 0, "auto_prior") is not None
    assert again.get("breast_cancer-b-5shot", 0, "auto_prior") is None
    assert again.get("digits-5shot", 0, "first_trial") is not None
    # a table's recipe runs also record how its rows were standardized: those of before revision 38 run again
    assert again.get("breast_cancer-b-5shot", 0, "first_trial") is None
    again.add({"situation": "breast_cancer-b-5shot", "seed": 0, "arm": "first_trial", "auto_revision": 32,
               "first_fit": FIRST_FIT, "label": "mcc | seed 0", "revision": current_revision("mcc"),
               "input_revision": input_revision("breast_cancer-b"), "accuracy": 0.9})
    assert RunLog(tmp_path / "runs.jsonl").get("breast_cancer-b-5shot", 0, "first_trial") is not None
    assert input_revision("breast_cancer-b") == 2 and input_revision("digits") == 1


def test_the_no_prior_baseline_is_not_run_by_todays_code(tmp_path) -> None:
    """auto (no prior) is revision 2's auto: today's prior="none" code may run it only in --quick, and a run of
    today's code recorded under revision 2 (its code_revision says so) is not the baseline; the baseline's own rows,
    of before code_revision was recorded, stay current."""
    from benchmarks._auto_revisions import may_run

    assert ARM_REVISION["auto_none"] == 2 != AUTO_REVISION
    assert not may_run("auto_none") and may_run("auto_none", quick=True)
    assert may_run("auto_prior") and may_run("first_trial")
    log = RunLog(tmp_path / "runs.jsonl")
    log.add({"situation": "s", "seed": 0, "arm": "auto_none", "auto_revision": 2, "accuracy": 0.87})
    log.add({"situation": "s", "seed": 1, "arm": "auto_none", "auto_revision": 2, "code_revision": AUTO_REVISION,
             "accuracy": 0.97})
    log.add({"situation": "q", "seed": 0, "arm": "auto_none", "auto_revision": 2, "code_revision": AUTO_REVISION,
             "quick": True, "accuracy": 0.5})
    again = RunLog(tmp_path / "runs.jsonl")
    assert again.get("s", 0, "auto_none") is not None and again.get("s", 1, "auto_none") is None
    assert again.get("q", 0, "auto_none") is not None
