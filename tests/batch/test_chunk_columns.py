"""Batch scoring of JSON Lines exports whose columns change between the reader's chunks
(`BATCH_CHUNK_ROWS` rows each): a key that first appears, or first holds text, after the
first chunk; a key the first chunk has and a later one lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
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


def test_a_key_a_later_chunk_lacks_is_written_empty_there(models_env: Path,
                                                          tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "export.jsonl", {3: {"extra": "x"}})
    for name in ("out.csv", "out.parquet", "out.jsonl"):
        out = tmp_path / name
        result = runner.invoke(app, ["score", str(src), "--out", str(out)])
        assert result.exit_code == 0, result.output
        frame = (pd.read_csv(out, dtype=str, keep_default_na=False) if name.endswith(".csv")
                 else pd.read_parquet(out) if name.endswith(".parquet")
                 else pd.read_json(out, lines=True, dtype=False))
        assert len(frame) == BATCH_CHUNK_ROWS + 5
        assert frame["ticket_id"].tolist() == [f"T-{i}" for i in range(BATCH_CHUNK_ROWS + 5)]
        extra = frame["extra"].fillna("").tolist()
        assert extra[3] == "x" and set(extra[:3] + extra[4:]) == {""}


def test_a_key_first_appearing_after_the_first_chunk(models_env: Path, tmp_path: Path) -> None:
    last = BATCH_CHUNK_ROWS + 2
    src = _jsonl(tmp_path / "export.jsonl", {last: {"extra": "x"}})
    for name in ("out.csv", "out.parquet"):
        out = tmp_path / name
        result = runner.invoke(app, ["score", str(src), "--out", str(out)])
        assert result.exit_code != 0 and not isinstance(result.exception, KeyError)
        message = result.output.strip()
        assert "\n" not in message and "Traceback" not in message
        assert "'extra'" in message and "--out NAME.jsonl" in message, message
        assert not out.exists()
    out = tmp_path / "out.jsonl"  # what the error says to do
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _lines(out)
    assert len(rows) == BATCH_CHUNK_ROWS + 5 and rows[last]["extra"] == "x"


def test_a_column_changing_type_between_chunks_is_written_to_csv(models_env: Path,
                                                                 tmp_path: Path) -> None:
    # numbers in the first chunk, words in the second: CSV has no column types
    src = _jsonl(tmp_path / "export.jsonl", {
        **{i: {"priority": 1, "flag": True} for i in range(BATCH_CHUNK_ROWS)},
        **{i: {"priority": "high", "flag": "yes"}
           for i in range(BATCH_CHUNK_ROWS, BATCH_CHUNK_ROWS + 5)}})
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(frame) == BATCH_CHUNK_ROWS + 5
    assert frame["priority"].tolist() == ["1"] * BATCH_CHUNK_ROWS + ["high"] * 5
    assert frame["flag"].tolist() == ["true"] * BATCH_CHUNK_ROWS + ["yes"] * 5
    assert frame.columns[0] == "ticket_id" and (frame.columns == "ticket_id").sum() == 1


def test_a_key_named_like_an_output_column_first_seen_later_is_renamed(models_env: Path,
                                                                        tmp_path: Path) -> None:
    """A key first seen after the first chunk that is named like an output column ("topic")
    must be kept as "topic_input" like the first chunk's keys, not written over our topic (one
    JSON object cannot hold two "topic" keys)."""
    last = BATCH_CHUNK_ROWS + 1
    src = _jsonl(tmp_path / "export.jsonl", {
        2: {"level_note": "a"},
        last: {"topic": "their-own-topic", "article_id": "theirs/1", "level_note": "b"}})
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _lines(out)
    row = rows[last]
    assert row["topic_input"] == "their-own-topic" and row["article_id_input"] == "theirs/1"
    assert row["topic"] == rows[0]["topic"] == "no-internet"  # ours, for the same text
    assert row["article_id"] == rows[0]["article_id"] and row["level_note"] == "b"
    assert "topic_input" not in rows[0] or rows[0]["topic_input"] in ("", None)
    said = " ".join(result.output.split())
    assert "topic -> topic_input" in said and "article_id -> article_id_input" in said


def test_input_columns_named_like_output_columns_never_replace_ours(models_env: Path,
                                                                    tmp_path: Path) -> None:
    """An export with its own "article_id", "reasons" or "_no_match" column: the redacted
    input values were returned under the same names as our output, so the output's
    article_id was the export's ("theirs/1", or empty where the export had none)."""
    src = tmp_path / "export.csv"
    src.write_text("ticket_id,body,article_id,reasons,_no_match\n"
                   "T1,The router light is orange and there is no internet,theirs/1,"
                   "call bob@example.com,x\n"
                   "T2,The router light is orange and there is no internet,,,\n",
                   encoding="utf-8")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame["article_id"].tolist() == ["no-internet/intermediate"] * 2
    assert frame["article_id_input"].tolist() == ["theirs/1", ""]
    assert frame["reasons_input"].tolist() == ["call <EMAIL>", ""]
    assert frame["_no_match"].tolist() == ["x", ""]
    assert all("technical term: router" in r for r in frame["reasons"])
    assert "0 without a good topic match" in " ".join(result.output.split())
