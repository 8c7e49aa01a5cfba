"""Batch scoring of ticket exports: every row gets the caller's level and the article for it.

Scoring is the scoring pipeline (`Engine.score`), the same path as `expertise answer`; this
module streams the export through it. The input is read in chunks (`tickets.readers`), each
chunk is scored (`batch.chunks`) and appended to a temporary output file, renamed to its final
name at the end, so an interrupted run leaves nothing half-written under that name.

History. A customer's earlier tickets in the same export count as history for their later ones
(by ``created_at``, never the future), and so do their tickets in the store when a database is
given. Within a chunk the pipeline orders rows by time itself; across chunks the carried
tickets are those of earlier chunks: exact for an export in time order (the usual case). The
Dask engine (`batch.dask`) partitions by customer and sorts each partition by time, so it is
exact for any order.

Parallelism. ``jobs > 1`` starts that many worker processes (`batch.pool`).

>>> report = score_file("tickets.csv", jobs=2)        # doctest: +SKIP
>>> report.output, report.rows_scored, report.levels  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.batch.chunks import SCRATCH, Tally, assemble, output_names
from expertise.batch.ids import SeenIds
from expertise.batch.pool import LocalRun, keep_freed_memory, quiet_gc
from expertise.batch.settings import (
    ScoreReport,
    audit_run,
    check_writable,
    nothing_scored,
    output_paths,
    resolve_settings,
    strict_stop,
)
from expertise.config import BATCH_CHUNK_ROWS, DEFAULT_TOP
from expertise.errors import InputError
from expertise.io import atomic_path, pid_alive, remove_stale_temps, write_failed
from expertise.tickets.writers import RejectsWriter, TableWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["score_file"]


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
    redact: bool = True,
    strict: bool = False,
    model_dir: Path | None = None,
    trust: bool = False,
    kb_root: Path | None = None,
    chunk_rows: int = BATCH_CHUNK_ROWS,
    progress: Callable[[int, int | None], None] | None = None,
    actor: str | None = None,
    encoding: str = "auto",
) -> ScoreReport:
    """Score every ticket of an export and write it with the scored columns added.

    Parameters
    ----------
    input_path : path
        An export in any layout the readers know (CSV, JSONL, Parquet, Zendesk, Freshdesk);
        for ``engine="dask"`` a CSV or Parquet file or folder.
    out : path, optional
        The output; its extension picks CSV, JSONL or Parquet. Default
        ``<input name>.scored.<ext>`` next to the input, the extension following the input's
        format. Never the input itself.
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
        Replace personal data in the passed-through text columns (subject, body, any other
        text column, and a customer id that is an e-mail address or a phone number), as the
        scored text is. True by default; False (``expertise score --keep-text``) writes them
        as they came.
    strict : bool
        Stop at the first bad row (nothing is written) instead of rejecting it.
    encoding : str
        The input's text encoding, or "auto" (`tickets.readers.detect_encoding`).
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
        from expertise.batch.dask import score_dask

        return score_dask(
            input_path, out=out, format=format, mapping=mapping, rejects=rejects, top=top,
            jobs=jobs, scheduler=scheduler, db_path=db_path, redact=redact, strict=strict,
            model_dir=model_dir, trust=trust, kb_root=kb_root, chunk_rows=chunk_rows,
            actor=actor, started=started, encoding=encoding)
    if scheduler:
        raise InputError("--scheduler needs --engine dask")
    # duplicates across chunks are checked here, in 16 bytes an id (`SeenIds`)
    reader = TicketReader(input_path, format=format, mapping=mapping, chunk_rows=chunk_rows,
                          track_ids=False, encoding=encoding)
    out_path, kind, rejects_path = output_paths(input_path, out, rejects, reader.format)
    # before any work: an output that cannot be written fails now, not after the scoring
    check_writable(out_path, "--out")
    check_writable(rejects_path, "--rejects")
    for path in (out_path, rejects_path):
        remove_stale_temps(path)
    remove_stale_runs()
    settings, version = resolve_settings(model_dir, trust, kb_root, db_path, top, redact,
                                         actor=actor, input_name=input_path.name)
    expected = estimate_rows(input_path, reader.format) if progress else None
    tally = Tally()
    nothing = False
    renamed: dict[str, str] | None = None
    seen: set[str] = set()  # the input columns of the chunks so far
    with contextlib.ExitStack() as stack:
        # the history carried between chunks: about 500 bytes a customer, in this run's folder of
        # the system's temporary folder ($TMPDIR)
        carry_folder = stack.enter_context(run_folder())
        try:
            # finished in this order: the output's last write, the rejects file, the output
            # (renamed last, so that a failure finishing either leaves the old output as it was)
            with atomic_path(out_path, option="--out") as out_tmp:
                with atomic_path(rejects_path, option="--rejects") as rejects_tmp:
                    rej_writer = RejectsWriter(rejects_tmp)
                    with contextlib.closing(TableWriter(out_tmp, kind)) as writer:
                        keep_freed_memory()  # this process reads and writes the chunks
                        with contextlib.closing(LocalRun(settings, jobs, carry_folder)) as scorer:
                            with quiet_gc():  # entered once the engine is loaded
                                for frame, scored in scorer.run(
                                        _frames(reader, rej_writer, strict, input_path)):
                                    # a key first seen in a later chunk (JSON Lines) is
                                    # renamed like the first chunk's keys, so that it never
                                    # writes over an output column
                                    fresh = [c for c in frame.columns
                                             if c != "_row" and c not in seen]
                                    if fresh or renamed is None:
                                        renamed = {**(renamed or {}), **output_names(
                                            fresh, [*seen, *(renamed or {}).values()])}
                                        seen.update(fresh)
                                    writer.write(assemble(frame, scored, renamed))
                                    tally.add(scored)
                                    if progress:
                                        progress(tally.rows + rej_writer.rows, expected)
                            scorer.finish()
                if tally.rows == 0:
                    raise _NothingScored
        except _NothingScored:
            nothing = True
        rejected = rej_writer.rows
        if db_path and scorer.customers_looked_up:
            audit_run(Path(db_path), actor, input_path, tally.rows, scorer.customers_looked_up)
    if nothing:
        raise nothing_scored(input_path, rejected, rejects_path)
    return ScoreReport(
        input=input_path, output=out_path, rejects_path=rejects_path if rejected else None,
        input_format=reader.format, output_kind=kind, engine="local", jobs=jobs,
        rows_read=reader.stats.rows_read, rows_scored=tally.rows, rows_rejected=rejected,
        levels=tally.level_counts(), no_match=tally.no_match, renamed=renamed or {},
        model_version=version, seconds=time.perf_counter() - started,
        encoding=reader.encoding, invalid_byte_rows=reader.stats.invalid_byte_rows)


