"""Parquet id columns that are booleans, floats or decimals: a boolean or a fractional id
refuses its row with the reason (as a JSON export's does), through the real CLI."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from expertise.cli import app

runner = CliRunner()


def _parquet(path: Path, **ids: pa.Array) -> Path:
    n = 4
    pq.write_table(pa.table({
        "ticket_id": pa.array(["A", "B", "C", "D"]), "customer_id": pa.array(["c"] * n),
        "created_at": pa.array(["2024-04-01"] * n), "channel": pa.array(["email"] * n),
        "subject": pa.array(["Router"] * n),
        "body": pa.array(["The router light is orange and the internet stopped."] * n),
        **ids}), path)
    return path


def _score(src: Path, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rejects = tmp_path / "out.rejects.csv"
    return (pd.read_csv(out, dtype=str, keep_default_na=False),
            pd.read_csv(rejects, dtype=str, keep_default_na=False) if rejects.exists()
            else pd.DataFrame(columns=["row", "ticket_id", "reason"]))


def test_a_boolean_customer_id_is_a_reject(models_env: Path, tmp_path: Path) -> None:
    src = _parquet(tmp_path / "in.parquet",
                   customer_id=pa.array([True, False, None, True]).dictionary_encode())
    scored, rejects = _score(src, tmp_path)
    assert scored["ticket_id"].tolist() == ["C"]
    assert rejects["row"].tolist() == ["1", "2", "4"]
    assert rejects["ticket_id"].tolist() == ["A", "B", "D"]
    assert rejects["reason"].str.contains("customer_id is the boolean").all()


def test_a_fractional_ticket_or_conversation_id_is_a_reject(models_env: Path,
                                                            tmp_path: Path) -> None:
    src = _parquet(tmp_path / "in.parquet",
                   ticket_id=pa.array([1.0, 2.5, float("inf"), 4.0]),
                   conversation_id=pa.array([Decimal("7.00"), Decimal("8.00"), Decimal("9.00"),
                                             Decimal("1.50")], pa.decimal128(5, 2)))
    scored, rejects = _score(src, tmp_path)
    assert scored["ticket_id"].tolist() == ["1"]
    assert scored["conversation_id"].tolist() == ["7.00"]
    assert rejects["row"].tolist() == ["2", "3", "4"]
    assert rejects["ticket_id"].tolist() == ["", "", "4"]
    assert rejects["reason"].tolist()[:2] == [
        "ticket_id 2.5 is not a whole number, not an id; write ids as text or whole numbers",
        "ticket_id inf is not a whole number, not an id; write ids as text or whole numbers"]
    assert rejects["reason"].tolist()[2].startswith("conversation_id 1.50 is not a whole")
