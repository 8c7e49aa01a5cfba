"""Tests for expertise.store.db on real SQLite files under tmp_path."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertise.errors import InputError, StoreError, UnknownCustomerError, UnknownTicketError
from expertise.privacy import redact
from expertise.store.db import (
    MAX_LABEL_CHARS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    check_label,
    check_store_file,
    default_actor,
    default_rejects_path,
    migrate,
)

DATA = Path(__file__).parents[1] / "data"
#: Any character an id may hold: everything but control characters (and lone surrogates).
_ID_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db" / "expertise.db") as opened:
        yield opened


@pytest.fixture
def loaded(store: Store, tmp_path: Path) -> Store:
    shutil.copy(DATA / "tickets.csv", tmp_path / "tickets.csv")
    store.ingest_file(tmp_path / "tickets.csv")
    return store


def tickets_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows).fillna("")


def db_text(path: Path) -> bytes:
    """Every byte SQLite keeps for this database: the file and its WAL, if any."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


# ---------------------------------------------------------------------------------------------
# Opening and migrations
# ---------------------------------------------------------------------------------------------


def test_new_database_is_migrated_from_version_zero(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dirs" / "new.db"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert store.journal_mode == "wal"
        conn = store.connection
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"customers", "tickets", "feedback", "audit", "erasures", "meta"} <= tables
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "tickets_customer_created" in indexes
    assert path.exists()