#: This run's scratch folder in the system's temporary folder: ``expertise-run-<pid>-...``.
RUN_PREFIX = "expertise-run-"


@contextlib.contextmanager
def run_folder() -> Iterator[Path]:
    """A scratch folder for this run (the workers' history files), removed at the end. Its
    name carries this process's id, so that :func:`remove_stale_runs` can tell a killed
    run's folder from one in use."""
    import shutil
    import tempfile

    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
    except OSError as exc:  # a full or read-only $TMPDIR
        where = Path(exc.filename or tempfile.gettempdir())
        raise write_failed(where, exc, "TMPDIR", what=SCRATCH) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_runs() -> list[Path]:
    """Remove the scratch folders of runs whose process no longer runs (killed with SIGKILL,
    or its workers were): what they hold is of no use to anyone."""
    import re
    import shutil
    import tempfile

    pattern = re.compile(rf"^{re.escape(RUN_PREFIX)}(\d+)-")
    removed: list[Path] = []
    try:
        entries = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class _NothingScored(Exception):
    """Raised inside the output's atomic block so that no empty output is left behind."""


def _frames(reader: Any, rej_writer: RejectsWriter, strict: bool, input_path: Path
            ) -> Iterator[pd.DataFrame]:
    seen = SeenIds()
    columns: list[Any] | None = None
    for chunk in reader.chunks():
        chunk = seen.check(chunk)
        if len(chunk.rejects):
            if strict:
                raise strict_stop(input_path, chunk.rejects)
            rej_writer.write(chunk.rejects)
        if len(chunk.frame):
            frame = chunk.frame
            if columns is None:
                columns = list(frame.columns)
            elif list(frame.columns) != columns:
                # JSON records name their own keys: a chunk lacking a key the earlier ones
                # had gets it empty, in the earlier ones' order; a new key comes last
                frame = frame.reindex(columns=[*columns, *(c for c in frame.columns
                                                           if c not in columns)])
                columns = list(frame.columns)
            yield frame
