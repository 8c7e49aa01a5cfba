"""The SQLite store: customers and consent, redacted tickets, feedback and an audit log.

One file, WAL mode, foreign keys on. The schema version lives in ``PRAGMA user_version`` and
:data:`MIGRATIONS` move a database forward one version at a time, each in a transaction.
Ticket text is redacted (:func:`expertise.privacy.redact`) before it is written. Erasure
(:meth:`Store.forget`) deletes a customer's tickets, feedback and record, anonymises their
audit rows, overwrites the freed bytes and keeps only keyed hashes of the id and of their
tickets' ids, so that later imports of old exports can skip them (by customer or ticket id).

The key of those hashes is not in the database: it is a file next to it, ``<db>.key``
(:attr:`Store.key_path`), created on the first erasure, readable by the database's owner (and
its group when the database is group-readable). A copy of the database without the key does
not let anyone test guesses of erased ids. Back the key up with the database: without it the
erasure records cannot be checked, and the store refuses to ingest rather than let an erased
customer back in.

Ids and the audit log's free text are one line of printable text of at most
:data:`MAX_LABEL_CHARS` characters (:func:`check_label`): ingest refuses other ids row by row.

Every statement is parameterised; no value is ever formatted into SQL.

>>> with Store("/tmp/expertise-doc.db") as store:              # doctest: +SKIP
...     report = store.ingest_file("tests/data/tickets.csv")
...     store.history("C-100", limit=5)
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.config import CHUNK_ROWS, LEVELS, UNCLEAR
from expertise.errors import (
    InputError,
    StoreError,
    UnknownCustomerError,
    UnknownTicketError,
)
from expertise.io import key_file, read_key_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONSENTS",
    "MAX_LABEL_CHARS",
    "check_label",
    "check_store_file",
    "default_actor",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AuditRow",
    "Customer",
    "FeedbackRow",
    "ForgetReport",
    "HistoryItem",
    "SavedProfile",
    "IngestCounts",
    "IngestReport",
    "Store",
    "default_rejects_path",
    "migrate",
]

CONSENTS: tuple[str, ...] = ("granted", "opted_out")
#: Seconds `forget` waits for other connections before reporting that the erased bytes remain.
PURGE_WAIT = 10.0
#: Longest id (ticket, customer) and audit text (agent, purpose) accepted, in characters.
MAX_LABEL_CHARS = 200
#: C0 and C1 control characters and DEL: line breaks, tabs and terminal escape sequences.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: Lone surrogates: bytes that were not UTF-8, as Python decodes them (surrogateescape); SQLite
#: cannot store them, and they were a traceback wherever an id was looked up.
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
#: Help desks whose ticket numbers are their own: the same number from two of them is two
#: tickets (the first part of a ticket's ``source``).
_HELP_DESKS = frozenset({"zendesk", "freshdesk"})

_LEVEL_CHECK = "IN ('novice', 'intermediate', 'expert')"

#: Forward migrations; MIGRATIONS[i] takes a database from version i to version i + 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: customers, tickets, feedback and a strictly append-only audit log
    f"""
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE customers (
        customer_id TEXT PRIMARY KEY,
        consent     TEXT NOT NULL DEFAULT 'granted' CHECK (consent IN ('granted', 'opted_out')),
        first_seen  TEXT,
        updated_at  TEXT
    );
    CREATE TABLE tickets (
        ticket_id            TEXT PRIMARY KEY,
        customer_id          TEXT NULL REFERENCES customers(customer_id) ON DELETE CASCADE,
        created_at           TEXT,
        channel              TEXT,
        subject              TEXT,
        body                 TEXT,
        expertise_level      TEXT NULL CHECK (expertise_level {_LEVEL_CHECK}),
        topic                TEXT NULL,
        resolved_article_id  TEXT NULL,
        predicted_level      TEXT NULL CHECK (predicted_level {_LEVEL_CHECK}),
        predicted_confidence REAL NULL CHECK (predicted_confidence BETWEEN 0 AND 1),
        source               TEXT,
        ingested_at          TEXT
    );
    CREATE INDEX tickets_customer_created ON tickets(customer_id, created_at);
    CREATE TABLE feedback (
        id              INTEGER PRIMARY KEY,
        ticket_id       TEXT,
        customer_id     TEXT REFERENCES customers(customer_id) ON DELETE CASCADE,
        article_id      TEXT,
        helpful         INTEGER NULL CHECK (helpful IN (0, 1)),
        corrected_level TEXT NULL CHECK (corrected_level {_LEVEL_CHECK}),
        agent           TEXT,
        created_at      TEXT
    );
    CREATE INDEX feedback_ticket ON feedback(ticket_id);
    CREATE INDEX feedback_customer ON feedback(customer_id);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        customer_id TEXT NULL,
        purpose     TEXT NULL,
        detail      TEXT NULL
    );
    CREATE INDEX audit_customer ON audit(customer_id);
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    """,
    # 2: erasure. Erased customers leave a salted hash; their audit rows lose the customer id,
    # which is the one UPDATE the audit log accepts.
    """
    CREATE TABLE erasures (
        id            INTEGER PRIMARY KEY,
        at            TEXT NOT NULL,
        customer_hash TEXT NOT NULL
    );
    CREATE INDEX erasures_hash ON erasures(customer_hash);
    CREATE TRIGGER erasures_no_delete BEFORE DELETE ON erasures
    BEGIN SELECT RAISE(ABORT, 'erasure records are permanent'); END;
    CREATE TRIGGER erasures_no_update BEFORE UPDATE ON erasures
    BEGIN SELECT RAISE(ABORT, 'erasure records are permanent'); END;
    DROP TRIGGER audit_no_update;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    WHEN NOT (
        NEW.customer_id IS NULL
        AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
        AND NEW.action IS OLD.action AND NEW.purpose IS OLD.purpose
        AND NEW.detail IS OLD.detail
    )
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    """,
    # 3: a customer's level pinned by an agent, and customers' history profiles (the earlier
    # tickets summarised as evidence, per model version: rebuilt for another version)
    f"""
    ALTER TABLE customers ADD COLUMN pinned_level TEXT NULL CHECK (pinned_level {_LEVEL_CHECK});
    ALTER TABLE customers ADD COLUMN pinned_by TEXT NULL;
    ALTER TABLE customers ADD COLUMN pinned_at TEXT NULL;
    CREATE TABLE profiles (
        customer_id   TEXT NOT NULL REFERENCES customers(customer_id) ON DELETE CASCADE,
        model_version TEXT NOT NULL,
        profile       TEXT NOT NULL,
        tickets       INTEGER NOT NULL,
        last_rowid    INTEGER NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (customer_id, model_version)
    );
    """,
    # 4: erasure records keyed with a secret kept outside the database (<db>.key): a record is
    # HMAC-SHA256(key, SHA-256(salt + id)). Records of earlier versions, SHA-256(salt + id), are
    # keyed where they lie the first time the key is used: the one update they accept.
    """
    ALTER TABLE erasures ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0 CHECK (keyed IN (0, 1));
    DROP TRIGGER erasures_no_update;
    CREATE TRIGGER erasures_no_update BEFORE UPDATE ON erasures
    WHEN NOT (OLD.keyed = 0 AND NEW.keyed = 1 AND NEW.id IS OLD.id AND NEW.at IS OLD.at)
    BEGIN SELECT RAISE(ABORT, 'erasure records are permanent'); END;
    """,
    # 5: the tickets of erased customers, as keyed hashes of their ids (as customers'):
    # feedback that names one of them is refused, since a help desk's ticket number leads
    # back to the person who wrote it.
    """
    CREATE TABLE erased_tickets (
        ticket_hash TEXT PRIMARY KEY,
        at          TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER erased_tickets_no_delete BEFORE DELETE ON erased_tickets
    BEGIN SELECT RAISE(ABORT, 'erasure records are permanent'); END;
    CREATE TRIGGER erased_tickets_no_update BEFORE UPDATE ON erased_tickets
    BEGIN SELECT RAISE(ABORT, 'erasure records are permanent'); END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: The tables of every store from schema version 1 on: what tells an expertise store from
#: another program's SQLite database.
_STORE_TABLES = frozenset({"meta", "customers", "tickets", "feedback", "audit"})

#: A ticket's stored fields besides its id, in the order of every statement and row that lists
#: them; subject and body are redacted before they are stored, and so are topic and resolved
#: article (an export's own category or free text: a slug comes out as it went in).
_TICKET_FIELDS: tuple[str, ...] = (
    "customer_id",
    "created_at",
    "channel",
    "subject",
    "body",
    "expertise_level",
    "topic",
    "resolved_article_id",
)
_REDACTED_FIELDS = ("subject", "body")
#: Fields whose values repeat down an export: redacted once per distinct value.
_REDACTED_LABELS = ("topic", "resolved_article_id")
_WRITTEN_FIELDS = (*_TICKET_FIELDS, "source", "ingested_at")


#: What an audit row's free text says in place of the id of the customer the row is about.
CUSTOMER_PLACEHOLDER = "<CUSTOMER>"


def _audit_text(text: str | None, customer_id: str | None = None) -> str | None:
    """Free text bound for the audit log (a purpose an agent typed, a file name in a detail)
    with personal data taken out, as ticket text is: erasure cannot find it there later. The
    row's own customer id, where the text repeats it ("call from C00042"), is replaced too:
    erasure clears only the row's ``customer_id``, and the row must then name nobody."""
    if not text:
        return text
    from expertise.privacy import redact

    if customer_id and customer_id.strip():
        # the id as a whole word (not inside a longer one), in any case
        pattern = rf"(?<![^\W_]){re.escape(customer_id)}(?![^\W_])"
        text = re.sub(pattern, CUSTOMER_PLACEHOLDER, text, flags=re.IGNORECASE)
    return redact(text)


_AUDIT_INSERT = ("INSERT INTO audit(at, actor, action, customer_id, purpose, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
#: The reason of a row refused for its ticket id, one of an erased customer's tickets (the
#: feedback files' reject says the same).
_ERASED_TICKET = "ticket of a customer erased (right to erasure); not stored"
#: The arguments of a row of feedback (`Store.add_feedback`, `Store.add_feedback_rows`).
_FEEDBACK_ARGS = frozenset({"ticket_id", "article_id", "helpful", "corrected_level", "agent",
                            "customer_id", "created_at"})
#: SQLite accepts at most 32766 parameters per statement in recent versions, 999 in old ones.
_IN_BATCH = 900


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    """One earlier ticket of a customer (text already redacted)."""

    ticket_id: str
    created_at: str | None
    channel: str | None
    subject: str | None
    body: str | None
    expertise_level: str | None
    topic: str | None
    predicted_level: str | None
    rowid: int = 0


@dataclass(frozen=True)
class Customer:
    """A customer known to the store; `pinned_level` is a level an agent set for them."""

    customer_id: str
    consent: str
    first_seen: str | None
    updated_at: str | None
    ticket_count: int
    pinned_level: str | None = None
    pinned_by: str | None = None
    pinned_at: str | None = None


@dataclass(frozen=True)
class SavedProfile:
    """A customer's history profile as saved for a model version, and what it covers."""

    profile: dict[str, Any]
    tickets: int
    last_rowid: int


@dataclass(frozen=True)
class FeedbackRow:
    """Agent feedback on a served article."""

    id: int
    ticket_id: str | None
    customer_id: str | None
    article_id: str | None
    helpful: bool | None
    corrected_level: str | None
    agent: str | None
    created_at: str | None


@dataclass(frozen=True)
class AuditRow:
    """One entry of the append-only audit log."""

    id: int
    at: str
    actor: str
    action: str
    customer_id: str | None
    purpose: str | None
    detail: str | None


@dataclass
class IngestCounts:
    """What an ingest did with each row: new, changed, identical or refused."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    #: Rows stored under a customer id that holds personal data (an e-mail address, a phone
    #: number): the id is the look-up key, so it is stored as written, and the report says so.
    personal_ids: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged + self.rejected


@dataclass
class IngestReport:
    """The outcome of :meth:`Store.ingest_file`."""

    path: Path
    format: str
    rows_read: int
    counts: IngestCounts
    invalid_byte_rows: int
    rejects_path: Path | None
    seconds: float
    chunks: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    #: The text encoding the export was read in (named or detected): the one whose
    #: undecodable bytes `invalid_byte_rows` counts.
    encoding: str = ""

    @property
    def added(self) -> int:
        return self.counts.added

    @property
    def updated(self) -> int:
        return self.counts.updated

    @property
    def unchanged(self) -> int:
        return self.counts.unchanged

    @property
    def rejected(self) -> int:
        return self.counts.rejected

    @property
    def personal_ids(self) -> int:
        return self.counts.personal_ids

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class ForgetReport:
    """What :meth:`Store.forget` removed. Holds no customer id, only its keyed hash.

    ``purged`` tells whether the freed pages were overwritten in the database file and its
    write-ahead log emptied; if not, ``purge_warning`` says why and what to do.
    """

    customer_hash: str
    tickets_deleted: int
    feedback_deleted: int
    audit_rows_anonymised: int
    customer_deleted: bool
    purged: bool = True
    purge_warning: str | None = None


# ---------------------------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring a database up to ``len(migrations)``, one transaction per version.

    The connection must be in autocommit mode (``isolation_level=None``). Returns the new
    version. Raises StoreError if the database is newer than the migrations known here, or
    if a migration fails (that version is rolled back; earlier ones stay).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise StoreError(
            f"database schema version {version} is newer than this program supports "
            f"({len(migrations)}); upgrade expertise"
        )
    for target in range(version + 1, len(migrations) + 1):
        script = migrations[target - 1]
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {int(target)};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration to schema version {target} failed: {exc}") from exc
    return len(migrations)


def default_actor() -> str:
    """Who an audit row names when no agent is given: the login name."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def default_rejects_path(path: Path | str) -> Path:
    """Where ingest and scoring write rejected rows by default: ``tickets.rejects.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rejects.csv")


def check_label(value: str, what: str) -> str:
    """``value`` if it is one line of printable text of at most :data:`MAX_LABEL_CHARS`
    characters; else InputError naming ``what`` (an option such as ``--agent``, or a column).

    Control characters (line breaks, tabs, terminal escape sequences) could forge or hide
    rows of the audit log on a terminal; ids longer than that are not ids.
    """
    if len(value) > MAX_LABEL_CHARS:
        raise InputError(f"{what} is longer than {MAX_LABEL_CHARS} characters ({len(value)})")
    bad = _CONTROL.search(value)
    if bad:
        raise InputError(f"{what} contains a control character ({bad.group()!r}: a line break, "
                         "tab or terminal escape); use one line of plain text")
    if _NOT_UTF8.search(value):  # as Python reads bytes that are not UTF-8 (argv, a pipe)
        raise InputError(f"{what} contains bytes that are not UTF-8 text; retype it, or "
                         "convert it to UTF-8")
    return value


def _schema_problem(conn: sqlite3.Connection, path: Path, *, create: bool) -> str | None:
    """Why the database on ``conn`` cannot be opened as a store (a SQLite database of another
    program; an empty one, unless ``create``), or None. Reads only, so that nothing is ever
    written to a file that is not a store, not even its journal mode."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = sorted(str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"))
    if version == 0 and not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        return None if create else (
            "empty, not an expertise store; check --db, or create the store by loading "
            f"tickets: expertise ingest EXPORT --db {path}")
    # a newer version's tables are not known here; its meta table is (migrate then refuses it)
    ours = _STORE_TABLES <= set(tables) if version <= SCHEMA_VERSION else "meta" in tables
    if version >= 1 and ours:
        return None
    held = (f"its tables: {', '.join(tables[:3])}{', ...' if len(tables) > 3 else ''}"
            if tables else f"schema version {version}, no tables")
    return f"a SQLite database but not an expertise store ({held}); check --db"


