"""Edges of the CLI: broken files, missing stores, odd argument values, narrow terminals."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()
KB_TINY = Path(__file__).parent / "data" / "kb_tiny"


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
