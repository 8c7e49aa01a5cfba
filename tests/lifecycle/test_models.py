"""`expertise models list | promote | rollback | prune` through the real CLI, on a copy of the
small models folder (one real bundle, `test-small`, current)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()


@pytest.fixture()
def root(models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the small models folder, the default location, with a second bundle
    `zz-copy` (the same model; listed after `test-small`, so the newest) that is not current."""
    copy = tmp_path / "models"
    shutil.copytree(models_root, copy)
    shutil.copytree(copy / "test-small", copy / "zz-copy")
    monkeypatch.setenv("EXPERTISE_MODELS", str(copy))
    return copy


def _one_line_error(result: object) -> str:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert output.startswith("Error: ") and len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output
    return str(output)


def _current(root: Path) -> bytes:
    return (root / "current").read_bytes()


# ---- damaged registry files ------------------------------------------------------------------


def test_a_current_pointer_that_is_not_utf8_is_a_one_line_error(root: Path) -> None:
    (root / "current").write_bytes(b"\xff\xfe")
    for args in (["models", "list"], ["models", "rollback"], ["models", "prune", "--keep", "1"],
                 ["models", "promote", "zz-copy"], ["answer", "my wifi keeps dropping"]):
        message = _one_line_error(runner.invoke(app, args))
        assert f"{root / 'current'} does not hold a version name (bytes that are not UTF-8 " \
               "text); delete it, then make a bundle current with `expertise models promote " \
               "VERSION`" in message, args
    assert (root / "test-small").is_dir() and (root / "zz-copy").is_dir()
    assert _current(root) == b"\xff\xfe"


def test_a_promotions_log_line_that_is_not_utf8_stops_rollback_with_one_line(root: Path) -> None:
    with open(root / "promotions.jsonl", "ab") as fh:
        fh.write(b'{"action": "promote", "version": "zz-\xff"}\n')
    message = _one_line_error(runner.invoke(app, ["models", "rollback"]))
    assert message.strip().endswith("promotions.jsonl line 2 is not valid JSON (bytes that are "
                                    "not UTF-8); fix or delete that line")


def test_a_comparison_file_that_is_not_utf8_is_unreadable_not_a_crash(root: Path) -> None:
    (root / "zz-copy.comparison.json").write_bytes(b'{"decision": "\xff"}')
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["version"]: r for r in json.loads(result.output)}
    assert rows["zz-copy"]["decision"] == "unreadable comparison file"
    assert rows["test-small"]["decision"] is None


# ---- promote --eval: the file's problem is the file's -----------------------------------------


def test_an_unusable_eval_file_is_blamed_not_the_model(root: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "unlabelled.csv").write_text(
        "ticket_id,customer_id,created_at,channel,subject,body\n"
        "T1,C1,2026-01-01T10:00:00,email,wifi,my wifi keeps dropping\n")
    for name, says in (("missing.csv", "no such file"), ("empty.csv", "the file is empty"),
                       ("unlabelled.csv", "missing required column(s) expertise_level")):
        path = tmp_path / name
        message = _one_line_error(runner.invoke(app, ["models", "promote", "zz-copy",
                                                      f"--eval=recent={path}"]))
        assert message.startswith(f"Error: evaluation set 'recent': {path}: {says}"), message
        assert "fix that file, or compare on another labelled export (--eval recent=FILE)" \
            in message
        assert "cannot be scored" not in message and "retrain" not in message
    assert _current(root) == b"test-small\n"
