"""Encodings of exports (BOMs, UTF-16/32 with and without a mark, legacy 8-bit files) and
interrupts while pandas reads a CSV."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.errors import InputError
from expertise.tickets.readers import TicketReader, detect_encoding, detect_format

ROWS = [
    {"ticket_id": "T1", "customer_id": "C1", "created_at": "2024-03-01T10:00:00",
     "subject": "Café Wi-Fi", "body": "Le Wi-Fi du café coupe; naïve question 📺"},
    {"ticket_id": "T2", "customer_id": "C2", "created_at": "2024-03-02T10:00:00",
     "subject": "Router", "body": "PPPoE drops, MTU 1492"},
]


def _text(kind: str) -> str:
    frame = pd.DataFrame(ROWS)
    if kind == "jsonl":
        return frame.to_json(orient="records", lines=True, force_ascii=False)
    return frame.to_csv(index=False)


def _frame(path: Path, **kwargs: object) -> pd.DataFrame:
    reader = TicketReader(path, **kwargs)  # type: ignore[arg-type]
    return pd.concat([c.frame for c in reader.chunks()], ignore_index=True)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@pytest.mark.parametrize(("codec", "bom", "expected"), [
    ("utf-8", b"\xef\xbb\xbf", "utf-8"),
    ("utf-16-le", b"\xff\xfe", "utf-16"),
    ("utf-16-be", b"\xfe\xff", "utf-16"),
    ("utf-16-le", b"", "utf-16-le"),
    ("utf-16-be", b"", "utf-16-be"),
    ("utf-32-le", b"\xff\xfe\x00\x00", "utf-32"),
    ("utf-32-be", b"", "utf-32-be"),
])
def test_unicode_exports_read_the_same_as_utf8(tmp_path: Path, kind: str, codec: str,
                                               bom: bytes, expected: str) -> None:
    reference = tmp_path / f"plain.{kind}"
    reference.write_bytes(_text(kind).encode("utf-8"))
    path = tmp_path / f"export.{kind}"
    path.write_bytes(bom + _text(kind).encode(codec))
    assert detect_encoding(path) == expected
    assert detect_format(path) == kind
    got, want = _frame(path), _frame(reference)
    pd.testing.assert_frame_equal(got, want)
    assert got["body"].iloc[0] == ROWS[0]["body"]


def test_freshdesk_layout_is_recognised_in_utf16(tmp_path: Path) -> None:
    path = tmp_path / "fd.csv"
    path.write_bytes(b"\xff\xfe" + "Ticket ID,Subject,Description\n1,Hi,Wi-Fi drops\n"
                     .encode("utf-16-le"))
    assert detect_format(path) == "freshdesk"
    assert _frame(path)["body"].tolist() == ["Wi-Fi drops"]


def test_damaged_utf8_is_read_with_the_bad_bytes_replaced_and_counted(tmp_path: Path) -> None:
    """Valid accented UTF-8 with a stray byte is UTF-8 that was damaged, not Latin-1."""
    path = tmp_path / "damaged.csv"
    path.write_bytes(_text("csv").encode("utf-8").replace(b"MTU", b"MT\xff"))
    assert detect_encoding(path) == "utf-8"
    reader = TicketReader(path)
    frame = pd.concat([c.frame for c in reader.chunks()], ignore_index=True)
    assert frame["body"].tolist() == [ROWS[0]["body"], "PPPoE drops, MT\ufffd 1492"]
    assert reader.stats.invalid_byte_rows == 1


@pytest.mark.parametrize(("codec", "suggested"), [("cp1252", "cp1252"), ("latin-1", "latin-1")])
def test_an_8bit_export_is_refused_with_the_exact_fix(tmp_path: Path, codec: str,
                                                      suggested: str) -> None:
    path = tmp_path / "excel.csv"
    text = _text("csv").replace(" 📺", "")
    if codec == "latin-1":
        text = text.replace("MTU", "MTU\x90")  # undefined in Windows-1252: Latin-1 it is
    path.write_bytes(text.encode(codec))
    with pytest.raises(InputError) as refused:
        TicketReader(path)
    message = str(refused.value)
    assert "not UTF-8 (byte 0xE9 on line 2)" in message
    assert f"--encoding {suggested}" in message and "iconv -f" in message
    assert _frame(path, encoding=suggested)["body"].iloc[0] == "Le Wi-Fi du café coupe; naïve " \
                                                                "question"
    # the CLI: a one-line error before any work, then the option that reads it
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert f"--encoding {suggested}" in result.output
    done = CliRunner().invoke(app, ["ingest", str(path), "--db", str(tmp_path / "s.db"),
                                    "--encoding", suggested, "--json"])
    assert done.exit_code == 0, done.output
    assert '"added": 2' in done.output and '"invalid_byte_rows": 0' in done.output


@pytest.mark.parametrize("codec", ["ascii", "utf-8"])
def test_score_counts_and_reports_bytes_the_named_encoding_cannot_decode(
        models_env: Path, tmp_path: Path, codec: str) -> None:
    """A named encoding is taken at its word, as ingest takes it: bytes it cannot decode (the
    Latin-1 é of "café" in ASCII or UTF-8) are replaced and the rows counted, and `score` says
    so with the fix, rather than replacing them silently."""
    path = tmp_path / "latin.csv"
    path.write_bytes(_text("csv").replace(" 📺", "").encode("latin-1"))
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(app, ["score", str(path), "--encoding", codec,
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"1 row had bytes that are not {codec}; they were replaced with \ufffd (if the file is "
        "in another encoding, name it: --encoding cp1252 or latin-1)"]
    assert "\ufffd" in pd.read_csv(out)["subject"].iloc[0]
    report = json.loads(CliRunner().invoke(app, ["score", str(path), "--encoding", codec,
                                                 "--out", str(out), "--json"]).stdout)
    assert (report["encoding"], report["invalid_byte_rows"]) == (codec, 1)
    # named as what it is, the file reads whole and nothing is said
    right = CliRunner().invoke(app, ["score", str(path), "--encoding", "latin-1",
                                     "--out", str(out)])
    assert right.exit_code == 0 and right.stderr == ""


@pytest.mark.parametrize(("codec", "damage", "other"), [
    ("ascii", "", "--encoding cp1252 or latin-1"),
    ("cp1252", "\x90", "--encoding latin-1"),  # 0x90: no character in Windows-1252
])
def test_ingest_names_the_encoding_whose_bytes_it_replaced(
        models_env: Path, tmp_path: Path, codec: str, damage: str, other: str) -> None:
    """`ingest` says which encoding could not decode the bytes (the one named, not always
    UTF-8) and, as `score` does, which to name instead; `score` says the same."""
    path = tmp_path / "latin.csv"
    path.write_bytes(_text("csv").replace(" 📺", "").replace("MTU", "MTU" + damage)
                     .encode("latin-1"))
    said = (f"1 row had bytes that are not {codec}; they were replaced with \ufffd (if the "
            f"file is in another encoding, name it: {other})")
    db = str(tmp_path / "s.db")
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", db, "--encoding", codec])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [said]
    data = json.loads(CliRunner().invoke(app, ["ingest", str(path), "--db", db, "--encoding",
                                               codec, "--json"]).stdout)
    assert (data["encoding"], data["invalid_byte_rows"]) == (codec, 1)
    scored = CliRunner().invoke(app, ["score", str(path), "--encoding", codec,
                                      "--out", str(tmp_path / "o.csv")])
    assert scored.exit_code == 0, scored.output
    assert scored.stderr.splitlines() == [said]


def test_binary_files_and_unknown_encodings_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError, match="NUL bytes"):
        TicketReader(path)
    good = tmp_path / "good.csv"
    good.write_text(_text("csv"), encoding="utf-8")
    with pytest.raises(InputError, match="unknown encoding"):
        TicketReader(good, encoding="klingon")
    for codec in ("rot13", "base64", "idna"):  # codecs, but not of text files
        with pytest.raises(InputError, match="not an encoding of text files"):
            TicketReader(good, encoding=codec)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_a_codec_that_needs_a_byte_order_mark_it_lacks_is_a_one_line_error(
        tmp_path: Path, kind: str, codec: str) -> None:
    path = tmp_path / f"nobom.{kind}"
    path.write_bytes(_text(kind).encode(codec.replace("-", "_") + "_le"))
    result = CliRunner().invoke(app, ["score", str(path), "--encoding", codec,
                                      "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1
    assert "does not start with BOM" in result.output and "--encoding utf-16-le" in result.output
    assert not (tmp_path / "o.csv").exists()
    # named with its byte order, the same file reads
    assert len(_frame(path, encoding=codec + "-le")) == len(ROWS)


def test_a_json_line_with_half_a_surrogate_pair_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"ticket_id": "s1", "body": "wifi down \\ud800 help"}\n'
                    '{"ticket_id": "s2", "body": "smile \\ud83d\\ude00 router down"}\n'
                    '{"ticket_id": "s3", "body": "router broken", "note": "\\udfff"}\n',
                    encoding="utf-8")
    chunks = list(TicketReader(path).chunks())
    kept = pd.concat([c.frame for c in chunks])
    rejects = pd.concat([c.rejects for c in chunks])
    assert kept["ticket_id"].tolist() == ["s2"]  # a whole pair is one character
    assert "\U0001f600" in kept["body"].iloc[0]
    assert rejects["row"].tolist() == [1, 3]
    assert rejects["reason"].str.contains("without its pair").all()


def test_a_parquet_bytes_column_with_bad_bytes_reads_them_replaced(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"ticket_id": ["a", "b"],
                             "body": pa.array([b"wifi \xff down", b"router broken"]),
                             "blob": pa.array([b"\xfe", b"ok"])}), path)
    reader = TicketReader(path)
    frame = pd.concat([c.frame for c in reader.chunks()])
    assert frame["body"].tolist() == ["wifi \ufffd down", "router broken"]
    assert reader.stats.invalid_byte_rows == 1


def _settle() -> None:
    """A function call: a pending KeyboardInterrupt is raised here at the latest."""


@pytest.mark.slow
def test_an_interrupt_while_pandas_reads_stays_an_interrupt(tmp_path: Path) -> None:
    """pandas' C parser turned a KeyboardInterrupt raised inside its reads of a text handle
    into ParserError ("Calling read(nbytes) on source failed"), so Ctrl-C during `ingest`
    sometimes said "malformed CSV" (exit 1; about half the time here). Ctrl-C (SIGINT, with
    Python's own handler) at many moments of the read: always an interrupt."""
    row = ",".join(["T{}", "C1", "2024-03-01T10:00:00", "Router", "the light is orange " * 8])
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("ticket_id,customer_id,created_at,subject,body\n")
        handle.writelines(row.format(i) + "\n" for i in range(150_000))
    outcomes: list[str] = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for trial in range(30):
            timer = threading.Timer(0.005 * trial, os.kill, (os.getpid(), signal.SIGINT))
            try:
                try:
                    reader = TicketReader(path, chunk_rows=200_000)
                    timer.start()
                    for _ in reader.chunks():
                        pass
                    outcomes.append("read")
                finally:
                    timer.cancel()
                    if timer.is_alive() or timer.finished.is_set():
                        timer.join()
                    _settle()
            except KeyboardInterrupt:
                outcomes.append("interrupted")
            except InputError as exc:
                outcomes.append(str(exc))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert set(outcomes) <= {"read", "interrupted"}, outcomes
    assert outcomes.count("interrupted") >= 10