def check_store_file(path: Path | str, *, create: bool = False) -> None:
    """Refuse (StoreError) a file that must not be opened as a store, reading it only: another
    program's SQLite database always, an empty file unless ``create`` (only the commands that
    bring data in make a store). A missing file is left to the caller."""
    path = Path(path)
    if str(path) == ":memory:" or not path.exists():
        return
    if path.is_dir():  # SQLite says only "disk I/O error"
        raise StoreError(f"{path}: a folder, not a store; give the store's file, e.g. --db "
                         f"{path / 'support.db'}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the database ({exc})") from exc
    try:
        problem = _schema_problem(conn, path, create=create)
    except sqlite3.Error as exc:
        raise StoreError(_read_only(path, exc) or f"{path}: not an expertise database or "
                         f"damaged ({exc}); pass another --db path") from exc
    finally:
        conn.close()
    if problem:
        raise StoreError(f"{path}: {problem}")


def _read_only(path: Path, exc: sqlite3.Error) -> str | None:
    """What to say when SQLite could not open or write the store because the file or its folder
    is read-only (its -wal and -shm files live beside it), or None: SQLite's words for it
    ("unable to open database file", "attempt to write a readonly database") read as a
    damaged file."""
    if str(path) in (":memory:", ""):
        return None
    folder = path.resolve().parent
    where = ("file" if not os.access(path, os.W_OK) else
             "folder" if not os.access(folder, os.W_OK) else None)
    if where is None:
        return None
    return (f"{path}: the store's {where} is read-only here ({exc}); the store writes to its "
            f"file and folder (audit rows, its -wal and -shm files): make "
            f"{path if where == 'file' else folder} writable, or copy the store somewhere that is")


