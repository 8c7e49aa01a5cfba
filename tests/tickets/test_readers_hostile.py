"""Hostile inputs and outputs through the real CLI: categorical Parquet columns with nulls,
JSON nested too deeply to read, an input column named like the reader's own ``_row``, and a
file system that refuses a write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# ---------------------------------------------------------------------------------------------
# A write the file system refuses
# ---------------------------------------------------------------------------------------------

#: Runs the CLI with files limited to `limit` bytes: a write past it fails with EFBIG (SIGXFSZ,
#: which would kill the process, ignored), as a full disk fails with ENOSPC.
_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["expertise", *sys.argv[2:]]
from expertise.cli import main
main()
"""


@pytest.mark.parametrize(("out", "what"), [("out.csv", "out"), ("out.jsonl", "out"),
                                           ("out.parquet", "out"), ("out.csv", "rejects")])
def test_a_write_the_file_system_refuses_is_a_one_line_error(
        tmp_path: Path, models_env: Path, out: str, what: str) -> None:
    rows = [{"ticket_id": f"T{k}", "body": "my wifi keeps dropping " + os.urandom(400).hex()}
            for k in range(900)]
    if what == "rejects":  # few scored rows, many rejects
        rows = rows[:1] + [{"ticket_id": f"R{k}" + "x" * 900, "body": ""} for k in range(400)]
    source = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    limit = 300_000  # room for the run's scratch files, not the output
    assert source.stat().st_size > limit or what == "rejects"
    args = ["score", str(source), "--out", str(tmp_path / out)]
    env = {**os.environ, "EXPERTISE_MODELS": str(models_env)}
    # the input is read before the limit matters: only writes beyond it fail
    done = subprocess.run([sys.executable, "-c", _LIMITED, str(limit), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    final = tmp_path / (out if what == "out" else "out.rejects.csv")
    assert f"{final}: cannot write (file too large" in " ".join(done.stderr.split())
    assert "write elsewhere with --" + what in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # nothing half-written
