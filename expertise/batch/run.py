"""Batch scoring of ticket exports: every row gets the caller's level and the article for it.

Scoring is `Engine.score_rows_and_priors`, the same path as `expertise answer`; this module
only streams the export through it. The input is read in chunks (`tickets.TicketReader`), each
chunk is scored and appended to a temporary output file, and the file is renamed to its final
name at the end, so an interrupted run leaves nothing half-written under that name. Memory does not
grow with the export: chunks are bounded, and the history carried from one chunk to the next lives
in a SQLite file on disk (:class:`HistoryCarry`).

History. A customer's earlier tickets in the same export count as history for their later ones
(by ``created_at``, never the future), and so do their tickets in the store when a database is
given. Within a chunk the engine orders rows by time itself. Across chunks the carried tickets are
those of earlier chunks: exact for an export in time order (the usual case), and for any order as
long as a customer's tickets share a chunk. The Dask engine partitions by customer and sorts each
partition by time, so it is exact for any order.

Parallelism. ``jobs > 1`` starts that many worker processes, each loading the model once; the
rows of a customer always go to the same worker (hash of the customer id), so each worker's carry
holds complete histories. ``engine="dask"`` runs the same per-chunk scorer on a Dask cluster.

>>> report = score_file("tickets.csv", jobs=2)        # doctest: +SKIP
>>> report.output, report.rows_scored, report.levels  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.config import DEFAULT_TOP, LEVELS
from expertise.errors import ExpertiseError, InputError
from expertise.scoring.history import PriorTicket

if TYPE_CHECKING:
    import pandas as pd

    from expertise.engine import Answer, Engine

__all__ = [
    "OUTPUT_COLUMNS",
    "ChunkScorer",
    "HistoryCarry",
    "ScoreReport",
    "ScoreSettings",
    "default_output_path",
    "output_kind",
    "score_file",
]

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
#: Output file kinds by extension.
OUTPUT_KINDS: dict[str, str] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}
#: The default output kind for each input format.
_KIND_FOR_FORMAT = {"csv": "csv", "freshdesk": "csv", "jsonl": "jsonl", "zendesk": "jsonl",
                    "parquet": "parquet"}
#: Earlier tickets carried from earlier chunks, per customer (the most recent ones).
CARRY_LIMIT = 50
#: Rows scored at a time. Scoring holds about 10 kB per row (tf-idf rows, reasons, answers),
#: so this bounds memory; larger chunks are no faster.
BATCH_CHUNK_ROWS = 10_000
#: Canonical columns that are never redacted (ids, times, channel names).
_NOT_TEXT = frozenset({"ticket_id", "customer_id", "created_at", "channel", "expertise_level",
                       "topic", "resolved_article_id"})
NOT_ESTIMATED = "not estimated"


# ---------------------------------------------------------------------------------------------
# Settings and report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSettings:
    """What a scorer needs to build its engine: picklable, so workers can rebuild it.

    ``model_dir`` is the resolved bundle folder (checked by the parent process), so every
    worker scores with the same model even if ``models/current`` changes during the run.
    """

    model_dir: Path | None = None
    kb_root: Path | None = None
    db_path: Path | None = None
    trust: bool = False
    top: int = DEFAULT_TOP
    redact: bool = False


@dataclass
class ScoreReport:
    """What a scoring run did (also the JSON of ``expertise score --json``)."""

    input: Path
    output: Path
    rejects_path: Path | None
    input_format: str
    output_kind: str
    engine: str
    jobs: int
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    #: Rows per estimated level, and "not estimated" (opted out, not English).
    levels: dict[str, int] = field(default_factory=dict)
    #: Rows whose best topic scored below the topic threshold ("no good match").
    no_match: int = 0
    #: Input columns renamed because an output column has their name.
    renamed: dict[str, str] = field(default_factory=dict)
    model_version: str = ""
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(input=str(self.input), output=str(self.output),
                    rejects_path=str(self.rejects_path) if self.rejects_path else None,
                    rows_per_second=round(self.rows_per_second, 1),
                    seconds=round(self.seconds, 3))
        return data


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------


def output_kind(path: Path | str) -> str:
    """csv, jsonl or parquet, from the output file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_KINDS:
        raise InputError(
            f"{path}: cannot tell the output format from {suffix or 'no extension'!r}; "
            "end the name with .csv, .jsonl or .parquet"
        )
    return OUTPUT_KINDS[suffix]


def default_output_path(input_path: Path | str, input_format: str) -> Path:
    """``<name>.scored.<ext>`` next to the input; the extension follows the input's format."""
    path = Path(input_path)
    kind = _KIND_FOR_FORMAT.get(input_format, "csv")
    ext = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}[kind]
    return path.with_name(f"{path.stem}.scored{ext}")


def default_rejects_path(output: Path | str) -> Path:
    """``<output name>.rejects.csv`` next to the output."""
    from expertise.store.db import default_rejects_path as rejects_next_to

    return rejects_next_to(output)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# History carried between chunks
# ---------------------------------------------------------------------------------------------


class HistoryCarry:
    """Each customer's tickets from earlier chunks, kept in a temporary SQLite file.

    Memory stays flat however many customers an export has; the file is deleted on
    :meth:`close`. :meth:`lookup` returns, per customer, the :data:`CARRY_LIMIT` most recent
    earlier tickets in time order (ties in the order they were added), which is the order the
    engine gives the rows of one chunk.
    """

    def __init__(self, *, limit: int = CARRY_LIMIT, folder: Path | str | None = None) -> None:
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


