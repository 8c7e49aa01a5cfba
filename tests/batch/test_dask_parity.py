"""`expertise score --engine dask` keeps the local engine's promises: an output it cannot write
is one line and leaves the previous output and no scratch folder; Parquet ids, input columns
named like output or internal columns, and the rows' numbers come out as the local engine
writes them."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from tests.batch.test_write_failures import CLI, _run, needs_namespace

pytest.importorskip("distributed")

runner = CliRunner()
BODY = "The router light is orange and the internet stopped."


def _csv(tmp_path: Path, rows: int = 4, *, rejects: int = 0, name: str = "in.csv") -> Path:
    frame = pd.DataFrame({
        "ticket_id": [f"T{k}" for k in range(rows + rejects)],
        "customer_id": [f"C{k % 2}" for k in range(rows + rejects)],
        "created_at": [f"2024-04-0{1 + k % 9}" for k in range(rows + rejects)],
        "body": [BODY] * rows + [""] * rejects})  # no text: a reject
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    return lines[0]


# ---------------------------------------------------------------------------------------------
# An output folder that cannot be written
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["out below a file", "rejects below a file"])
def test_an_output_below_a_file_is_one_line_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """As the local engine: checked before the model is even looked for (none here), so a bad
    --out fails at once; the Dask engine raised NotADirectoryError's traceback."""
    monkeypatch.setenv("EXPERTISE_MODELS", str(tmp_path / "no-models"))
    src = _csv(tmp_path, rejects=1)
    option = "--out" if case.startswith("out") else "--rejects"
    target = src / ("x.csv" if option == "--out" else "r.csv")
    before = sorted(p.name for p in tmp_path.iterdir())
    for engine in ("local", "dask"):
        result = runner.invoke(app, ["score", str(src), "--engine", engine, option,
                                     str(target)])
        assert result.exit_code == 1, result.output
        line = _one_line_error(result.output)
        assert line == f"Error: {target}: {src} is a file, not a folder; choose another {option}"
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_folder_swap_that_fails_puts_the_previous_output_back(tmp_path: Path) -> None:
    """The old output is moved aside before the new folder takes its name: when that second
    rename fails, the old one is renamed back, not left under a hidden name."""
    from expertise.batch.dask import _replace_dir

    final = tmp_path / "out.csv"
    final.mkdir()
    (final / "part-00000.csv").write_text("the previous output\n")
    with pytest.raises(FileNotFoundError):
        _replace_dir(tmp_path / ".out.csv.gone.tmp", final)  # no new folder to rename
    assert (final / "part-00000.csv").read_text() == "the previous output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@needs_namespace
@pytest.mark.parametrize("previous", ["folder", "file"])
def test_a_rename_the_file_system_refuses_is_one_line_and_keeps_the_old_output(
        tmp_path: Path, models_env: Path, previous: str) -> None:
    """The finished folder cannot take the output's name: the name is a mount point, which no
    rename may move (EBUSY). One line naming the output and --out, as the local engine's; the
    previous output as it was; no scratch folder (parts, temporary output) left."""
    src = _csv(tmp_path, 6, rejects=2)
    out = tmp_path / "out.csv"
    holder = tmp_path / "holder"
    if previous == "folder":
        out.mkdir()
        (out / "part-00000.csv").write_text("the previous output\n")
        holder.mkdir()
        (holder / "part-00000.csv").write_text("the previous output\n")
    else:
        out.write_text("the previous output\n")
        holder.write_text("the previous output\n")
    done = _run([f"mount --bind {holder} {out}"],
                [sys.executable, "-c", CLI, "score", str(src), "--engine", "dask", "--jobs", "1",
                 "--out", str(out)])
    assert done.returncode == 1, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error == [f"Error: {out}: cannot write (Device or resource busy; write elsewhere "
                     "with --out)"], done.stderr
    assert "Traceback" not in done.stderr
    kept = out / "part-00000.csv" if previous == "folder" else out
    assert kept.read_text() == "the previous output\n"
    # the rejects file is written before the output takes its name, as the local engine does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holder", "in.csv", "out.csv",
                                                          "out.rejects.csv"]
