"""Batch scoring (`expertise score`): real files of every layout, bad rows, interruptions,
history within and across chunks, workers, the store, and the Dask engine."""

from __future__ import annotations

import codecs
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.batch.chunks import OUTPUT_COLUMNS, HistoryCarry
from expertise.batch.run import score_file
from expertise.cli import app
from expertise.config import LEVELS, PROJECT_DIR
from expertise.engine import Engine
from expertise.privacy import redact
from expertise.scoring.history import Profile, Profiles
from expertise.scoring.text import ticket_text
from expertise.store.db import Store

DATA = Path(__file__).parents[1] / "data"
runner = CliRunner()


@pytest.fixture(params=["local", "dask"])
def score_engine(request: pytest.FixtureRequest) -> str:
    """Each batch engine in turn (dask only where its extra is installed)."""
    if request.param == "dask":
        pytest.importorskip("distributed")
    return str(request.param)
EXE = Path(sys.executable).parent / "expertise"

NOVICE = ("the box with the flashing lights has gone orange and nothing works, I don't know "
          "what to do")
EXPERT = ("Since the hub went to firmware 4.2.1 the PPPoE session drops every 40 minutes; I see "
          "LCP echo timeouts in the log, the MTU is 1492, SNR is 6 dB and the DHCP lease renews "
          "fine. A traceroute dies at hop 2.")
