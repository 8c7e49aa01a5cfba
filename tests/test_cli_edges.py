"""Edges of the CLI: broken files, missing stores, odd argument values, narrow terminals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()
EXE = Path(sys.executable).parent / "expertise"
DATA = Path(__file__).parent / "data"
KB_TINY = DATA / "kb_tiny"


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_kb_show_names_a_broken_article_file_and_its_problem(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB_TINY, kb)
    broken = kb / "no-internet" / "novice.md"
    broken.write_text("---\nid: no-internet/novice\ntitle: [unclosed\n---\nBody.\n",
                      encoding="utf-8")
    lint = runner.invoke(app, ["kb", "lint", "--kb", str(kb), "--json"])
    problem = "front matter: does not parse: while parsing a flow sequence"
    assert f"error: no-internet/novice.md: {problem}" in lint.output
    for args in (["kb", "show", "no-internet/novice", "--kb", str(kb)],
                 ["feedback", "T1", "--article", "no-internet/novice", "--helpful",
                  "--kb", str(kb), "--db", str(tmp_path / "s.db")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert _one_line_error(result.output) == (
            f"Error: {broken}: the file of article 'no-internet/novice' is broken: {problem}; "
            f"fix it (`expertise kb lint --kb {kb}` checks it)")
    # an id with no file at all is still "no article"
    missing = runner.invoke(app, ["kb", "show", "no-internet/nope", "--kb", str(kb)])
    assert missing.exit_code == 1
    assert _one_line_error(missing.output).startswith("Error: no article 'no-internet/nope'")


def test_session_looks_customers_up_where_answer_does(models_env: Path) -> None:
    """`session` without --db used to open no store at all, so every caller was "not in the
    store" even after `ingest` had filled the default one."""
    from expertise.config import default_db_path

    where = default_db_path()
    assert not where.exists()
    before = runner.invoke(app, ["session", "--customer", "C-100"], input=":quit\n")
    assert before.exit_code == 0, before.output
    said = " ".join(before.output.split())
    assert (f"customer C-100: no store at {where}; treating as anonymous (give --db FILE, or "
            "load tickets: expertise ingest EXPORT)") in said
    assert not where.exists()  # a session made no store
    assert runner.invoke(app, ["ingest", str(DATA / "tickets.csv")]).exit_code == 0
    after = runner.invoke(app, ["session", "--customer", "C-100"], input=":quit\n")
    assert after.exit_code == 0, after.output
    assert "customer C-100: 3 earlier tickets" in " ".join(after.output.split())
    # a --db typed that is missing is a mistake, refused, not an empty store
    typo = runner.invoke(app, ["session", "--db", str(where.with_name("typo.db"))],
                         input=":quit\n")
    assert typo.exit_code == 1 and "typo.db" in typo.output