def test_version_one_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute(
        "INSERT INTO audit(at, actor, action, customer_id) VALUES ('2024-01-01', 'a', 'x', 'C')"
    )
    with pytest.raises(sqlite3.IntegrityError):  # version 1: no update at all
        conn.execute("UPDATE audit SET customer_id = NULL")
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.connection.execute("UPDATE audit SET customer_id = NULL")  # version 2 allows it
        assert store.audit_rows()[0].customer_id is None


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    migrate(conn)
    bad = (*MIGRATIONS, "CREATE TABLE half_done(a); INSERT INTO no_such_table VALUES (1);")
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1} failed"):
        migrate(conn, bad)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in names
    conn.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer than this program"):
        Store(path)


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE foo(x); CREATE TABLE bar(y); CREATE TABLE meta(k, v); "
                       "CREATE TABLE zed(z); PRAGMA user_version = 3;")
    conn.close()
    before = path.read_bytes()
    expected = (f"{path}: a SQLite database but not an expertise store (its tables: bar, foo, "
                "meta, ...); check --db")
    for create in (True, False):
        with pytest.raises(StoreError) as raised:
            Store(path, create=create)
        assert str(raised.value) == expected
        with pytest.raises(StoreError) as checked:
            check_store_file(path, create=create)
        assert str(checked.value) == expected
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_only_create_makes_a_store_of_a_missing_or_empty_file(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing" / "x.db", tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="no store there"):
        Store(missing, create=False)
    assert not missing.parent.exists()
    check_store_file(missing)  # a missing file is the caller's to judge
    for refuse in (lambda: Store(empty, create=False), lambda: check_store_file(empty)):
        with pytest.raises(StoreError, match="empty, not an expertise store; check --db"):
            refuse()
        assert empty.stat().st_size == 0
    check_store_file(empty, create=True)
    Store(empty).close()  # create is the default: a new file is made a store
    check_store_file(empty)
    with Store(empty, create=False) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not an expertise database"):
        Store(path)


def test_salt_is_random_per_database_and_stable(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        salt = a.install_salt()
        assert len(salt) == 64 and salt != b.install_salt()
        assert a.hash_customer("C-1") != b.hash_customer("C-1")
    with Store(tmp_path / "a.db") as again:
        assert again.install_salt() == salt


def test_in_memory_store() -> None:
    with Store(":memory:") as store:
        store.ingest_frame(tickets_frame([{"ticket_id": "1", "body": "hello"}]))
        assert store.ticket_count() == 1


# ---------------------------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------------------------


def test_ingest_file_counts_and_idempotence(store: Store, tmp_path: Path) -> None:
    shutil.copy(DATA / "tickets.csv", tmp_path / "tickets.csv")
    first = store.ingest_file(tmp_path / "tickets.csv")
    assert (first.added, first.updated, first.unchanged, first.rejected) == (24, 0, 0, 0)
    assert first.rows_read == 24 and first.format == "csv" and first.seconds > 0
    assert first.rejects_path is None
    second = store.ingest_file(tmp_path / "tickets.csv")
    assert (second.added, second.updated, second.unchanged) == (0, 0, 24)
    assert store.ticket_count() == 24
    assert not default_rejects_path(tmp_path / "tickets.csv").exists()


def test_ingest_writes_rejects_next_to_input(store: Store, tmp_path: Path) -> None:
    shutil.copy(DATA / "bad_dates.csv", tmp_path / "bad_dates.csv")
    report = store.ingest_file(tmp_path / "bad_dates.csv")
    assert (report.added, report.rejected) == (2, 3)
    assert report.rejects_path == tmp_path / "bad_dates.rejects.csv"
    rejects = pd.read_csv(report.rejects_path, dtype=str)
    assert list(rejects.columns) == ["row", "ticket_id", "reason"]
    assert rejects["ticket_id"].tolist() == ["B-1", "B-2", "B-5"]
    assert sum(report.reject_reasons.values()) == 3
    chosen = tmp_path / "out" / "mine.csv"
    store.ingest_file(tmp_path / "bad_dates.csv", rejects_path=chosen)
    assert len(pd.read_csv(chosen)) == 3


def test_ingest_keeps_the_rows_around_one_with_a_stray_separator(store: Store,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "stray.csv"
    src.write_text("ticket_id,customer_id,body\nS-1,C1,wifi drops\nS-2,C1,router, reboots\n"
                   "S-3,C2,tv no signal\nS-4,C2,hub light, red, again\n", encoding="utf-8")
    report = store.ingest_file(src)
    assert (report.added, report.rejected) == (2, 2)
    assert report.reject_reasons == {
        "more fields than the header's 3: quote any field that holds the separator": 2}
    assert pd.read_csv(report.rejects_path)["row"].tolist() == [2, 4]
    assert store.ticket_count() == 2


@pytest.mark.parametrize(
    "name", ["zendesk.json", "zendesk_incremental.jsonl", "freshdesk.csv", "tickets.jsonl"]
)
def test_ingest_every_layout(store: Store, tmp_path: Path, name: str) -> None:
    shutil.copy(DATA / name, tmp_path / name)
    report = store.ingest_file(tmp_path / name)
    assert report.added > 0 and report.rejected == 0
    assert report.added == store.ticket_count()


def test_text_is_redacted_before_it_is_stored(loaded: Store) -> None:
    bodies = [r[0] for r in loaded.connection.execute("SELECT body FROM tickets")]
    joined = "\n".join(bodies)
    assert "07700 900123" not in joined and "4111 1111 1111 1111" not in joined
    assert "<PHONE>" in joined and "<CARD>" in joined and "<ACCOUNT>" in joined
    assert "Sarah" not in joined
    loaded.close()
    raw = db_text(loaded.path)
    assert b"07700 900123" not in raw and b"4111 1111 1111 1111" not in raw


def test_reingest_updates_changed_rows_and_keeps_labels(store: Store) -> None:
    base = {"ticket_id": "T1", "customer_id": "C1", "created_at": "2024-01-01T10:00:00",
            "subject": "Router", "body": "down", "expertise_level": "novice"}  # fmt: skip
    assert store.ingest_frame(tickets_frame([base])).added == 1
    changed = {**base, "body": "down again"}
    counts = store.ingest_frame(tickets_frame([changed]))
    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, 0)
    unlabelled = {k: v for k, v in changed.items() if k != "expertise_level"}
    counts = store.ingest_frame(tickets_frame([unlabelled]))
    assert counts.unchanged == 1
    assert store.history("C1")[0].expertise_level == "novice"
    assert store.history("C1")[0].body == "down again"


def test_ingest_frame_rejects_invalid_rows(store: Store) -> None:
    counts = store.ingest_frame(
        tickets_frame(
            [
                {"ticket_id": "A", "body": "fine"},
                {"ticket_id": "A", "body": "duplicate"},
                {"ticket_id": "", "body": "no id"},
                {"ticket_id": "B", "body": ""},
                {"ticket_id": "C", "body": "x", "created_at": "whenever"},
            ]
        )
    )
    assert (counts.added, counts.rejected, counts.total) == (1, 4, 5)


def test_customers_are_created_with_first_seen(loaded: Store) -> None:
    customer = loaded.customer("C-100")
    assert customer is not None
    assert customer.consent == "granted"
    assert customer.first_seen == "2024-03-01T09:15:00"
    assert customer.ticket_count == 3
    assert loaded.customer("C-nobody") is None


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


def test_history_is_in_time_order(loaded: Store) -> None:
    items = loaded.history("C-100")
    assert [i.ticket_id for i in items] == ["T-1001", "T-1004", "T-1022"]
    times = [i.created_at or "" for i in items]
    assert times == sorted(times)
    assert items[-1].topic == "tv-no-signal" and items[-1].expertise_level == "novice"
    assert loaded.history("C-100", limit=2) == items[1:]  # the most recent two
    assert loaded.history("C-100", after_rowid=items[0].rowid) == items[1:]
    assert loaded.history("C-100", limit=0) == []
    assert loaded.history("C-nobody") == []


def test_history_before_excludes_the_present_and_future(loaded: Store) -> None:
    ids = [i.ticket_id for i in loaded.history("C-100", before="2024-03-25T10:20:00")]
    assert ids == ["T-1001", "T-1004"]  # the ticket at exactly that time is excluded
    assert [i.ticket_id for i in loaded.history("C-100", before="2024-03-05")] == ["T-1001"]
    assert loaded.history("C-100", before="2024-01-01") == []
    with pytest.raises(InputError, match="not a date"):
        loaded.history("C-100", before="last week")


def test_history_without_times_and_ties(store: Store) -> None:
    store.ingest_frame(
        tickets_frame(
            [
                {"ticket_id": "a", "customer_id": "C", "created_at": "2024-01-01", "body": "x"},
                {"ticket_id": "b", "customer_id": "C", "created_at": "", "body": "x"},
                {"ticket_id": "c", "customer_id": "C", "created_at": "2024-01-01", "body": "x"},
                {"ticket_id": "d", "customer_id": "C", "created_at": "2024-02-01", "body": "x"},
            ]
        )
    )
    assert [i.ticket_id for i in store.history("C")] == ["b", "a", "c", "d"]
    assert [i.ticket_id for i in store.history("C", before="2025-01-01")] == ["a", "c", "d"]


def test_anonymous_tickets_have_no_history(loaded: Store) -> None:
    stored = loaded.connection.execute(
        "SELECT customer_id FROM tickets WHERE ticket_id = 'T-1005'"
    ).fetchone()
    assert stored == (None,)
    assert loaded.history("") == []


# ---------------------------------------------------------------------------------------------
# Consent, predictions, feedback, training data
# ---------------------------------------------------------------------------------------------


def test_consent_controls_training_data(loaded: Store) -> None:
    everyone = loaded.training_frame()
    assert len(everyone) == 24 and set(everyone["label_source"]) == {"import"}
    loaded.set_consent("C-102", "opted_out")
    assert loaded.customer("C-102").consent == "opted_out"  # type: ignore[union-attr]
    consenting = loaded.training_frame()
    assert "C-102" not in set(consenting["customer_id"])
    assert len(consenting) == 24 - 3
    assert loaded.training_exclusions(["C-102", "C-101", ""]) == {"C-102"}
    loaded.set_consent("C-102", "granted")
    assert len(loaded.training_frame()) == 24
    with pytest.raises(InputError, match="consent"):
        loaded.set_consent("C-102", "maybe")


def test_set_consent_for_an_unknown_customer_creates_them(store: Store) -> None:
    store.set_consent("C-new", "opted_out")
    customer = store.customer("C-new")
    assert customer is not None and customer.consent == "opted_out" and customer.ticket_count == 0


def test_training_frame_columns_and_blanks(loaded: Store) -> None:
    frame = loaded.training_frame()
    assert list(frame.columns) == [
        "ticket_id", "customer_id", "created_at", "channel", "subject", "body",
        "expertise_level", "topic", "resolved_article_id", "label_source",
    ]  # fmt: skip
    assert frame.set_index("ticket_id").loc["T-1005", "customer_id"] == ""
    assert set(frame["expertise_level"]) == {"novice", "intermediate", "expert"}


def test_predictions(loaded: Store) -> None:
    loaded.record_prediction("T-1001", "novice", 0.91)
    assert loaded.history("C-100")[0].predicted_level == "novice"
    with pytest.raises(UnknownTicketError):
        loaded.record_prediction("nope", "novice", 0.5)
    with pytest.raises(InputError):
        loaded.record_prediction("T-1001", "wizard", 0.5)
    with pytest.raises(InputError):
        loaded.record_prediction("T-1001", "novice", 1.5)


def test_feedback_and_corrected_levels(loaded: Store) -> None:
    first = loaded.add_feedback("T-1002", article_id="slow-broadband/intermediate", helpful=False,
                                corrected_level="expert", agent="ben")  # fmt: skip
    second = loaded.add_feedback("T-1002", article_id="slow-broadband/expert", helpful=True,
                                 agent="ben")  # fmt: skip
    live = loaded.add_feedback("live-1", article_id="no-internet/novice", helpful=True)
    rows = loaded.feedback_rows()
    assert [r.id for r in rows] == [first, second, live]
    assert rows[0].customer_id == "C-101"  # taken from the stored ticket
    assert rows[0].helpful is False and rows[1].helpful is True
    assert rows[2].customer_id is None
    assert [r.id for r in loaded.feedback_rows(customer_id="C-101")] == [first, second]
    training = loaded.training_frame().set_index("ticket_id")
    assert training.loc["T-1002", "expertise_level"] == "expert"
    assert training.loc["T-1002", "label_source"] == "feedback"
    with pytest.raises(InputError):
        loaded.add_feedback("T-1002", article_id="x", corrected_level="guru")


def test_feedback_for_an_unknown_customer_creates_them(store: Store) -> None:
    store.add_feedback("live", article_id="a", helpful=True, customer_id="C-9")
    assert store.customer("C-9") is not None


# ---------------------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------------------


def test_audit_rows_filter(store: Store) -> None:
    store.audit("ana", "history_lookup", "C-1", "answer", "3 tickets")
    store.audit("ben", "history_lookup", "C-2", "answer")
    store.audit("ben", "export")
    assert [r.actor for r in store.audit_rows()] == ["ana", "ben", "ben"]
    assert [r.customer_id for r in store.audit_rows(customer_id="C-1")] == ["C-1"]
    assert len(store.audit_rows(since="2000-01-01")) == 3
    assert store.audit_rows(since="2999-01-01") == []
    with pytest.raises(InputError):
        store.audit("ana", "")
    store.audit(None, "export")  # the login name when no agent is given
    assert store.audit_rows()[-1].actor == default_actor()


def test_audit_text_is_redacted_and_an_erased_id_is_not_written_again(loaded: Store) -> None:
    customer = loaded.connection.execute("SELECT customer_id FROM customers LIMIT 1"
                                         ).fetchone()[0]
    loaded.audit("ana", "answer", customer, "call from Siobhan O'Connell 07700900555")
    loaded.audit("ana", "score", None, None, "jane.doe@example.com_07700900123.csv: 7 scored")
    purpose, detail = loaded.audit_rows()[-2].purpose, loaded.audit_rows()[-1].detail
    assert "07700900555" not in purpose and "<PHONE>" in purpose
    assert "jane.doe" not in detail and "<EMAIL>" in detail
    loaded.forget(customer, actor="ana")
    loaded.audit("ana", "answer", customer, None, "level=novice")
    assert loaded.audit_lookups("ana", "score_lookup", [customer, "C-other"]) == 1
    assert loaded.audit_rows(customer_id=customer) == []
    assert loaded.audit_rows()[-2].action == "answer"  # the look-up is kept, without the id


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM audit",
        "DELETE FROM audit WHERE id = 1",
        "UPDATE audit SET action = 'nothing to see'",
        "UPDATE audit SET detail = NULL",
        "UPDATE audit SET customer_id = 'someone else'",
        "UPDATE audit SET customer_id = NULL, purpose = 'changed'",
    ],
)
def test_audit_triggers_refuse_changes(store: Store, sql: str) -> None:
    store.audit("ana", "history_lookup", "C-1", "answer", "detail")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.connection.execute(sql)
    row = store.audit_rows()[0]
    assert (row.action, row.customer_id, row.purpose, row.detail) == (
        "history_lookup", "C-1", "answer", "detail",
    )  # fmt: skip


