"""Scoring one chunk of an export, and each customer's history carried between chunks.

A chunk goes through the scoring pipeline (`Engine.score`) and comes back as the scored
columns; the history carried from one chunk to the next lives in a SQLite file on disk
(:class:`HistoryCarry`), so memory stays flat however many customers an export has.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.batch.settings import NOT_ESTIMATED, NOT_TEXT, ScoreSettings
from expertise.config import HISTORY_LIMIT
from expertise.scoring.history import PriorTicket
from expertise.scoring.text import ticket_text

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
    "article_id",
    "article_level",
    "alternatives",
    "reasons",
)


_FLOAT_COLUMNS = frozenset({"expertise_confidence", "p_novice", "p_intermediate", "p_expert",
                            "topic_score"})


class HistoryCarry:
    """Each customer's tickets from earlier chunks, kept in a temporary SQLite file.

    Memory stays flat however many customers an export has; the file is deleted on
    :meth:`close`. :meth:`lookup` returns, per customer, the :data:`HISTORY_LIMIT` most recent
    earlier tickets in time order (ties in the order they were added), which is the order the
    engine gives the rows of one chunk.
    """

    def __init__(self, *, limit: int = HISTORY_LIMIT, folder: Path | str | None = None) -> None:
        self.limit = limit
        self._dir = tempfile.mkdtemp(prefix="expertise-carry-", dir=folder)
        self._conn = sqlite3.connect(os.path.join(self._dir, "carry.db"), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                       "cache_size=-16000"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(
            "CREATE TABLE prior (customer TEXT NOT NULL, ticket_id TEXT NOT NULL, "
            "created_at TEXT NOT NULL, level_score REAL NOT NULL, labelled INTEGER NOT NULL, "
            "domain TEXT, density REAL NOT NULL)"
        )
        self._conn.execute("CREATE INDEX prior_customer ON prior(customer, created_at)")
        self.rows = 0

    def lookup(self, customers: Collection[str], *, with_ids: bool = False
               ) -> tuple[dict[str, list[PriorTicket]], dict[str, set[str]]]:
        """(priors, ticket ids) per customer that has carried tickets."""
        priors: dict[str, list[PriorTicket]] = {}
        ids: dict[str, set[str]] = {}
        if not self.rows or not customers:
            return priors, ids
        wanted = list(customers)
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            marks = ",".join("?" * len(part))
            cursor = self._conn.execute(
                "SELECT customer, ticket_id, created_at, level_score, labelled, domain, density "
                f"FROM prior WHERE customer IN ({marks}) ORDER BY customer, created_at, rowid",
                part,
            )
            for cid, tid, created, score, labelled, domain, density in cursor:
                priors.setdefault(cid, []).append(
                    PriorTicket(created, score, bool(labelled), domain, density))
                if with_ids:
                    ids.setdefault(cid, set()).add(tid)
        for cid, items in priors.items():
            if len(items) > self.limit:
                priors[cid] = items[-self.limit:]
        return priors, ids

    def add(self, items: Iterable[tuple[str, str, PriorTicket]]) -> None:
        """Remember (customer, ticket_id, prior) for later chunks."""
        rows = [(cid, tid, p.created_at, p.level_score, int(p.labelled), p.domain,
                 p.tech_density) for cid, tid, p in items]
        if not rows:
            return
        with self._transaction():
            self._conn.executemany("INSERT INTO prior VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.rows += len(rows)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> HistoryCarry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChunkScorer:
    """Scores chunks of one export in order, carrying each customer's history forward.

    A chunk is a dict of equal-length lists: ``ticket_id``, ``customer_id``, ``created_at``,
    ``subject``, ``body`` and optionally ``expertise_level`` and ``topic`` (labels count as
    history for later tickets) and ``redact`` (``{column: values}`` to redact). The result is
    a dict of lists: :data:`OUTPUT_COLUMNS`, ``_no_match`` (bool) and the redacted columns.
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

    def score(self, chunk: dict[str, Any]) -> dict[str, list[Any]]:
        tids: list[str] = chunk["ticket_id"]
        cids: list[str] = chunk["customer_id"]
        created: list[str] = chunk["created_at"]
        texts = [ticket_text(s, b) for s, b in zip(chunk["subject"], chunk["body"], strict=True)]
        customers = {c for c in cids if c}
        store = self.engine.store
        carried, carried_ids = self.carry.lookup(customers, with_ids=store is not None)
        states: list[dict[str, Any]] | None = None
        from_store: dict[str, list[PriorTicket]] = {}
        if store is not None:
            states, from_store = self._store_history(tids, cids, created, carried_ids)
        external: list[list[PriorTicket]] = []
        for cid, when in zip(cids, created, strict=True):
            if not cid:
                external.append([])
                continue
            earlier = carried.get(cid, [])
            if not when:  # a ticket without a time sees only carried tickets without one
                earlier = [p for p in earlier if not p.created_at]
            external.append(from_store.get(cid, []) + earlier)
        scored = self.engine.score(
            texts, customer_ids=[c or None for c in cids], created_at=[t or None for t in created],
            labels=chunk.get("expertise_level"), topics=chunk.get("topic"),
            external_priors=external, states=states, top=self.settings.top)
        out, own = scored.columns(), scored.own
        self.carry.add(
            (cid, tid, prior)
            for k, (cid, tid, prior) in enumerate(zip(cids, tids, own, strict=True))
            if cid and (states is None or states[k]["status"] != "opted_out")
        )
        if chunk.get("redact"):
            from expertise.privacy import redact

            for name, values in chunk["redact"].items():
                out[name] = [redact(v) if isinstance(v, str) and v else v for v in values]
        return out

    def _store_history(self, tids: Sequence[str], cids: Sequence[str], created: Sequence[str],
                       carried_ids: dict[str, set[str]]
                       ) -> tuple[list[dict[str, Any]], dict[str, list[PriorTicket]]]:
        """Consent states per row, and each consenting customer's earlier tickets in the store.

        A store ticket that is also in the export (this chunk or an earlier one) is left out:
        the export's own copy already counts, so an ingested export is not counted twice.
        """
        engine = self.engine
        assert engine.store is not None
        latest: dict[str, str | None] = {}
        for cid, when in zip(cids, created, strict=True):
            if cid:
                # history up to the customer's latest ticket here; the engine drops later ones
                current = latest.get(cid, "")
                latest[cid] = None if (current is None or not when) else max(current, when)
        status = {cid: engine.customer_state(cid)["status"] for cid in latest}
        self.customers_looked_up += len(status)
        in_chunk = set(tids)
        rows: list[dict[str, Any]] = []
        owners: list[str] = []
        for cid, before in latest.items():
            if status[cid] != "known":
                continue
            skip = carried_ids.get(cid, set())
            for item in engine.store.history(cid, before=before, limit=HISTORY_LIMIT):
                if item.ticket_id in in_chunk or item.ticket_id in skip:
                    continue
                rows.append({"created_at": item.created_at, "subject": item.subject,
                             "body": item.body, "expertise_level": item.expertise_level,
                             "predicted_level": item.predicted_level, "topic": item.topic})
                owners.append(cid)
        from_store: dict[str, list[PriorTicket]] = {}
        for cid, prior in zip(owners, engine.priors_from_rows(rows), strict=True):
            from_store.setdefault(cid, []).append(prior)
        states = [{"id": c, "status": status[c]} if c else {"id": None, "status": "anonymous"}
                  for c in cids]
        return states, from_store


