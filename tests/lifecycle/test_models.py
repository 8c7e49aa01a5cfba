"""`expertise models list | promote | rollback | prune` through the real CLI, on a copy of the
small models folder (one real bundle, `test-small`, current)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.config import PROJECT_DIR

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


@pytest.fixture()
def small_eval(tmp_path: Path) -> Path:
    """A few labelled evaluation tickets, so that the gate scores quickly."""
    frame = pd.read_csv(PROJECT_DIR / "data" / "tickets_eval.csv", dtype=str,
                        keep_default_na=False)
    path = tmp_path / "small_eval.csv"
    frame.head(40).to_csv(path, index=False)
    return path


def _one_line_error(result: object) -> str:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert output.startswith("Error: ") and len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output
    return str(output)


def _current(root: Path) -> bytes:
    return (root / "current").read_bytes()


# ---- promote: a version given as a path ------------------------------------------------------


def test_promoting_the_current_version_by_a_path_says_it_is_already_current(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tab completion adds a slash; an absolute path names the same folder: neither may end
    up in `current`, nor log a promotion of a model to itself."""
    log = (root / "promotions.jsonl").read_bytes()
    monkeypatch.chdir(root.parent)
    for given in ("test-small/", str(root / "test-small"), "models/test-small/"):
        result = runner.invoke(app, ["models", "promote", given])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "test-small is already current"
        assert _current(root) == b"test-small\n"
    assert (root / "promotions.jsonl").read_bytes() == log


def test_a_bundle_promoted_by_its_path_is_current_and_survives_prune(
        root: Path, small_eval: Path) -> None:
    result = runner.invoke(app, ["models", "promote", f"{root}/zz-copy/",
                                 f"--eval=small={small_eval}"])
    assert result.exit_code == 0, result.output
    assert "promoted zz-copy (was test-small)" in result.output
    assert _current(root) == b"zz-copy\n"
    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert [r["version"] for r in rows if r["current"]] == ["zz-copy"]
    result = runner.invoke(app, ["models", "prune", "--keep", "0"])
    assert result.exit_code == 0, result.output
    assert "removed: test-small; kept: zz-copy" in result.output
    answer = runner.invoke(app, ["answer", "my wifi keeps dropping", "--json"])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output)["model_version"] == "test-small"  # the manifest's name


def test_promote_refuses_a_path_outside_the_models_folder_and_reserved_names(
        root: Path, tmp_path: Path) -> None:
    shutil.copytree(root / "zz-copy", tmp_path / "elsewhere")
    for given, says in ((str(tmp_path / "elsewhere"), "is not a bundle folder of the models "
                                                      "folder"),
                        ("current", "'current' is not a version name"),
                        ("..", "'..' is not a version name")):
        message = _one_line_error(runner.invoke(app, ["models", "promote", given]))
        assert says in message
    assert _current(root) == b"test-small\n"


def test_a_pointer_written_as_a_path_keeps_its_bundle_through_prune(root: Path) -> None:
    """A pointer older code wrote as `test-small/` (or an absolute path) still marks
    test-small current, and prune keeps it (without this, it kept the newest, zz-copy, and
    deleted the bundle in use)."""
    for text in ("test-small/", f"{root}/test-small"):
        (root / "current").write_text(text + "\n")
        rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
        assert [r["version"] for r in rows if r["current"]] == ["test-small"]
    result = runner.invoke(app, ["models", "prune", "--keep", "0"])
    assert result.exit_code == 0, result.output
    assert "removed: zz-copy; kept: test-small" in result.output
    assert (root / "test-small").is_dir() and not (root / "zz-copy").exists()
    assert runner.invoke(app, ["answer", "my wifi keeps dropping"]).exit_code == 0


def test_prune_never_removes_the_folder_the_pointer_resolves_to(root: Path) -> None:
    """Defence in depth: a pointer naming a link to a bundle keeps the bundle too."""
    os.symlink("test-small", root / "latest")
    (root / "current").write_text("latest\n")
    result = runner.invoke(app, ["models", "prune", "--keep", "0"])
    assert result.exit_code == 0, result.output
    assert "removed: zz-copy; kept: latest, test-small" in result.output
    assert (root / "test-small" / "manifest.json").exists()



