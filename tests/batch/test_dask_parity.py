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


# ---------------------------------------------------------------------------------------------
# The same input, both engines: the same rows, columns, values, rejects and report
# ---------------------------------------------------------------------------------------------


def _both(src: Path, tmp_path: Path, *args: str) -> dict[str, tuple[pd.DataFrame, pd.DataFrame,
                                                                   dict[str, object]]]:
    """Each engine's scored rows (by ticket id), rejects and JSON report for `src`."""
    import json

    got = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.csv"
        result = runner.invoke(app, ["score", str(src), "--engine", engine, "--jobs", "1",
                                     "--out", str(out), "--json", *args])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        parts = sorted(out.glob("part-*.csv")) if out.is_dir() else [out]
        scored = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts],
                           ignore_index=True)
        scored = scored.sort_values("ticket_id", kind="stable").reset_index(drop=True)
        rejects = tmp_path / f"{engine}.rejects.csv"
        bad = (pd.read_csv(rejects, dtype=str, keep_default_na=False) if rejects.exists()
               else pd.DataFrame(columns=["row", "ticket_id", "reason"], dtype=str))
        got[engine] = (scored, bad, report)
    return got


def _same(got: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]]) -> None:
    (local, local_bad, local_report), (dask, dask_bad, dask_report) = got["local"], got["dask"]
    pd.testing.assert_frame_equal(dask, local)
    pd.testing.assert_frame_equal(dask_bad, local_bad)
    for key in ("rows_read", "rows_scored", "rows_rejected", "levels", "no_match", "renamed",
                "encoding", "invalid_byte_rows", "input_format"):
        assert dask_report[key] == local_report[key], key


def _parquet(path: Path, **columns: object) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 4
    pq.write_table(pa.table({
        "ticket_id": pa.array(["A", "B", "C", "D"]), "customer_id": pa.array(["c"] * n),
        "created_at": pa.array(["2024-04-01"] * n), "subject": pa.array(["Router"] * n),
        "body": pa.array([BODY] * n), **columns}), path)
    return path