def test_audit_accepts_only_clearing_the_customer(store: Store) -> None:
    store.audit("ana", "history_lookup", "C-1")
    store.connection.execute("UPDATE audit SET customer_id = NULL")
    assert store.audit_rows()[0].customer_id is None


# ---------------------------------------------------------------------------------------------
# Erasure
# ---------------------------------------------------------------------------------------------


def test_forget_removes_everything_but_the_erasure_record(loaded: Store) -> None:
    loaded.add_feedback("T-1001", article_id="no-internet/novice", helpful=True, agent="ana")
    loaded.add_feedback("live", article_id="x", customer_id="C-100")
    loaded.audit("ana", "history_lookup", "C-100", "answer")
    loaded.audit("ana", "history_lookup", "C-101", "answer")
    report = loaded.forget("C-100", actor="dpo")
    assert (report.tickets_deleted, report.feedback_deleted, report.audit_rows_anonymised) == (
        3, 2, 1,
    )  # fmt: skip
    assert report.customer_deleted
    assert report.customer_hash == loaded.hash_customer("C-100")
    assert "C-100" not in repr(report)
    assert loaded.customer("C-100") is None
    assert loaded.history("C-100") == []
    assert loaded.feedback_rows(customer_id="C-100") == []
    assert loaded.erased_hashes() == [report.customer_hash]
    assert loaded.audit_rows(customer_id="C-100") == []
    last = loaded.audit_rows()[-1]
    assert (last.action, last.actor, last.customer_id) == ("erasure", "dpo", None)
    assert "C-100" not in (last.detail or "")
    # other customers are untouched
    assert loaded.customer("C-101") is not None
    assert loaded.audit_rows(customer_id="C-101") != []
    assert loaded.ticket_count() == 21
    # the id is nowhere in any table ...
    conn = loaded.connection
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in conn.execute(f'SELECT * FROM "{table}"'):  # table names come from SQLite
            assert "C-100" not in " ".join(map(str, row)), table
    # ... nor in the bytes on disk
    loaded.close()
    assert b"C-100" not in db_text(loaded.path)


