"""The privacy promises, broken on purpose through the real CLI: personal data in any column of
an export (ids included, in rows that are rejected too) stays out of what the tool writes and
prints; erasure and opt-out hold end to end.

Everything runs on real files under tmp_path, a real SQLite store and the small real bundle of
the conftest (``models_env``).
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from expertise.cli import app
from expertise.rights.erasure import models_trained_on

runner = CliRunner()

#: Personal data an export may carry where it should not: in an id column, say.
EMAIL = "alice.smith@example.com"
PHONE = "07700 900123"
CARD = "4111 1111 1111 1111"
RAW = (EMAIL, PHONE, CARD, "4111111111111111", "900123")


def cli(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _leaks(text: str) -> list[str]:
    return [value for value in RAW if value in text]


def _row(ticket_id: str, customer_id: str, body: str = "my wifi keeps dropping") -> dict[str, str]:
    return {"ticket_id": ticket_id, "customer_id": customer_id,
            "created_at": "2026-01-05T10:00:00", "subject": "", "body": body}


def test_rejects_files_and_strict_errors_do_not_quote_personal_data_in_ticket_ids(
        models_env: Path, tmp_path: Path) -> None:
    """A rejected row's ticket id is often text that slid into the id column: the rejects file
    (ingest and score) and `score --strict`'s one-line error showed it as it came."""
    export = _write_csv(tmp_path / "export.csv", [
        _row("T1", "C1"),
        # a body that slid into the id column: a line break, so ingest refuses it
        _row(f"call me on {PHONE} or {EMAIL}\ncard {CARD}", "C2"),
        # an e-mail address as a ticket id, twice: the second is a duplicate
        _row(EMAIL, "C3"), _row(EMAIL, "C3"),
    ])
    db = tmp_path / "s.db"
    ingested = cli("ingest", export, "--db", db)
    assert ingested.exit_code == 0, ingested.output
    rejects = tmp_path / "export.rejects.csv"
    listed = rejects.read_text(encoding="utf-8")
    assert "duplicate ticket_id" in listed and "control character" in listed
    assert _leaks(listed) == [] and "<EMAIL>" in listed and "<PHONE>" in listed
    assert _leaks(ingested.output) == []

    scored = cli("score", export, "--out", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.output
    listed = (tmp_path / "out.rejects.csv").read_text(encoding="utf-8")
    assert "duplicate ticket_id" in listed and _leaks(listed) == []

    strict = cli("score", export, "--strict", "--out", tmp_path / "strict.csv")
    assert strict.exit_code == 1 and "--strict stops at the first bad row" in strict.output
    assert _leaks(strict.output) == [], strict.output


def _file_bytes(db: Path) -> bytes:
    """Every byte of the store's files (the database, its write-ahead log and shared memory,
    whichever exist)."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*"))
                    if not p.name.endswith(".key"))


def test_after_forget_explain_says_the_customer_was_erased_and_nothing_comes_back(
        models_env: Path, tmp_path: Path) -> None:
    """`explain` for an erased customer failed with "we hold nothing about them (check the id,
    or ingest their tickets with `expertise ingest`)": advice to bring the data back, not the
    statement the customer asked for."""
    words = "Hub on fw 4.2.1 drops the PPPoE session, SNR margin 3 dB, Zanzibarian router"
    export = _write_csv(tmp_path / "export.csv", [
        _row("T1", "C-GONE", words), _row("T2", "C-GONE", f"{words} again"),
        _row("T3", "C-STAYS")])
    db = tmp_path / "s.db"
    assert cli("ingest", export, "--db", db).exit_code == 0
    assert cli("answer", "wifi keeps dropping", "--customer", "C-GONE", "--db", db).exit_code == 0
    assert cli("feedback", "T1", "--article", "wifi-dropping/expert", "--helpful", "--level",
               "expert", "--db", db).exit_code == 0
    told = cli("explain", "--customer", "C-GONE", "--db", db)
    assert told.exit_code == 0 and "the 2 messages you sent us" in " ".join(told.stdout.split())

    gone = cli("forget", "--customer", "C-GONE", "--db", db)
    assert gone.exit_code == 0, gone.output
    raw = _file_bytes(db)
    assert b"Zanzibarian" not in raw and b"C-GONE" not in raw

    after = cli("explain", "--customer", "C-GONE", "--db", db)
    assert after.exit_code == 0, after.output
    said = " ".join(after.stdout.split())
    assert "You asked us to delete your details, and we did on" in said
    assert "erased here on" in said and "we hold no messages from you" in said
    # the request is logged, naming nobody
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT action, customer_id FROM audit").fetchall()
    assert ("explain", None) in rows and all(c != "C-GONE" for _, c in rows)

    # the old export again: nothing of theirs comes back, and explain still says erased
    again = cli("ingest", export, "--db", db)
    assert again.exit_code == 0 and "2 rejected" in again.stdout
    assert b"Zanzibarian" not in _file_bytes(db)
    assert "we did on" in " ".join(cli("explain", "--customer", "C-GONE", "--db",
                                       db).stdout.split())
    # someone never seen is still refused
    assert cli("explain", "--customer", "C-NOBODY", "--db", db).exit_code == 1


def test_an_erased_customers_id_typed_into_a_purpose_does_not_stay_in_the_audit_log(
        models_env: Path, tmp_path: Path) -> None:
    """Erasure clears an audit row's customer id, and the log is append-only: a purpose that
    repeated the id ("callback for C-GONE") named the erased customer for ever."""
    db = tmp_path / "s.db"
    export = _write_csv(tmp_path / "export.csv", [_row("T1", "C-GONE"), _row("T2", "C-STAYS")])
    assert cli("ingest", export, "--db", db).exit_code == 0
    for args in (("answer", "wifi keeps dropping", "--purpose", "callback for C-GONE"),
                 ("explain", "--purpose", f"c-gone asked, reply to {EMAIL}"),
                 ("consent", "--opt-in", "--purpose", "(C-GONE) on the phone")):
        done = cli(*args, "--customer", "C-GONE", "--db", db)
        assert done.exit_code == 0, done.output
    with sqlite3.connect(db) as conn:
        purposes = [r[0] for r in conn.execute("SELECT purpose FROM audit ORDER BY id")]
    assert purposes == ["callback for <CUSTOMER>", "<CUSTOMER> asked, reply to <EMAIL>",
                        "(<CUSTOMER>) on the phone"]
    assert cli("forget", "--customer", "C-GONE", "--db", db).exit_code == 0
    assert b"c-gone" not in _file_bytes(db).lower()


def test_score_output_redacts_personal_data_in_text_ticket_ids_and_keeps_plain_ones(
        models_env: Path, tmp_path: Path) -> None:
    """The scored file passed the ticket id column through as it came: an e-mail address as an
    id, or a body that slid into the id column, was written out whole."""
    slid = f"call me on {PHONE} or {EMAIL}\ncard {CARD}"
    export = _write_csv(tmp_path / "export.csv", [
        _row("T1", "C1"), _row("ZD-2026-000123", "C2"), _row(EMAIL, "C3"), _row(slid, "C4")])
    for name in ("out.csv", "out.jsonl"):
        out = tmp_path / name
        done = cli("score", export, "--out", out)
        assert done.exit_code == 0, done.output
        text = out.read_text(encoding="utf-8")
        assert _leaks(text) == [], text
        assert "T1" in text and "ZD-2026-000123" in text and "<EMAIL>" in text
    kept = tmp_path / "kept.csv"
    assert cli("score", export, "--out", kept, "--keep-text").exit_code == 0
    assert EMAIL in kept.read_text(encoding="utf-8")


def test_score_does_not_write_an_id_ingest_refuses_into_the_audit_log(
        models_env: Path, tmp_path: Path) -> None:
    """`score --db` logged a look-up of every customer id of the export, also text that slid
    into the customer id column (ingest refuses it: a line break, over 200 characters), whole:
    an e-mail address and a phone number in the audit log, beyond `forget --customer`."""
    db = tmp_path / "s.db"
    assert cli("ingest", _write_csv(tmp_path / "known.csv", [_row("T0", "C1")]),
               "--db", db).exit_code == 0
    export = _write_csv(tmp_path / "export.csv", [
        _row("T1", "C1"), _row("T2", f"C5\nreply to {EMAIL}"),
        _row("T3", f"call {PHONE} " + "x" * 200)])
    done = cli("score", export, "--db", db, "--out", tmp_path / "out.csv")
    assert done.exit_code == 0, done.output
    with sqlite3.connect(db) as conn:
        looked_up = [r[0] for r in conn.execute(
            "SELECT customer_id FROM audit WHERE action = 'score_lookup'")]
    assert looked_up == ["C1"]
    assert _leaks(_file_bytes(db).decode("utf-8", "replace")) == []


def test_evaluate_names_left_out_rows_without_personal_data_in_their_ids(
        models_env: Path, tmp_path: Path) -> None:
    """`evaluate --data` (and `train --data`) name the first rows left out on stderr, with
    their ticket ids: an e-mail address or a phone number in the id column was printed."""
    rows = [{**_row(f"T{i}", f"C{i}"), "expertise_level": "novice",
             "topic": "wifi-dropping"} for i in range(30)]
    rows.append({**_row(EMAIL, "C98"), "expertise_level": "wizard", "topic": "wifi-dropping"})
    rows.append({**_row(f"call {PHONE}", "C99", body=""), "expertise_level": "novice",
                 "topic": "wifi-dropping"})
    labelled = _write_csv(tmp_path / "labelled.csv", rows)
    done = cli("evaluate", "--data", labelled)
    assert done.exit_code == 0, done.output
    assert "2 of 32 rows left out" in done.output and "row 31 (<EMAIL>)" in done.output
    assert _leaks(done.output) == [], done.output
    # the report itself (--json, and a bundle's metrics when the file is an evaluation set)
    report = cli("evaluate", "--data", labelled, "--json")
    assert report.exit_code == 0, report.output
    assert "<EMAIL>" in report.stdout and _leaks(report.stdout) == [], report.stdout


def test_train_leaves_out_customers_who_opted_out_or_were_erased(
        models_env: Path, small_train: pd.DataFrame, tmp_path: Path) -> None:
    """`train --data` read no store: an export holding an opted-out or erased customer's
    labelled tickets taught the new model from them (its fingerprints named them), where
    `retrain` leaves them out."""
    data = tmp_path / "labelled.csv"
    small_train.to_csv(data, index=False)
    customers = sorted(small_train["customer_id"].unique())
    opted, erased, kept = customers[0], customers[1], customers[2]
    db = tmp_path / "s.db"
    mine = small_train[small_train["customer_id"] == opted].head(1)
    mine.to_csv(tmp_path / "theirs.csv", index=False)
    assert cli("ingest", tmp_path / "theirs.csv", "--db", db).exit_code == 0
    assert cli("consent", "--customer", opted, "--opt-out", "--db", db).exit_code == 0
    assert cli("forget", "--customer", erased, "--db", db, "--even-if-unknown").exit_code == 0
    out = tmp_path / "models"
    done = cli("train", "--data", data, "--out", out, "--no-eval", "--version-name", "t1",
               "--db", db)
    assert done.exit_code == 0, done.output
    n = int((small_train["customer_id"].isin([opted, erased])).sum())
    assert f"left out {n} tickets of 2 customers who opted out or were erased" in done.output
    assert models_trained_on(kept, root=out).trained_on == ["t1"]
    assert models_trained_on(opted, root=out).trained_on == []
    assert models_trained_on(erased, root=out).trained_on == []


def test_ingest_redacts_an_exports_topic_and_resolved_article_columns(tmp_path: Path) -> None:
    """Only subject and body were redacted before they were stored: an export's topic or
    resolved article column (a help desk's category, or free text an agent typed) went into
    the tickets table as it came."""
    export = _write_csv(tmp_path / "export.csv", [{
        **_row("T1", "C1"), "topic": f"callback {EMAIL} {PHONE}",
        "resolved_article_id": f"card {CARD}"}, {
        **_row("T2", "C2"), "topic": "wifi-dropping",
        "resolved_article_id": "wifi-dropping/novice"}])
    db = tmp_path / "s.db"
    done = cli("ingest", export, "--db", db)
    assert done.exit_code == 0 and "2 added" in done.stdout, done.output
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT topic, resolved_article_id FROM tickets ORDER BY ticket_id").fetchall()
    assert stored == [("callback <EMAIL> <PHONE>", "card <CARD>"),
                      ("wifi-dropping", "wifi-dropping/novice")]
    assert _leaks(_file_bytes(db).decode("utf-8", "replace")) == []
    assert "0 added, 0 updated, 2 unchanged" in cli("ingest", export, "--db", db).stdout


def test_ingest_says_how_many_tickets_it_stored_under_a_personal_customer_id(
        models_env: Path, tmp_path: Path) -> None:
    """A desk that keys customers by e-mail address or phone number puts them in the store's id
    column (the look-up key, kept as written: docs/decisions.md); ingest now says so and how to
    map an opaque id, instead of storing them without a word. Plain ids are not counted."""
    export = _write_csv(tmp_path / "export.csv", [
        _row("T1", EMAIL), _row("T2", EMAIL), _row("T3", PHONE), _row("T4", "C00042"),
        _row("T5", "ZD-2026-000123"), _row("T6", "")])
    db = tmp_path / "s.db"
    done = cli("ingest", export, "--db", db)
    assert done.exit_code == 0, done.output
    message = " ".join(done.output.split())
    assert "3 tickets stored under a customer id that holds personal data" in message
    assert "--map customer_id=COLUMN" in message
    report = cli("ingest", export, "--db", db, "--json")  # again: unchanged rows count too
    assert report.exit_code == 0, report.output
    assert '"personal_ids": 3' in report.stdout
    plain = _write_csv(tmp_path / "plain.csv", [_row("T7", "C00042"), _row("T8", "12345")])
    quiet = cli("ingest", plain, "--db", db)
    assert quiet.exit_code == 0 and "personal data" not in quiet.output, quiet.output
