"""Hostile inputs and outputs through the real CLI: categorical Parquet columns with nulls,
JSON nested too deeply to read, an input column named like the reader's own ``_row``, and a
file system that refuses a write."""

from __future__ import annotations

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
