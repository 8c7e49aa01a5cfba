"""A JSON export wrapping its records in objects two levels down: the hint names the list
that holds them, not the wrapper (whose only values are objects) as records keyed by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()
TICKET = {"ticket_id": "T1", "customer_id": "c", "created_at": "2024-04-01",
          "subject": "Router", "body": "The router light is orange."}


@pytest.mark.parametrize("indent", [None, 1])
def test_records_two_levels_down_are_named_by_their_list(tmp_path: Path,
                                                         indent: int | None) -> None:
    src = tmp_path / "export.json"
    src.write_text(json.dumps({"data": {"export": {"items": [TICKET]}}}, indent=indent) + "\n",
                   encoding="utf-8")
    result = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / "out.csv")])
    assert result.exit_code != 0
    message = result.output.strip()
    assert "'data.export.items' looks like the records (a list of 1 object)" in message, message
    assert f"jq -c '.data.export.items[]' {src}" in message
    assert "to_entries" not in message and "--map" not in message