def test_answer_for_a_customer_with_no_store_names_where_it_looked(models_env: Path) -> None:
    from expertise.config import default_db_path

    where = default_db_path()  # no --db, no $EXPERTISE_DB: the file ingest and pin use
    assert not where.exists()
    result = runner.invoke(app, ["answer", "my wifi is down", "--customer", "C1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["notes"][0] == (f"no store at {where}: customer C1 answered as anonymous "
                                "(give --db FILE, or load tickets: expertise ingest EXPORT)")
    assert not any("not in the store" in note for note in data["notes"])
    assert data["customer"] == {"id": "C1", "status": "unknown", "why": f"no store at {where}",
                                "history_tickets": 0}
    assert data["article"] and data["level_served"]
    assert not where.exists()  # answering made no store
    # the same default store, once there, is the one looked up: known, or said not to hold them
    assert runner.invoke(app, ["ingest", str(DATA / "tickets.csv")]).exit_code == 0
    known = json.loads(runner.invoke(app, ["answer", "my wifi is down", "--customer", "C-100",
                                           "--json"]).output)
    assert known["customer"]["status"] == "known" and known["customer"]["history_tickets"] == 3
    other = runner.invoke(app, ["answer", "my wifi is down", "--customer", "C1"])
    assert other.exit_code == 0
    assert "customer C1 is not in the store; answered as anonymous" in " ".join(
        other.output.replace("│", " ").split())


def test_answer_says_how_to_pass_a_text_that_starts_with_a_dash(models_env: Path) -> None:
    result = runner.invoke(app, ["answer", "-my wifi is down"])
    assert result.exit_code == 2
    assert _one_line_error(result.output) == (
        "Error: no such option: -m; to answer a text that starts with '-', put -- before it "
        "(and any options before the --): expertise answer -- \"-my wifi is down\" (see --help)")
    typo = runner.invoke(app, ["answer", "--custmer", "C1", "wifi down"])
    assert typo.exit_code == 2
    assert _one_line_error(typo.output).startswith(
        "Error: no such option: --custmer (did you mean --customer")
    # the way the message gives works, options first
    done = runner.invoke(app, ["answer", "--json", "--", "-my wifi is down"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["level_served"]


def test_models_list_at_80_columns_shows_the_gate_and_figures_whole(
        models_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(models_root, root)
    manifest = json.loads((root / "test-small" / "manifest.json").read_text(encoding="utf-8"))
    manifest["metrics"] = {name: {"accuracy": 0.8677, "severe_miss_rate": 0.0149}
                           for name in ("eval_split", "handwritten", "histories")}
    (root / "test-small" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.copytree(root / "test-small", root / "zz-copy")
    (root / "zz-copy.comparison.json").write_text(json.dumps({"decision": "refused"}))
    (root / "test-small.comparison.json").write_text("not json")

    # a process of its own: rich fixes the width of its console when the module first loads
    def listed(columns: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXE), "models", "list"], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "COLUMNS": str(columns),
                                                "EXPERTISE_MODELS": str(root)})

    result = listed(80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    assert result.stdout.count("0.868/1.5%") == 6  # three sets, two bundles, none cut
    assert "test-small gate: unreadable comparison file" in lines
    assert "zz-copy gate: refused" in lines
    assert not any("status" in line or "damaged" in line for line in lines)  # all ok
    wide = listed(200).stdout
    rows = {ln.split()[0]: ln.split() for ln in wide.splitlines()[2:] if ln.strip()}
    assert rows["zz-copy"][-2:] == ["refused", "ok"]  # in the table; nothing below it
    assert rows["*"][-4:] == ["unreadable", "comparison", "file", "ok"]
    assert set(rows) == {"*", "zz-copy"}


def test_a_level_that_is_not_one_names_the_value_and_the_levels(models_env: Path,
                                                                tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    want = "level must be one of novice, intermediate, expert (see --help)"
    feedback = runner.invoke(app, ["feedback", "T1", "--article", "no-internet/novice",
                                   "--helpful", "--level", "expret", "--db", str(db)])
    assert feedback.exit_code == 2
    assert _one_line_error(feedback.output) == f"Error: --level 'expret': {want}"
    assert not db.exists()  # refused before a store is made
    assert runner.invoke(app, ["ingest", str(DATA / "tickets.csv"), "--db", str(db)]
                         ).exit_code == 0
    pin = runner.invoke(app, ["pin", "--customer", "C-100", "--level", "Expert", "--db",
                              str(db)])
    assert pin.exit_code == 2
    assert _one_line_error(pin.output) == f"Error: --level 'Expert': {want}"
    script = ":customer C-100\nmy wifi is down\n:level expret\n:level\n:quit\n"
    session = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert session.exit_code == 1
    said = " ".join(session.output.split())  # the terminal's width may wrap a line
    assert ("Error: :level 'expret' is not a level: give one of novice, intermediate, "
            "expert, or clear Error: :level needs a level: give one of novice, intermediate, "
            "expert, or clear") in said
