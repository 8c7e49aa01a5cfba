"""The team's labels of the real set (`bench/real_labels_*.csv`): well formed, ids and labels
only (the set's licence allows no message text here), and read by `bench/real_eval.py`."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from expertise.config import PROJECT_DIR

BENCH = PROJECT_DIR / "bench"
FILES = ("real_labels_team.csv", "real_labels_fresh.csv", "real_labels_fresh2.csv",
         "real_labels_fresh3.csv")
LEVELS = {"novice", "intermediate", "expert", "unclear"}


def _rows(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (BENCH / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _real_eval():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("real_eval", BENCH / "real_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", FILES)
def test_a_label_file_holds_ids_and_labels_only(name: str) -> None:
    topics = {p.name for p in (PROJECT_DIR / "knowledge_base").iterdir() if p.is_dir()}
    columns, rows = _rows(name)
    assert columns == ["message_id", "topic", "level", "labeller"]
    assert rows and all(r["topic"] in topics | {"none"} for r in rows)
    assert all(r["level"] in LEVELS and r["labeller"] == "team" for r in rows)
    assert all(len(r["message_id"]) < 40 and " " not in r["message_id"] for r in rows)


def test_no_message_is_labelled_twice_across_the_draws() -> None:
    seen: set[str] = set()
    for name in FILES:
        ids = [r["message_id"] for r in _rows(name)[1]]
        assert len(set(ids)) == len(ids), name
        assert not seen & set(ids), name
        seen |= set(ids)
    assert len(seen) == 2020  # every message of the real set the shared labels leave


def test_real_eval_reads_each_label_set(tmp_path: Path) -> None:
    module = _real_eval()
    ids = {name: {r["message_id"] for r in _rows(name)[1]} for name in FILES}
    by_id = {k: {} for group in ids.values() for k in group}
    shared = tmp_path / "real"
    shared.mkdir()
    (shared / "labelled.csv").write_text("message_id,topic,level,note\n", encoding="utf-8")
    assert set(module.load_labels(shared, "team", by_id)) == ids[FILES[0]]
    assert set(module.load_labels(shared, "fresh", by_id)) == ids[FILES[1]]
    assert set(module.load_labels(shared, "tests", by_id)) == (
        ids[FILES[1]] | ids[FILES[2]] | ids[FILES[3]])
    with pytest.raises(SystemExit, match="not in messages.csv"):
        module.load_labels(shared, "fresh2", {})