TERSE = "internet down again"


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(object).where(lambda f: f.notna(), None)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False, precise_float=True)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _export(tmp_path: Path, rows: list[dict[str, str]], name: str = "export.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _history_rows() -> list[dict[str, str]]:
    """Two customers: one writes like an expert, then tersely; one only tersely."""
    rows = []
    for k in range(3):
        rows.append({"ticket_id": f"E{k}", "customer_id": "C-exp",
                     "created_at": f"2024-01-0{k + 1}T09:00:00", "subject": "",
                     "body": EXPERT, "note": f"n{k}"})
    rows.append({"ticket_id": "E9", "customer_id": "C-exp", "created_at": "2024-02-01T09:00:00",
                 "subject": "", "body": TERSE, "note": "later"})
    rows.append({"ticket_id": "A1", "customer_id": "", "created_at": "2024-02-01T10:00:00",
                 "subject": "", "body": TERSE, "note": "anon"})
    for k in range(4):
        rows.append({"ticket_id": f"N{k}", "customer_id": "C-nov",
                     "created_at": f"2024-01-1{k}T09:00:00", "subject": "Help",
                     "body": NOVICE, "note": ""})
    return sorted(rows, key=lambda r: r["created_at"])


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def test_scored_csv_keeps_every_input_column_and_adds_the_scores(models_env: Path,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "tickets.csv"
    shutil.copy(DATA / "tickets.csv", src)
    report = score_file(src)
    assert report.output == tmp_path / "tickets.scored.csv"
    out = _read(report.output)
    original = pd.read_csv(src, dtype=str, keep_default_na=False)
    # the labels collide with output columns: kept under another name, values unchanged
    assert report.renamed == {"expertise_level": "expertise_level_input",
                              "topic": "topic_input"}
    assert list(out.columns) == (
        [report.renamed.get(c, c) for c in original.columns] + list(OUTPUT_COLUMNS))
    assert len(out) == report.rows_scored == len(original) - report.rows_rejected
    kept = out.set_index("ticket_id")
    for _, row in original.iterrows():
        if row["ticket_id"] not in kept.index:
            continue
        for col in ("body", "subject", "priority", "agent"):  # text: redacted by default
            assert kept.loc[row["ticket_id"], col] == redact(row[col])
        assert kept.loc[row["ticket_id"], "resolved_article_id"] == row["resolved_article_id"]
        assert kept.loc[row["ticket_id"], "expertise_level_input"] == row["expertise_level"].lower()
    assert set(out["expertise_level"]) <= set(LEVELS)
    probs = out[["p_novice", "p_intermediate", "p_expert"]].astype(float).sum(axis=1)
    assert ((probs - 1).abs() < 2e-3).all()
    assert (out["article_id"] == out["topic"] + "/" + out["article_level"]).all()
    for alternatives in out["alternatives"]:
        assert all("/" in a for a in alternatives.split(";")) and ";;" not in alternatives
    assert (out["reasons"] != "").mean() > 0.8
    assert report.levels["novice"] > 0 and report.levels["expert"] > 0
    assert sum(report.levels.values()) == report.rows_scored


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_the_output_extension_picks_the_format(models_env: Path, tmp_path: Path,
                                               suffix: str) -> None:
    out = tmp_path / f"scored{suffix}"
    score_file(DATA / "tickets.csv", out=out)
    frame = _read(out)
    reference = _read(score_file(DATA / "tickets.csv", out=tmp_path / "ref.csv").output)
    assert list(frame.columns) == list(reference.columns)
    assert list(frame.columns)[-len(OUTPUT_COLUMNS):] == list(OUTPUT_COLUMNS)
    for col in ("ticket_id", "body", "expertise_level", "article_id", "alternatives", "reasons"):
        assert frame[col].astype(str).tolist() == reference[col].tolist()
    assert frame["p_expert"].astype(float).tolist() == reference["p_expert"].astype(float).tolist()


def test_unknown_output_extension_is_an_error(models_env: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(DATA / "tickets.csv"), "--out",
                                 str(tmp_path / "out.xlsx")])
    assert result.exit_code == 1
    assert "end the name with .csv, .jsonl or .parquet" in result.output


@pytest.mark.parametrize("name,fmt,ext", [
    ("tickets.csv", "csv", ".csv"),
    ("tickets.jsonl", "jsonl", ".jsonl"),
    ("zendesk.json", "zendesk", ".jsonl"),
    ("zendesk_incremental.jsonl", "zendesk", ".jsonl"),
    ("freshdesk.csv", "freshdesk", ".csv"),
    ("tickets.parquet", "parquet", ".parquet"),
])
def test_every_layout_the_readers_know(models_env: Path, tmp_path: Path, name: str, fmt: str,
                                       ext: str) -> None:
    if name == "tickets.parquet":
        pd.read_csv(DATA / "tickets.csv", dtype=str, keep_default_na=False).to_parquet(
            tmp_path / name)
    else:
        shutil.copy(DATA / name, tmp_path / name)
    report = score_file(tmp_path / name)
    assert report.input_format == fmt
    assert report.output.name == f"{Path(name).stem}.scored{ext}"
    out = _read(report.output)
    assert len(out) == report.rows_scored > 0
    assert out["article_id"].str.contains("/").all()
    if fmt == "freshdesk":  # the e-mail address is replaced by a hashed customer id
        assert "Email" not in out.columns and out["customer_id"].str.startswith("fd-").any()


def test_the_input_is_never_overwritten(models_env: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    shutil.copy(DATA / "tickets.csv", src)
    before = src.read_bytes()
    result = runner.invoke(app, ["score", str(src), "--out", str(src)])
    assert result.exit_code == 1
    assert "is the input file" in result.output
    assert src.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# Bad rows, nothing scored, --strict
# ---------------------------------------------------------------------------------------------


def _with_bad_rows(tmp_path: Path) -> Path:
    rows = [
        {"ticket_id": "G1", "customer_id": "C1", "created_at": "2024-03-01", "body": NOVICE},
        {"ticket_id": "", "customer_id": "C1", "created_at": "2024-03-02", "body": NOVICE},
        {"ticket_id": "G1", "customer_id": "C2", "created_at": "2024-03-03", "body": EXPERT},
        {"ticket_id": "G4", "customer_id": "C2", "created_at": "next Tuesday", "body": EXPERT},
        {"ticket_id": "G5", "customer_id": "C3", "created_at": "2024-03-05", "body": ""},
        {"ticket_id": "G6", "customer_id": "C3", "created_at": "2024-03-06", "body": EXPERT},
    ]
    return _export(tmp_path, rows, "mixed.csv")


def test_bad_rows_go_to_the_rejects_file_and_the_run_carries_on(models_env: Path,
                                                                tmp_path: Path) -> None:
    src = _with_bad_rows(tmp_path)
    result = runner.invoke(app, ["score", str(src)])
    assert result.exit_code == 0, result.output
    assert "scored 2 rows, 4 rejected" in result.output
    rejects = pd.read_csv(tmp_path / "mixed.scored.rejects.csv", dtype=str,
                          keep_default_na=False)
    assert rejects["row"].tolist() == ["2", "3", "4", "5"]
    reasons = dict(zip(rejects["row"], rejects["reason"], strict=True))
    assert reasons["2"] == "empty ticket_id"
    assert reasons["3"] == "duplicate ticket_id"
    assert reasons["4"].startswith("created_at is not a date")
    assert reasons["5"] == "no subject and no body"
    assert _read(tmp_path / "mixed.scored.csv")["ticket_id"].tolist() == ["G1", "G6"]


def test_duplicates_across_chunks_are_rejected_as_the_reader_does(models_env: Path,
                                                                   tmp_path: Path) -> None:
    from expertise.tickets.readers import read_tickets

    ids = ["D1", "D2", "D1", "D3", "D2", "D4", "D4", "D1", "D5", "D3"]
    dates = ["2024-01-01", "2024-01-02", "2024-01-03", "bad", "2024-01-05", "2024-01-06",
             "2024-01-07", "nope", "2024-01-09", "2024-01-10"]
    rows = [{"ticket_id": t, "customer_id": "C1", "created_at": d, "body": NOVICE}
            for t, d in zip(ids, dates, strict=True)]
    src = _export(tmp_path, rows, "dups.csv")
    report = score_file(src, chunk_rows=3)
    expected = read_tickets(src).rejects  # the reader, holding every id in memory
    got = pd.read_csv(report.rejects_path, dtype={"row": "int64", "ticket_id": str,
                                                  "reason": str}, keep_default_na=False)
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    assert got["reason"].str.startswith("duplicate ticket_id; created_at is not a date").any()
    assert _read(report.output)["ticket_id"].tolist() == ["D1", "D2", "D4", "D5"]


def test_nothing_scored_exits_1_and_writes_no_output(models_env: Path, tmp_path: Path) -> None:
    src = _export(tmp_path, [{"ticket_id": "", "body": "x"}, {"ticket_id": "B", "body": ""}],
                  "bad.csv")
    out = tmp_path / "bad.scored.csv"
    result = runner.invoke(app, ["score", str(src), "--rejects", str(tmp_path / "why.csv")])
    assert result.exit_code == 1
    assert "no row could be scored (2 rejected)" in result.output
    assert not out.exists()
    assert len(pd.read_csv(tmp_path / "why.csv")) == 2


def test_a_malformed_csv_is_a_one_line_error_and_leaves_nothing(
        models_env: Path, tmp_path: Path, score_engine: str) -> None:
    src = tmp_path / "broken.csv"
    src.write_text('ticket_id,customer_id,created_at,subject,body\n'
                   'T1,C1,2024-01-01,hi,"the quote never closes\n', encoding="utf-8")
    out = tmp_path / "broken.scored.parquet"
    result = runner.invoke(app, ["score", str(src), "--engine", score_engine, "--out", str(out)])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(src) in lines[0] and "malformed CSV" in lines[0]
    assert "unclosed quote" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv"]


def test_a_column_whose_name_starts_with_an_underscore_is_redacted_too(
        models_env: Path, tmp_path: Path, score_engine: str) -> None:
    """Internal keys start with "_"; an input column may too, and its text is redacted like
    any other column's (it used to pass through as it was)."""
    src = _export(tmp_path, [{"ticket_id": "A1", "body": "my wifi keeps dropping",
                              "_notes": "call me on 07700 900123 or jane@example.com"}])
    out = tmp_path / "export.scored.parquet"
    result = runner.invoke(app, ["score", str(src), "--engine", score_engine, "--jobs", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _read(out)["_notes"].tolist() == ["call me on <PHONE> or <EMAIL>"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_an_input_column_named_like_the_row_numbers_is_kept(
        models_env: Path, tmp_path: Path, suffix: str) -> None:
    """The readers number rows in `_row`; an input column of that name is kept as
    `_row_input` (it used to be overwritten by the numbers, then dropped)."""
    frame = pd.DataFrame([{"ticket_id": "A1", "body": "my wifi keeps dropping", "_row": "keep",
                           "ROW": "r1"}])
    src = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        frame.to_csv(src, index=False)
    elif suffix == ".jsonl":
        frame.to_json(src, orient="records", lines=True)
    else:
        frame.to_parquet(src)
    out = tmp_path / "rows.scored.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scored = _read(out)
    assert (scored["_row_input"].tolist(), scored["ROW"].tolist()) == (["keep"], ["r1"])


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(models_env: Path,
                                                              tmp_path: Path) -> None:
    src = _with_bad_rows(tmp_path)
    result = runner.invoke(app, ["score", str(src), "--strict"])
    assert result.exit_code == 1
    assert "row 2" in result.output and "empty ticket_id" in result.output
    assert not (tmp_path / "mixed.scored.csv").exists()
    assert not (tmp_path / "mixed.scored.rejects.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mixed.csv"]


# ---------------------------------------------------------------------------------------------
# Interrupted runs
# ---------------------------------------------------------------------------------------------


def test_an_interrupted_run_leaves_no_file_behind(models_env: Path, tmp_path: Path) -> None:
    src = _export(tmp_path, _history_rows() * 1, "calls.csv")
    calls = []

    def stop(done: int, expected: int | None) -> None:
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(src, chunk_rows=3, progress=stop)
    assert calls == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.csv"]


def _big_export(tmp_path: Path, rows: int) -> Path:
    train = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False)
    frame = pd.concat([train] * (rows // len(train) + 1), ignore_index=True).head(rows)
    frame["ticket_id"] = [f"X{i}" for i in range(len(frame))]
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("sig,jobs", [(signal.SIGINT, 1), (signal.SIGINT, 2),
                                      (signal.SIGKILL, 1)])
@pytest.mark.slow
def test_a_killed_run_leaves_no_half_file_under_the_final_name(models_env: Path, tmp_path: Path,
                                                                sig: int, jobs: int) -> None:
    src = _big_export(tmp_path, 60_000)
    out = tmp_path / "big.scored.csv"
    scratch = tmp_path / "scratch"  # $TMPDIR: where the history carried between chunks lives
    scratch.mkdir()
    proc = subprocess.Popen([str(EXE), "score", str(src), "--out", str(out), "--jobs", str(jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".big.scored.csv.*.tmp")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # some chunks written to the temporary file
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert not out.exists()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert b"interrupted" in err
        # temporary output and every worker's history file removed
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "scratch"]
        assert not [p.name for p in scratch.iterdir() if p.name.startswith("expertise-")]


@pytest.mark.slow
def test_ctrl_c_while_workers_start_is_one_line(models_env: Path, tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the whole process group: workers still importing used to
    print a traceback each before the parent's "interrupted"."""
    src = _big_export(tmp_path, 20_000)
    out = tmp_path / "o.csv"
    proc = subprocess.Popen([str(EXE), "score", str(src), "--out", str(out), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    time.sleep(0.25)
    os.killpg(proc.pid, signal.SIGINT)  # the workers are importing now
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and err.decode().strip() == "Error: interrupted"
    assert not out.exists()


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def _running(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_terminated_or_killed_parent_leaves_no_worker_and_no_temporary_file(
        models_env: Path, tmp_path: Path, sig: int) -> None:
    """SIGTERM (timeout, systemd, docker, Kubernetes) stops `score --jobs 2` as Ctrl-C does;
    SIGKILL cannot be caught, but the workers die with their parent, and the next run removes
    the temporary output and scratch folder the killed one left."""
    src = _big_export(tmp_path, 60_000)
    out = tmp_path / "big.scored.csv"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([str(EXE), "score", str(src), "--out", str(out), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and not (len(workers) >= 2 and list(
            tmp_path.glob(".big.scored.csv.*.tmp"))):
        assert proc.poll() is None, proc.communicate()
        workers = [w for w in _children(proc.pid)
                   if b"multiprocessing" in Path(f"/proc/{w}/cmdline").read_bytes()]
        time.sleep(0.05)
    assert len(workers) >= 2 and proc.poll() is None  # the workers are scoring
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert err.decode().strip() == "Error: terminated (SIGTERM)"
    deadline = time.time() + 10
    while _running(workers) and time.time() < deadline:
        time.sleep(0.1)
    assert _running(workers) == []
    assert not out.exists()
    if sig == signal.SIGTERM:  # cleaned up at once
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "scratch"]
        assert list(scratch.iterdir()) == []
        return
    assert list(tmp_path.glob(".big.scored.csv.*.tmp"))  # what SIGKILL leaves ...
    assert [p.name for p in scratch.iterdir() if p.name.startswith("expertise-run-")]
    small = _export(tmp_path, _history_rows(), "small.csv")
    again = subprocess.run([str(EXE), "score", str(small), "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.glob(".big.scored.csv.*.tmp"))  # ... the next run removes
    assert list(scratch.iterdir()) == []
    assert len(_read(out)) == len(_history_rows())


def test_stale_temporary_files_are_those_of_dead_processes(tmp_path: Path) -> None:
    from expertise.io import remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = int(dead.stdout)
    out = tmp_path / "x.scored.csv"
    names = [f".x.scored.csv.{gone}-0123456789ab.tmp",        # a killed run's file
             f".x.scored.csv.{os.getpid()}-0123456789ab.tmp",  # a run still writing
             ".x.scored.csv.0123456789abcdef.tmp",            # no process id: left alone
             f".x.scored.csv.2024.csv.{gone}-0123456789ab.tmp"]  # another file's
    for name in names:
        (tmp_path / name).write_text("partial")
    (tmp_path / f".x.scored.csv.{gone}.1700000000.tmp").mkdir()  # a killed run's folder
    removed = remove_stale_temps(out)
    assert sorted(p.name for p in removed) == sorted(
        [names[0], f".x.scored.csv.{gone}.1700000000.tmp"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


# ---------------------------------------------------------------------------------------------
# Outputs that cannot be written: refused before any work
# ---------------------------------------------------------------------------------------------


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this user cannot create files in (root ignores permissions: /sys then)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    (folder / "probe").unlink()
    if Path("/sys").is_dir():
        try:
            (Path("/sys") / f"expertise-probe-{os.getpid()}").touch()
        except OSError:
            return Path("/sys")
    pytest.skip("no folder here that this user cannot write to")


@pytest.mark.parametrize("case", ["out is a folder", "out below a file", "out unwritable",
                                  "rejects unwritable"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    # No model at all: the output is checked first, so that a bad --out fails in a second,
    # not after the scoring (the old code wrote a traceback once every row was scored).
    monkeypatch.setenv("EXPERTISE_MODELS", str(tmp_path / "no-models"))
    src = _export(tmp_path, _history_rows(), "calls.csv")
    args = {
        "out is a folder": ["--out", str(tmp_path / "folder.csv")],
        "out below a file": ["--out", str(src / "x.csv")],
        "out unwritable": ["--out", str(_unwritable_folder(tmp_path) / "x.csv")]
        if case == "out unwritable" else [],
        "rejects unwritable": ["--rejects", str(_unwritable_folder(tmp_path) / "r.csv")]
        if case == "rejects unwritable" else [],
    }[case]
    (tmp_path / "folder.csv").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["score", str(src), *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    option = "--rejects" if case.startswith("rejects") else "--out"
    assert option in lines[0] and "no current model" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


def test_earlier_tickets_in_the_export_are_history_and_later_ones_are_not(
        models_env: Path, tmp_path: Path) -> None:
    out = _read(score_file(_export(tmp_path, _history_rows()), out=tmp_path / "o.csv").output)
    by_id = out.set_index("ticket_id")
    # the same terse words: the expert's history moves the estimate, the anonymous caller has none
    assert float(by_id.loc["E9", "p_expert"]) > float(by_id.loc["A1", "p_expert"]) + 0.1
    assert "earlier tickets" in by_id.loc["E9", "reasons"]
    # the first ticket of each customer is scored as if alone: later tickets are not history
    engine = Engine()
    for tid, text in (("E0", EXPERT), ("N0", "Help. " + NOVICE)):
        alone = engine.answer(text)
        assert float(by_id.loc[tid, "p_expert"]) == alone.probabilities["expert"]
    engine.close()


def test_history_carries_across_chunks_and_workers(models_env: Path, tmp_path: Path) -> None:
    src = _export(tmp_path, _history_rows() * 1)
    one = score_file(src, out=tmp_path / "one.csv")
    small = score_file(src, out=tmp_path / "small.csv", chunk_rows=2)
    two = score_file(src, out=tmp_path / "two.csv", chunk_rows=2, jobs=2)
    assert one.rows_scored == small.rows_scored == two.rows_scored == 9
    reference = (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "small.csv").read_bytes() == reference
    assert (tmp_path / "two.csv").read_bytes() == reference


def test_jobs_2_gives_the_same_file_on_a_bigger_export(models_env: Path, tmp_path: Path) -> None:
    src = _big_export(tmp_path, 1_200)
    score_file(src, out=tmp_path / "j1.csv", chunk_rows=300)
    report = score_file(src, out=tmp_path / "j2.csv", chunk_rows=300, jobs=2)
    assert report.jobs == 2 and report.rows_scored == 1_200
    assert (tmp_path / "j1.csv").read_bytes() == (tmp_path / "j2.csv").read_bytes()


def test_a_ticket_gets_the_same_level_and_article_as_with_answer(models_env: Path,
                                                                 tmp_path: Path) -> None:
    src = _export(tmp_path, _history_rows())
    db = tmp_path / "store.db"
    with Store(db) as store:
        store.ingest_file(src)
    # with the store (the export ingested: no ticket counts twice) and without it
    for extra in ([], ["--db", str(db)]):
        out = tmp_path / f"scored{len(extra)}.csv"
        result = runner.invoke(app, ["score", str(src), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        scored = _read(out).set_index("ticket_id")
        engine = Engine(db_path=db if extra else None)
        seen: set[str] = set()
        for tid, row in scored.sort_values("created_at").iterrows():
            customer = row["customer_id"] or None
            if not extra and customer in seen:
                continue  # without the store, `answer` cannot know the earlier tickets
            seen.add(customer or "")
            answer = engine.answer(ticket_text(row["subject"], row["body"]), customer_id=customer,
                                   created_at=row["created_at"], audit=False)
            assert answer.level == row["expertise_level"], tid
            assert answer.article is not None and answer.article.id == row["article_id"], tid
            if not extra and customer is None:
                assert answer.probabilities == {lv: float(row[f"p_{lv}"]) for lv in LEVELS}
        engine.close()


def test_the_store_adds_history_and_consent_is_honoured(models_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with Store(db) as store:
        store.ingest_frame(pd.DataFrame([
            {"ticket_id": f"S{k}", "customer_id": cid, "created_at": f"2023-12-0{k + 1}T09:00:00",
             "subject": "", "body": EXPERT, "expertise_level": "expert"}
            for k in range(3) for cid in ("C-known", "C-out")]), source="test")
        store.set_consent("C-out", "opted_out")
    rows = [{"ticket_id": f"T-{cid}", "customer_id": cid, "created_at": "2024-01-05T09:00:00",
             "subject": "", "body": TERSE} for cid in ("C-known", "C-out", "C-new")]
    src = _export(tmp_path, rows)
    plain = _read(score_file(src, out=tmp_path / "plain.csv").output).set_index("customer_id")
    with_db = score_file(src, out=tmp_path / "db.csv", db_path=db)
    scored = _read(with_db.output).set_index("customer_id")
    assert float(scored.loc["C-known", "p_expert"]) > float(plain.loc["C-known", "p_expert"]) + 0.1
    assert "earlier tickets" in scored.loc["C-known", "reasons"]
    # opted out: neutral answer, no level, nothing from their history
    assert scored.loc["C-out", "expertise_level"] == ""
    assert scored.loc["C-out", "p_expert"] == "" and scored.loc["C-out", "reasons"] == ""
    assert scored.loc["C-out", "article_level"] == "intermediate"
    assert scored.loc["C-new", "p_expert"] == plain.loc["C-new", "p_expert"]
    assert with_db.levels["not estimated"] == 1
    with Store(db) as store:
        audit = [a for a in store.audit_rows() if a.action == "score"]
    assert len(audit) == 1 and "3 tickets scored" in (audit[0].detail or "")


def test_history_carry_keeps_the_latest_profile_of_each_customer(tmp_path: Path) -> None:
    one = Profile(np.arange(15, dtype=float).reshape(5, 3), np.ones((5, 4), np.int64), 19000.5, 4)
    two = Profile(np.full((5, 3), -0.25), np.zeros((5, 4), np.int64), math.nan, 1)
    with HistoryCarry(folder=tmp_path) as carry:
        assert carry.lookup(["C1"]) == {}
        carry.add(Profiles.of({"C1": two, "C2": two}))
        carry.add(Profiles.of({"C1": one}))  # a later chunk replaces what was carried
        found = carry.lookup(["C1", "C2", "C3"])
        assert set(found) == {"C1", "C2"}
        assert np.array_equal(found["C1"].sums, one.sums)
        assert np.array_equal(found["C1"].counts, one.counts)
        assert (found["C1"].as_of, found["C1"].n) == (19000.5, 4)
        assert math.isnan(found["C2"].as_of) and found["C2"].n == 1
        talking = Profile(one.sums, one.counts, 19000.5, 4, np.full((5, 3), 0.5), 19001.25, "T1")
        carry.add(Profiles.of({"C3": talking}))
        back = carry.lookup(["C3"])["C3"]
        assert back.to_dict() == talking.to_dict() and back.counts.dtype == np.int64
        folder = carry._dir
    assert not os.path.exists(folder)


# ---------------------------------------------------------------------------------------------
# Redaction, CLI
# ---------------------------------------------------------------------------------------------


def test_redact_replaces_personal_data_in_passed_through_text(models_env: Path,
                                                              tmp_path: Path) -> None:
    rows = [{"ticket_id": "R1", "customer_id": "C1", "created_at": "2024-01-01",
             "subject": "Call me on 07700 900123", "body": "mail jane.doe@example.com please",
             "agent_notes": "caller Jane Doe, jane.doe@example.com", "priority": "high"}]
    src = _export(tmp_path, rows)
    plain = _read(score_file(src, out=tmp_path / "plain.csv", redact=False).output).iloc[0]
    redacted = _read(score_file(src, out=tmp_path / "red.csv").output).iloc[0]
    assert plain["body"] == rows[0]["body"] and plain["subject"] == rows[0]["subject"]
    assert redacted["body"] == "mail <EMAIL> please"
    assert redacted["subject"] == "Call me on <PHONE>"
    assert "<EMAIL>" in redacted["agent_notes"] and "@" not in redacted["agent_notes"]
    assert redacted["priority"] == "high" and redacted["ticket_id"] == "R1"
    for col in OUTPUT_COLUMNS:
        assert plain[col] == redacted[col]


def test_a_column_named_for_personal_data_is_replaced_whole(models_env: Path,
                                                            tmp_path: Path) -> None:
    """A bare name or an unformatted number is beyond text redaction: the column's name
    says what it holds."""
    rows = [{"ticket_id": "R1", "customer_id": "C1", "created_at": "2024-01-01",
             "body": "router keeps dropping", "Requester name": "Zoltan Kowalczyk",
             "mobile": "447700900123", "contactEmail": "z at example dot org",
             "product_name": "Hub 4", "notes": "", "Zip": "90210", "User Name": "zk1983"}]
    src = _export(tmp_path, rows)
    out = _read(score_file(src, out=tmp_path / "red.csv").output).iloc[0]
    assert (out["Requester name"], out["mobile"], out["contactEmail"], out["Zip"],
            out["User Name"]) == ("<NAME>", "<PHONE>", "<EMAIL>", "<ADDRESS>", "<NAME>")
    assert out["product_name"] == "Hub 4" and out["body"] == "router keeps dropping"
    plain = _read(score_file(src, out=tmp_path / "plain.csv", redact=False).output).iloc[0]
    assert plain["Requester name"] == "Zoltan Kowalczyk"


def test_cli_json_report_and_summary_line(models_env: Path, tmp_path: Path) -> None:
    src = _export(tmp_path, _history_rows())
    result = runner.invoke(app, ["score", str(src), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows_scored"] == 9 and report["rows_rejected"] == 0
    assert report["output"] == str(tmp_path / "export.scored.csv")
    assert set(report["levels"]) == {*LEVELS, "not estimated"}
    result = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert "\n" not in line
    assert line.startswith("scored 9 rows, 0 rejected; levels: novice")
    assert "without a good topic match" in line and "rows/s" in line


def test_cli_score_in_a_subprocess(models_env: Path, tmp_path: Path) -> None:
    src = _export(tmp_path, _history_rows())
    proc = subprocess.run([str(EXE), "score", str(src), "--jobs", "2", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["jobs"] == 2
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.slow
def test_progress_bar_in_a_real_terminal(models_env: Path, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    src = _big_export(tmp_path, 25_000)
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    child = pexpect.spawn(str(EXE), ["score", str(src)], env=env, encoding="utf-8", timeout=120)
    try:
        child.expect(r"scoring.*\d+/\d+.* rows/s.*time left")
        child.expect(r"scored 25,000 rows, 0 rejected")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


# ---------------------------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_engine_on_a_local_cluster_matches_the_local_engine(models_env: Path,
                                                                 tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    rows = _history_rows()
    rows += [{"ticket_id": "", "customer_id": "C9", "created_at": "2024-03-01",
              "subject": "", "body": NOVICE, "note": "bad"}]
    train = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False).head(150)
    rows += [{"ticket_id": r.ticket_id, "customer_id": r.customer_id, "created_at": r.created_at,
              "subject": r.subject, "body": r.body, "note": r.channel}
             for r in train.itertuples()]
    src = _export(tmp_path, sorted(rows, key=lambda r: r["created_at"]))
    local = score_file(src, out=tmp_path / "local.csv")
    scratch = tmp_path / "scratch"  # the workers' $TMPDIR
    scratch.mkdir()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  env={"TMPDIR": str(scratch)}) as cluster:
        report = score_file(src, out=tmp_path / "dask.csv", engine="dask",
                            scheduler=cluster.scheduler_address, chunk_rows=50)
    assert report.engine == "dask"
    assert (report.rows_scored, report.rows_rejected) == (local.rows_scored, local.rows_rejected)
    assert report.levels == local.levels and report.no_match == local.no_match
    parts = sorted((tmp_path / "dask.csv").glob("part-*.csv"))
    assert len(parts) >= 2
    dask_out = pd.concat([_read(p) for p in parts], ignore_index=True)
    local_out = _read(tmp_path / "local.csv")
    assert list(dask_out.columns) == list(local_out.columns)
    key = ["ticket_id"]
    pd.testing.assert_frame_equal(dask_out.sort_values(key).reset_index(drop=True),
                                  local_out.sort_values(key).reset_index(drop=True))
    assert (tmp_path / "dask.rejects.csv").read_text() == \
        (tmp_path / "local.rejects.csv").read_text()
    assert not list(tmp_path.glob(".*tmp*"))
    assert not list(tmp_path.glob(".*.parts"))  # the CSV cut into parts is removed
    assert not list(scratch.glob("expertise-*"))  # history files removed after each partition


def test_rows_with_too_many_fields_go_to_rejects_and_the_rest_is_scored(
        models_env: Path, tmp_path: Path, score_engine: str) -> None:
    src = tmp_path / "stray.csv"
    src.write_text("ticket_id,body\n"
                   "T1,my router, it is broken\n"  # a first row one field long: once shifted all
                   "T2,the wifi keeps dropping in the evening\n"
                   "T3,no signal on the tv, since the storm, help\n"
                   "T4,my broadband is slow at night\n", encoding="utf-8")
    out = tmp_path / "stray.scored.csv"
    result = runner.invoke(app, ["score", str(src), "--engine", score_engine, "--jobs", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 rejected" in result.output
    scored = (pd.concat([pd.read_csv(p, dtype=str) for p in sorted(out.glob("*.csv"))])
              if out.is_dir() else pd.read_csv(out, dtype=str))
    assert sorted(scored["ticket_id"]) == ["T2", "T4"]
    rejects = pd.read_csv(tmp_path / "stray.scored.rejects.csv")
    assert rejects["row"].tolist() == [1, 3]
    assert rejects["ticket_id"].tolist() == ["T1", "T3"]
    assert rejects["reason"].str.startswith("more fields than the header's 2").all()


def test_a_row_with_too_many_fields_is_rejected_under_its_ticket_id(models_env: Path,
                                                                  tmp_path: Path) -> None:
    """The id is read from the row's first fields as the header names them (an alias such as
    "Ticket ID", a --map), past quoted line breaks and blank lines, so an analyst can find the
    row; a row whose id field is empty keeps an empty id."""
    src = tmp_path / "wide.csv"
    src.write_text("Ticket ID;Requester;Opened;Text\n"
                   "W-1;C1;2024-03-01;my router is broken\n"
                   "W-2;C2;2024-03-02;\"the wifi drops;\nevery evening\";since Monday\n"
                   "\n"
                   "W-3;C3;2024-03-03;no signal on the tv\n"
                   ";C4;2024-03-04;the hub light is red;again\n"
                   "W-5;C5;2024-03-05;broadband slow;at;night\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(src), "--map", "customer_id=Requester",
                                 "--map", "created_at=Opened", "--map", "body=Text"])
    assert result.exit_code == 0, result.output
    assert _read(tmp_path / "wide.scored.csv")["ticket_id"].tolist() == ["W-1", "W-3"]
    rejects = pd.read_csv(tmp_path / "wide.scored.rejects.csv", dtype=str,
                          keep_default_na=False)
    assert rejects["row"].tolist() == ["2", "5", "6"]
    assert rejects["ticket_id"].tolist() == ["W-2", "", "W-5"]
    assert rejects["reason"].str.startswith("more fields than the header's 4").all()


@pytest.mark.parametrize(("codec", "replaced"), [("latin-1", 0), ("ascii", 1)])
def test_dask_reads_the_named_encoding_and_reports_replaced_bytes_as_local_does(
        models_env: Path, tmp_path: Path, codec: str, replaced: int) -> None:
    """`--encoding` is the file's for both engines: a Latin-1 export named as Latin-1 reads
    whole, named as ASCII has its "é" replaced and the row counted, and the two engines write
    the same rows and report the same encoding and count."""
    pytest.importorskip("distributed")
    src = tmp_path / "latin.csv"
    pd.DataFrame([
        {"ticket_id": "T1", "customer_id": "C1", "created_at": "2024-03-01T10:00:00",
         "subject": "Café Wi-Fi", "body": "the wifi in the café keeps dropping every evening"},
        {"ticket_id": "T2", "customer_id": "C2", "created_at": "2024-03-02T10:00:00",
         "subject": "Router", "body": EXPERT},
    ]).to_csv(src, index=False, encoding="latin-1")
    outputs, reports = {}, {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.csv"
        result = runner.invoke(app, ["score", str(src), "--encoding", codec, "--engine", engine,
                                     "--jobs", "1", "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        reports[engine] = json.loads(result.stdout)
        outputs[engine] = pd.concat([_read(p) for p in sorted(out.glob("part-*.csv"))],
                                    ignore_index=True) if out.is_dir() else _read(out)
    assert outputs["local"]["subject"].iloc[0] == ("Café Wi-Fi" if codec == "latin-1"
                                                   else "Caf\ufffd Wi-Fi")
    pd.testing.assert_frame_equal(outputs["dask"], outputs["local"])
    same = ("encoding", "invalid_byte_rows", "rows_read", "rows_scored", "rows_rejected",
            "levels", "no_match")
    assert {k: reports["dask"][k] for k in same} == {k: reports["local"][k] for k in same}
    assert (reports["dask"]["encoding"], reports["dask"]["invalid_byte_rows"]) == (
        codecs.lookup(codec).name, replaced)  # as Python names it: "latin-1" is "iso8859-1"


def test_dask_scores_a_folder_of_csv_files(models_env: Path, tmp_path: Path) -> None:
    """The folder is read file by file; nothing reads (or detects the encoding of) the folder
    itself, which once ended every such run in "is a directory"."""
    pytest.importorskip("distributed")
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = _history_rows()
    _export(folder, rows[:4], "a.csv")
    _export(folder, rows[4:], "b.csv")
    out = tmp_path / "scored.csv"
    result = runner.invoke(app, ["score", str(folder), "--engine", "dask", "--jobs", "1",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_scored"] == len(rows)
    scored = pd.concat([_read(p) for p in sorted(out.glob("part-*.csv"))], ignore_index=True)
    assert sorted(scored["ticket_id"]) == sorted(r["ticket_id"] for r in rows)


def test_dask_cuts_a_csv_into_parquet_parts_in_order(tmp_path: Path) -> None:
    from expertise.batch.dask import _split_input

    rows = [{"ticket_id": f"T{i:03d}", "customer_id": f"C{i % 7}", "created_at": "2024-03-01",
             "subject": "", "body": f"line one\nline two, \"quoted\" {i}" if i % 5 == 0
             else f"ticket {i}", "note": ""} for i in range(95)]
    src = _export(tmp_path, rows)
    split = _split_input([str(src)], tmp_path / "parts", rows=20)
    assert len(split.parts) == 5 and split.rejects == []
    assert (split.encoding, split.invalid_byte_rows) == ("utf-8", 0)
    back = pd.concat([pd.read_parquet(p) for p in split.parts], ignore_index=True)
    assert back.pop("_row").tolist() == list(range(1, 96))
    whole = pd.read_csv(src, dtype=str, keep_default_na=False)
    assert back.astype(str).equals(whole.astype(str))
    assert back.loc[5, "body"].startswith("line one\nline two")


def test_scoring_leaves_the_callers_garbage_collector_as_it_was(models_env: Path,
                                                                tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    src = _export(tmp_path, _history_rows())
    report = score_file(src, out=tmp_path / "out.csv")
    assert report.rows_scored == len(_history_rows())
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_score_maps_an_exports_brand_and_thread_columns(models_env: Path, tmp_path: Path
                                                        ) -> None:
    """`--map product=… --map conversation_id=…`: the optional columns can be named from an
    export's own, and a reply fragment is then read with its thread."""
    src = tmp_path / "export.csv"
    pd.DataFrame({
        "ticket_id": ["T1", "T2"], "customer_id": ["C1", "C1"],
        "created_at": ["2026-01-01T10:00:00", "2026-01-01T10:05:00"],
        "body": ["the update on my console is stuck at 50% and will not install, tried twice",
                 "PS4"],
        "Brand": ["PlayNet Support", "PlayNet Support"], "Thread": ["X9", "X9"],
    }).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out),
                                 "--map", "product=Brand", "--map", "conversation_id=Thread"])
    assert result.exit_code == 0, result.output
    scored = _read(out)
    assert list(scored["topic"]) == ["firmware-update", "firmware-update"]
    assert list(scored["product"]) == ["PlayNet Support"] * 2  # mapped: the canonical name


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _score_cli(src: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["score", str(src), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def test_personal_data_inside_records_and_lists_is_redacted_and_their_shape_kept(
        models_env: Path, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"ticket_id": "1", "body": "my wifi keeps dropping",
         "requester": {"name": "Jane Doe", "email": "jane.doe@example.com",
                       "phone": "+44 7700 900123", "id": 7, "product": {"name": "Hub 4"}},
         "cc": ["bob.smith@example.com"],
         "custom_fields": [{"id": 1, "value": "john@example.com"}]},
        {"ticket_id": "2", "body": "my tv has no signal",
         "requester": {"name": "Bob Smith", "email": "bob@example.com", "phone": "",
                       "id": 8, "product": {"name": "Box"}},
         "cc": [], "custom_fields": [{"id": 2, "value": "call 07700 900123"}]}]
    src = _jsonl(tmp_path / "nested.jsonl", rows)
    _score_cli(src, tmp_path / "out.jsonl")
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert got[0]["requester"] == {"name": "<NAME>", "email": "<EMAIL>", "phone": "<PHONE>",
                                   "id": 7, "product": {"name": "Hub 4"}}
    assert got[1]["requester"]["phone"] == ""  # nothing there: nothing to hide
    assert [g["cc"] for g in got] == [["<EMAIL>"], []]
    assert [g["custom_fields"] for g in got] == [[{"id": 1, "value": "<EMAIL>"}],
                                                 [{"id": 2, "value": "call <PHONE>"}]]
    _score_cli(src, tmp_path / "out.csv")
    text = (tmp_path / "out.csv").read_text()
    assert "@" not in text and "Jane" not in text and "7700" not in text
    # --keep-text passes every value through untouched
    _score_cli(src, tmp_path / "kept.jsonl", "--keep-text")
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    for row, back in zip(rows, kept, strict=True):
        assert {k: back[k] for k in row} == row

    # a Parquet file's struct and list columns: redacted, and written back with their types
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(
        [{k: r[k] for k in ("ticket_id", "body", "cc", "custom_fields")}
         | {"requester": {k: v for k, v in r["requester"].items()  # type: ignore[attr-defined]
                          if k != "product"}} for r in rows]), tmp_path / "nested.parquet")
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.parquet"
        _score_cli(tmp_path / "nested.parquet", out, "--jobs", jobs)
        table = pq.read_table(out)
        assert pa.types.is_struct(table.schema.field("requester").type)
        assert pa.types.is_list(table.schema.field("cc").type)
        assert table.column("requester").to_pylist() == [
            {"name": "<NAME>", "email": "<EMAIL>", "phone": "<PHONE>", "id": 7},
            {"name": "<NAME>", "email": "<EMAIL>", "phone": "", "id": 8}]
        assert table.column("cc").to_pylist() == [["<EMAIL>"], []]
        assert table.column("custom_fields").to_pylist()[0] == [{"id": 1, "value": "<EMAIL>"}]


def test_a_column_mixing_text_with_records_or_lists_is_scored_and_redacted(
        models_env: Path, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"ticket_id": "1", "body": "my wifi keeps dropping", "extra": "note jane@example.com",
         "requester": "Jane Doe <jane@example.com>"},
        {"ticket_id": "2", "body": "my tv has no signal", "extra": {"k": 1, "who": "a@b.com"},
         "requester": {"id": 5, "email": "bob@example.com"}},
        {"ticket_id": "3", "body": "the box is orange", "extra": ["x", "call 07700 900123"],
         "requester": None}]
    src = _jsonl(tmp_path / "mixed.jsonl", rows)
    result = runner.invoke(app, ["score", str(src), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows_scored"] == 3
    got = [json.loads(line) for line in (tmp_path / "mixed.scored.jsonl").read_text()
           .splitlines()]
    assert [g["extra"] for g in got] == ["note <EMAIL>", {"k": 1, "who": "<EMAIL>"},
                                         ["x", "call <PHONE>"]]
    assert "@" not in json.dumps([g["requester"] for g in got])
    assert got[1]["requester"] == {"id": 5, "email": "<EMAIL>"}
    assert got[2]["requester"] is None


def test_personal_data_stored_as_numbers_is_redacted(models_env: Path, tmp_path: Path) -> None:
    """A column named for personal data is replaced whole whatever its type; a numeric column
    holding long numbers is redacted as text (a card or phone number becomes its placeholder)
    and written as text in every chunk; small numbers keep their type."""
    import pyarrow.parquet as pq

    pd.DataFrame({
        "ticket_id": ["1", "2"], "body": ["my wifi keeps dropping", "tv has no signal"],
        "phone": [447700900123, 447700900124],
        "contact_email": pd.Categorical(["jane@example.com", "bob@example.com"]),
        "payment": [4111111111111111, 4111111111111112],
        "caller": [447700900125.0, None], "replies": [3, 4]}).to_parquet(tmp_path / "n.parquet")
    for out in (tmp_path / "n.out.csv", tmp_path / "n.out.parquet"):
        _score_cli(tmp_path / "n.parquet", out)
        got = _read(out)
        assert list(got["phone"]) == ["<PHONE>", "<PHONE>"]
        assert list(got["contact_email"]) == ["<EMAIL>", "<EMAIL>"]
        assert list(got["payment"]) == ["<CARD>", "4111111111111112"]  # this one fails Luhn
        assert list(got["caller"])[0] == "<PHONE>" and list(got["caller"])[1] in (None, "")
        assert [int(v) for v in got["replies"]] == [3, 4]
    assert str(pq.read_table(tmp_path / "n.out.parquet").schema.field("replies").type) == "int64"
    kept = _read(score_file(tmp_path / "n.parquet", out=tmp_path / "k.parquet",
                            redact=False).output)
    assert list(kept["phone"]) == [447700900123, 447700900124]
    assert list(kept["payment"]) == [4111111111111111, 4111111111111112]
    src = _jsonl(tmp_path / "n.jsonl", [{"ticket_id": "1", "body": "tv has no signal",
                                         "billing": {"ref": 4111111111111111, "n": 2}}])
    _score_cli(src, tmp_path / "n.out.jsonl")
    got = json.loads((tmp_path / "n.out.jsonl").read_text())
    assert got["billing"] == {"ref": "<CARD>", "n": 2}
