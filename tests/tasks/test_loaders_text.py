"""Text CSV loader: text tasks, the 70/10/20 split, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tasks._text_data import TOPICS, write_topic_csv
from warmstart.errors import ConfigError, DataError
from warmstart.tasks import load_task
from warmstart.tasks._splits import stratified_three_way
from warmstart.tasks.loaders import load_path


def test_topic_csv_becomes_a_text_task(tmp_path: Path) -> None:
    task = load_task(write_topic_csv(tmp_path / "topics.csv"))
    assert task.modality == "text" and task.input_shape == ()
    assert task.classes == ["cooking", "sports", "weather"]
    assert all(isinstance(x, list) for x in (task.x_train, task.x_val, task.x_test))
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (33, 5, 10)
    # the same seeded stratified split as every other loader, texts kept with their labels
    y = np.array([task.classes.index(t) for _ in range(16) for t in TOPICS])
    _, va, te = stratified_three_way(y)
    assert task.y_test.tolist() == y[te].tolist() and task.y_val.tolist() == y[va].tolist()
    for text, label in zip(task.x_train, task.y_train.tolist(), strict=True):
        assert text in TOPICS[task.classes[label]]
    assert task.provenance["text_column"] == "text" and task.provenance["label_column"] == "topic"
    assert task.provenance["ignored_columns"] == ["id"]
    few = task.few_shot(4, seed=0)
    assert len(few.x_train) == 12 and isinstance(few.x_unlabeled, list)


def test_named_text_column_and_label_default(tmp_path: Path) -> None:
    path = write_topic_csv(tmp_path / "t.csv", text_column="sentence", label_column="label", extra=False)
    task = load_path(path, text_column="sentence")
    assert task.modality == "text" and task.provenance["label_column"] == "label"
    with pytest.raises(DataError, match=r"no text column 'text'; columns are: sentence, label"):
        load_path(path, text_column="text")
    with pytest.raises(ConfigError, match="valid options"):
        load_path(path, text_colum="sentence")


def test_tabular_csv_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "num.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    assert load_task(path).modality == "tabular"


def test_empty_text_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("text,label\nA goal in extra time.,sports\n   ,weather\nRain later.,weather\n")
    with pytest.raises(DataError, match=r"line 3 \(data row 2\): text column 'text' is empty") as exc:
        load_path(path)
    assert "\n" not in str(exc.value)


def test_non_utf8_names_the_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    body = "text,label\nA goal in extra time.,sports\nCr\u00e8me br\u00fbl\u00e9e for dessert.,cooking\n"
    path.write_bytes(body.encode("latin-1"))
    offset = body.encode("latin-1").index(b"\xe8")
    with pytest.raises(DataError, match=rf"not UTF-8 text: byte 0xe8 at byte offset {offset} \(line 3\)"):
        load_path(path)


def test_same_text_and_label_column_is_refused(tmp_path: Path) -> None:
    path = write_topic_csv(tmp_path / "t.csv")
    with pytest.raises(DataError, match="both the text and the label column"):
        load_path(path, label_column="text")