def test_rollback_reads_versions_older_code_logged_as_paths(root: Path) -> None:
    """A log older code wrote with paths (`zz-copy/`, or a bundle outside the models folder)
    still rolls back by name, never to a folder elsewhere."""
    shutil.copytree(root / "test-small", root.parent / "old")
    entries = [{"action": "promote", "version": "../old", "previous": None},
               {"action": "promote", "version": "test-small", "previous": "../old"},
               {"action": "promote", "version": "zz-copy/", "previous": "test-small"}]
    (root / "promotions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    (root / "current").write_text("zz-copy/\n")
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "rolled back to test-small (was zz-copy); it is now current"
    assert _current(root) == b"test-small\n"
    message = _one_line_error(runner.invoke(app, ["models", "rollback"]))
    assert "nothing to roll back to" in message
    assert _current(root) == b"test-small\n"

# ---- damaged registry files ------------------------------------------------------------------


def test_a_current_pointer_that_is_not_utf8_is_a_one_line_error(root: Path) -> None:
    (root / "current").write_bytes(b"\xff\xfe")
    said = (f"{root / 'current'} does not hold a version name (bytes that are not UTF-8 "
            "text); delete it, then make a bundle current with `expertise models promote "
            "VERSION`")
    for args in (["models", "rollback"], ["models", "prune", "--keep", "1"],
                 ["models", "promote", "zz-copy"], ["answer", "my wifi keeps dropping"]):
        message = _one_line_error(runner.invoke(app, args))
        assert said in message, args
    # `models list` lists the bundles to promote (none current), then the same one line
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 1
    assert "test-small" in listed.stdout and "zz-copy" in listed.stdout
    assert listed.stderr.startswith("Error: ") and said in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1
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
                       ("unlabelled.csv", "no usable labelled tickets; check expertise_level")):
        path = tmp_path / name
        message = _one_line_error(runner.invoke(app, ["models", "promote", "zz-copy",
                                                      f"--eval=recent={path}"]))
        assert message.startswith(f"Error: evaluation set 'recent': {path}: {says}"), message
        assert "fix that file, or compare on another labelled export (--eval recent=FILE)" \
            in message
        assert "cannot be scored" not in message and "retrain" not in message
        assert "--map" not in message  # models promote has no --map: the fix is to the file
    assert _current(root) == b"test-small\n"


@pytest.mark.parametrize("state", ["no current model", "a damaged current model"])
def test_an_unusable_eval_file_is_an_error_with_nothing_to_compare_too(
        root: Path, tmp_path: Path, small_eval: Path, state: str) -> None:
    """The gate reads the evaluation files first: with no current model (the first model
    passes) or a damaged one (nothing to compare), a bad --eval file is still an error naming
    it, not ignored until the next promotion; a good one promotes."""
    if state == "no current model":
        (root / "current").unlink()
    else:
        with open(root / "test-small" / "lean.json", "a") as fh:
            fh.write(" ")
    before = (root / "current").read_bytes() if (root / "current").exists() else None
    (tmp_path / "empty.csv").write_text("")
    for name, says in (("missing.csv", "no such file"), ("empty.csv", "the file is empty")):
        path = tmp_path / name
        message = _one_line_error(runner.invoke(app, ["models", "promote", "zz-copy",
                                                      f"--eval=recent={path}"]))
        assert message.startswith(f"Error: evaluation set 'recent': {path}: {says}"), message
        now = (root / "current").read_bytes() if (root / "current").exists() else None
        assert now == before
    result = runner.invoke(app, ["models", "promote", "zz-copy", f"--eval=recent={small_eval}"])
    assert result.exit_code == 0, result.output
    assert _current(root) == b"zz-copy\n"


# ---- models list at 80 columns ---------------------------------------------------------------


def test_models_list_shows_a_damaged_bundle_at_80_columns(root: Path) -> None:
    shutil.copytree(root / "test-small", root / "broken")
    with open(root / "broken" / "lean.json", "a") as fh:
        fh.write(" ")
    (root / "zz-copy.comparison.json").write_text(json.dumps({"decision": "refused"}))
    result = runner.invoke(app, ["models", "list"])  # CliRunner: not a terminal, 80 columns
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "broken: damaged: lean.json does not match its SHA-256 in the manifest; refusing " \
           "it" in " ".join(result.output.split())
    assert "test-small: " not in result.output and "zz-copy: " not in result.output
    wide = runner.invoke(app, ["models", "list"], env={"COLUMNS": "300"})
    lines = {ln.split()[0]: ln for ln in wide.output.splitlines()[2:] if ln.strip()}
    assert lines["broken"].rstrip().endswith("damaged: lean.json does not match its SHA-256 in "
                                             "the manifest; refusing it")
    assert set(lines) == {"*", "broken", "zz-copy"}  # in the table; nothing below it


def test_the_gate_reads_a_custom_eval_set_as_the_candidates_evaluation_does(
        tmp_path: Path) -> None:
    """Rows labelled `unclear` (real messages) are kept for both models, so the current model
    and the candidate are compared on the same rows."""
    from expertise.lifecycle.models import read_eval_sets

    path = tmp_path / "real.csv"
    pd.DataFrame({"ticket_id": ["R1", "R2"], "body": ["my wifi keeps dropping", "hello?"],
                  "expertise_level": ["novice", "unclear"]}).to_csv(path, index=False)
    frames = read_eval_sets({"real": path})
    assert frames["real"]["expertise_level"].tolist() == ["novice", "unclear"]