def _label_problem(value: str) -> str | None:
    """Why :func:`check_label` refuses ``value``, in words shared by every such row (the
    reason of a rejected row), or None."""
    if len(value) > MAX_LABEL_CHARS:
        return f"is longer than {MAX_LABEL_CHARS} characters; not stored"
    if _CONTROL.search(value):
        return "contains a control character (a line break, tab or terminal escape); not stored"
    return None


def _actor(actor: str | None) -> str:
    """Who an audit row names: ``actor`` (checked with :func:`check_label`), else the login."""
    return check_label(actor, "agent") if actor else default_actor()


def _one_of(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise InputError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


def _cutoff(value: str, what: str) -> str:
    """``value`` as a stored time (any format `parse_timestamp` reads), or InputError."""
    from expertise.tickets.readers import parse_timestamp

    cutoff = parse_timestamp(value)
    if cutoff is None:
        raise InputError(f"{what}={value!r} is not a date or time (use ISO-8601)")
    return cutoff


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _help_desk(source: object) -> str | None:
    """The help desk a ticket's ``source`` names (``zendesk:export.json``), if any."""
    system = str(source or "").split(":", 1)[0].lower()
    return system if system in _HELP_DESKS else None


def _text(value: object) -> str | None:
    """Empty strings are stored as NULL."""
    return None if value is None else (str(value) or None)


def _shown(customer_id: str) -> str:
    """A customer id as an error message quotes it: at most 60 characters."""
    return customer_id if len(customer_id) <= 60 else customer_id[:57] + "..."


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


class Store:
    """An open expertise database.

    Parameters
    ----------
    path : Path or str
        The SQLite file. ``":memory:"`` gives a private in-memory store (no WAL, its erasure
        key in memory); ``""`` a private temporary one, SQLite's own (in memory until it grows,
        then in a temporary file deleted when it is closed). Another program's SQLite database
        is refused (StoreError), and nothing is written to it.
    create : bool
        Make the store (and its parent directories) if the file is missing or empty; else
        such a file is refused (StoreError). Only what brings data in creates a store.

    Notes
    -----
    Use it as a context manager, or call :meth:`close`. One ``Store`` per thread.
    """

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self._memory = memory = str(path) in (":memory:", "")
        self._key: str | None = None
        if not memory and not create and not self.path.exists():
            raise StoreError(f"{self.path}: no store there; check --db, or create it by loading "
                             f"tickets: expertise ingest EXPORT --db {self.path}")
        try:
            if not memory and create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path) if memory else str(self.path), isolation_level=None, timeout=30.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from exc
        try:
            problem = _schema_problem(self._conn, self.path, create=create)
            if problem:
                raise StoreError(problem)
            self.journal_mode = str(
                self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            ).lower()
            # secure_delete: erased rows are overwritten with zeros, not just unlinked
            for pragma in ("foreign_keys = ON", "secure_delete = ON", "synchronous = NORMAL",
                           "busy_timeout = 30000"):
                self._conn.execute(f"PRAGMA {pragma}")
            self.schema_version = migrate(self._conn)
            self._salt = self._ensure_salt()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(_read_only(self.path, exc) or
                f"{self.path}: not an expertise database or damaged ({exc}); pass another --db path"
            ) from exc
        except StoreError as exc:
            self._conn.close()
            raise StoreError(f"{self.path}: {exc}") from exc
        self._erased: tuple[set[str], set[str]] | None = None
        self._erased_version: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def scratch_copy(self) -> Store:
        """A private temporary copy of this store (``Store("")``) with its salt and erasure
        key, so that erased customers and their tickets are recognised in it as here: what a
        dry run ingests into to see what a real run would do, writing nothing here. Close
        it; it is gone then."""
        key = self._erasure_key() if self._query("SELECT 1 FROM erasures LIMIT 1") else None
        copy = Store("")
        try:
            self._conn.backup(copy._conn)
        except sqlite3.Error as exc:
            copy.close()
            raise StoreError(f"{self.path}: cannot copy the store to try the inbox on ({exc})"
                             ) from exc
        copy._salt, copy._key = copy._ensure_salt(), key
        return copy

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for benchmarks and read-only inspection."""
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot write ({exc})") from exc
        try:
            yield self._conn
        except BaseException as exc:
            self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path}: {exc}") from exc
            raise
        else:
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    # -- salt, key and hashes -----------------------------------------------------------------

    def _ensure_salt(self) -> str:
        select = "SELECT value FROM meta WHERE key = 'install_salt'"
        row = self._conn.execute(select).fetchone()
        if row is None:
            self._conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('install_salt', ?)",
                               (secrets.token_hex(32),))
            row = self._conn.execute(select).fetchone()
        return str(row[0])

    def install_salt(self) -> str:
        """The random salt of this database, created when it was first opened. Not a secret:
        it lies in the database; the secret is the key (:attr:`key_path`)."""
        return self._salt

    @property
    def key_path(self) -> Path | None:
        """The erasure key's file, ``<db>.key`` next to the database (None in memory)."""
        return None if self._memory else self.path.with_name(self.path.name + ".key")

    def _erasure_key(self) -> str:
        """The secret of the erasure records: read from :attr:`key_path`, created when no
        record needs an earlier one. Records of earlier versions get keyed on first use."""
        if self._key is not None:
            return self._key
        if self._memory:
            self._key = secrets.token_hex(32)
            return self._key
        path = self.key_path
        assert path is not None
        keyed = int(self._query("SELECT count(*) FROM erasures WHERE keyed = 1")[0][0])
        rows = self._query("SELECT value FROM meta WHERE key = 'erasure_key_id'")
        recorded = str(rows[0][0]) if rows else None
        try:
            key = read_key_file(path)
            if key is None and not keyed:
                key = key_file(path, share_like=self.path)
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot read the erasure key of {self.path.name} "
                f"({exc.strerror or exc}); run this as a user who can, or ask the store's owner "
                "to make it readable to your group (chmod g+r), as the database is") from exc
        key_id = hashlib.sha256(key.encode()).hexdigest()[:12] if key else None
        if keyed and (key is None or (recorded is not None and recorded != key_id)):
            what = "is missing" if key is None else "is not the one its erasure records use"
            raise StoreError(
                f"{path}: the erasure key {what}: {keyed} erasure records of {self.path.name} "
                "need it to recognise erased customers; restore it from the backup of the "
                "database (it is kept next to the database, never in it)")
        assert key is not None
        if recorded != key_id:
            with self._transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                             "('erasure_key_id', ?)", (key_id,))
        self._key = key
        self._key_legacy_records()
        return key

    def _key_legacy_records(self) -> None:
        """Key the erasure records of earlier versions, SHA-256(salt + id), where they lie:
        afterwards the database alone no longer lets anyone test guesses of those ids. Left
        as they are (and still checked) if the database cannot be written."""
        if not self._query("SELECT 1 FROM erasures WHERE keyed = 0 LIMIT 1"):
            return
        try:
            with self._transaction() as conn:
                old = conn.execute(
                    "SELECT id, customer_hash FROM erasures WHERE keyed = 0").fetchall()
                conn.executemany(
                    "UPDATE erasures SET customer_hash = ?, keyed = 1 WHERE id = ?",
                    [(self._keyed(str(digest)), row_id) for row_id, digest in old])
        except StoreError:
            return
        self._erased = None

    def _keyed(self, digest: str) -> str:
        return hmac.new(self._erasure_key().encode(), digest.encode(), hashlib.sha256).hexdigest()

    def _legacy_digest(self, customer_id: str) -> str:
        return hashlib.sha256((self._salt + customer_id).encode("utf-8")).hexdigest()

    def hash_customer(self, customer_id: str) -> str:
        """The customer's erasure record: HMAC-SHA256 under the erasure key (which is not in
        the database) of the SHA-256 of the install salt followed by the id (hex)."""
        return self._keyed(self._legacy_digest(customer_id))

    def _ticket_hash(self, ticket_id: str) -> str:
        """A ticket's erasure record: as :meth:`hash_customer`, of the id marked as a ticket's
        (the unit separator is in no id), so that it never equals a customer's record."""
        digest = hashlib.sha256(f"{self._salt}\x1fticket\x1f{ticket_id}".encode()).hexdigest()
        return self._keyed(digest)

    def _ticket_hashes(self, ticket_ids: Iterable[str]) -> dict[str, str]:
        """:meth:`_ticket_hash` of each of these ids (none of an empty one), record -> id,
        for a whole batch at once: the key is read, and the salt and the key hashed, once (each
        id then continues copies of those states: a third less time than one id at a time)."""
        salted = hashlib.sha256(f"{self._salt}\x1fticket\x1f".encode())
        keyed = hmac.new(self._erasure_key().encode(), digestmod=hashlib.sha256)
        records: dict[str, str] = {}
        for ticket_id in dict.fromkeys(ticket_ids):
            if not ticket_id:
                continue
            digest = salted.copy()
            digest.update(ticket_id.encode())
            record = keyed.copy()
            record.update(digest.hexdigest().encode())
            records[record.hexdigest()] = ticket_id
        return records

    def erased_tickets(self, ticket_ids: Iterable[str]) -> dict[str, str]:
        """Which of these ticket ids were tickets of a customer erased here (from this schema
        version on: earlier erasures recorded no tickets), each with the day (YYYY-MM-DD, UTC)
        of the erasure; a few queries for any number of ids. The key is read only when there
        are such records."""
        if not self._query("SELECT 1 FROM erased_tickets LIMIT 1"):
            return {}
        by_hash = self._ticket_hashes(ticket_ids)
        return {by_hash[str(digest)]: str(at)[:10] for digest, at in self._in_batches(
            "SELECT ticket_hash, at FROM erased_tickets WHERE ticket_hash IN ({})", by_hash)}

    def erased_hashes(self) -> list[str]:
        """Keyed hashes of every erased customer, oldest erasure first."""
        return [r[0] for r in self._query("SELECT customer_hash FROM erasures ORDER BY id")]

    def is_erased(self, customer_id: str) -> bool:
        """Whether this customer was erased here (their rows are refused from now on)."""
        return bool(self._erased_among([customer_id]))

    def erased_on(self, customer_id: str) -> str | None:
        """The day (YYYY-MM-DD, UTC) this customer was first erased here, or None."""
        if not customer_id or not self.is_erased(customer_id):
            return None
        digest = self._legacy_digest(customer_id)
        rows = self._query("SELECT min(at) FROM erasures WHERE (keyed = 1 AND customer_hash = ?) "
                           "OR (keyed = 0 AND customer_hash = ?)", (self._keyed(digest), digest))
        return str(rows[0][0])[:10] if rows and rows[0][0] else "an earlier day"

    def _refuse_erased(self, customer_id: str) -> None:
        """UnknownCustomerError if this customer was erased here: erased means that nothing is
        stored about them again (no record, no consent, no level), whatever the command."""
        day = self.erased_on(customer_id)
        if day is not None:
            raise UnknownCustomerError(f"customer {_shown(customer_id)!r} was erased here on "
                                       f"{day}; nothing is stored about them")

    def _audit_id(self, customer_id: str | None) -> str | None:
        """The customer id an audit row may name: none for an erased customer, whose id is
        not written down again (the one rule of every audit row). Call it outside a
        transaction: the first check may key old erasure records."""
        return None if customer_id and self.is_erased(customer_id) else customer_id

    def _erased_among(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customer ids have an erasure record (the key is only read when there
        are records to check)."""
        keyed, legacy = self._erased_set()
        if not keyed and not legacy:
            return set()
        found = set()
        for customer_id in {c for c in customer_ids if c}:
            digest = self._legacy_digest(customer_id)
            if digest in legacy or (keyed and self._keyed(digest) in keyed):
                found.add(customer_id)
        return found

    def _erased_set(self) -> tuple[set[str], set[str]]:
        """(keyed records, records of earlier versions not keyed yet), read again whenever
        another connection has written to the database since (``PRAGMA data_version``), so
        that a long-lived store (an agent's session) sees an erasure made elsewhere."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if self._erased is None or self._erased_version != version:
            rows = self._query("SELECT customer_hash, keyed FROM erasures")
            if any(not k for _, k in rows):
                self._erasure_key()  # keys them, if the database can be written
                rows = self._query("SELECT customer_hash, keyed FROM erasures")
            self._erased = ({str(h) for h, k in rows if k}, {str(h) for h, k in rows if not k})
            self._erased_version = version
        return self._erased

    # -- ingest -------------------------------------------------------------------------------

    def ingest_frame(self, frame: pd.DataFrame, *, source: str = "frame") -> IngestCounts:
        """Validate, redact and upsert a frame of tickets in one transaction.

        Parameters
        ----------
        frame : pandas.DataFrame
            Canonical columns (``ticket_id`` required; see :mod:`expertise.tickets.readers`).
        source : str
            Recorded with each new or changed ticket.

        Returns
        -------
        IngestCounts
            ``added`` new ticket ids, ``updated`` known ids whose content changed (a non-empty
            new value replaces the stored one; an empty one keeps it), ``unchanged`` identical
            rows, ``rejected`` rows refused by validation, with an id that is not one line of
            at most :data:`MAX_LABEL_CHARS` characters, belonging to erased customers,
            carrying the id of an erased customer's ticket (whatever customer id, or none,
            the row names: :meth:`erased_tickets`), or whose ticket id is stored for another
            customer or from another help desk.
            Ingesting the same rows twice adds nothing the second time.
        """
        from expertise.tickets.readers import validate_frame

        if len(frame) == 0:
            return IngestCounts()
        chunk = validate_frame(frame)
        counts = IngestCounts()
        refused = self._ingest_valid(chunk.frame, counts, source=source)
        counts.rejected += len(chunk.rejects) + len(refused)
        return counts

    def ingest_file(
        self,
        path: Path | str,
        *,
        format: str = "auto",
        mapping: Mapping[str, str] | None = None,
        rejects_path: Path | str | None = None,
        chunk_rows: int = CHUNK_ROWS,
        source: str | None = None,
        encoding: str = "auto",
    ) -> IngestReport:
        """Stream an export into the store, one transaction per chunk.

        Rejected rows go to ``rejects_path`` (default :func:`default_rejects_path`), written
        only if there are any. Returns counts, the rejects file and the elapsed seconds.
        """
        from expertise.tickets.readers import TicketReader, rejects_frame, write_rejects

        started = time.perf_counter()
        path = Path(path)
        reader = TicketReader(path, format=format, mapping=mapping, chunk_rows=chunk_rows,
                              encoding=encoding)
        label = source or f"{reader.format}:{path.name}"
        counts = IngestCounts()
        rejects: list[pd.DataFrame] = []
        for chunk in reader.chunks():
            refused = self._ingest_valid(chunk.frame, counts, source=label)
            if len(chunk.rejects):
                rejects.append(chunk.rejects)
            if refused:
                rejects.append(rejects_frame(refused))
        counts.rejected += sum(len(r) for r in rejects)
        reasons = dict(Counter(r for frame in rejects for r in frame["reason"].tolist()))
        written: Path | None = None
        if rejects:
            written = Path(rejects_path) if rejects_path else default_rejects_path(path)
            write_rejects(written, rejects)
        return IngestReport(
            path=path,
            format=reader.format,
            rows_read=reader.stats.rows_read,
            counts=counts,
            invalid_byte_rows=reader.stats.invalid_byte_rows,
            rejects_path=written,
            seconds=time.perf_counter() - started,
            chunks=reader.stats.chunks,
            reject_reasons=reasons,
            encoding=reader.encoding,
        )

    def _ingest_valid(
        self, frame: pd.DataFrame, counts: IngestCounts, *, source: str
    ) -> list[tuple[int, str, str]]:
        """Upsert already validated rows, adding to ``counts``; return the rows refused here
        (row, ticket id, reason), for the reasons :meth:`ingest_frame` lists. Of two systems'
        ticket numbers colliding, the stored ticket is kept."""
        from expertise.privacy import redact
        from expertise.tickets.writers import redact_id

        n = len(frame)
        if n == 0:
            return []
        columns = {
            name: (frame[name].tolist() if name in frame.columns else [""] * n)
            for name in ("ticket_id", *_TICKET_FIELDS)
        }
        rows = frame["_row"].tolist() if "_row" in frame.columns else list(range(1, n + 1))
        ids: list[str] = columns["ticket_id"]
        customers: list[str] = columns["customer_id"]
        # an export's "unclear" level says no level is known: stored as none
        columns["expertise_level"] = [None if v == UNCLEAR else v
                                      for v in columns["expertise_level"]]
        for name in _REDACTED_LABELS:
            done: dict[Any, Any] = {}
            for v in dict.fromkeys(columns[name]):
                done[v] = redact(v) if isinstance(v, str) and v else v
            columns[name] = [done[v] for v in columns[name]]

        refused: dict[int, str] = {}  # position -> reason
        for i, tid in enumerate(ids):
            problem = _label_problem(tid)
            if problem:
                refused[i] = f"ticket_id {problem}"
        bad_ids = {c: p for c in set(customers) if c and (p := _label_problem(c))}
        erased = self._erased_among(c for c in set(customers) if c not in bad_ids)
        if bad_ids or erased:
            for i, c in enumerate(customers):
                if i in refused or not c:
                    continue
                if c in bad_ids:
                    refused[i] = f"customer_id {bad_ids[c]}"
                elif c in erased:
                    refused[i] = "customer erased (right to erasure); not stored"
        # a ticket id of an erased customer leads back to them, whoever the row names: the
        # ids of the rows still in, hashed as one batch and looked up in a few queries
        erased_tickets = self.erased_tickets(ids[i] for i in range(n) if i not in refused)
        if erased_tickets:
            for i, tid in enumerate(ids):
                if i not in refused and tid in erased_tickets:
                    refused[i] = _ERASED_TICKET

        personal = {c for c in set(customers) if c and redact_id(c) != c}
        incoming: dict[str, tuple[str | None, ...]] = {}  # in _TICKET_FIELDS order
        position: dict[str, int] = {}
        for i in range(n):
            if i in refused:
                continue
            position[ids[i]] = i
            incoming[ids[i]] = tuple(
                _text(redact(columns[f][i] or "") if f in _REDACTED_FIELDS else columns[f][i])
                for f in _TICKET_FIELDS
            )
        now = _now()
        select = (f"SELECT ticket_id, {', '.join(_TICKET_FIELDS)}, source FROM tickets "
                  "WHERE ticket_id IN ({})")
        desk = _help_desk(source)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        first_seen: dict[str, str] = {}
        with self._transaction() as conn:
            existing: dict[str, tuple[Any, ...]] = {}
            stored_desk: dict[str, str | None] = {}
            keys = list(incoming)
            for start in range(0, len(keys), _IN_BATCH):
                batch = keys[start : start + _IN_BATCH]
                sql = select.format(",".join("?" * len(batch)))
                for row in conn.execute(sql, batch):
                    existing[row[0]] = tuple(row[1:-1])
                    stored_desk[row[0]] = _help_desk(row[-1])
            for tid, new in incoming.items():
                old = existing.get(tid)
                if old is not None:
                    other = stored_desk[tid]
                    if desk and other and other != desk:
                        refused[position[tid]] = (f"ticket_id already stored from {other}: two "
                                                  "help desks' ticket numbers collide (prefix "
                                                  "this export's ids); not stored")
                        continue
                    if old[0] is not None and new[0] is not None and old[0] != new[0]:
                        refused[position[tid]] = ("ticket_id already stored for another "
                                                  "customer (ids from two systems colliding? "
                                                  "prefix them); not stored")
                        continue
                if personal and new[0] in personal:
                    counts.personal_ids += 1
                if old is None:
                    inserts.append((tid, *new, source, now))
                    merged = new
                    counts.added += 1
                else:
                    merged = tuple(
                        n_ if n_ is not None else o for n_, o in zip(new, old, strict=True)
                    )
                    if merged == old:
                        counts.unchanged += 1
                        continue
                    updates.append((*merged, source, now, tid))
                    counts.updated += 1
                customer, created = merged[0], merged[1]
                if customer is not None:
                    seen = created or now
                    first_seen[customer] = min(seen, first_seen.get(customer, seen))
            if first_seen:
                conn.executemany(
                    "INSERT INTO customers(customer_id, first_seen, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(customer_id) DO UPDATE SET "
                    "first_seen = excluded.first_seen, updated_at = excluded.updated_at "
                    "WHERE customers.first_seen IS NULL "
                    "OR excluded.first_seen < customers.first_seen",
                    [(c, seen, now) for c, seen in first_seen.items()],
                )
            if inserts:
                conn.executemany(
                    f"INSERT INTO tickets(ticket_id, {', '.join(_WRITTEN_FIELDS)}) "
                    f"VALUES (?{', ?' * len(_WRITTEN_FIELDS)})",
                    inserts,
                )
            if updates:
                conn.executemany(
                    f"UPDATE tickets SET {', '.join(f'{f} = ?' for f in _WRITTEN_FIELDS)} "
                    "WHERE ticket_id = ?",
                    updates,
                )
        return [(int(rows[i]), ids[i], refused[i]) for i in sorted(refused)]

    # -- reading ------------------------------------------------------------------------------

    def history(
        self, customer_id: str, *, before: str | None = None, after_rowid: int | None = None,
        limit: int | None = None,
    ) -> list[HistoryItem]:
        """A customer's tickets in time order, oldest first (tickets without a time first;
        equal times in the order they were stored).

        Parameters
        ----------
        customer_id : str
        before : str, optional
            Only tickets created strictly before this time (any format
            :func:`expertise.tickets.readers.parse_timestamp` reads; a bare date means midnight).
            Tickets without a ``created_at`` are then left out, since they cannot be placed.
        after_rowid : int, optional
            Only tickets stored after this row (the ones a saved profile does not cover).
        limit : int, optional
            Only the most recent ones, at most this many.
        """
        if limit is not None and limit < 0:
            raise InputError(f"limit must be zero or more, got {limit}")
        clauses: list[str] = ["customer_id = ?"]
        params: list[str | int] = [customer_id]
        if before is not None:
            clauses.append("created_at < ?")
            params.append(_cutoff(before, "before"))
        if after_rowid is not None:
            clauses.append("rowid > ?")
            params.append(after_rowid)
        sql = ("SELECT ticket_id, created_at, channel, subject, body, expertise_level, topic, "
               "predicted_level, rowid FROM tickets WHERE " + " AND ".join(clauses)
               + " ORDER BY created_at DESC, rowid DESC")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [HistoryItem(*row) for row in reversed(self._query(sql, params))]

    def coverage(self, customer_id: str) -> tuple[int, int]:
        """(how many tickets the customer has, the newest one's row), for checking a profile."""
        count, last = self._query(
            "SELECT count(*), coalesce(max(rowid), 0) FROM tickets WHERE customer_id = ?",
            (customer_id,))[0]
        return int(count), int(last)

    def profile(self, customer_id: str, model_version: str) -> SavedProfile | None:
        """The history profile saved for this customer and model version, if any."""
        rows = self._query("SELECT profile, tickets, last_rowid FROM profiles "
                           "WHERE customer_id = ? AND model_version = ?",
                           (customer_id, model_version))
        if not rows:
            return None
        return SavedProfile(json.loads(rows[0][0]), int(rows[0][1]), int(rows[0][2]))

    def save_profile(self, customer_id: str, model_version: str, profile: dict[str, Any], *,
                     tickets: int, last_rowid: int) -> None:
        """Save a customer's profile for a model version; other versions' ones go."""
        with self._transaction() as conn:
            known = conn.execute("SELECT consent FROM customers WHERE customer_id = ?",
                                 (customer_id,)).fetchone()
            if known is None or known[0] == "opted_out":
                return  # nothing is profiled for an unknown or opted-out customer
            conn.execute("DELETE FROM profiles WHERE customer_id = ?", (customer_id,))
            conn.execute(
                "INSERT INTO profiles(customer_id, model_version, profile, tickets, last_rowid, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (customer_id, model_version, json.dumps(profile), tickets, last_rowid, _now()))

    def pin_level(self, customer_id: str, level: str | None, *, actor: str | None = None
                  ) -> str | None:
        """Set (or, with None, clear) the level an agent pinned for a customer; returns the
        previous one. Audited."""
        if level is not None:
            _one_of(level, LEVELS, "level")
        actor = _actor(actor)
        self._refuse_erased(customer_id)
        before = self.customer(customer_id)
        if before is None:
            raise UnknownCustomerError(f"unknown customer {customer_id!r}: ingest their tickets "
                                       "first")
        if level is not None and before.consent == "opted_out":
            raise InputError(f"customer {customer_id!r} opted out of personalisation: nothing "
                             "is noted about them (they can opt back in with `expertise consent "
                             "--opt-in`)")
        now, named = _now(), self._audit_id(customer_id)  # read outside the transaction
        with self._transaction() as conn:
            conn.execute("UPDATE customers SET pinned_level = ?, pinned_by = ?, pinned_at = ?, "
                         "updated_at = ? WHERE customer_id = ?",
                         (level, actor if level else None, now if level else None, now,
                          customer_id))
            conn.execute(_AUDIT_INSERT, (now, actor, "pin" if level else "unpin", named, None,
                                         f"{before.pinned_level or 'none'} -> {level or 'none'}"))
        return before.pinned_level

    def customer(self, customer_id: str) -> Customer | None:
        """The customer's record, or None if the store does not know them."""
        rows = self._query(
            "SELECT customer_id, consent, first_seen, updated_at, "
            "(SELECT count(*) FROM tickets t WHERE t.customer_id = c.customer_id), "
            "pinned_level, pinned_by, pinned_at FROM customers c WHERE customer_id = ?",
            (customer_id,),
        )
        return Customer(*rows[0]) if rows else None

    def ticket_count(self) -> int:
        """How many tickets the store holds."""
        return int(self._query("SELECT count(*) FROM tickets")[0][0])

    def has_ticket(self, ticket_id: str) -> bool:
        """Whether the store holds a ticket with this id."""
        return bool(self._query("SELECT 1 FROM tickets WHERE ticket_id = ?", (ticket_id,)))

    def _in_batches(self, sql: str, values: Iterable[str]) -> list[Any]:
        """The rows of ``sql`` (one ``IN ({})``) over all of ``values``, a few hundred a
        statement: a few queries for any number of values."""
        wanted = [v for v in dict.fromkeys(values) if v]
        rows: list[Any] = []
        for start in range(0, len(wanted), _IN_BATCH):
            batch = wanted[start : start + _IN_BATCH]
            rows += self._query(sql.format(",".join("?" * len(batch))), batch)
        return rows

    def ticket_owners(self, ticket_ids: Iterable[str]) -> dict[str, str]:
        """The customer of each of these tickets that the store holds with one."""
        return {str(t): str(c) for t, c in self._in_batches(
            "SELECT ticket_id, customer_id FROM tickets WHERE ticket_id IN ({}) "
            "AND customer_id IS NOT NULL", ticket_ids)}

    def consents(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """The consent (``granted`` or ``opted_out``) of each of these customers the store
        knows."""
        return {str(c): str(v) for c, v in self._in_batches(
            "SELECT customer_id, consent FROM customers WHERE customer_id IN ({})",
            customer_ids)}

    def erased_among(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customers were erased here (their rows are refused from now on)."""
        return self._erased_among(customer_ids)

    def training_exclusions(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customer ids must never be trained on: those who opted out of
        personalisation, and those erased (recognised by their erasure record). The one rule
        for every source of training data: the store's tickets and external exports alike.
        """
        ids = {c for c in customer_ids if c}
        if not ids:
            return set()
        opted = {str(r[0]) for r in self._query(
            "SELECT customer_id FROM customers WHERE consent = 'opted_out'")}
        return (ids & opted) | self._erased_among(ids)

    def training_frame(self, *, exclude: bool = True) -> pd.DataFrame:
        """Labelled tickets as a data frame for training, without excluded customers.

        A ticket is labelled when it was imported with an ``expertise_level`` or an agent
        corrected its level through feedback; the latest correction wins. Columns: the
        canonical ones, ``expertise_level``, ``topic``, ``resolved_article_id`` and
        ``label_source`` ("import" or "feedback"); missing values are ``""``. Customers of
        :meth:`training_exclusions` are left out (kept with ``exclude=False``, for a caller
        that counts them); anonymous tickets are kept.
        """
        import pandas as pd

        sql = (
            "SELECT t.ticket_id, t.customer_id, t.created_at, t.channel, t.subject, t.body, "
            "COALESCE(f.corrected_level, t.expertise_level) AS expertise_level, "
            "t.topic, t.resolved_article_id, "
            "CASE WHEN f.corrected_level IS NULL THEN 'import' ELSE 'feedback' END "
            "AS label_source "
            "FROM tickets t "
            "LEFT JOIN (SELECT ticket_id, corrected_level FROM feedback WHERE id IN ("
            "  SELECT max(id) FROM feedback WHERE corrected_level IS NOT NULL "
            "  GROUP BY ticket_id)) f ON f.ticket_id = t.ticket_id "
            "WHERE COALESCE(f.corrected_level, t.expertise_level) IS NOT NULL "
            "ORDER BY t.created_at, t.ticket_id"
        )
        columns = ["ticket_id", *_TICKET_FIELDS, "label_source"]
        frame = pd.DataFrame(self._query(sql), columns=columns, dtype=object).fillna("").astype(str)
        excluded = self.training_exclusions(frame["customer_id"]) if exclude else set()
        if excluded:
            frame = frame[~frame["customer_id"].isin(excluded)].reset_index(drop=True)
        return frame

    # -- consent, predictions, feedback -------------------------------------------------------

    def set_consent(self, customer_id: str, consent: str) -> None:
        """Record ``granted`` or ``opted_out`` for a customer (created if unknown).

        Opting out also clears the levels the model predicted for their stored tickets, the
        levels agents noted in feedback on them, their history profile and any pinned level: an
        opted-out customer keeps their tickets and votes on articles, but nothing inferred or
        noted about them.
        """
        _one_of(consent, CONSENTS, "consent")
        if not customer_id:
            raise InputError("customer id is empty")
        self._refuse_erased(customer_id)
        now = _now()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO customers(customer_id, consent, first_seen, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(customer_id) DO UPDATE SET "
                "consent = excluded.consent, updated_at = excluded.updated_at",
                (customer_id, consent, now, now),
            )
            if consent == "opted_out":
                conn.execute("UPDATE tickets SET predicted_level = NULL, predicted_confidence = "
                             "NULL WHERE customer_id = ?", (customer_id,))
                # levels agents noted (training labels); a row that held only that goes
                theirs = ("(customer_id = :id OR ticket_id IN "
                          "(SELECT ticket_id FROM tickets WHERE customer_id = :id))")
                conn.execute(f"UPDATE feedback SET corrected_level = NULL WHERE {theirs}",
                             {"id": customer_id})
                conn.execute(f"DELETE FROM feedback WHERE helpful IS NULL AND {theirs}",
                             {"id": customer_id})
                conn.execute("DELETE FROM profiles WHERE customer_id = ?", (customer_id,))
                conn.execute("UPDATE customers SET pinned_level = NULL, pinned_by = NULL, "
                             "pinned_at = NULL WHERE customer_id = ?", (customer_id,))

    def record_prediction(self, ticket_id: str, level: str, confidence: float) -> None:
        """Store the model's level and confidence for a ticket."""
        _one_of(level, LEVELS, "level")
        if not 0.0 <= float(confidence) <= 1.0:
            raise InputError(f"confidence must be between 0 and 1, got {confidence}")
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE tickets SET predicted_level = ?, predicted_confidence = ? "
                "WHERE ticket_id = ?",
                (level, float(confidence), ticket_id),
            )
            if cursor.rowcount == 0:
                raise UnknownTicketError(f"unknown ticket {ticket_id!r}; ingest it first")

    def add_feedback(
        self,
        ticket_id: str,
        *,
        article_id: str,
        helpful: bool | None = None,
        corrected_level: str | None = None,
        agent: str | None = None,
        customer_id: str | None = None,
        created_at: str | None = None,
    ) -> int:
        """Record an agent's feedback on the article served for a ticket; return its id.

        The customer is taken from the stored ticket when not given. A ticket the store does
        not hold (a live answer) is fine. For an erased customer a vote is kept without their
        id (it is about the article) and a level is refused (UnknownCustomerError); feedback on
        a ticket of an erased customer (:meth:`erased_tickets`) is refused whole, vote and
        level (UnknownCustomerError): its id leads back to them. For a
        customer who opted out a vote is kept and a level is not stored: nothing is noted about
        them (see :meth:`set_consent`); with no vote either, nothing is written and 0 returned.
        """
        return self.add_feedback_rows([{
            "ticket_id": ticket_id, "article_id": article_id, "helpful": helpful,
            "corrected_level": corrected_level, "agent": agent, "customer_id": customer_id,
            "created_at": created_at}])[0]

    def add_feedback_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Record many rows of feedback, each the arguments of :meth:`add_feedback` (its rules
        row by row), in one transaction; return each row's id (0 for a row not written).

        The store is asked a few batched queries for all the rows, not several per row. Any
        error leaves nothing written: a level that is not one (InputError, checked first), a
        row refused as :meth:`add_feedback` refuses it (the first such row's error), or the
        database refusing a write midway.
        """
        wanted: list[dict[str, Any]] = []
        for row in rows:
            unknown = set(row) - _FEEDBACK_ARGS
            if unknown or "ticket_id" not in row or "article_id" not in row:
                raise TypeError("a feedback row takes add_feedback's arguments, ticket_id and "
                                f"article_id among them; got {', '.join(sorted(row))}")
            wanted.append({**dict.fromkeys(_FEEDBACK_ARGS), **row})
        for row in wanted:
            if row["corrected_level"] is not None:
                _one_of(row["corrected_level"], LEVELS, "corrected level")
        if not wanted:
            return []
        # what the store knows about all the rows, asked once
        erased_tickets = self.erased_tickets(row["ticket_id"] for row in wanted)
        owners = self.ticket_owners(row["ticket_id"] for row in wanted
                                    if row["customer_id"] is None)
        customers = [owners.get(row["ticket_id"]) if row["customer_id"] is None
                     else row["customer_id"] for row in wanted]
        erased = self._erased_among(c for c in customers if c)
        opted_out = {c for c, consent in self.consents(
            c for c, row in zip(customers, wanted, strict=True)
            if c and c not in erased and row["corrected_level"] is not None).items()
            if consent == "opted_out"}
        now = _now()
        writes: list[tuple[str | None, tuple[Any, ...]] | None] = []  # None: nothing written
        for row, customer_id in zip(wanted, customers, strict=True):
            ticket_id, helpful = row["ticket_id"], row["helpful"]
            corrected_level = row["corrected_level"]
            erased_ticket = erased_tickets.get(ticket_id)
            if erased_ticket is not None:
                raise UnknownCustomerError(
                    f"ticket {_shown(ticket_id)!r} was a ticket of a customer erased here on "
                    f"{erased_ticket}; nothing is stored about it, not even feedback: leave it "
                    "out")
            if customer_id and customer_id in erased:
                if corrected_level is not None:
                    self._refuse_erased(customer_id)
                customer_id = None  # nor is their record made again
            if corrected_level is not None and customer_id and customer_id in opted_out:
                corrected_level = None
                if helpful is None:
                    writes.append(None)
                    continue
            writes.append((customer_id, (
                ticket_id,
                customer_id or None,
                row["article_id"],
                None if helpful is None else int(bool(helpful)),
                corrected_level,
                row["agent"],
                row["created_at"] or now,
            )))
        if not any(writes):
            return [0] * len(writes)
        ids: list[int] = []
        with self._transaction() as conn:
            for write in writes:
                if write is None:
                    ids.append(0)
                    continue
                customer_id, values = write
                if customer_id:
                    conn.execute(
                        "INSERT OR IGNORE INTO customers(customer_id, first_seen, updated_at) "
                        "VALUES (?, ?, ?)",
                        (customer_id, now, now),
                    )
                cursor = conn.execute(
                    "INSERT INTO feedback(ticket_id, customer_id, article_id, helpful, "
                    "corrected_level, agent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def record_feedback(self, ticket_id: str, *, article_id: str, helpful: bool,
                        level: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """An agent's verdict on a served article; with `level`, the caller's real level,
        which becomes the ticket's training label and is pinned for the ticket's customer
        (strong evidence for their next answers, until cleared) when the store knows them and
        they have not opted out. For a customer who opted out the vote is kept and the level
        is not (``level_not_noted_for`` names them). Returns what was recorded."""
        stored = self._query("SELECT customer_id FROM tickets WHERE ticket_id = ?", (ticket_id,))
        row_id = self.add_feedback(ticket_id, article_id=article_id, helpful=helpful,
                                   corrected_level=level, agent=actor or default_actor())
        owner = stored[0][0] if stored else None
        kept = self._query("SELECT corrected_level FROM feedback WHERE id = ?", (row_id,))
        noted = kept[0][0] if kept else None  # what add_feedback stored, not what was asked
        customer = self.customer(owner) if noted and owner else None
        pinned_for = None
        if customer is not None and customer.consent == "granted":
            self.pin_level(customer.customer_id, noted, actor=actor)
            pinned_for = owner
        return {"id": row_id, "ticket_id": ticket_id, "article_id": article_id,
                "helpful": helpful, "corrected_level": noted, "ticket_in_store": bool(stored),
                "pinned_for": pinned_for,
                "level_not_noted_for": owner if level and not noted else None}

    def feedback_rows(self, *, customer_id: str | None = None) -> list[FeedbackRow]:
        """All feedback, oldest first (only one customer's when ``customer_id`` is given)."""
        sql = (
            "SELECT id, ticket_id, customer_id, article_id, helpful, corrected_level, agent, "
            "created_at FROM feedback"
        )
        params: tuple[Any, ...] = ()
        if customer_id is not None:
            sql += " WHERE customer_id = ?"
            params = (customer_id,)
        rows = self._query(sql + " ORDER BY id", params)
        return [
            FeedbackRow(r[0], r[1], r[2], r[3], None if r[4] is None else bool(r[4]), *r[5:])
            for r in rows
        ]

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self,
        actor: str | None,
        action: str,
        customer_id: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
    ) -> int:
        """Append to the audit log (who did what, about whom, why); return the row id.

        ``actor`` None means the login name (:func:`default_actor`). ``actor`` and ``purpose``
        must pass :func:`check_label` (InputError otherwise). Personal data in ``purpose`` and
        ``detail`` is redacted, and the customer id, where they repeat it, replaced by
        :data:`CUSTOMER_PLACEHOLDER`: erasure clears ``customer_id`` only.
        """
        actor = _actor(actor)
        if purpose is not None:
            check_label(purpose, "purpose")
        if not action:
            raise InputError("audit entries need an action")
        purpose, detail = _audit_text(purpose, customer_id), _audit_text(detail, customer_id)
        row = (_now(), actor, action, self._audit_id(customer_id), purpose, detail)
        with self._transaction() as conn:
            return int(conn.execute(_AUDIT_INSERT, row).lastrowid or 0)

    def audit_lookups(
        self,
        actor: str | None,
        action: str,
        customer_ids: Iterable[str],
        *,
        purpose: str | None = None,
        detail: str | None = None,
    ) -> int:
        """One audit row per customer, all in one transaction (a batch's look-ups, so that
        ``audit --customer`` finds each); returns how many were written. An id that is not
        one line of at most :data:`MAX_LABEL_CHARS` characters (text that slid into the id
        column of an export, which ingest refuses) is not written down."""
        actor = _actor(actor)
        if purpose is not None:
            check_label(purpose, "purpose")
        wanted = [c for c in dict.fromkeys(customer_ids) if c and not _label_problem(c)]
        erased = self._erased_among(wanted)
        now = _now()
        # each row's text without its own customer's id (see `audit`), redacted once for the
        # many rows whose text does not name their customer
        texts = (purpose, detail)
        lowered = [(t or "").lower() for t in texts]
        shared = tuple(_audit_text(t) for t in texts)
        rows = [(now, actor, action, c, *(
            _audit_text(t, c) if c.lower() in low else done
            for t, low, done in zip(texts, lowered, shared, strict=True)))
            for c in wanted if c not in erased]
        if not rows:
            return 0
        with self._transaction() as conn:
            conn.executemany(_AUDIT_INSERT, rows)
        return len(rows)

    def audit_rows(
        self, customer_id: str | None = None, since: str | None = None
    ) -> list[AuditRow]:
        """Audit entries, oldest first, optionally for one customer and from a time on."""
        clauses: list[str] = []
        params: list[Any] = []
        if customer_id is not None:
            clauses.append("customer_id = ?")
            params.append(customer_id)
        if since is not None:
            clauses.append("at >= ?")
            params.append(_cutoff(since, "since"))
        sql = "SELECT id, at, actor, action, customer_id, purpose, detail FROM audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [AuditRow(*row) for row in self._query(sql + " ORDER BY id", params)]

    # -- erasure ------------------------------------------------------------------------------

    def forget(self, customer_id: str, *, actor: str | None = None,
               purge_wait: float = PURGE_WAIT, unknown_ok: bool = False) -> ForgetReport:
        """Erase a customer, in one transaction, then overwrite the freed bytes on disk.

        Deletes their feedback (and feedback on their tickets), their tickets, their customer
        record and profile; clears their id from audit rows; records the keyed hash in
        ``erasures``, and those of their tickets' ids in ``erased_tickets`` (feedback on one
        of them is refused from then on), and appends an ``erasure`` audit row that names
        nobody. Later ingests skip rows of this customer id, and rows carrying one of their
        ticket ids under any customer id or none. Then :meth:`purge` (waiting up
        to ``purge_wait`` seconds for other connections): the report's ``purged`` and
        ``purge_warning`` say whether the erased data is gone from the file's bytes too.

        With ``unknown_ok``, a customer the store holds nothing about (one known only from an
        export, or from a model's training data) is erased too: only the erasure record and
        its audit row are written, so later ingests and retraining leave them out.

        Raises
        ------
        UnknownCustomerError
            If the customer was erased here before, or (without ``unknown_ok``) the store
            holds nothing about ``customer_id``.
        """
        customer_hash = self.hash_customer(customer_id)
        actor = _actor(actor)
        now = _now()
        with self._transaction() as conn:
            known = conn.execute(
                "SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)
            ).fetchone()
            n_audit = conn.execute(
                "SELECT count(*) FROM audit WHERE customer_id = ?", (customer_id,)
            ).fetchone()[0]
            if known is None and n_audit == 0:
                shown = _shown(customer_id)
                if self._erased_among([customer_id]):
                    raise UnknownCustomerError(
                        f"customer {shown!r} was erased here before: nothing is left to erase")
                if not unknown_ok:
                    raise UnknownCustomerError(
                        f"unknown customer {shown!r}: nothing stored to erase (if their data is "
                        "in an export you will import or train on, add --even-if-unknown to "
                        "record the erasure, so that ingest and retraining leave them out)")
            theirs = [str(r[0]) for r in conn.execute(
                "SELECT ticket_id FROM tickets WHERE customer_id = :id UNION "
                "SELECT ticket_id FROM feedback WHERE customer_id = :id "
                "AND ticket_id IS NOT NULL", {"id": customer_id})]
            feedback, tickets, deleted, anonymised = (
                conn.execute(sql, {"id": customer_id}).rowcount
                for sql in (
                    "DELETE FROM feedback WHERE customer_id = :id OR ticket_id IN "
                    "(SELECT ticket_id FROM tickets WHERE customer_id = :id)",
                    "DELETE FROM tickets WHERE customer_id = :id",
                    "DELETE FROM customers WHERE customer_id = :id",  # and the profile
                    "UPDATE audit SET customer_id = NULL WHERE customer_id = :id",
                )
            )
            conn.execute("INSERT INTO erasures(at, customer_hash, keyed) VALUES (?, ?, 1)",
                         (now, customer_hash))
            conn.executemany("INSERT OR IGNORE INTO erased_tickets(ticket_hash, at) "
                             "VALUES (?, ?)", [(self._ticket_hash(t), now) for t in theirs])
            conn.execute(_AUDIT_INSERT, (
                now, actor, "erasure", None, "right to erasure",
                f"tickets={tickets} feedback={feedback} audit_rows_anonymised={anonymised}"))
        if self._erased is not None:
            self._erased[0].add(customer_hash)
        purged, warning = self.purge(wait=purge_wait)
        return ForgetReport(
            customer_hash=customer_hash,
            tickets_deleted=tickets,
            feedback_deleted=feedback,
            audit_rows_anonymised=anonymised,
            customer_deleted=bool(deleted),
            purged=purged,
            purge_warning=warning,
        )

    def purge(self, *, wait: float = PURGE_WAIT) -> tuple[bool, str | None]:
        """Make deleted data unrecoverable from the files: (done, why not).

        Deleted rows are overwritten with zeros in the pages that held them (``PRAGMA
        secure_delete``, checked here); a checkpoint then copies those pages into the database
        file and empties the write-ahead log, so that no earlier image of them survives in
        either (``PRAGMA wal_checkpoint(TRUNCATE)``, waiting up to ``wait`` seconds, its result
        checked). A connection still reading an older snapshot keeps the checkpoint from
        finishing: the data then stays in the file until it ends.
        """
        if self._memory:
            return True, None
        try:
            secure = int(self._conn.execute("PRAGMA secure_delete").fetchone()[0])
        except sqlite3.Error as exc:
            return False, f"{self.path}: cannot check that deleted data is overwritten ({exc})"
        if secure != 1:
            return False, (f"{self.path}: this SQLite library does not overwrite deleted data "
                           "(secure_delete is off): the erased data may remain in free pages "
                           "until they are reused; run `sqlite3 <db> VACUUM` to rewrite the file")
        if self.journal_mode != "wal":
            return True, None  # the rollback journal is deleted at each commit
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {max(0, int(wait * 1000))}")
            busy, log, done = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            busy, log, done = 1, -1, -1
            problem = str(exc)
        else:
            problem = "another connection is still reading an older snapshot of the store"
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA busy_timeout = 30000")
        wal = self.path.with_name(self.path.name + "-wal")
        emptied = not wal.exists() or wal.stat().st_size == 0
        if busy == 0 and log == done and emptied:
            return True, None
        return False, (f"{self.path}: erased from every table, but the erased data is still in "
                       f"the file's bytes: {problem} (waited {wait:g} s). Close the other "
                       "programs using this store (sessions, batch runs, sqlite3 shells): the "
                       "data is overwritten at the next checkpoint, at the latest when the last "
                       "of them closes it")
