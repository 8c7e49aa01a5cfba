"""The Dask engine: the same chunk scorer on a Dask cluster, exact history for any order.

One pass over the data: read (CSV or Parquet files or folders, cut into Parquet parts by the
local engine's reader) -> name and validate columns
per partition (bad rows travel on, flagged) -> shuffle by customer, so that all of a
customer's tickets share a partition -> per partition: sort by time, score in chunks with
`ChunkScorer` (one per worker process, model loaded once), write a part file, and return
counts. Output and rejects parts go to a temporary folder renamed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.batch.chunks import (
    SCRATCH,
    ChunkScorer,
    Tally,
    assemble,
    chunk_payload,
    output_names,
    redact_columns,
)
from expertise.batch.ids import SeenIds
from expertise.batch.settings import (
    NOT_ESTIMATED,
    ScoreReport,
    ScoreSettings,
    audit_run,
    check_writable,
    nothing_scored,
    output_paths,
    resolve_settings,
    strict_stop,
)
from expertise.config import DASK_PART_ROWS, LEVELS
from expertise.errors import InputError
from expertise.io import atomic_path, remove_stale_temps, write_failed
from expertise.tickets.writers import RejectsWriter, TableWriter

if TYPE_CHECKING:
    import pandas as pd


#: Reader formats the Dask engine can split into partitions.
DASK_FORMATS = ("csv", "freshdesk", "parquet")


_DASK_COUNTS = ("rows", "rejected", "no_match", *LEVELS, NOT_ESTIMATED, "customers")


_SCORERS: dict[tuple[Any, ...], ChunkScorer] = {}


def _dask_inputs(path: Path, format: str, encoding: str) -> tuple[list[str], str, str]:
    """The files of a CSV/Parquet input (a file or a folder), their format and encoding, told
    from the first file as the local engine tells them (`encoding` named, or detected)."""
    from expertise.tickets.readers import TicketReader

    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and not p.name.startswith((".", "_"))
                       and p.suffix.lower() in (".csv", ".parquet", ".pq"))
        if not files:
            raise InputError(f"{path}: no .csv or .parquet files in this folder")
    elif not path.exists():
        raise InputError(f"{path}: no such file")
    else:
        files = [str(path)]
    first = TicketReader(files[0], format=format, encoding=encoding)
    fmt = first.format
    if fmt not in DASK_FORMATS:
        raise InputError(
            f"{path}: --engine dask reads CSV or Parquet files or folders, not {fmt}; "
            "score it with --engine local, or convert it to Parquet first")
    return files, fmt, first.encoding


@dataclass(frozen=True)
class _Internal:
    """The names of the columns the engine adds to the rows it shuffles: the reason a row is
    rejected (empty for a good row) and the shuffle's key (the customer). Names no input
    column has, so that an export's own ``_reason`` or ``_key`` passes through as any column
    does."""

    reason: str
    key: str

    @classmethod
    def beside(cls, columns: Sequence[str]) -> _Internal:
        """Names that none of these columns (the input's, as read) nor a ticket column has."""
        from expertise.tickets.readers import CANONICAL, LABELS, OPTIONAL

        taken = {*map(str, columns), *CANONICAL, *LABELS, *OPTIONAL}
        names = []
        for name in ("_reason", "_key"):
            while name in taken:
                name = "_" + name
            taken.add(name)
            names.append(name)
        return cls(*names)


def _dask_prepare(raw: pd.DataFrame, path: str, fmt: str, mapping: dict[str, str] | None,
                  internal: _Internal) -> pd.DataFrame:
    """Canonical, validated rows of one partition (a part of :func:`_split_input`, its rows
    numbered in ``_row``, its columns named as the reader names them); rejected rows flagged
    with their reason, each row keyed by its customer (`internal`)."""
    import pandas as pd

    from expertise.tickets.readers import ROW_COLUMN, TicketReader, validate_frame

    raw = raw.reset_index(drop=True)
    # the rows are text already: an encoding named so that the input is not read again (its
    # encoding detected, an 8-bit one refused although it was named with --encoding)
    reader = TicketReader(path, format=fmt, mapping=mapping, encoding="utf-8")
    chunk = validate_frame(reader.canonicalise(raw), seen_ids=set())
    good = chunk.frame.assign(**{internal.reason: ""})
    bad = pd.DataFrame({ROW_COLUMN: chunk.rejects["row"].astype("int64"),
                        "ticket_id": chunk.rejects["ticket_id"].astype(str),
                        internal.reason: chunk.rejects["reason"].astype(str)})
    frame = pd.concat([good, bad], ignore_index=True) if len(bad) else good
    for name in good.columns:
        if (name not in (ROW_COLUMN, internal.reason) and len(bad)
                and good[name].dtype == object):
            frame[name] = frame[name].where(frame[name].notna(), None)
    anonymous = frame["customer_id"].isna() | (frame["customer_id"] == "")
    frame[internal.key] = frame["customer_id"].where(
        ~anonymous, "~" + frame[ROW_COLUMN].astype(str))
    return frame


def _dask_scorer(settings: ScoreSettings) -> ChunkScorer:
    """This worker thread's scorer (the model is loaded once per worker)."""
    import threading

    key = (settings, os.getpid(), threading.get_ident())
    if key not in _SCORERS:
        _SCORERS[key] = ChunkScorer(settings)
    return _SCORERS[key]


def _dask_score(frame: pd.DataFrame, settings: ScoreSettings, folder: str, kind: str,
                chunk_rows: int, renamed: dict[str, str], internal: _Internal,
                partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Score one customer-partitioned partition, write its part files, return its counts.
    `renamed`: the input columns named like output columns and their new names, the same
    for every partition (told from the columns of all of them)."""
    import pandas as pd

    from expertise.tickets.readers import ROW_COLUMN

    number = partition_info["number"] if partition_info else 0
    counts = dict.fromkeys(_DASK_COUNTS, 0)
    bad = frame[frame[internal.reason] != ""]
    if len(bad):
        rejects = RejectsWriter(Path(folder) / f"rejects-{number:05d}.csv")
        rejects.write(pd.DataFrame({"row": bad[ROW_COLUMN].astype("int64"),
                                    "ticket_id": bad["ticket_id"].astype(str),
                                    "reason": bad[internal.reason].astype(str)}
                                   ).sort_values("row"))
        counts["rejected"] = rejects.rows
    good = frame[frame[internal.reason] == ""].drop(columns=[internal.reason, internal.key])
    if len(good):
        good = good.sort_values(["created_at", ROW_COLUMN], kind="stable")
        scorer = _dask_scorer(settings)
        redact_cols = redact_columns(good) if settings.redact else []
        pieces = []
        looked_up = scorer.customers_looked_up
        tally = Tally()
        try:
            for start in range(0, len(good), chunk_rows):
                part = good.iloc[start:start + chunk_rows].reset_index(drop=True)
                scored = scorer.score(chunk_payload(part, redact_cols))
                tally.add(scored)
                out = assemble(part, scored, renamed)
                out[ROW_COLUMN] = part[ROW_COLUMN].to_numpy()
                pieces.append(out)
        finally:
            scorer.reset_carry()  # this partition's customers are no other partition's
        result = pd.concat(pieces, ignore_index=True).sort_values(ROW_COLUMN, kind="stable")
        part_path = Path(folder) / f"part-{number:05d}.{kind}"
        with contextlib.closing(TableWriter(part_path, kind)) as writer:
            writer.write(result.drop(columns=[ROW_COLUMN]).reset_index(drop=True))
        counts.update(tally.level_counts(), rows=tally.rows, no_match=tally.no_match,
                      customers=scorer.customers_looked_up - looked_up)
    return pd.DataFrame({k: [v] for k, v in counts.items()}, dtype="int64")


@dataclass
class InputParts:
    """CSV or Parquet files cut into Parquet parts (:func:`_split_input`)."""

    parts: list[str]
    #: Rows that could not be parsed: (row, ticket id, reason).
    rejects: list[tuple[int, str, str]]
    #: The files' text encoding (named, or each file's detected one, joined by ", ").
    encoding: str
    #: Rows whose bytes the encoding could not decode (replaced with U+FFFD).
    invalid_byte_rows: int


def _split_input(files: Sequence[str], folder: Path, rows: int = DASK_PART_ROWS, *,
                 fmt: str = "csv", mapping: dict[str, str] | None = None,
                 encoding: str = "auto") -> InputParts:
    """Cut CSV or Parquet files into Parquet parts of `rows` rows, in order, read by the
    local engine's reader (`TicketReader.records`), so that both engines read a file alike.
    CSV: in `encoding`, named or detected, a detected 8-bit one refused; every column text,
    nothing read as missing, a BOM skipped, bad bytes replaced and their rows counted, rows
    with too many fields returned as rejects with their ticket id. Parquet: numbers and
    booleans in id, text and label fields as text, a row whose id is a boolean or a fraction
    returned as a reject. Both: the columns named as `fmt` and `mapping` name them, an input
    column ``_row`` kept as ``_row_input``, ``_row`` numbered across the files, and a row whose
    ticket id an earlier part had returned as a reject (:func:`_earlier_ids`; the workers
    find the duplicates within a part). Streams: one chunk in memory at a time."""
    from expertise.tickets.readers import ROW_COLUMN, TicketReader

    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise write_failed(folder, exc, "--out", what=SCRATCH) from None
    parts: list[str] = []
    rejects: list[tuple[int, str, str]] = []
    encodings: list[str] = []
    invalid = 0
    offset = 0
    empty: pd.DataFrame | None = None
    seen = SeenIds()
    for name in files:
        last = 0
        reader = TicketReader(name, format=fmt, mapping=mapping, chunk_rows=rows,
                              encoding=encoding)
        for chunk, bad in reader.records():
            last = max([last, int(chunk[ROW_COLUMN].max()) if len(chunk) else 0,
                        *(row for row, _, _ in bad)])
            chunk, bad = _earlier_ids(chunk, bad, reader, seen)
            rejects += [(row + offset, ticket, why) for row, ticket, why in bad]
            if not len(chunk):
                empty = chunk if empty is None else empty
                continue
            chunk[ROW_COLUMN] += offset
            path = folder / f"part-{len(parts):06d}.parquet"
            _write_part(chunk, path)
            parts.append(str(path))
        offset += last
        invalid += reader.stats.invalid_byte_rows
        if reader.encoding not in encodings:
            encodings.append(reader.encoding)
    if not parts and empty is not None:  # no row: one empty part keeps the columns
        path = folder / "part-000000.parquet"
        _write_part(empty, path)
        parts.append(str(path))
    return InputParts(parts, rejects, ", ".join(encodings), invalid)


def _earlier_ids(chunk: pd.DataFrame, bad: list[tuple[int, str, str]], reader: Any,
                 seen: SeenIds) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """A part's rows whose ticket id an earlier part had (`seen`), moved to its rejects as
    the local engine moves a chunk's (`SeenIds.check`): "duplicate ticket_id", before the
    other reasons the row has (told by validating those rows; they are few); a rejected row
    (`bad`) whose id an earlier part had gets "duplicate ticket_id; " before its reason.
    Then every id of the part is `seen`."""
    from expertise.tickets.readers import ROW_COLUMN, as_text, validate_frame

    frame = reader.canonicalise(chunk) if len(chunk) else None
    ids = as_text(frame["ticket_id"]).str.strip().tolist() if frame is not None else []
    found = seen.seen_before(ids + [ticket for _, ticket, _ in bad])
    dup, dup_bad = found[:len(ids)], found[len(ids):]
    prefix = "duplicate ticket_id"
    bad = [(row, ticket, why if not hit or why.startswith(prefix) else f"{prefix}; {why}")
           for (row, ticket, why), hit in zip(bad, dup_bad, strict=True)]
    if frame is None or not dup.any():
        return chunk, bad
    why = validate_frame(frame[dup], seen_ids=set()).rejects
    other = dict(zip(why["row"].astype("int64"), why["reason"], strict=True))
    moved = []
    for row, ticket in zip(frame.loc[dup, ROW_COLUMN].astype("int64"),
                           [t for t, d in zip(ids, dup, strict=True) if d], strict=True):
        reason = other.get(row, prefix)
        moved.append((int(row), ticket, reason if reason.startswith(prefix)
                      else f"{prefix}; {reason}"))
    return chunk[~dup].reset_index(drop=True), sorted(bad + moved)


def _write_part(frame: pd.DataFrame, path: Path) -> None:
    """One Parquet part of the input; a write the disk refuses is one line naming it."""
    try:
        frame.to_parquet(path, index=False)
    except OSError as exc:
        raise write_failed(path, exc, "--out", what=SCRATCH) from None


def score_dask(
    input_path: Path, *, out: Path | str | None, format: str, mapping: dict[str, str] | None,
    rejects: Path | str | None, top: int, jobs: int, scheduler: str | None,
    db_path: Path | str | None, redact: bool, strict: bool, model_dir: Path | None,
    trust: bool, kb_root: Path | None, chunk_rows: int, actor: str | None, started: float,
    encoding: str = "auto",
) -> ScoreReport:
    try:
        import dask
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--engine dask needs the dask extra: pip install 'expertise[dask]'"
                         ) from None
    import pandas as pd

    from expertise.tickets.readers import ROW_COLUMN, rejects_frame

    files, fmt, read_as = _dask_inputs(input_path, format, encoding)
    out_path, kind, rejects_path = output_paths(input_path, out, rejects, fmt, engine="dask")
    # before any work, as the local engine: an output that cannot be written fails now (an
    # existing output folder is replaced; the folder it is in is tried below, by making the
    # temporary one), and what killed runs left next to the outputs is removed
    if not out_path.is_dir():
        check_writable(out_path, "--out")
    check_writable(rejects_path, "--rejects")
    for path in (out_path, rejects_path):
        remove_stale_temps(path)
    settings, version = resolve_settings(model_dir, trust, kb_root, db_path, top, redact,
                                         actor=actor, input_name=input_path.name)

    tmp = out_path.parent / f".{out_path.name}.{os.getpid()}.{int(time.time())}.tmp"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise write_failed(out_path, exc, "--out") from None
    client = cluster = None
    try:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        # Quoted line breaks in ticket texts make cutting a CSV file at byte offsets unsafe,
        # one partition per file holds a whole export in one worker's memory, and a Parquet
        # file read by Dask itself is read otherwise than the local engine reads it (boolean
        # ids, numbers in text fields, a column named _row); so the client cuts the input
        # into Parquet parts with the local engine's reader, in one streaming pass, first;
        # inside the temporary output, so that the next run removes them if this one is killed
        split_dir = tmp / "input-parts"
        split = _split_input(files, split_dir, fmt=fmt, mapping=mapping, encoding=encoding)
        parse_rejects, read_as = split.rejects, split.encoding
        invalid_byte_rows = split.invalid_byte_rows
        raw = dd.read_parquet(split.parts)
        lengths = raw.map_partitions(len).compute().tolist()
        internal = _Internal.beside(raw.columns)
        empty = _dask_prepare(raw._meta.copy(), str(input_path), fmt, mapping, internal)
        canon = raw.map_partitions(_dask_prepare, str(input_path), fmt, mapping, internal,
                                   meta=empty)
        renamed = output_names([c for c in empty.columns
                                if c not in (ROW_COLUMN, internal.reason, internal.key)])
        parts = max(jobs * 2, raw.npartitions, 1)
        shuffled = canon.shuffle(on=internal.key, npartitions=parts)
        RejectsWriter(tmp / "rejects-parse.csv").write(rejects_frame(parse_rejects))
        meta = pd.DataFrame({k: pd.Series(dtype="int64") for k in _DASK_COUNTS})
        stats = shuffled.map_partitions(_dask_score, settings, str(tmp), kind, chunk_rows,
                                        renamed, internal, meta=meta)
        (totals,) = dask.compute(stats)
        sums = {k: int(totals[k].sum()) for k in _DASK_COUNTS}
        rejected = sums["rejected"] + len(parse_rejects)
        if rejected:
            bad = _dask_rejects(tmp)
            if strict:
                raise strict_stop(input_path, bad)
            with atomic_path(rejects_path, option="--rejects") as path:
                RejectsWriter(path).write(bad)  # a write the disk refuses: one line
        if sums["rows"] == 0:
            raise nothing_scored(input_path, rejected, rejects_path)
        for stray in tmp.glob("rejects-*.csv"):
            stray.unlink()
        shutil.rmtree(split_dir, ignore_errors=True)
        try:
            _replace_dir(tmp, out_path)
        except OSError as exc:
            raise write_failed(out_path, exc, "--out") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if db_path and sums["customers"]:
        audit_run(Path(db_path), actor, input_path, sums["rows"], sums["customers"])
    report = ScoreReport(
        input=input_path, output=out_path, rejects_path=rejects_path if rejected else None,
        input_format=fmt, output_kind=kind, engine="dask", jobs=jobs,
        rows_read=sum(lengths) + len(parse_rejects), rows_scored=sums["rows"],
        rows_rejected=rejected,
        levels={k: sums[k] for k in (*LEVELS, NOT_ESTIMATED)},
        no_match=sums["no_match"], renamed=renamed, model_version=version, encoding=read_as,
        invalid_byte_rows=invalid_byte_rows)
    report.seconds = time.perf_counter() - started
    return report


def _dask_rejects(folder: Path) -> pd.DataFrame:
    """The partitions' rejects as one frame, by row number."""
    import pandas as pd

    frames = [pd.read_csv(p, dtype=str, keep_default_na=False)
              for p in sorted(folder.glob("rejects-*.csv"))]
    both = pd.concat(frames, ignore_index=True)
    both["row"] = both["row"].astype("int64")
    return both.sort_values("row", kind="stable")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished folder to its final name, replacing what was there. What was there is
    moved aside first (a folder cannot be renamed over a file, nor over a folder with files);
    when the finished folder then cannot take the name, it is moved back, so that a failure
    leaves the previous output as it was."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
