"""Batch scoring of JSON Lines exports whose columns change between the reader's chunks
(`BATCH_CHUNK_ROWS` rows each): a key that first appears, or first holds text, after the
first chunk; a key the first chunk has and a later one lacks."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from expertise.cli import app
from expertise.config import BATCH_CHUNK_ROWS

runner = CliRunner()
PERSONAL = "mail bob.smith@example.com or call +44 20 7946 0958"


def _jsonl(path: Path, extra: dict[int, dict[str, object]], n: int = BATCH_CHUNK_ROWS + 5
           ) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            record = {"ticket_id": f"T-{i}", "customer_id": f"C-{i % 50}",
                      "created_at": "2024-04-01T09:00:00Z", "channel": "email",
                      "subject": "Router", "body": "The router light is orange, no internet.",
                      **extra.get(i, {})}
            f.write(json.dumps(record) + "\n")
    return path


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_personal_data_in_a_later_chunk_is_redacted(models_env: Path, tmp_path: Path) -> None:
    last = BATCH_CHUNK_ROWS + 2
    # "notes" holds numbers in the first chunk, text in the second; "remark" is in the
    # second chunk only
    src = _jsonl(tmp_path / "export.jsonl", {
        **{i: {"notes": 1} for i in range(BATCH_CHUNK_ROWS)},
        last: {"notes": PERSONAL, "remark": PERSONAL}})
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _lines(out)
    assert len(rows) == BATCH_CHUNK_ROWS + 5
    row = rows[last]
    assert row["ticket_id"] == f"T-{last}"
    assert row["notes"] == "mail <EMAIL> or call <PHONE>"
    assert row["remark"] == "mail <EMAIL> or call <PHONE>"
    assert rows[0]["notes"] == 1