# ---------------------------------------------------------------------------------------------
# Scoring one chunk
# ---------------------------------------------------------------------------------------------


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    Scoring a chunk allocates arrays of tens of megabytes and frees them; by default glibc maps
    each from the kernel and unmaps it on free, so every chunk pays page faults again (about a
    tenth of batch scoring's CPU time was system time). Keeping them in the heap costs no extra
    peak memory: the next chunk reuses the same space. The setting is process-wide and only
    about when memory goes back to the system. Elsewhere than glibc, nothing happens.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)
    mallopt(m_top_pad, 16 << 20)


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """Keep Python's cycle collector off the long-lived objects and out of the hot loop, for
    the duration of a run; the collector's settings are restored afterwards.

    A chunk makes hundreds of thousands of small objects (lists, floats, strings); each
    collection of the older generations walks every live object, the loaded model and
    knowledge base included, which cost about a seventh of the scoring time. `gc.freeze`
    moves what exists now (enter this once the engine is loaded) out of the collector's
    sight, and a higher first threshold makes collections rarer. Scoring makes no reference
    cycles (reference counting frees its garbage at once), so memory stays where it was.
    """
    import gc

    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class ChunkScorer:
    """Scores chunks of one export in order, carrying each customer's history forward.

    A chunk is a dict of equal-length lists: ``ticket_id``, ``customer_id``, ``created_at``,
    ``subject``, ``body`` and optionally ``expertise_level`` and ``topic`` (labels count as
    history for later tickets) and ``redact`` (``{column: values}`` to redact). The result is
    a dict of lists: :data:`OUTPUT_COLUMNS`, ``_no_match`` (bool) and the redacted columns.
    """

    def __init__(self, settings: ScoreSettings, *, engine: Engine | None = None,
                 carry_folder: Path | str | None = None) -> None:
        from expertise.scoring.columnar import ColumnarScorer
        from expertise.engine import Engine

        self.settings = settings
        self.engine = engine or Engine(model_dir=settings.model_dir, kb_root=settings.kb_root,
                                       db_path=settings.db_path, trust=settings.trust)
        self._own_engine = engine is None
        self.columnar = ColumnarScorer(self.engine)
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
        from expertise.engine import _join

        tids: list[str] = chunk["ticket_id"]
        cids: list[str] = chunk["customer_id"]
        created: list[str] = chunk["created_at"]
        texts = [_join(s, b) for s, b in zip(chunk["subject"], chunk["body"], strict=True)]
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
        out, own = self.columnar.score(
            texts, customer_ids=[c or None for c in cids], created_at=[t or None for t in created],
            labels=chunk.get("expertise_level"), topics=chunk.get("topic"),
            external_priors=external, states=states, top=self.settings.top)
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
            for item in engine.store.history(cid, before=before, limit=CARRY_LIMIT):
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


def answer_columns(answers: Sequence[Answer]) -> dict[str, list[Any]]:
    """The scored columns of :data:`OUTPUT_COLUMNS` (and ``_no_match``) for a list of answers."""
    cols: dict[str, list[Any]] = {name: [] for name in OUTPUT_COLUMNS}
    no_match: list[bool] = []
    for a in answers:
        p = a.probabilities
        cols["expertise_level"].append(a.level)
        cols["expertise_confidence"].append(a.confidence)
        cols["p_novice"].append(p["novice"] if p else None)
        cols["p_intermediate"].append(p["intermediate"] if p else None)
        cols["p_expert"].append(p["expert"] if p else None)
        art = a.article
        cols["topic"].append(art.topic if art else None)
        cols["topic_score"].append(a.topics[0]["score"] if a.topics else None)
        cols["article_id"].append(art.id if art else None)
        cols["article_level"].append(art.level if art else None)
        cols["alternatives"].append(";".join(alt.id for alt in a.alternatives))
        # a reason may hold a semicolon of its own; the column's separator must stay unique
        cols["reasons"].append(";".join(r.replace(";", ",") for r in a.reasons))
        no_match.append(a.no_match)
    return {**cols, "_no_match": no_match}


# ---------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------


def _worker_main(settings: ScoreSettings, worker: int, tasks: Any, results: Any,
                 carry_folder: str | None) -> None:
    """A worker process: build the engine once, then score chunks until told to stop."""
    import signal
    import sys

    # Ctrl-C reaches the whole process group; the parent stops the workers itself (SIGTERM,
    # turned into an exit that still removes this worker's history file).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _keep_freed_memory()
    try:
        scorer = ChunkScorer(settings, carry_folder=carry_folder)
    except BaseException as exc:  # report, so the parent does not wait forever
        results.put((-1, _describe(exc)))
        return
    try:
        with _quiet_gc():
            while True:
                task = tasks.get()
                if task is None:
                    break
                seq, chunk = task
                try:
                    out = scorer.score(chunk)
                except BaseException as exc:
                    results.put((-1, _describe(exc)))
                    return
                results.put((seq, {**out, "_worker": worker}))
        results.put((-2, scorer.customers_looked_up))
    finally:
        scorer.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ExpertiseError):
        return str(exc)
    return f"a scoring worker failed: {type(exc).__name__}: {exc}"