def chunk_payload(frame: pd.DataFrame, redact_columns: Sequence[str]) -> dict[str, Any]:
    from expertise.config import LEVEL_INDEX

    chunk: dict[str, Any] = {name: frame[name].tolist()
                             for name in ("ticket_id", "customer_id", "created_at", "subject",
                                          "body")}
    if "expertise_level" in frame.columns:
        chunk["expertise_level"] = [v if v in LEVEL_INDEX else None
                                    for v in frame["expertise_level"].tolist()]
    if "topic" in frame.columns:
        chunk["topic"] = [v or None for v in frame["topic"].tolist()]
    if redact_columns:
        chunk["redact"] = {name: frame[name].tolist() for name in redact_columns}
    return chunk


def take_rows(chunk: dict[str, Any], positions: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in chunk.items():
        if isinstance(values, dict):
            out[key] = {k: [v[p] for p in positions] for k, v in values.items()}
        elif values is not None:
            out[key] = [values[p] for p in positions]
    return out


def redact_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns that --redact rewrites: subject, body and other columns holding strings."""
    from pandas.api import types as ptypes

    out = []
    for name in frame.columns:
        if name in NOT_TEXT or name == "_row":
            continue
        column = frame[name]
        if name in ("subject", "body") or ptypes.is_string_dtype(column) or (
                ptypes.is_object_dtype(column)
                and any(isinstance(v, str) for v in column.head(50).tolist())):
            out.append(str(name))
    return out


def output_names(columns: Sequence[str]) -> dict[str, str]:
    """Input columns that collide with an output column get an ``_input`` suffix."""
    taken = set(columns) | set(OUTPUT_COLUMNS)
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
        if name in _FLOAT_COLUMNS:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            data[name] = pd.array(values, dtype=object)
    for name, values in scored.items():
        if name not in OUTPUT_COLUMNS and not name.startswith("_"):
            out[renamed.get(name, name)] = values  # redacted text columns
    return pd.concat([out.reset_index(drop=True),
                      pd.DataFrame(data, index=range(len(out)))], axis=1)


def merge_parts(n: int, parts: list[list[int]], results: list[dict[str, list[Any]]]
                 ) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for positions, result in zip(parts, results, strict=True):
        for name, values in result.items():
            column = merged.setdefault(name, [None] * n)
            for p, v in zip(positions, values, strict=True):
                column[p] = v
    return merged


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
