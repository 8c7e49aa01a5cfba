"""Scoring one chunk of an export, and each customer's history carried between chunks.

A chunk goes through the scoring pipeline (`Engine.score`) and comes back as the scored
columns; the history carried from one chunk to the next lives in a SQLite file on disk
(:class:`HistoryCarry`), so memory stays flat however many customers an export has.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.batch.settings import NOT_ESTIMATED, NOT_TEXT, ScoreSettings
from expertise.config import LEVELS
from expertise.io import write_failed
from expertise.scoring.history import Profile, Profiles
from expertise.scoring.text import ticket_text
from expertise.tickets.writers import FLOAT_COLUMNS, redact_id

if TYPE_CHECKING:
    import pandas as pd

    from expertise.engine import Engine


#: Columns added to every scored row, in this order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "expertise_level",
    "expertise_confidence",
    "p_novice",
    "p_intermediate",
    "p_expert",
    "topic",
    "topic_score",
    "no_match",
    "article_id",
    "article_level",
    "alternatives",
    "reasons",
)


#: What the scratch files of a run are, in an error that names one.
SCRATCH = "this run's scratch space"


class HistoryCarry:
    """Each customer's history profile as of the earlier chunks, in a temporary SQLite file.

    A profile summarises all of a customer's earlier tickets (`scoring.history.Profile`), so
    one small row per customer is all that is carried, and memory stays flat however many
    customers an export has. The file is deleted on :meth:`close`. A file the disk refuses
    (full, say) is an InputError naming it and the cause (`io.write_failed`), the file
    deleted.
    """

    def __init__(self, *, folder: Path | str | None = None) -> None:
        try:
            self._dir = tempfile.mkdtemp(prefix="expertise-carry-", dir=folder)
        except OSError as exc:
            where = Path(exc.filename or folder or tempfile.gettempdir())
            raise write_failed(where, exc, "TMPDIR", what=SCRATCH) from None
        #: The SQLite file.
        self.path = Path(self._dir) / "carry.db"
        self.rows = 0
        self.conversations = 0
        try:
            with self._refused():
                self._conn = sqlite3.connect(self.path, isolation_level=None)
                for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                               "cache_size=-16000"):
                    self._conn.execute(f"PRAGMA {pragma}")
                self._conn.execute("CREATE TABLE profile (customer TEXT PRIMARY KEY, "
                                   "data BLOB NOT NULL, open_id TEXT)")
                self._conn.execute("CREATE TABLE conversation (id TEXT PRIMARY KEY, "
                                   "text TEXT NOT NULL)")
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def _refused(self) -> Iterator[None]:
        """A failure of the file (a full disk, an I/O error) as `io.write_failed`'s error."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.IntegrityError):
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            raise write_failed(self.path, _os_error(exc), "TMPDIR", what=SCRATCH) from None

    def lookup(self, customers: Collection[str]) -> dict[str, Profile]:
        """The carried profile of each of these customers that has one."""
        if not self.rows:
            return {}
        return Profiles.unpacked(
            self._select("SELECT customer, data, open_id FROM profile WHERE customer", customers))

    def earlier(self, conversations: Collection[str]) -> dict[str, str]:
        """The (redacted) text so far of each of these conversations seen in earlier chunks."""
        if not self.conversations:
            return {}
        return dict(self._select("SELECT id, text FROM conversation WHERE id", conversations))

    def add_conversations(self, texts: dict[str, str]) -> None:
        """Remember conversations' text so far for later chunks."""
        self.conversations += self._insert("conversation", list(texts.items()))

    def add(self, profiles: Profiles) -> None:
        """Remember these customers' profiles (replacing what was carried) for later chunks."""
        if profiles:
            self.rows += self._insert("profile", profiles.packed())

    def _select(self, query: str, keys: Collection[str]) -> list[Any]:
        """The rows of ``query IN keys``, 500 keys a statement."""
        wanted = list(keys)
        rows: list[Any] = []
        with self._refused():
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                rows += self._conn.execute(f"{query} IN ({','.join('?' * len(part))})", part)
        return rows

    def _insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert (or replace) these rows in one transaction; how many."""
        if rows:
            with self._refused():
                self._conn.execute("BEGIN")
                with self._conn:  # COMMIT, or ROLLBACK on an exception
                    self._conn.executemany(
                        f"INSERT OR REPLACE INTO {table} VALUES "
                        f"({','.join('?' * len(rows[0]))})", rows)
        return len(rows)

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> HistoryCarry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: SQLite's primary result code for a full disk (``SQLITE_FULL``).
_SQLITE_FULL = 13


def _os_error(exc: BaseException) -> OSError:
    """An SQLite error as the OSError it stands for: a full disk as ENOSPC, others (``disk I/O
    error``, ``unable to open database file``) as EIO with SQLite's words."""
    if isinstance(exc, OSError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_FULL:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError(errno.EIO, str(exc))


#: The key prefix of a redacted input column in a scored chunk (no output column has it).
INPUT_KEY = "input:"


class ChunkScorer:
    """Scores chunks of one export in order, carrying each customer's history forward.

    A chunk is a dict of equal-length lists: ``ticket_id``, ``customer_id``, ``created_at``,
    ``subject``, ``body`` and optionally ``expertise_level`` and ``topic`` (labels count as
    history for later tickets), ``conversation_id`` (messages of one conversation are read
    together, across chunks too), ``product`` (tilts topics to its area) and ``redact``
    (``{column: values}`` to redact). The result is
    a dict of lists: :data:`OUTPUT_COLUMNS`, ``_no_match`` (bool) and the redacted columns
    (each under :data:`INPUT_KEY` + its name, so that an input column named like an output
    column, "article_id" say, never takes its place).

    History is exact for an export in time order (the usual case): a customer's rows of
    earlier chunks are carried as a profile and their rows of this chunk folded in by time.
    With a store, a customer first seen in the run starts from their stored tickets created
    before their first ticket here (and not in this chunk), so an ingested export does not
    count twice. Each customer is looked up once a run: ``customers_looked_up`` counts them
    (distinct: a customer's rows always reach the same scorer), and each gets one audit row
    (``score_lookup``), written with the chunk that first names them, in one transaction.
    """

    def __init__(self, settings: ScoreSettings, *, engine: Engine | None = None,
                 carry_folder: Path | str | None = None) -> None:
        from expertise.engine import Engine

        self.settings = settings
        self.engine = engine or Engine(model_dir=settings.model_dir, kb_root=settings.kb_root,
                                       db_path=settings.db_path, trust=settings.trust)
        self._own_engine = engine is None
        self._carry_folder = carry_folder
        self._carry: HistoryCarry | None = None
        self._seen: set[str] = set()  # customers of earlier chunks (kept with a store only)
        self.customers_looked_up = 0

    @property
    def carry(self) -> HistoryCarry:
        """The history carried between chunks (its file is created on first use)."""
        if self._carry is None:
            self._carry = HistoryCarry(folder=self._carry_folder)
        return self._carry

    def close(self) -> None:
        self.reset_carry()
        if self._own_engine:
            self.engine.close()

    def reset_carry(self) -> None:
        """Forget the carried history and delete its file (unrelated customers follow)."""
        if self._carry is not None:
            self._carry.close()
            self._carry = None
        self._seen = set()

    def score(self, chunk: dict[str, Any]) -> dict[str, list[Any]]:
        tids: list[str] = chunk["ticket_id"]
        cids: list[str] = chunk["customer_id"]
        created: list[str] = chunk["created_at"]
        from expertise.privacy import redact

        # subject and body redacted once: what the model reads, and what output shows
        subjects = _redact_distinct(chunk["subject"], redact)
        bodies = [redact(b) if isinstance(b, str) and b else b for b in chunk["body"]]
        texts = [ticket_text(s, b) for s, b in zip(subjects, bodies, strict=True)]
        customers = {c for c in cids if c}
        profiles = self.carry.lookup(customers)
        conversations = chunk.get("conversation_id")
        earlier = self.carry.earlier({c for c in conversations if c}) if conversations else None
        states: list[dict[str, Any]] | None = None
        pinned: list[str | None] | None = None
        if self.engine.store is not None:
            states, pinned = self._from_store(tids, cids, created, profiles)
        scored = self.engine.score(
            texts, customer_ids=[c or None for c in cids], created_at=[t or None for t in created],
            labels=chunk.get("expertise_level"), topics=chunk.get("topic"),
            profiles=[profiles.get(c) if c else None for c in cids], pinned=pinned,
            states=states, conversations=conversations, earlier=earlier,
            products=chunk.get("product"), top=self.settings.top, redacted=True)
        out = scored.columns()
        self.carry.add(scored.history.after)
        self.carry.add_conversations(scored.conversations)
        if self.engine.store is not None:  # only `_from_store` asks; a million ids cost ~25 MB
            self._seen |= customers
        for name, values in (chunk.get("redact") or {}).items():
            whole = personal_column(name)
            out[INPUT_KEY + name] = (
                subjects if name == "subject" else bodies if name == "body"
                else _redact_distinct(values, redact_id) if name == "ticket_id"
                else [whole if _present(v) else v for v in values] if whole
                else _redact_distinct(values, redact, str(name)))
        return out

    def _from_store(self, tids: Sequence[str], cids: Sequence[str], created: Sequence[str],
                    profiles: dict[str, Profile]
                    ) -> tuple[list[dict[str, Any]], list[str | None]]:
        """Consent states and pinned levels per row; for each consenting customer first seen
        in this run, a profile of their stored tickets before their first ticket here."""
        engine = self.engine
        store = engine.store
        assert store is not None
        first: dict[str, str | None] = {}
        for cid, when in zip(cids, created, strict=True):
            if cid:
                now = first.get(cid, "~")
                first[cid] = None if (now is None or not when) else min(now, when)
        status, pins = {}, {}
        for cid in first:
            state = engine.customer_state(cid)
            status[cid] = state["status"]
            customer = store.customer(cid) if state["status"] == "known" else None
            pins[cid] = customer.pinned_level if customer else None
        new = [cid for cid in first if cid not in self._seen]
        self.customers_looked_up += len(new)
        settings = self.settings
        store.audit_lookups(settings.actor, "score_lookup", new, purpose="batch scoring",
                            detail=settings.input_name or None)
        in_chunk = set(tids)
        for cid, before in first.items():
            if status[cid] != "known" or cid in self._seen:
                continue
            items = [it for it in store.history(cid, before=before) if it.ticket_id not in in_chunk]
            if items:
                profiles[cid] = engine.profile_from_rows(engine.rows_of(items))
        states = [{"id": c, "status": status[c]} if c else {"id": None, "status": "anonymous"}
                  for c in cids]
        return states, [pins.get(c) if c else None for c in cids]




def _redact_distinct(values: Sequence[Any], redact: Any, name: str = "") -> list[Any]:
    """A column's values redacted, each distinct value once (ids, channels and tags repeat
    down a column); records and lists (unhashable) value by value (:func:`_redact_value`)."""
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # records, lists, arrays: each value walked, each distinct string once
        seen: dict[str, str] = {}
        return [_redact_value(v, redact, name, seen) for v in values]
    done = {v: redact(v) for v in distinct if isinstance(v, str) and v}
    if len(done) < len(distinct):  # numbers, tuples: only values that change are kept
        for v in distinct:
            if not isinstance(v, str):
                new = _redact_value(v, redact, name, {})
                if new is not v:
                    done[v] = new
    return [done.get(v, v) for v in values] if done else list(values)


def _present(value: Any) -> bool:
    """A value that holds something: not missing (None, NaN, NA), not an empty string."""
    if value is None or (isinstance(value, float) and value != value) or (
            isinstance(value, str) and not value):
        return False
    return type(value).__name__ not in ("NAType", "NaTType")


def _redact_value(value: Any, redact: Any, path: str, seen: dict[str, str]) -> Any:
    """One value with its personal data replaced, its shape kept: strings through text
    redaction; a long integer through text redaction of its digits (a card or phone number
    becomes the placeholder); within a record, a field whose name (after the names of the
    fields and column it sits in) says it is personal (:func:`personal_column`) replaced whole;
    lists and arrays (as lists), tuples and records walked; anything else kept."""
    import numpy as np

    if isinstance(value, str):
        if not value:
            return value
        if value not in seen:
            seen[value] = redact(value)
        return seen[value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            inner = f"{path} {key}"
            whole = personal_column(inner)
            out[key] = (whole if _present(item) else item) if whole else _redact_value(
                item, redact, inner, seen)
        return out
    if isinstance(value, (list, np.ndarray)):
        return [_redact_value(v, redact, path, seen) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v, redact, path, seen) for v in value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and (
            abs(int(value)) >= _LONG_NUMBER):
        digits = str(int(value))
        new = redact(digits)
        return value if new == digits else new
    return value


#: Integers from this size on may be a phone or card number (9 digits and more).
_LONG_NUMBER = 10 ** 8


def _long_numbers(column: pd.Series) -> bool:
    """A numeric column (not bool) of whole numbers, one of them :data:`_LONG_NUMBER` or more:
    it may hold phone or card numbers, so it is redacted as text."""
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(column) or not ptypes.is_numeric_dtype(column):
        return False
    values = column.dropna()
    if not len(values):
        return False
    if ptypes.is_float_dtype(values) and not (values == values.round()).all():
        return False
    return bool(values.abs().max() >= _LONG_NUMBER)


def chunk_payload(frame: pd.DataFrame, redact_columns: Sequence[str]) -> dict[str, Any]:
    from expertise.config import LEVEL_INDEX

    raw = {name: frame[name].tolist()
           for name in ("ticket_id", "customer_id", "created_at", "subject", "body")}
    chunk: dict[str, Any] = dict(raw)
    if "expertise_level" in frame.columns:
        chunk["expertise_level"] = [v if v in LEVEL_INDEX else None
                                    for v in frame["expertise_level"].tolist()]
    if "topic" in frame.columns:
        chunk["topic"] = [v or None for v in frame["topic"].tolist()]
    for name in ("conversation_id", "product"):
        if name in frame.columns:
            chunk[name] = [str(v) if v is not None and str(v) not in ("", "nan") else None
                           for v in frame[name].tolist()]
    if redact_columns:
        # the same lists where they are already read: pickled (to a worker) once
        chunk["redact"] = {name: raw[name] if name in raw else _column_values(frame[name])
                           for name in redact_columns}
    return chunk


def take_rows(chunk: dict[str, Any], positions: list[int]) -> dict[str, Any]:
    """The chunk's rows at these positions (at least one)."""
    import operator

    get = operator.itemgetter(*positions)  # one call a column

    def take(values: list[Any]) -> list[Any]:
        return list(get(values)) if len(positions) > 1 else [get(values)]

    out: dict[str, Any] = {}
    for key, values in chunk.items():
        if isinstance(values, dict):
            out[key] = {k: take(v) for k, v in values.items()}
        elif values is not None:
            out[key] = take(values)
    return out


_PERSONAL_WORDS = {"email": "<EMAIL>", "mail": "<EMAIL>", "phone": "<PHONE>",
                   "mobile": "<PHONE>", "cell": "<PHONE>", "tel": "<PHONE>",
                   "telephone": "<PHONE>", "name": "<NAME>", "address": "<ADDRESS>",
                   "street": "<ADDRESS>", "postcode": "<ADDRESS>", "zip": "<ADDRESS>"}
#: Words before "name" or "address" that make the column about a thing, not a person.
_THING_WORDS = frozenset({"product", "group", "plan", "device", "file", "brand", "company",
                          "team", "queue", "app", "host", "ip", "mac", "model", "article",
                          "topic", "channel", "tag", "package"})


def personal_column(name: str) -> str | None:
    """The placeholder for every value of a column whose name says it holds personal data
    (``Requester name``, ``contact_email``, ``Mobile``), or None. Such a column is replaced
    whole: a bare name or an unformatted number is beyond what text redaction can recognise."""
    words = [w for w in re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
                                 .lower()) if w]
    for k, word in enumerate(words):
        if word in _PERSONAL_WORDS:
            if word in ("name", "address") and any(w in _THING_WORDS for w in words[:k]):
                return None
            return _PERSONAL_WORDS[word]
    return None


def redact_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that --redact rewrites: subject, body, columns of strings, of mixed Python
    objects (records, lists), categories, columns named for personal data whatever their type,
    numeric columns that may hold phone or card numbers (:func:`_long_numbers`), and a
    ``ticket_id`` column of text (a plain id comes out as it went in)."""
    from pandas.api import types as ptypes

    out = []
    for name in frame.columns:
        column = frame[name]
        if name == "ticket_id" and (ptypes.is_string_dtype(column)
                                    or ptypes.is_object_dtype(column)):
            # an id column of text may hold what slid into it (a body, an e-mail address);
            # plain ids come out as they went in, and numeric ids keep their type
            out.append(str(name))
            continue
        if name in NOT_TEXT or name == "_row":
            continue
        if (name in ("subject", "body") or ptypes.is_string_dtype(column)
                or ptypes.is_object_dtype(column)
                or isinstance(column.dtype, ptypes.CategoricalDtype)
                or personal_column(str(name)) or _long_numbers(column)):
            out.append(str(name))
    return out


def _column_values(column: pd.Series) -> list[Any]:
    """A column's values for redaction: a numeric column's whole numbers as their digits (so
    the column is text in every chunk), missing values None; other columns as they are."""
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(column) or not ptypes.is_numeric_dtype(column):
        return column.tolist()
    return [None if v != v else str(int(v)) if float(v).is_integer() else str(v)
            for v in column.tolist()]


def output_names(columns: Sequence[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Input columns that collide with an output column get an ``_input`` suffix (one that
    no input column and no name in `taken`, the columns of earlier chunks, already has)."""
    taken = set(columns) | set(OUTPUT_COLUMNS) | set(taken)
    renamed: dict[str, str] = {}
    for name in columns:
        if name in OUTPUT_COLUMNS:
            new = f"{name}_input"
            k = 2
            while new in taken:
                new = f"{name}_input{k}"
                k += 1
            taken.add(new)
            renamed[name] = new
    return renamed


def assemble(frame: pd.DataFrame, scored: dict[str, list[Any]], renamed: dict[str, str]
              ) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    out = frame.drop(columns=["_row"]).rename(columns=renamed)
    data: dict[str, Any] = {}
    for name in OUTPUT_COLUMNS:
        values = scored[name]
        if name in FLOAT_COLUMNS:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif name == "no_match":
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = pd.array(values, dtype=object)
    for key, values in scored.items():
        # the redacted input columns, whatever their names ("_notes", "article_id" too)
        column = key[len(INPUT_KEY):] if key.startswith(INPUT_KEY) else None
        if column is not None and column != "_row" and column in frame.columns:
            # records and lists kept whole: one object a row
            out[renamed.get(column, column)] = np.fromiter(values, dtype=object,
                                                           count=len(out))
    return pd.concat([out.reset_index(drop=True),
                      pd.DataFrame(data, index=range(len(out)))], axis=1)


def merge_parts(n: int, parts: list[list[int]], results: list[dict[str, list[Any]]]
                 ) -> dict[str, list[Any]]:
    import numpy as np

    merged: dict[str, Any] = {}
    for positions, result in zip(parts, results, strict=True):
        for name, values in result.items():
            if name not in merged:
                merged[name] = np.full(n, None, dtype=object)
            merged[name][positions] = np.fromiter(values, dtype=object, count=len(positions))
    return {name: column.tolist() for name, column in merged.items()}


@dataclass
class Tally:
    rows: int = 0
    no_match: int = 0
    levels: dict[str, int] = field(default_factory=dict)

    def add(self, scored: dict[str, list[Any]]) -> None:
        self.rows += len(scored["expertise_level"])
        self.no_match += sum(scored["_no_match"])
        for level in scored["expertise_level"]:
            key = level or NOT_ESTIMATED
            self.levels[key] = self.levels.get(key, 0) + 1

    def level_counts(self) -> dict[str, int]:
        """Rows per level, then not estimated, zeros included (the run's report)."""
        return {k: self.levels.get(k, 0) for k in (*LEVELS, NOT_ESTIMATED)}