def test_forget_unknown_customer(store: Store) -> None:
    with pytest.raises(UnknownCustomerError):
        store.forget("C-ghost")
    assert store.erased_hashes() == []


def test_forget_twice(loaded: Store) -> None:
    loaded.forget("C-100")
    with pytest.raises(UnknownCustomerError, match="erased here before"):
        loaded.forget("C-100", unknown_ok=True)


def test_forget_a_customer_the_store_never_held_records_the_erasure(
        store: Store, tmp_path: Path) -> None:
    # their tickets are only in an export the analyst has not imported yet
    report = store.forget("C-export-only", unknown_ok=True)
    assert (report.tickets_deleted, report.audit_rows_anonymised,
            report.customer_deleted) == (0, 0, False)
    assert len(store.erased_hashes()) == 1
    assert store.training_exclusions(["C-export-only", "C-other"]) == {"C-export-only"}
    export = tmp_path / "export.csv"
    export.write_text("ticket_id,customer_id,body\nT1,C-export-only,my router drops\n"
                      "T2,C-other,no dial tone\n", encoding="utf-8")
    counts = store.ingest_file(export)
    assert (counts.added, counts.rejected) == (1, 1)
    assert store.history("C-export-only") == []


def test_a_long_lived_store_sees_an_erasure_made_by_another_connection(
        loaded: Store) -> None:
    assert not loaded.is_erased("C-100")  # read, and remembered
    with Store(loaded.path) as other:
        other.forget("C-100")
    assert loaded.is_erased("C-100")
    counts = loaded.ingest_frame(tickets_frame(
        [{"ticket_id": "late", "customer_id": "C-100", "body": "hello"}]))
    assert (counts.added, counts.rejected) == (0, 1)


def test_forget_a_customer_known_only_from_audit(store: Store) -> None:
    store.audit("ana", "history_lookup", "C-looked-up", "answer")
    report = store.forget("C-looked-up")
    assert (report.tickets_deleted, report.audit_rows_anonymised) == (0, 1)
    assert not report.customer_deleted


def test_erased_customers_are_not_reingested(loaded: Store, tmp_path: Path) -> None:
    loaded.forget("C-100")
    report = loaded.ingest_file(tmp_path / "tickets.csv")
    assert (report.added, report.unchanged, report.rejected) == (0, 21, 3)
    assert report.reject_reasons == {"customer erased (right to erasure); not stored": 3}
    assert loaded.history("C-100") == [] and loaded.customer("C-100") is None
    # the same holds for a fresh connection to the same file
    with Store(loaded.path) as again:
        counts = again.ingest_frame(
            tickets_frame([{"ticket_id": "new", "customer_id": "C-100", "body": "hello"}])
        )
        assert (counts.added, counts.rejected) == (0, 1)