def test_a_boolean_or_fractional_parquet_id_is_a_reject_in_both_engines(
        models_env: Path, tmp_path: Path) -> None:
    """The Dask engine read Parquet itself, so a boolean customer id was scored as customer
    "True" (one customer for every such ticket) and a ticket id 2.5 as "2.5"; it now reads
    it through the local engine's reader, which refuses those rows with the reason."""
    import pyarrow as pa

    src = _parquet(tmp_path / "in.parquet",
                   customer_id=pa.array([True, False, None, True]).dictionary_encode(),
                   conversation_id=pa.array([1.0, 2.5, 3.0, None]))
    got = _both(src, tmp_path)
    _same(got)
    scored, bad, _ = got["dask"]
    assert scored["ticket_id"].tolist() == ["C"]
    assert bad["row"].tolist() == ["1", "2", "4"]
    assert bad["ticket_id"].tolist() == ["A", "B", "D"]
    assert bad["reason"].tolist() == [
        "customer_id is the boolean true, not an id; write ids as text or whole numbers",
        "customer_id is the boolean false, not an id; write ids as text or whole numbers; "
        "conversation_id 2.5 is not a whole number, not an id; write ids as text or whole "
        "numbers",
        "customer_id is the boolean true, not an id; write ids as text or whole numbers"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_input_column_named_like_the_row_numbers_is_kept_and_rows_stay_numbered(
        models_env: Path, tmp_path: Path, suffix: str) -> None:
    """An input column `_row` is kept as `_row_input` by both engines; the Dask engine took a
    Parquet file's `_row` for the row numbers (a text one stopped the run with a traceback,
    a numeric one numbered the rejects with the export's values)."""
    frame = pd.DataFrame({"ticket_id": ["A", "B", "C", "D"], "customer_id": ["c1", "c2"] * 2,
                          "created_at": ["2024-04-01", "2024-04-02", "not a date", "2024-04-04"],
                          "body": [BODY, "", BODY, BODY], "_row": [70, 71, 72, 73]})
    src = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(src, index=False)
    else:
        frame.to_parquet(src, index=False)
    got = _both(src, tmp_path)
    _same(got)
    scored, bad, _ = got["dask"]
    assert scored["ticket_id"].tolist() == ["A", "D"]
    assert scored["_row_input"].tolist() == ["70", "73"]
    assert "_row" not in scored.columns
    assert bad["row"].tolist() == ["2", "3"] and bad["ticket_id"].tolist() == ["B", "C"]
    text = frame.assign(_row=["x", "y", "z", "w"])  # not numbers at all
    text.to_parquet(tmp_path / "text.parquet", index=False)
    _same(_both(tmp_path / "text.parquet", tmp_path))


def test_input_columns_named_like_output_columns_are_renamed_and_reported_alike(
        models_env: Path, tmp_path: Path) -> None:
    """The Dask engine renamed the columns as the local engine does but reported none of them
    (its report's `renamed` was always empty, and the summary never said so)."""
    src = tmp_path / "in.csv"
    pd.DataFrame({"ticket_id": ["T1", "T2", "T3"], "customer_id": ["c1", "c1", "c2"],
                  "created_at": ["2024-04-01", "2024-04-02", "2024-04-03"], "body": [BODY] * 3,
                  "article_id": ["theirs/1", "", "theirs/2"], "reasons": ["call bob@example.com",
                                                                          "", "x"],
                  "_no_match": ["x", "", "y"], "topic": ["their-topic", "", "other"],
                  "no_match": ["1", "0", ""], "topic_input": ["taken", "", ""]},
                 ).to_csv(src, index=False)
    got = _both(src, tmp_path)
    _same(got)
    scored, _, report = got["dask"]
    assert report["renamed"] == {"topic": "topic_input2", "article_id": "article_id_input",
                                 "reasons": "reasons_input", "no_match": "no_match_input"}
    assert scored["article_id"].tolist() == ["no-internet/intermediate"] * 3
    assert scored["article_id_input"].tolist() == ["theirs/1", "", "theirs/2"]
    assert scored["reasons_input"].tolist() == ["call <EMAIL>", "", "x"]
    assert scored["topic_input"].tolist() == ["taken", "", ""]
    assert scored["topic_input2"].tolist() == ["their-topic", "", "other"]
    assert scored["_no_match"].tolist() == ["x", "", "y"]
    result = runner.invoke(app, ["score", str(src), "--engine", "dask", "--jobs", "1",
                                 "--out", str(tmp_path / "again.csv")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "topic -> topic_input2" in said and "article_id -> article_id_input" in said


def test_every_input_column_comes_out_as_the_local_engine_writes_it(models_env: Path,
                                                                    tmp_path: Path) -> None:
    """Columns the Dask engine uses internally (`_reason` flags rejects, `_key` is the
    shuffle's) replaced an input column of that name, which then left the output; and it
    stripped a Parquet column's name (" note " became "note"), which the local engine keeps."""
    import datetime

    import pyarrow as pa

    when = [datetime.datetime(2024, 4, d, 9, tzinfo=datetime.UTC) for d in (1, 2, 3, 4)]
    src = _parquet(tmp_path / "in.parquet",
                   created_at=pa.array(when), customer_id=pa.array(["c1", "c2", None, "c1"]),
                   _reason=pa.array(["r1", None, "r3", "r4"]), _key=pa.array(["k"] * 4),
                   **{" note ": pa.array(["n"] * 4)}, n=pa.array([1, None, 3, 4], pa.int64()),
                   tags=pa.array([["a", "b"], [], None, ["c"]]),
                   meta=pa.array([{"x": 1, "email": "a@b.com"}] * 4),
                   blob=pa.array([b"ab", b"\xff", None, b"z"]),
                   flag=pa.array([True, False, None, True]),
                   cat=pa.array(["p", "q", "p", "q"]).dictionary_encode())
    got = _both(src, tmp_path)
    _same(got)
    scored, _, _ = got["dask"]
    assert scored["_reason"].tolist() == ["r1", "", "r3", "r4"]
    assert scored["_key"].tolist() == ["k"] * 4 and scored[" note "].tolist() == ["n"] * 4


def test_a_ticket_id_seen_in_an_earlier_part_of_the_input_is_a_duplicate(
        models_env: Path, tmp_path: Path) -> None:
    """The Dask engine checked duplicate ids within each part of its input (a file of a folder,
    100,000 rows of a file) only: a ticket id seen in an earlier part was scored again. As the
    local engine checks them across its chunks, so now across the parts; the folder's rejects
    are those of the local engine scoring its files as one."""
    rows = pd.DataFrame({
        "ticket_id": ["T1", "T2", "T3", "T2", "T4", "T1", ""],
        "customer_id": ["c1", "c2", "c1", "c3", "c2", "c1", "c4"],
        "created_at": ["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04", "2024-04-05",
                       "someday", "2024-04-07"],
        "body": [BODY] * 7})
    folder = tmp_path / "export"
    folder.mkdir()
    rows.iloc[:3].to_csv(folder / "a.csv", index=False)
    rows.iloc[3:].to_csv(folder / "b.csv", index=False)
    whole = tmp_path / "whole.csv"
    rows.to_csv(whole, index=False)
    local = runner.invoke(app, ["score", str(whole), "--out", str(tmp_path / "local.csv")])
    assert local.exit_code == 0, local.output
    dask = runner.invoke(app, ["score", str(folder), "--engine", "dask", "--jobs", "1",
                               "--out", str(tmp_path / "dask.csv")])
    assert dask.exit_code == 0, dask.output
    local_bad = pd.read_csv(tmp_path / "local.rejects.csv", dtype=str, keep_default_na=False)
    dask_bad = pd.read_csv(tmp_path / "dask.rejects.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(dask_bad, local_bad)
    assert dask_bad["reason"].tolist() == [
        "duplicate ticket_id",
        "duplicate ticket_id; created_at is not a date (use ISO-8601, e.g. 2024-03-15T10:30:00)",
        "empty ticket_id"]
    scored = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False)
                        for p in sorted((tmp_path / "dask.csv").glob("part-*.csv"))])
    assert sorted(scored["ticket_id"]) == ["T1", "T2", "T3", "T4"]


def test_what_a_killed_run_left_is_removed_by_the_next(models_env: Path, tmp_path: Path) -> None:
    """A run killed outright (SIGKILL to it and its workers) cannot clean up; the next run
    writing the same output removes what it left, as the local engine's does: the temporary
    output folder, and the Parquet parts the input was cut into (they were left for good in a
    folder of their own, whatever its size)."""
    import os
    import signal
    import subprocess
    import time

    src = _csv(tmp_path, 20_000)
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-c", CLI, "score", str(src), "--engine", "dask",
                             "--jobs", "1", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(tmp_path.glob(".out.csv.*/**/*.parquet")):
            assert proc.poll() is None, "the run ended before it was killed"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and the workers it started
        proc.wait(timeout=60)
    assert list(tmp_path.glob(".out.csv.*"))  # left behind
    result = runner.invoke(app, ["score", str(_csv(tmp_path, 3, name="small.csv")), "--engine",
                                 "dask", "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv", "small.csv"]
