"""Hostile inputs and outputs through the real CLI: categorical Parquet columns with nulls,
JSON nested too deeply to read, an input column named like the reader's own ``_row``, and a
file system that refuses a write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()


def _score(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["score", *args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit), result.exception
    return result.exit_code, result.output


def _rejects(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------------------------
# Categorical (dictionary-encoded) Parquet columns
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["ticket_id", "body", "customer_id", "note"])
def test_a_categorical_parquet_column_with_a_null_is_read_as_its_values(
        tmp_path: Path, models_env: Path, column: str) -> None:
    data = {"ticket_id": ["T1", "T2", "T3"], "customer_id": ["C1", "C2", "C3"],
            "body": ["my wifi keeps dropping", "tv no signal", "router light is red"],
            "subject": ["", "Help", ""], "note": ["a", "b", "c"]}
    data[column] = [data[column][0], None, data[column][2]]
    frame = pd.DataFrame(data)
    frame[column] = pd.Categorical(frame[column])
    path = tmp_path / "cat.parquet"
    frame.to_parquet(path)

    code, output = _score(str(path))
    assert code == 0, output
    scored = pd.read_parquet(tmp_path / "cat.scored.parquet")
    if column == "ticket_id":  # a null id is an empty id: that row is a reject
        assert scored["ticket_id"].tolist() == ["T1", "T3"]
        rejects = _rejects(tmp_path / "cat.scored.rejects.csv")
        assert rejects[["row", "reason"]].values.tolist() == [["2", "empty ticket_id"]]
    else:
        assert scored["ticket_id"].tolist() == ["T1", "T2", "T3"]
        values = scored[column].astype(object).where(scored[column].notna(), None).tolist()
        assert values[0] == data[column][0] and values[2] == data[column][2]
        assert values[1] in ("", None)


# ---------------------------------------------------------------------------------------------
# JSON nested too deeply
# ---------------------------------------------------------------------------------------------


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100_000, 500])
def test_a_jsonl_line_nested_too_deeply_is_a_reject_and_the_run_goes_on(
        tmp_path: Path, models_env: Path, depth: int) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text('{"ticket_id":"1","body":"wifi drops"}\n'
                    f'{{"ticket_id":"2","body":"x","extra":{_deep(depth)}}}\n'
                    '{"ticket_id":"3","body":"tv no signal"}\n')
    code, output = _score(str(path))
    assert code == 0, output
    scored = pd.read_json(tmp_path / "deep.scored.jsonl", lines=True, dtype=False)
    assert scored["ticket_id"].astype(str).tolist() == ["1", "3"]
    rejects = _rejects(tmp_path / "deep.scored.rejects.csv")
    assert rejects["row"].tolist() == ["2"]
    assert "nested more than" in rejects["reason"].iloc[0]

    db = tmp_path / "store.db"
    result = runner.invoke(app, ["ingest", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output and "1 rejected" in result.output


def test_a_zendesk_export_nested_too_deeply_is_a_one_line_error(
        tmp_path: Path, models_env: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"tickets": [{"id":1,"requester_id":1,"description":"wifi drops","x":'
                    + _deep(100_000) + "}]}")
    code, output = _score(str(path))
    assert code == 1
    assert f"{path}: JSON nested too deeply" in " ".join(output.split())
    assert "Traceback" not in output
    assert not list(tmp_path.glob("deep.scored*"))


def test_a_zendesk_ticket_nested_deeper_than_the_limit_is_a_reject(
        tmp_path: Path, models_env: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"tickets": [
        {"id": 1, "requester_id": 1, "description": "wifi drops"},
        {"id": 2, "requester_id": 1, "description": "tv", "x": json.loads(_deep(500))}]}))
    code, output = _score(str(path))
    assert code == 0, output
    rejects = _rejects(tmp_path / "deep.scored.rejects.csv")
    assert rejects["row"].tolist() == ["2"]