def test_an_erased_customers_ticket_ids_are_not_reingested_under_any_customer(
        loaded: Store, tmp_path: Path) -> None:
    """An export row carrying an erased customer's old ticket id is refused whatever customer
    id it names (none, another, theirs), with one line of reason: it would put their words
    back in the store. Their ids come last in a file longer than one batch of look-ups."""
    loaded.forget("C-100")  # T-1001, T-1004, T-1022
    export = tmp_path / "again.csv"
    lines = ["ticket_id,customer_id,body"]
    lines += [f"N-{i},C-{i % 50},new words {i}" for i in range(1_900)]
    lines += ["T-1001,,the box with the flashing lights has gone orange",
              "T-1004,C-999,the little light on the box goes red then back to white",
              "T-1022,C-100,the telly says no signal",
              "T-1002,C-101,Speed test shows 12 Mbps at 8pm",
              "N-late,,a new ticket without a customer"]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = loaded.ingest_file(export, rejects_path=tmp_path / "again.rejects.csv")
    assert (report.added, report.updated, report.rejected) == (1_901, 1, 3)
    assert report.reject_reasons == {
        "ticket of a customer erased (right to erasure); not stored": 2,
        "customer erased (right to erasure); not stored": 1}
    assert report.rejects_path == tmp_path / "again.rejects.csv"
    rejects = pd.read_csv(tmp_path / "again.rejects.csv", dtype=str, keep_default_na=False)
    assert rejects["ticket_id"].tolist() == ["T-1001", "T-1004", "T-1022"]
    assert not any(loaded.has_ticket(t) for t in ("T-1001", "T-1004", "T-1022"))
    assert loaded.customer("C-999") is None
    assert b"flashing lights" not in db_text(loaded.path).lower()
    # a frame, a fresh connection to the file, and an id of another customer's ticket alike
    with Store(loaded.path) as again:
        counts = again.ingest_frame(tickets_frame(
            [{"ticket_id": "T-1001", "customer_id": "", "body": "hello"},
             {"ticket_id": "T-1004", "customer_id": "C-101", "body": "hello"},
             {"ticket_id": "N-frame", "customer_id": "", "body": "hello"}]))
        assert (counts.added, counts.rejected) == (1, 2)
        assert not again.has_ticket("T-1001") and not again.has_ticket("T-1004")


def test_erasure_records_are_permanent(loaded: Store) -> None:
    loaded.forget("C-100")
    with pytest.raises(sqlite3.IntegrityError):
        loaded.connection.execute("DELETE FROM erasures")
    with pytest.raises(sqlite3.IntegrityError):
        loaded.connection.execute("UPDATE erasures SET customer_hash = 'x'")


def test_feedback_on_a_ticket_of_an_erased_customer_is_refused(loaded: Store) -> None:
    """A ticket id leads back to the customer who wrote it (the help desk holds it): after
    erasure, feedback naming one of their tickets is refused whole, vote and level, with one
    line; it was stored before, without a customer but under their ticket id, level and all.
    Their session calls' ids (feedback rows under their id) are recorded too."""
    loaded.add_feedback("call-7", article_id="no-internet/novice", helpful=True,
                        customer_id="C-100")
    loaded.forget("C-100")
    day = loaded.erased_on("C-100")
    for ticket in ("T-1001", "T-1004", "T-1022", "call-7"):
        for vote in ({"helpful": True}, {"corrected_level": "expert"},
                     {"helpful": False, "corrected_level": "novice", "customer_id": "C-100"}):
            with pytest.raises(UnknownCustomerError) as caught:
                loaded.add_feedback(ticket, article_id="no-internet/novice", **vote)
            assert str(caught.value) == (
                f"ticket {ticket!r} was a ticket of a customer erased here on {day}; nothing "
                "is stored about it, not even feedback: leave it out")
        with pytest.raises(UnknownCustomerError, match="erased here on"):
            loaded.record_feedback(ticket, article_id="no-internet/novice", helpful=True,
                                   level="expert")
    assert loaded.feedback_rows() == []
    # other tickets, and a ticket id the store never held, take feedback as before
    assert loaded.add_feedback("T-1002", article_id="no-internet/novice", helpful=True) > 0
    assert loaded.add_feedback("live-1", article_id="no-internet/novice", helpful=True) > 0
    assert loaded.erased_tickets(["T-1001", "T-1002", "live-1", "call-7", ""]) == {
        "T-1001": day, "call-7": day}
    # the records are keyed hashes, permanent like the customers'
    rows = loaded.connection.execute("SELECT ticket_hash FROM erased_tickets").fetchall()
    assert len(rows) == 4 and "T-1001" not in repr(rows)
    with pytest.raises(sqlite3.IntegrityError):
        loaded.connection.execute("DELETE FROM erased_tickets")
    # and a fresh connection to the file knows them
    loaded.close()
    with Store(loaded.path) as again, pytest.raises(UnknownCustomerError):
        again.add_feedback("T-1001", article_id="no-internet/novice", helpful=True)