class _Pool:
    """N worker processes; chunk parts go to a fixed worker so its carry stays complete."""

    def __init__(self, settings: ScoreSettings, jobs: int, carry_folder: Path | None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.jobs = jobs
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue(maxsize=2) for _ in range(jobs)]
        self.procs = [
            ctx.Process(target=_worker_main, daemon=True, name=f"expertise-score-{w}",
                        args=(settings, w, self.tasks[w], self.results,
                              str(carry_folder) if carry_folder else None))
            for w in range(jobs)
        ]
        for proc in self.procs:
            proc.start()
        self.customers_looked_up = 0

    def submit(self, worker: int, seq: int, chunk: dict[str, Any]) -> None:
        self._put(self.tasks[worker], (seq, chunk))

    def _put(self, queue: Any, item: Any) -> None:
        import queue as queue_mod

        while True:
            try:
                queue.put(item, timeout=1.0)
                return
            except queue_mod.Full:
                self._check_alive()

    def get(self) -> tuple[int, dict[str, Any]]:
        seq, payload = self.get_raw()
        if seq < 0:
            raise ExpertiseError(f"unexpected message from a scoring worker: {seq}")
        return seq, payload

    def _check_alive(self) -> None:
        for proc in self.procs:
            if not proc.is_alive():
                raise ExpertiseError(
                    f"scoring worker {proc.name} stopped unexpectedly (exit code "
                    f"{proc.exitcode}); try fewer --jobs or check free memory")

    def finish(self) -> None:
        for queue in self.tasks:
            self._put(queue, None)
        done = 0
        while done < self.jobs:
            seq, payload = self.get_raw()
            if seq == -2:
                self.customers_looked_up += int(payload)
                done += 1
        for proc in self.procs:
            proc.join(timeout=30)

    def get_raw(self) -> tuple[int, Any]:
        import queue as queue_mod

        while True:
            try:
                item: tuple[int, Any] = self.results.get(timeout=1.0)
            except queue_mod.Empty:
                self._check_alive()
                continue
            if item[0] == -1:
                raise ExpertiseError(str(item[1]))
            return item

    def terminate(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(timeout=10)
        for queue in [*self.tasks, self.results]:
            queue.cancel_join_thread()
            queue.close()


def _partition(customers: Sequence[str], jobs: int) -> list[list[int]]:
    """Row positions per worker: by a stable hash of the customer, anonymous rows round-robin."""
    parts: list[list[int]] = [[] for _ in range(jobs)]
    for k, cid in enumerate(customers):
        w = zlib.crc32(cid.encode("utf-8")) % jobs if cid else k % jobs
        parts[w].append(k)
    return parts


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


class _Writer:
    """Append frames to one CSV, JSONL or Parquet file with the first frame's schema.

    Passed-through columns keep their types; all-null columns become strings, columns of
    mixed Python objects JSON text, and (in CSV) lists and records JSON text.
    """

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._writer: Any = None
        self._schema: Any = None
        self._handle: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "jsonl":
            self._write_jsonl(frame)
        else:
            self._write_arrow(frame)
        self.rows += len(frame)

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        import json

        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        lines = [json.dumps({k: _json_value(v) for k, v in record.items()}, ensure_ascii=False,
                            default=_json_default)
                 for record in frame.to_dict(orient="records")]
        if lines:
            self._handle.write("\n".join(lines) + "\n")

    def _write_arrow(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        table = _to_arrow(frame, flat=self.kind == "csv")
        if self._schema is None:
            self._schema = table.schema
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.path, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                changed = [f.name for f in table.schema if f.name in self._schema.names
                           and self._schema.field(f.name).type != f.type]
                raise InputError(
                    f"column(s) {', '.join(changed) or '?'} change type between rows "
                    f"({exc}); write CSV instead (--out NAME.csv)"
                ) from None
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()


def _to_arrow(frame: pd.DataFrame, *, flat: bool = False) -> Any:
    """A frame as an Arrow table (see `_Writer`); ``flat`` turns nested values into JSON."""
    import pyarrow as pa

    columns = []
    names = []
    for name in frame.columns:
        series = frame[name]
        try:
            array = pa.array(series, from_pandas=True)
            if flat and pa.types.is_nested(array.type):
                raise pa.ArrowTypeError("nested")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            array = pa.array([_json_cell(v) for v in series.tolist()], type=pa.string())
        if pa.types.is_null(array.type) or pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        if name in _FLOAT_COLUMNS and not pa.types.is_floating(array.type):
            array = array.cast(pa.float64())
        columns.append(array)
        names.append(str(name))
    return pa.Table.from_arrays(columns, names=names)


def _json_value(value: Any) -> Any:
    """NaN and pandas' missing values as null (JSON has no NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def _json_cell(value: Any) -> str | None:
    import json

    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


# ---------------------------------------------------------------------------------------------
# The local engine
# ---------------------------------------------------------------------------------------------


def _chunk_payload(frame: pd.DataFrame, redact_columns: Sequence[str]) -> dict[str, Any]:
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


def _take(chunk: dict[str, Any], positions: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in chunk.items():
        if isinstance(values, dict):
            out[key] = {k: [v[p] for p in positions] for k, v in values.items()}
        elif values is not None:
            out[key] = [values[p] for p in positions]
    return out


def _redact_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns that --redact rewrites: subject, body and other columns holding strings."""
    from pandas.api import types as ptypes

    out = []
    for name in frame.columns:
        if name in _NOT_TEXT or name == "_row":
            continue
        column = frame[name]
        if name in ("subject", "body") or ptypes.is_string_dtype(column) or (
                ptypes.is_object_dtype(column)
                and any(isinstance(v, str) for v in column.head(50).tolist())):
            out.append(str(name))
    return out


def _output_names(columns: Sequence[str]) -> dict[str, str]:
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


def _assemble(frame: pd.DataFrame, scored: dict[str, list[Any]], renamed: dict[str, str]
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


def _merge_parts(n: int, parts: list[list[int]], results: list[dict[str, list[Any]]]
                 ) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for positions, result in zip(parts, results, strict=True):
        for name, values in result.items():
            column = merged.setdefault(name, [None] * n)
            for p, v in zip(positions, values, strict=True):
                column[p] = v
    return merged


@dataclass
class _Tally:
    rows: int = 0
    no_match: int = 0
    levels: dict[str, int] = field(default_factory=dict)

    def add(self, scored: dict[str, list[Any]]) -> None:
        self.rows += len(scored["expertise_level"])
        self.no_match += sum(scored["_no_match"])
        for level in scored["expertise_level"]:
            key = level or NOT_ESTIMATED
            self.levels[key] = self.levels.get(key, 0) + 1


def _settings(model_dir: Path | None, trust: bool, kb_root: Path | None,
              db_path: Path | str | None, top: int, redact: bool) -> tuple[ScoreSettings, str]:
    """Resolve the bundle (checked here, once: workers then open that very folder), the
    knowledge base and the store to absolute paths that every worker can use."""
    from expertise.bundles.format import load_current, open_bundle
    from expertise.config import kb_dir

    bundle = open_bundle(model_dir, trust=trust) if model_dir else load_current()
    settings = ScoreSettings(
        model_dir=bundle.path.resolve(), kb_root=Path(kb_root or kb_dir()).resolve(),
        db_path=Path(db_path).resolve() if db_path else None, trust=True, top=top,
        redact=redact)
    return settings, bundle.version


def estimate_rows(path: Path, input_format: str) -> int | None:
    """A quick estimate of an export's rows for a progress bar (None when unknown)."""
    try:
        if input_format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if input_format in ("csv", "freshdesk", "jsonl"):
            lines = 0
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    lines += block.count(b"\n")
            return max(0, lines - (1 if input_format != "jsonl" else 0))
    except OSError:
        return None
    return None


Progress = Callable[[int, int | None], None]


def score_file(
    input_path: Path | str,
    *,
    out: Path | str | None = None,
    format: str = "auto",
    mapping: dict[str, str] | None = None,
    rejects: Path | str | None = None,
    top: int = DEFAULT_TOP,
    jobs: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    db_path: Path | str | None = None,
    redact: bool = False,
    strict: bool = False,
    model_dir: Path | None = None,
    trust: bool = False,
    kb_root: Path | None = None,
    chunk_rows: int = BATCH_CHUNK_ROWS,
    progress: Progress | None = None,
    actor: str | None = None,
) -> ScoreReport:
    """Score every ticket of an export and write it with the scored columns added.

    Parameters
    ----------
    input_path : path
        An export in any layout the readers know (CSV, JSONL, Parquet, Zendesk, Freshdesk);
        for ``engine="dask"`` a CSV or Parquet file or folder.
    out : path, optional
        The output; its extension picks CSV, JSONL or Parquet. Default
        :func:`default_output_path`. Never the input itself.
    rejects : path, optional
        Rejected rows (row number, ticket id, reason); default ``<out>.rejects.csv``, written
        only if a row was rejected.
    top : int
        Topics considered for the alternatives.
    jobs : int
        Worker processes (each loads the model once); 1 scores in this process.
    engine : {"local", "dask"}
        ``dask`` runs the same chunk scorer on a Dask cluster (``scheduler`` to join one, else
        a local cluster of ``jobs`` workers); needs ``pip install expertise[dask]``.
    db_path : path, optional
        The store: customers' earlier tickets there count as history; consent is honoured.
    redact : bool
        Replace personal data in the passed-through text columns too.
    strict : bool
        Stop at the first bad row (nothing is written) instead of rejecting it.
    progress : callable, optional
        Called as ``progress(rows_done, rows_expected_or_None)`` after each chunk.

    Returns
    -------
    ScoreReport

    Raises
    ------
    InputError
        Unreadable input, an output that would overwrite the input, no row scored, or (with
        ``strict``) a bad row.
    """
    from expertise.tickets.readers import TicketReader

    started = time.perf_counter()
    input_path = Path(input_path)
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if engine not in ("local", "dask"):
        raise InputError(f"unknown engine {engine!r}; use local or dask")
    if engine == "dask":
        return _score_dask(
            input_path, out=out, format=format, mapping=mapping, rejects=rejects, top=top,
            jobs=jobs, scheduler=scheduler, db_path=db_path, redact=redact, strict=strict,
            model_dir=model_dir, trust=trust, kb_root=kb_root, chunk_rows=chunk_rows,
            actor=actor, started=started)
    if scheduler:
        raise InputError("--scheduler needs --engine dask")
    # duplicates across chunks are checked here, in 16 bytes an id (`_SeenIds`)
    reader = TicketReader(input_path, format=format, mapping=mapping, chunk_rows=chunk_rows,
                          track_ids=False)
    out_path = Path(out) if out else default_output_path(input_path, reader.format)
    kind = output_kind(out_path)
    rejects_path = Path(rejects) if rejects else default_rejects_path(out_path)
    _check_paths(input_path, out_path, rejects_path)
    settings, version = _settings(model_dir, trust, kb_root, db_path, top, redact)
    report = ScoreReport(input=input_path, output=out_path, rejects_path=None,
                         input_format=reader.format, output_kind=kind, engine="local",
                         jobs=jobs, model_version=version)
    expected = estimate_rows(input_path, reader.format) if progress else None
    tally = _Tally()
    rejected = 0
    nothing = False
    renamed: dict[str, str] | None = None
    carry_folder = None  # the system's temporary folder ($TMPDIR): about 60 bytes a row
    with contextlib.ExitStack() as stack:
        rej_tmp = stack.enter_context(_atomic(rejects_path))
        rej_writer = _RejectsWriter(rej_tmp)
        stack.callback(rej_writer.close)
        try:
            with _atomic(out_path) as out_tmp:
                writer = _Writer(out_tmp, kind)
                try:
                    _keep_freed_memory()  # this process reads and writes the chunks
                    scorer = _make_scorer(settings, jobs, carry_folder)
                    try:
                        with _quiet_gc():  # entered once the engine is loaded
                            for frame, scored in scorer.run(
                                    _frames(reader, rej_writer, strict, input_path)):
                                if renamed is None:
                                    renamed = _output_names([c for c in frame.columns
                                                             if c != "_row"])
                                writer.write(_assemble(frame, scored, renamed))
                                tally.add(scored)
                                if progress:
                                    progress(tally.rows + rej_writer.rows, expected)
                        scorer.finish()
                    finally:
                        scorer.close()
                finally:
                    writer.close()
                if tally.rows == 0:
                    raise _NothingScored
        except _NothingScored:
            nothing = True
        rejected = rej_writer.rows
        if db_path and scorer.customers_looked_up:
            _audit(Path(db_path), actor, input_path, tally.rows, scorer.customers_looked_up)
    report.rows_read = reader.stats.rows_read
    report.rows_rejected = rejected
    report.rejects_path = rejects_path if rejected else None
    if nothing:
        where = f"; see {rejects_path}" if rejected else ""
        raise InputError(f"{input_path}: no row could be scored ({rejected} rejected){where}")
    report.rows_scored = tally.rows
    report.renamed = renamed or {}
    report.levels = {k: tally.levels.get(k, 0) for k in (*LEVELS, NOT_ESTIMATED)}
    report.no_match = tally.no_match
    report.seconds = time.perf_counter() - started
    return report


class _NothingScored(Exception):
    """Raised inside the output's atomic block so that no empty output is left behind."""


def _atomic(path: Path) -> contextlib.AbstractContextManager[Path]:
    from expertise.io import atomic_path

    return atomic_path(path)


def _check_paths(input_path: Path, out_path: Path, rejects_path: Path) -> None:
    if _same_file(input_path, out_path):
        raise InputError(f"{out_path} is the input file; choose another --out")
    if _same_file(input_path, rejects_path) or _same_file(out_path, rejects_path):
        raise InputError(f"{rejects_path}: the rejects file cannot be the input or the output; "
                         "choose another --rejects")


class _RejectsWriter:
    """Stream rejected rows to CSV (created only when there is one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0

    def write(self, rejects: pd.DataFrame) -> None:
        from expertise.tickets.readers import REJECT_COLUMNS

        if not len(rejects):
            return
        rejects.loc[:, list(REJECT_COLUMNS)].to_csv(
            self.path, mode="a", header=self.rows == 0, index=False, encoding="utf-8")
        self.rows += len(rejects)

    def close(self) -> None:
        pass


class _SeenIds:
    """Ticket ids of earlier chunks, for duplicates across chunks in little memory.

    The reader keeps every id as a Python string (about 90 bytes each); here an id is two
    64-bit hashes (16 bytes) in sorted numpy runs, merged as they grow (a log-structured set),
    so a million ids take 16 MB. Two different ids would need both hashes to collide.
    """

    def __init__(self) -> None:
        import numpy as np

        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    @staticmethod
    def _hashes(ids: Sequence[str]) -> tuple[Any, Any]:
        import numpy as np
        import pandas as pd

        values = np.asarray(ids, dtype=object)
        first = pd.util.hash_array(values, hash_key="expertise-ids-01")
        second = pd.util.hash_array(values, hash_key="expertise-ids-02")
        return first, second

    def seen(self, first: Any, second: Any) -> Any:
        """A boolean array: which (first, second) pairs were added before."""
        import numpy as np

        found = np.zeros(len(first), dtype=bool)
        for keys, others in self._runs:
            left = np.searchsorted(keys, first, side="left")
            right = np.searchsorted(keys, first, side="right")
            for k in np.flatnonzero(right > left):
                found[k] |= bool((others[left[k]:right[k]] == second[k]).any())
        return found

    def add(self, first: Any, second: Any) -> None:
        import numpy as np

        order = np.argsort(first, kind="stable")
        self._runs.append((first[order], second[order]))
        # merge while the newest run is at least half the size of the one before it
        while len(self._runs) > 1 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
            (k1, o1), (k2, o2) = self._runs[-2], self._runs.pop()
            keys = np.concatenate([k1, k2])
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            self._runs[-1] = (keys[order], np.concatenate([o1, o2])[order])

    def check(self, chunk: Any) -> Any:
        """The chunk with rows whose id appeared in an earlier chunk moved to its rejects."""
        import pandas as pd

        from expertise.tickets.readers import TicketChunk

        frame, rejects = chunk.frame, chunk.rejects
        ids = frame["ticket_id"].tolist()
        rejected_ids = [t for t in rejects["ticket_id"].tolist() if t]
        h1, h2 = self._hashes(ids + rejected_ids)
        dup = self.seen(h1, h2)
        n = len(ids)
        if dup.any():
            bad = dup[:n]
            moved = pd.DataFrame({"row": frame.loc[bad, "_row"].astype("int64").to_numpy(),
                                  "ticket_id": frame.loc[bad, "ticket_id"].astype(str).to_numpy(),
                                  "reason": "duplicate ticket_id"})
            if dup[n:].any():  # rejected for another reason as well: duplicate comes first
                rejects = rejects.copy()
                again = rejects["ticket_id"].isin([t for t, d in zip(rejected_ids, dup[n:],
                                                                      strict=True) if d])
                again &= ~rejects["reason"].str.startswith("duplicate ticket_id")
                rejects.loc[again, "reason"] = "duplicate ticket_id; " + rejects.loc[again,
                                                                                     "reason"]
            rejects = pd.concat([rejects, moved], ignore_index=True).sort_values(
                "row", kind="stable").reset_index(drop=True)
            frame = frame[~bad].reset_index(drop=True)
        self.add(h1, h2)
        return TicketChunk(frame, rejects)


def _frames(reader: Any, rej_writer: _RejectsWriter, strict: bool, input_path: Path
            ) -> Iterator[pd.DataFrame]:
    seen = _SeenIds()
    for chunk in reader.chunks():
        chunk = seen.check(chunk)
        if len(chunk.rejects):
            if strict:
                first = chunk.rejects.iloc[0]
                raise InputError(f"{input_path}: row {int(first['row'])} "
                                 f"(ticket {first['ticket_id'] or '?'}): {first['reason']} "
                                 "(--strict stops at the first bad row)")
            rej_writer.write(chunk.rejects)
        if len(chunk.frame):
            yield chunk.frame


def _make_scorer(settings: ScoreSettings, jobs: int, carry_folder: Path | None) -> _LocalRun:
    return _LocalRun(settings, jobs, carry_folder)


class _LocalRun:
    """Scores frames in order, in this process (jobs=1) or in a pool of workers."""

    #: Chunks in flight at once with workers: enough to keep them busy, few for flat memory.
    IN_FLIGHT = 2

    def __init__(self, settings: ScoreSettings, jobs: int, carry_folder: Path | None) -> None:
        self.settings = settings
        self.jobs = jobs
        self.redact_cols: list[str] | None = None
        self.scorer: ChunkScorer | None = None
        self.pool: _Pool | None = None
        self.customers_looked_up = 0
        if jobs == 1:
            self.scorer = ChunkScorer(settings, carry_folder=carry_folder)
        else:
            self.pool = _Pool(settings, jobs, carry_folder)

    def run(self, frames: Iterable[pd.DataFrame]
            ) -> Iterator[tuple[pd.DataFrame, dict[str, list[Any]]]]:
        """Yield (frame, scored columns) in input order."""
        if self.scorer is not None:
            for frame in frames:
                yield frame, self.scorer.score(self._payload(frame))
            return
        assert self.pool is not None
        # seq -> (frame, row positions per worker, results per worker)
        pending: dict[int, tuple[pd.DataFrame, list[list[int]], dict[int, Any]]] = {}
        next_out = 0
        for seq, frame in enumerate(frames):
            chunk = self._payload(frame)
            parts = _partition(chunk["customer_id"], self.jobs)
            pending[seq] = (frame, parts, {})
            for w, positions in enumerate(parts):
                if positions:
                    self.pool.submit(w, seq, _take(chunk, positions))
            while True:
                if next_out in pending and self._complete(pending[next_out]):
                    yield self._merged(pending.pop(next_out))
                    next_out += 1
                elif len(pending) > self.IN_FLIGHT:
                    self._collect(pending)
                else:
                    break
        while pending:
            if self._complete(pending[next_out]):
                yield self._merged(pending.pop(next_out))
                next_out += 1
            else:
                self._collect(pending)

    def _collect(self, pending: dict[int, tuple[Any, list[list[int]], dict[int, Any]]]) -> None:
        assert self.pool is not None
        seq, result = self.pool.get()
        pending[seq][2][int(result.pop("_worker"))] = result

    @staticmethod
    def _complete(entry: tuple[Any, list[list[int]], dict[int, Any]]) -> bool:
        _, parts, got = entry
        return all(w in got for w, positions in enumerate(parts) if positions)

    @staticmethod
    def _merged(entry: tuple[pd.DataFrame, list[list[int]], dict[int, Any]]
                ) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
        frame, parts, got = entry
        used = [w for w, positions in enumerate(parts) if positions]
        return frame, _merge_parts(len(frame), [parts[w] for w in used], [got[w] for w in used])

    def _payload(self, frame: pd.DataFrame) -> dict[str, Any]:
        if self.redact_cols is None:
            self.redact_cols = _redact_columns(frame) if self.settings.redact else []
        return _chunk_payload(frame, self.redact_cols)

    def finish(self) -> None:
        if self.pool is not None:
            self.pool.finish()
            self.customers_looked_up = self.pool.customers_looked_up
        elif self.scorer is not None:
            self.customers_looked_up = self.scorer.customers_looked_up

    def close(self) -> None:
        if self.scorer is not None:
            self.scorer.close()
        if self.pool is not None:
            self.pool.terminate()


def _audit(db_path: Path, actor: str | None, input_path: Path, rows: int, customers: int
           ) -> None:
    from expertise.engine import current_actor
    from expertise.store.db import Store

    with Store(db_path) as store:
        store.audit(actor or current_actor(), "score", purpose="batch scoring",
                    detail=f"{input_path.name}: {rows} tickets scored, history of "
                           f"{customers} customers looked up")


# ---------------------------------------------------------------------------------------------
# The Dask engine
# ---------------------------------------------------------------------------------------------
#
# One pass over the data: read (CSV or Parquet files or folders) -> name and validate columns
# per partition (bad rows travel on, flagged) -> shuffle by customer, so that all of a
# customer's tickets share a partition -> per partition: sort by time, score in chunks with
# `ChunkScorer` (the local engine's scorer, one per worker process, model loaded once), write a
# part file with the local engine's writer, and return counts. Output and rejects parts go to a
# temporary folder renamed at the end.

#: Reader formats the Dask engine can split into partitions.
DASK_FORMATS = ("csv", "freshdesk", "parquet")
_DASK_COUNTS = ("rows", "rejected", "no_match", *LEVELS, "not_estimated", "customers")
_SCORERS: dict[tuple[Any, ...], ChunkScorer] = {}


def _dask_inputs(path: Path, format: str) -> tuple[list[str], str]:
    """The files of a CSV/Parquet input (a file or a folder) and their format."""
    from expertise.tickets.readers import detect_format

    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and not p.name.startswith((".", "_"))
                       and p.suffix.lower() in (".csv", ".parquet", ".pq"))
        if not files:
            raise InputError(f"{path}: no .csv or .parquet files in this folder")
        fmt = format if format != "auto" else detect_format(files[0])
    else:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        files = [str(path)]
        fmt = format if format != "auto" else detect_format(path)
    if fmt not in DASK_FORMATS:
        raise InputError(
            f"{path}: --engine dask reads CSV or Parquet files or folders, not {fmt}; "
            "score it with --engine local, or convert it to Parquet first")
    return files, fmt


def _dask_prepare(raw: pd.DataFrame, offsets: list[int], path: str, fmt: str,
                  mapping: dict[str, str] | None, partition_info: dict[str, Any] | None = None
                  ) -> pd.DataFrame:
    """Canonical, validated rows of one partition; rejected rows flagged in ``_reason``."""
    import pandas as pd

    from expertise.tickets.readers import ROW_COLUMN, TicketReader, validate_frame

    number = partition_info["number"] if partition_info else 0
    start = offsets[number] if number < len(offsets) else 0
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c).strip() for c in raw.columns]
    raw[ROW_COLUMN] = range(start + 1, start + len(raw) + 1)
    reader = TicketReader(path, format=fmt, mapping=mapping)
    chunk = validate_frame(reader.canonicalise(raw), seen_ids=set())
    good = chunk.frame.assign(_reason="")
    bad = pd.DataFrame({ROW_COLUMN: chunk.rejects["row"].astype("int64"),
                        "ticket_id": chunk.rejects["ticket_id"].astype(str),
                        "_reason": chunk.rejects["reason"].astype(str)})
    frame = pd.concat([good, bad], ignore_index=True) if len(bad) else good
    for name in good.columns:
        if name not in (ROW_COLUMN, "_reason") and len(bad) and good[name].dtype == object:
            frame[name] = frame[name].where(frame[name].notna(), None)
    anonymous = frame["customer_id"].isna() | (frame["customer_id"] == "")
    frame["_key"] = frame["customer_id"].where(~anonymous, "~" + frame[ROW_COLUMN].astype(str))
    return frame


def _dask_scorer(settings: ScoreSettings) -> ChunkScorer:
    """This worker thread's scorer (the model is loaded once per worker)."""
    import threading

    key = (settings, os.getpid(), threading.get_ident())
    if key not in _SCORERS:
        _SCORERS[key] = ChunkScorer(settings)
    return _SCORERS[key]


def _dask_score(frame: pd.DataFrame, settings: ScoreSettings, folder: str, kind: str,
                chunk_rows: int, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Score one customer-partitioned partition, write its part files, return its counts."""
    import pandas as pd

    from expertise.tickets.readers import REJECT_COLUMNS, ROW_COLUMN

    number = partition_info["number"] if partition_info else 0
    counts = dict.fromkeys(_DASK_COUNTS, 0)
    bad = frame[frame["_reason"] != ""]
    if len(bad):
        rejects = pd.DataFrame({"row": bad[ROW_COLUMN].astype("int64"),
                                "ticket_id": bad["ticket_id"].astype(str),
                                "reason": bad["_reason"].astype(str)}).sort_values("row")
        rejects.loc[:, list(REJECT_COLUMNS)].to_csv(
            os.path.join(folder, f"rejects-{number:05d}.csv"), index=False, encoding="utf-8")
        counts["rejected"] = len(rejects)
    good = frame[frame["_reason"] == ""].drop(columns=["_reason", "_key"])
    if len(good):
        good = good.sort_values(["created_at", ROW_COLUMN], kind="stable")
        scorer = _dask_scorer(settings)
        redact_cols = _redact_columns(good) if settings.redact else []
        renamed = _output_names([c for c in good.columns if c != ROW_COLUMN])
        pieces = []
        looked_up = scorer.customers_looked_up
        tally = _Tally()
        try:
            for start in range(0, len(good), chunk_rows):
                part = good.iloc[start:start + chunk_rows].reset_index(drop=True)
                scored = scorer.score(_chunk_payload(part, redact_cols))
                tally.add(scored)
                out = _assemble(part, scored, renamed)
                out[ROW_COLUMN] = part[ROW_COLUMN].to_numpy()
                pieces.append(out)
        finally:
            scorer.reset_carry()  # this partition's customers are no other partition's
        result = pd.concat(pieces, ignore_index=True).sort_values(ROW_COLUMN, kind="stable")
        ext = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[kind]
        writer = _Writer(Path(folder) / f"part-{number:05d}.{ext}", kind)
        try:
            writer.write(result.drop(columns=[ROW_COLUMN]).reset_index(drop=True))
        finally:
            writer.close()
        counts.update(rows=tally.rows, no_match=tally.no_match,
                      not_estimated=tally.levels.get(NOT_ESTIMATED, 0),
                      customers=scorer.customers_looked_up - looked_up)
        for level in LEVELS:
            counts[level] = tally.levels.get(level, 0)
    return pd.DataFrame({k: [v] for k, v in counts.items()}, dtype="int64")


#: Rows per Parquet part when the Dask engine cuts CSV input (bounded worker memory).
DASK_PART_ROWS = 100_000


def _split_csv(files: Sequence[str], folder: Path, rows: int = DASK_PART_ROWS) -> list[str]:
    """Cut CSV files into Parquet parts of `rows` rows, in order, with the parser options the
    readers use (every column text, nothing read as missing, a BOM skipped, bad bytes
    replaced). Streams: one chunk in memory at a time."""
    import pandas as pd

    from expertise.tickets.readers import _sniff_separator, malformed_csv

    folder.mkdir(parents=True)
    parts: list[str] = []
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_filter": False,
                               "encoding": "utf-8-sig", "encoding_errors": "replace"}
    for name in files:
        sep = _sniff_separator(Path(name))
        try:
            for chunk in pd.read_csv(name, sep=sep, chunksize=rows, **options):
                path = folder / f"part-{len(parts):06d}.parquet"
                chunk.to_parquet(path, index=False)
                parts.append(str(path))
        except pd.errors.ParserError as exc:
            raise malformed_csv(name, exc) from None
    if not parts:  # header only: one empty part keeps the columns
        path = folder / "part-000000.parquet"
        pd.read_csv(files[0], sep=_sniff_separator(Path(files[0])), nrows=0,
                    **options).to_parquet(path, index=False)
        parts.append(str(path))
    return parts


def _score_dask(
    input_path: Path, *, out: Path | str | None, format: str, mapping: dict[str, str] | None,
    rejects: Path | str | None, top: int, jobs: int, scheduler: str | None,
    db_path: Path | str | None, redact: bool, strict: bool, model_dir: Path | None,
    trust: bool, kb_root: Path | None, chunk_rows: int, actor: str | None, started: float,
) -> ScoreReport:
    try:
        import dask
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--engine dask needs the dask extra: pip install 'expertise[dask]'"
                         ) from None
    import pandas as pd

    files, fmt = _dask_inputs(input_path, format)
    out_path = Path(out) if out else default_output_path(input_path, fmt)
    kind = output_kind(out_path)
    if kind == "jsonl":
        raise InputError("--engine dask writes a folder of CSV or Parquet parts; "
                         "name the output .csv or .parquet")
    rejects_path = Path(rejects) if rejects else default_rejects_path(out_path)
    _check_paths(input_path, out_path, rejects_path)
    settings, version = _settings(model_dir, trust, kb_root, db_path, top, redact)

    client = cluster = None
    split_dir: Path | None = None
    try:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        if fmt == "parquet":
            raw = dd.read_parquet(files)
        else:
            # Quoted line breaks in ticket texts make cutting a CSV file at byte offsets
            # unsafe, and one partition per file holds a whole export in one worker's memory;
            # so the client cuts it into Parquet parts in one streaming pass first.
            split_dir = out_path.parent / f".{out_path.name}.{os.getpid()}.parts"
            raw = dd.read_parquet(_split_csv(files, split_dir))
        lengths = raw.map_partitions(len).compute().tolist()
        offsets = [sum(lengths[:k]) for k in range(len(lengths))]
        empty = _dask_prepare(raw._meta.copy(), [0], str(input_path), fmt, mapping)
        canon = raw.map_partitions(_dask_prepare, offsets, str(input_path), fmt, mapping,
                                   meta=empty)
        parts = max(jobs * 2, raw.npartitions, 1)
        shuffled = canon.shuffle(on="_key", npartitions=parts)
        tmp = out_path.parent / f".{out_path.name}.{os.getpid()}.{int(time.time())}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            meta = pd.DataFrame({k: pd.Series(dtype="int64") for k in _DASK_COUNTS})
            stats = shuffled.map_partitions(_dask_score, settings, str(tmp), kind, chunk_rows,
                                            meta=meta)
            (totals,) = dask.compute(stats)
            sums = {k: int(totals[k].sum()) for k in _DASK_COUNTS}
            rejected = sums["rejected"]
            if strict and rejected:
                first = _dask_first_reject(tmp)
                raise InputError(f"{input_path}: row {first[0]} (ticket {first[1] or '?'}): "
                                 f"{first[2]} (--strict stops at the first bad row)")
            if rejected:
                _dask_merge_rejects(tmp, rejects_path)
            if sums["rows"] == 0:
                where = f"; see {rejects_path}" if rejected else ""
                raise InputError(
                    f"{input_path}: no row could be scored ({rejected} rejected){where}")
            for stray in tmp.glob("rejects-*.csv"):
                stray.unlink()
            _replace_dir(tmp, out_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if split_dir is not None:
            shutil.rmtree(split_dir, ignore_errors=True)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if db_path and sums["customers"]:
        _audit(Path(db_path), actor, input_path, sums["rows"], sums["customers"])
    report = ScoreReport(
        input=input_path, output=out_path, rejects_path=rejects_path if rejected else None,
        input_format=fmt, output_kind=kind, engine="dask", jobs=jobs,
        rows_read=sum(lengths), rows_scored=sums["rows"], rows_rejected=rejected,
        levels={**{lv: sums[lv] for lv in LEVELS}, NOT_ESTIMATED: sums["not_estimated"]},
        no_match=sums["no_match"], model_version=version)
    report.seconds = time.perf_counter() - started
    return report


def _dask_first_reject(folder: Path) -> tuple[int, str, str]:
    import pandas as pd

    frames = [pd.read_csv(p, dtype=str, keep_default_na=False)
              for p in sorted(folder.glob("rejects-*.csv"))]
    both = pd.concat(frames, ignore_index=True)
    both["row"] = both["row"].astype("int64")
    first = both.sort_values("row").iloc[0]
    return int(first["row"]), str(first["ticket_id"]), str(first["reason"])


def _dask_merge_rejects(folder: Path, rejects_path: Path) -> None:
    """The partitions' rejects as one CSV, by row number."""
    import pandas as pd

    from expertise.io import atomic_path

    frames = [pd.read_csv(p, dtype=str, keep_default_na=False)
              for p in sorted(folder.glob("rejects-*.csv"))]
    both = pd.concat(frames, ignore_index=True)
    both["row"] = both["row"].astype("int64")
    with atomic_path(rejects_path) as tmp:
        both.sort_values("row", kind="stable").to_csv(tmp, index=False, encoding="utf-8")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished folder to its final name, replacing what was there."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