def test_feedback_rows_are_refused_together_as_add_feedback_refuses_one(loaded: Store) -> None:
    """`add_feedback_rows` applies add_feedback's rules to each row in one transaction: the
    first refused row raises add_feedback's own error and none of the rows is written, not
    even the customer an earlier row names first."""
    loaded.forget("C-100")
    good: dict[str, Any] = {"ticket_id": "T-1002", "article_id": "no-internet/novice",
                            "helpful": True}
    rows = [good, {**good, "ticket_id": "live-1", "customer_id": "C-NEW"},
            {**good, "ticket_id": "T-1004"}, {**good, "ticket_id": "T-1003"}]
    with pytest.raises(UnknownCustomerError) as together:
        loaded.add_feedback_rows(rows)
    with pytest.raises(UnknownCustomerError) as alone:
        loaded.add_feedback(**rows[2])
    assert str(together.value) == str(alone.value)
    assert loaded.feedback_rows() == [] and loaded.customer("C-NEW") is None
    with pytest.raises(UnknownCustomerError, match="erased here on"):
        loaded.add_feedback_rows([good, {**good, "ticket_id": "x", "helpful": None,
                                         "corrected_level": "expert", "customer_id": "C-100"}])
    with pytest.raises(InputError, match="corrected level must be one of"):
        loaded.add_feedback_rows([good, {**good, "corrected_level": "guru"}])
    with pytest.raises(TypeError, match="add_feedback's arguments"):
        loaded.add_feedback_rows([good, {**good, "level": "expert"}])
    assert loaded.feedback_rows() == []
    ids = loaded.add_feedback_rows([good, rows[1], rows[3]])
    assert [r.id for r in loaded.feedback_rows()] == ids and len(set(ids)) == 3
    assert loaded.add_feedback_rows([]) == []


def test_a_store_without_erasures_reads_no_key_for_feedback(store: Store) -> None:
    store.add_feedback("T-1", article_id="no-internet/novice", helpful=True)
    assert store.erased_tickets(["T-1"]) == {}
    assert store.key_path is not None and not store.key_path.exists()


def test_a_scratch_copy_knows_erasures_and_leaves_the_store_as_it_was(loaded: Store) -> None:
    """What a dry run ingests into: the same data, salt and erasure key in a temporary
    database of SQLite's own; writing to it changes nothing in the store's file."""
    loaded.forget("C-100")
    loaded.close()
    before = db_text(loaded.path)
    with Store(loaded.path, create=False) as store, store.scratch_copy() as copy:
        assert copy.ticket_count() == store.ticket_count() == 21
        assert copy.is_erased("C-100") and copy.erased_tickets(["T-1001"])
        counts = copy.ingest_frame(tickets_frame([
            {"ticket_id": "N-1", "customer_id": "C-100", "body": "back again"},
            {"ticket_id": "N-2", "customer_id": "C-900", "body": "new here"}]))
        assert (counts.added, counts.rejected) == (1, 1)
        assert copy.ticket_count() == 22 and store.ticket_count() == 21
        assert copy.key_path is None
    assert db_text(loaded.path) == before


def _legacy_record(salt: str, customer_id: str) -> str:
    """An erasure record as earlier versions wrote it: SHA-256 of the salt and the id."""
    return hashlib.sha256((salt + customer_id).encode()).hexdigest()


def test_erasure_records_are_keyed_with_a_key_outside_the_database(loaded: Store) -> None:
    assert loaded.key_path == loaded.path.with_name("expertise.db.key")
    assert not loaded.key_path.exists()  # made on the first erasure, not before
    loaded.forget("C-100")
    key = loaded.key_path.read_text().strip()
    assert len(key) == 64 and stat.S_IMODE(loaded.key_path.stat().st_mode) & 0o077 in (0, 0o040)
    (record,) = loaded.erased_hashes()
    salt = loaded.install_salt()
    digest = _legacy_record(salt, "C-100")
    assert record == hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()
    # the database alone no longer answers a guess: salt + id gives nothing it holds
    assert digest not in record and key.encode() not in db_text(loaded.path)
    loaded.close()
    data = db_text(loaded.path)
    assert salt.encode() in data and digest.encode() not in data


def test_the_key_is_as_private_as_the_database(tmp_path: Path) -> None:
    for mode, expected in ((0o600, 0o600), (0o640, 0o640), (0o644, 0o640), (0o660, 0o640)):
        path = tmp_path / f"{mode:o}.db"
        Store(path).close()
        os.chmod(path, mode)
        with Store(path) as store:
            store.set_consent("C-1", "granted")
            store.forget("C-1")
            assert store.key_path is not None
            assert stat.S_IMODE(store.key_path.stat().st_mode) == expected, oct(mode)


def test_records_of_earlier_versions_still_block_and_get_keyed(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:3])
    salt = "ab" * 32
    conn.execute("INSERT INTO meta(key, value) VALUES ('install_salt', ?)", (salt,))
    conn.execute("INSERT INTO erasures(at, customer_hash) VALUES ('2025-01-01', ?)",
                 (_legacy_record(salt, "C-OLD"),))
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        counts = store.ingest_frame(tickets_frame([
            {"ticket_id": "T1", "customer_id": "C-OLD", "body": "back again"},
            {"ticket_id": "T2", "customer_id": "C-NEW", "body": "hello"}]))
        assert (counts.added, counts.rejected) == (1, 1)
        assert store.is_erased("C-OLD") and not store.is_erased("C-NEW")
        (record,) = store.erased_hashes()
        assert record == store.hash_customer("C-OLD") != _legacy_record(salt, "C-OLD")
        keyed = store.connection.execute("SELECT keyed FROM erasures").fetchone()[0]
    assert keyed == 1
    assert _legacy_record(salt, "C-OLD").encode() not in db_text(path)
    with Store(path) as again:  # the key was kept: later connections see the same record
        assert again.is_erased("C-OLD") and again.training_exclusions(["C-OLD"]) == {"C-OLD"}
        with pytest.raises(sqlite3.IntegrityError, match="permanent"):  # keyed once, for good
            again.connection.execute("UPDATE erasures SET customer_hash = 'x', keyed = 1")


def test_a_store_without_its_key_refuses_to_let_erased_customers_back(loaded: Store,
                                                                     tmp_path: Path) -> None:
    loaded.forget("C-100")
    loaded.close()
    copy = tmp_path / "copy.db"
    shutil.copy(loaded.path, copy)  # the database without its key, e.g. restored alone
    with Store(copy) as store:
        assert store.audit_rows()  # what needs no key still works
        with pytest.raises(StoreError, match="erasure key is missing.*1 erasure record"):
            store.ingest_file(tmp_path / "tickets.csv")
        assert not (tmp_path / "copy.db.key").exists()
    copy.with_name("copy.db.key").write_text("00" * 32 + "\n")
    with Store(copy) as store, pytest.raises(StoreError, match="not the one its erasure"):
        store.is_erased("C-100")
    copy.with_name("copy.db.key").write_bytes(b"\xff\xfe damaged")
    with Store(copy) as store, pytest.raises(StoreError, match="damaged.*restore it from a"):
        store.is_erased("C-100")
    shutil.copy(loaded.key_path, copy.with_name("copy.db.key"))  # type: ignore[arg-type]
    with Store(copy) as store:
        assert store.is_erased("C-100")


def test_forget_says_when_a_reader_keeps_the_erased_bytes(loaded: Store) -> None:
    marker = b"flashing lights"
    assert marker in db_text(loaded.path).lower()
    loaded.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    reader = sqlite3.connect(loaded.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tickets").fetchone()  # holds an older snapshot
        started = time.perf_counter()
        report = loaded.forget("C-100", purge_wait=0.2)
        assert time.perf_counter() - started < 5
        assert not report.purged and report.purge_warning
        assert "still in the file's bytes" in report.purge_warning
        assert "another connection is still reading" in report.purge_warning
        assert loaded.customer("C-100") is None  # the erasure itself stands
        assert marker in loaded.path.read_bytes().lower()
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert loaded.purge() == (True, None)
    assert marker not in db_text(loaded.path).lower()


def test_forget_purges_when_nothing_holds_the_file(loaded: Store) -> None:
    report = loaded.forget("C-100")
    assert report.purged and report.purge_warning is None
    wal = loaded.path.with_name(loaded.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert b"flashing lights" not in db_text(loaded.path).lower()


# ---------------------------------------------------------------------------------------------
# Hostile input
# ---------------------------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE tickets; --",
    'Robert"); DROP TABLE customers;--',
    "semi;colon;",
    'it\'s "quoted"',
    "x" * MAX_LABEL_CHARS,
    "名前テスト",
    "😀🔥👩‍💻",
    "back\\slash %_ wildcard",
    "bidi \u202eevil",
]
#: Ids ingest refuses: not one line of printable text, or too long to be an id.
REFUSED_IDS = {
    "long": "x" * (MAX_LABEL_CHARS + 1),
    "newline": "new\nline",
    "tab": "tab\there",
    "nul": "nul\x00byte",
    "escape": "C-1\x1b[2J\x1b[H",
    "title": "C-1\x1b]0;pwned\x07",
    "c1": "C-1\x9b2J",
}


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_ids_round_trip(store: Store, hostile: str) -> None:
    frame = tickets_frame(
        [
            {"ticket_id": hostile, "customer_id": hostile, "created_at": "2024-01-01T00:00:00",
             "subject": hostile, "body": hostile, "topic": hostile},
            {"ticket_id": "plain", "customer_id": "plain", "body": "ok"},
        ]
    )  # fmt: skip
    assert store.ingest_frame(frame).added == 2
    items = store.history(hostile)
    assert [i.ticket_id for i in items] == [hostile]
    assert items[0].subject == redact(hostile)
    assert items[0].topic == hostile
    customer = store.customer(hostile)
    assert customer is not None and customer.customer_id == hostile
    store.record_prediction(hostile, "expert", 0.7)
    store.add_feedback(hostile, article_id=hostile, helpful=True, agent=hostile)
    store.audit(hostile, hostile, hostile, hostile, hostile)
    # free text that repeats the row's customer id names them by a placeholder: erasure
    # clears only the row's customer_id
    assert store.audit_rows(customer_id=hostile)[0].detail == "<CUSTOMER>"
    store.set_consent(hostile, "opted_out")
    report = store.forget(hostile)
    assert report.tickets_deleted == 1 and report.feedback_deleted == 1
    # nothing else was touched, every table is still there
    assert store.ticket_count() == 1 and store.customer("plain") is not None
    tables = {r[0] for r in store.connection.execute("SELECT name FROM sqlite_master")}
    assert {"tickets", "customers", "feedback", "audit", "erasures"} <= tables


@pytest.mark.parametrize("column", ["ticket_id", "customer_id"])
@pytest.mark.parametrize("name", list(REFUSED_IDS))
def test_ids_that_are_not_one_printable_line_are_refused_row_by_row(
        store: Store, tmp_path: Path, column: str, name: str) -> None:
    bad = REFUSED_IDS[name]
    rows = [{"ticket_id": "T-1", "customer_id": "C-1", "body": "first"},
            {"ticket_id": "T-2", "customer_id": "C-2", "body": "second"},
            {"ticket_id": "T-3", "customer_id": "C-3", "body": "third"}]
    rows[1][column] = bad
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = store.ingest_file(src)
    assert (report.added, report.rejected) == (2, 1)  # the run carries on
    (reason,) = report.reject_reasons
    assert reason.startswith(column)
    assert ("longer than 200" if name == "long" else "control character") in reason
    assert report.rejects_path is not None
    rejected = pd.read_csv(report.rejects_path, dtype=str, keep_default_na=False)
    assert rejected["row"].tolist() == ["2"]
    assert store.customer(bad) is None and not store.has_ticket(bad)
    assert {i.ticket_id for i in store.history("C-1") + store.history("C-3")} == {"T-1", "T-3"}


def test_check_label() -> None:
    assert check_label("agent 7 (Zoë) 客服", "--agent") == "agent 7 (Zoë) 客服"
    for bad in REFUSED_IDS.values():
        with pytest.raises(InputError, match="^--agent "):
            check_label(bad, "--agent")


def test_audit_refuses_free_text_that_is_not_one_line(store: Store) -> None:
    with pytest.raises(InputError, match="agent contains a control character"):
        store.audit("ann\x1b]0;x\x07", "answer", "C-1")
    with pytest.raises(InputError, match="purpose is longer than 200"):
        store.audit("ann", "answer", "C-1", "p" * 201)
    assert store.audit_rows() == []


def test_audit_lookups_write_one_row_per_customer(store: Store) -> None:
    assert store.audit_lookups("ann", "score_lookup", ["C-1", "C-2", "C-1", ""],
                               purpose="batch scoring", detail="x.csv") == 2
    assert store.audit_lookups("ann", "score_lookup", []) == 0
    rows = store.audit_rows(customer_id="C-2")
    assert [(r.actor, r.action, r.purpose, r.detail) for r in rows] == [
        ("ann", "score_lookup", "batch scoring", "x.csv")]
    assert len(store.audit_rows()) == 2


# ---------------------------------------------------------------------------------------------
# Ticket ids of two systems
# ---------------------------------------------------------------------------------------------


def test_a_ticket_id_never_moves_to_another_customer_or_help_desk(store: Store) -> None:
    zendesk = tickets_frame([{"ticket_id": "800", "customer_id": "Z-1", "body": "zendesk text"}])
    freshdesk = tickets_frame([{"ticket_id": "800", "customer_id": "F-9", "body": "fresh text"}])
    assert store.ingest_frame(zendesk, source="zendesk:z.json").added == 1
    assert store.ingest_frame(zendesk, source="zendesk:z.json").unchanged == 1  # idempotent
    # the same number from another help desk, even for the same customer, is another ticket
    same_customer = freshdesk.assign(customer_id="Z-1")
    assert store.ingest_frame(same_customer, source="freshdesk:f.csv").rejected == 1
    # from a file that names no help desk: refused when it would change the customer
    assert store.ingest_frame(freshdesk, source="csv:f.csv").rejected == 1
    (item,) = store.history("Z-1")
    assert (item.ticket_id, item.body) == ("800", "zendesk text")
    assert store.customer("F-9") is None
    # a later export of the same help desk still updates its own ticket
    newer = zendesk.assign(body="zendesk text, edited")
    assert store.ingest_frame(newer, source="zendesk:z2.json").updated == 1


def test_collision_reasons_go_to_the_rejects_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "z.json").write_text(json.dumps({"tickets": [
        {"id": 800, "requester_id": 11, "subject": "Hub", "description": "hub reboots",
         "created_at": "2024-05-02T08:14:03Z"},
        {"id": 801, "requester_id": 11, "subject": "TV", "description": "no signal",
         "created_at": "2024-05-02T08:15:03Z"}]}), encoding="utf-8")
    (tmp_path / "f.csv").write_text(
        "Ticket ID,Subject,Description,Created time,Contact ID\n"
        "800,Wi-Fi,change my password,2024-07-01 09:00:00,77\n"
        "900,Laptop,won't turn on,2024-07-01 10:00:00,77\n", encoding="utf-8")
    first = store.ingest_file(tmp_path / "z.json")
    assert (first.format, first.added) == ("zendesk", 2)
    second = store.ingest_file(tmp_path / "f.csv")
    assert (second.format, second.added, second.rejected) == ("freshdesk", 1, 1)
    assert second.reject_reasons == {
        "ticket_id already stored from zendesk: two help desks' ticket numbers collide "
        "(prefix this export's ids); not stored": 1}
    assert [i.ticket_id for i in store.history("11")] == ["800", "801"]
    assert store.ingest_file(tmp_path / "z.json").unchanged == 2


@given(
    rows=st.lists(
        st.tuples(
            st.text(_ID_CHARS, min_size=1, max_size=30).filter(
                lambda s: s.strip() == s and s != ""),
            st.text(_ID_CHARS, max_size=30).filter(lambda s: s.strip() == s),
            st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != ""),
        ),
        max_size=12,
        unique_by=lambda r: r[0],
    )
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_arbitrary_rows_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    path = tmp_path_factory.mktemp("prop") / "p.db"
    frame = tickets_frame([{"ticket_id": t, "customer_id": c, "body": b} for t, c, b in rows])
    with Store(path) as store:
        assert store.ingest_frame(frame).added == len(rows)
        assert store.ingest_frame(frame).unchanged == len(rows)
        for ticket_id, customer_id, body in rows:
            if customer_id:
                found = {i.ticket_id: i.body for i in store.history(customer_id, limit=100)}
                assert found[ticket_id] == redact(body)
        assert store.ticket_count() == len(rows)
