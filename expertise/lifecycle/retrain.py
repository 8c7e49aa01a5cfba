"""Retrain behind the gate: ingest the inbox, train a candidate, promote it if not worse.

`retrain` is what `make retrain` runs:

1. every export in the inbox (default ``data/inbox/``) goes into the store and then moves to
   ``inbox/done/``; ticket exports are ingested as tickets, feedback files (``ticket_id``,
   ``article_id``, ``helpful`` and/or ``corrected_level``) as feedback. Helpful votes feed the
   ranker at answer time; corrected levels become training labels;
2. the training data is the bundled training split plus the store's labelled tickets
   (de-duplicated by ticket id, the store's copy winning), with agents' latest level
   corrections applied, and without opted-out customers, erased customers, or any ticket or
   customer of the fixed evaluation sets;
3. when that data, the knowledge base and the code are exactly what the current model was
   trained on there is nothing to do; otherwise a candidate is trained and promoted only if
   it passes the gate every promotion goes through (:func:`expertise.lifecycle.models.judge`).
   The comparison is saved as ``models/<candidate>.comparison.json``. Less training data than
   the minimum (`config.MIN_TRAIN_TICKETS`, `MIN_TRAIN_TOPICS`, `MIN_LEVEL_TICKETS`) is refused.

>>> report = retrain(dry_run=True)          # doctest: +SKIP
>>> report.decision                          # doctest: +SKIP
'dry run'
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise import config
from expertise.bundles.registry import current_version, load_current, new_version, set_current
from expertise.config import LEVELS
from expertise.errors import ArtifactError, ExpertiseError, InputError, ReadOptionError
from expertise.io import atomic_write_text
from expertise.lifecycle.models import (
    COMPARISON_SUFFIX,
    MAX_ACCURACY_DROP,
    Check,
    gate,
    judge,
    models_root,
    summary_with_counts,
)

if TYPE_CHECKING:
    import pandas as pd

    from expertise.lifecycle.train import DataMinimum
    from expertise.store.db import Store

__all__ = [
    "MAX_ACCURACY_DROP",
    "Check",
    "InboxFile",
    "RetrainReport",
    "TrainingData",
    "collect_training_data",
    "gate",
    "ingest_feedback_file",
    "retrain",
]


#: A feedback file's helpful flag as written -> its value (any other non-empty text is rejected).
_FLAGS = {**dict.fromkeys(("1", "true", "yes", "y", "helpful", "t"), True),
          **dict.fromkeys(("0", "false", "no", "n", "not helpful", "not_helpful", "unhelpful",
                           "f"), False)}


# ---- inbox ------------------------------------------------------------------------------------


@dataclass
class InboxFile:
    """One export from the inbox and what happened to it."""

    path: str
    kind: str  # "tickets" or "feedback"
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    helpful: int = 0
    not_helpful: int = 0
    corrections: int = 0
    moved_to: str | None = None
    rejects_path: str | None = None
    #: Rows with a level (training labels); in a dry run, of tickets and feedback alike.
    labelled: int = 0
    #: Rows of customers who opted out or were erased (never trained on).
    excluded: int = 0


def inbox_files(inbox: Path) -> list[Path]:
    """Exports waiting in the inbox: regular, non-hidden files, not rejects files, by name."""
    if not inbox.is_dir():
        return []
    return sorted(
        p for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and ".rejects." not in p.name
    )


def _columns(path: Path) -> list[str]:
    from expertise.tickets.readers import detect_encoding

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson"):
        return []
    try:
        encoding = detect_encoding(path)
        encoding = "utf-8-sig" if encoding == "utf-8" else encoding
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            first = fh.readline()
        if suffix in (".jsonl", ".ndjson"):
            record = json.loads(first) if first.strip() else {}
            return list(record) if isinstance(record, dict) else []
        dialect = "excel-tab" if "\t" in first and "," not in first else "excel"
        return next(csv.reader([first], dialect=dialect), [])
    except (OSError, ExpertiseError, json.JSONDecodeError):
        return []  # read as a ticket export, whose reader says what is wrong


def is_feedback_file(path: Path) -> bool:
    """A feedback export has ``ticket_id``, ``article_id`` and a helpful flag or a corrected
    level, and no ticket text."""
    cols = {c.strip().lower() for c in _columns(path)}
    return (
        {"ticket_id", "article_id"} <= cols
        and bool(cols & {"helpful", "corrected_level"})
        and not cols & {"body", "subject", "description"}
    )


def _read_feedback(path: Path) -> tuple[pd.DataFrame, list[int], list[tuple[int, str, str]]]:
    """The feedback file's rows (as text), each row's number, and the rows that could not be
    parsed (row, ticket id or "", reason). Rows are numbered as a ticket export's rejects are
    (``readers.ROW_COLUMN``): CSV by record, 1 for the first after the header (a field
    holding a line break does not start a new one), JSON Lines by line; a line that is not a
    JSON object is a reject, as in a ticket export."""
    import pandas as pd

    from expertise.tickets.readers import ROW_COLUMN, TicketReader, as_text, read_csv_rows

    bad: list[tuple[int, str, str]] = []
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):  # read as JSON Lines exports are
            frames = []
            for raw, unparsed in TicketReader(path, format="jsonl").records():
                frames.append(raw)
                bad += unparsed
            frame = pd.concat(frames, ignore_index=True)
            frame = frame.assign(**{str(c): as_text(frame[c]) for c in frame.columns
                                    if c != ROW_COLUMN})
        else:  # read as exports are: encoding detected, a Ctrl-C stays an interrupt
            frame, bad = read_csv_rows(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the feedback file ({exc}); fix or remove it") \
            from None
    rows = [int(r) for r in frame.pop(ROW_COLUMN)]
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in ("ticket_id", "article_id", "helpful", "corrected_level", "agent", "created_at",
                "customer_id"):
        if col not in frame:
            frame[col] = ""
    return frame.fillna("").astype(str), rows, bad


@dataclass
class FeedbackCheck:
    """A feedback export validated: what storing it would do (`item`), the rows to store
    and the rows rejected (row number as in ticket rejects, ticket id, reason)."""

    item: InboxFile
    new: list[dict[str, Any]]
    rejects: list[tuple[int, str, str]]


def article_ids(kb_root: Path | None = None) -> set[str]:
    """The article ids of the knowledge base (default: the configured one), which feedback
    may name, as `expertise feedback --article` checks."""
    from expertise.knowledge_base import load_knowledge_base

    return {a.id for a in load_knowledge_base(kb_root or config.kb_dir()).articles}


def check_feedback_file(path: Path, *, store: Store | None, articles: Collection[str]
                        ) -> FeedbackCheck:
    """Validate a feedback export as ingesting it does, writing nothing: the one check of
    both :func:`ingest_feedback_file` and a dry run.

    A row is rejected for a ticket id that is empty or not one line of at most 200
    characters, an unreadable helpful flag, a helpful flag without the article it is about,
    an unknown level, an article id the knowledge base lacks (`articles`), neither a flag nor
    a level, a time that is not one, or an erased customer (named, or whose ticket it was:
    `Store.erased_tickets`); every reason it has is given. A row already in the `store`
    (same ticket, article, flag, level, agent and time), or earlier in the file, is
    unchanged. A level for a customer who opted out (named by the row, else the ticket's in
    the store) is not counted as a correction: the store does not keep it. The store is
    asked a few batched queries per file, not one per row.
    """
    from expertise.store.db import check_label
    from expertise.tickets.readers import parse_timestamp

    frame, lines, unparsed = _read_feedback(path)
    seen = {
        (r.ticket_id, r.article_id or "", r.helpful, r.corrected_level, r.agent or "",
         r.created_at or "")
        for r in (store.feedback_rows() if store is not None else [])
    }
    # what the store knows, asked once per file (a few statements however many rows)
    tickets = [t.strip() for t in frame["ticket_id"]]
    named = {c.strip() for c in frame["customer_id"]} - {""}
    erased_tickets: Collection[str] = ()
    erased: Collection[str] = ()
    owners: dict[str, str] = {}
    opted_out: Collection[str] = ()
    if store is not None:
        erased_tickets = store.erased_tickets(tickets)
        erased = store.erased_among(named)
        owners = store.ticket_owners(tickets)  # whose level it is when the row names nobody
        opted_out = {c for c, consent in store.consents(named | set(owners.values())).items()
                     if consent == "opted_out"}
    item = InboxFile(str(path), "feedback", rows=len(frame) + len(unparsed))
    rejects: list[tuple[int, str, str]] = list(unparsed)
    new: list[dict[str, Any]] = []
    for number, row in zip(lines, frame.itertuples(index=False), strict=True):
        ticket = str(row.ticket_id).strip()
        text = str(row.helpful).strip().lower()
        flag = _FLAGS.get(text, "bad") if text else None
        level = str(row.corrected_level).strip().lower() or None
        article = str(row.article_id).strip()
        customer = str(row.customer_id).strip()
        created = str(row.created_at).strip() or None
        reasons = []
        if not ticket:
            reasons.append("empty ticket_id")
        else:
            try:
                check_label(ticket, "ticket_id")
            except InputError as exc:
                reasons.append(str(exc))
        if flag == "bad":
            reasons.append(f"helpful {row.helpful!r} is not 1/0, true/false or yes/no")
        if level is not None and level not in LEVELS:
            reasons.append(f"corrected_level {row.corrected_level!r} is not one of "
                           f"{', '.join(LEVELS)}")
        if article and article not in articles:
            reasons.append(f"article_id {article!r} is not in the knowledge base (list them "
                           "with `expertise kb list`)")
        if flag is None and level is None:
            reasons.append("neither a helpful flag nor a corrected level")
        if flag is not None and flag != "bad" and not article:
            reasons.append("a helpful flag needs the article_id it is about")
        if created is not None and parse_timestamp(created) is None:
            reasons.append(f"created_at {created!r} is not a date or time (use ISO-8601, e.g. "
                           "2026-03-01T10:30)")
        if not reasons and customer in erased:
            reasons.append("customer erased (right to erasure); not stored")
        if not reasons and ticket in erased_tickets:
            reasons.append("ticket of a customer erased (right to erasure); not stored")
        if reasons:
            rejects.append((number, ticket, "; ".join(reasons)))
            continue
        helpful = flag if isinstance(flag, bool) else None
        key = (ticket, article, helpful, level, str(row.agent).strip(), created or "")
        if key in seen:
            item.unchanged += 1
            continue
        seen.add(key)
        new.append({"ticket_id": ticket, "article_id": article, "helpful": helpful,
                    "corrected_level": level, "agent": key[4] or None,
                    "customer_id": customer or None, "created_at": created})
        item.added += 1
        item.helpful += helpful is True
        item.not_helpful += helpful is False
        item.corrections += level is not None and (customer or owners.get(ticket)) not in (
            opted_out)
    item.labelled = item.corrections
    item.rejected = len(rejects)
    return FeedbackCheck(item, new, sorted(rejects))


def ingest_feedback_file(store: Store, path: Path, *, rejects_path: Path | None = None,
                         articles: Collection[str] | None = None) -> InboxFile:
    """Add the rows of a feedback export to the store.

    Rows already stored (same ticket, article, flag, level, agent and time) are skipped, so a
    file ingested twice adds nothing. Rows that :func:`check_feedback_file` rejects (against
    `articles`, default: the configured knowledge base's) are written to `rejects_path`. The
    others are stored in one transaction: if that fails, none of them is.
    """
    from expertise.tickets.readers import rejects_frame, write_rejects

    checked = check_feedback_file(path, store=store, articles=(
        article_ids() if articles is None else articles))
    _store_feedback(store, checked)
    result = checked.item
    if checked.rejects:
        target = rejects_path or path.with_name(f"{path.stem}.rejects.csv")
        write_rejects(target, [rejects_frame(checked.rejects)])
        result.rejects_path = str(target)
    return result


def _store_feedback(store: Store, checked: FeedbackCheck) -> None:
    """The file's new rows into the store in one transaction (`Store.add_feedback_rows`, the
    rules of `Store.add_feedback` row by row): a failure midway stores none of them."""
    store.add_feedback_rows(checked.new)


def _unused(folder: Path, stem: str, suffix: str = "") -> Path:
    """``folder/stem+suffix``, or with ``-2``, ``-3``... after the stem if that exists."""
    target, n = folder / f"{stem}{suffix}", 2
    while target.exists():
        target, n = folder / f"{stem}-{n}{suffix}", n + 1
    return target


def _done_path(done: Path, name: str) -> Path:
    """Where an ingested file moves: its name, or a time-stamped one if that is taken."""
    if not (done / name).exists():
        return done / name
    return _unused(done, f"{Path(name).stem}.{new_version()}", Path(name).suffix)


def _ingest_tickets(store: Store, path: Path, rejects: Path) -> InboxFile:
    report = store.ingest_file(path, rejects_path=rejects)
    return InboxFile(str(path), "tickets", rows=report.rows_read, added=report.counts.added,
                     updated=report.counts.updated, unchanged=report.counts.unchanged,
                     rejected=report.counts.rejected,
                     rejects_path=str(report.rejects_path) if report.rejects_path else None)


@contextmanager
def _inbox_lock(inbox: Path) -> Iterator[None]:
    """The inbox to ourselves while its files are ingested and moved to done/ (an exclusive
    `flock` on the folder, released when the process ends however it ends): two retrains at
    once (a cron job and a maintainer, say) both ingested the files they had listed, and the
    second could end in a traceback moving a file the first had moved. A second retrain is
    refused at once, not queued behind the first's training. Where `fcntl` does not exist
    (Windows), or the file system cannot lock, nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(inbox, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another retrain is ingesting {inbox} now; wait for it to "
                             "finish, then run retrain again") from None
        except OSError:  # a file system without locks
            pass
        yield
    finally:
        os.close(fd)


def _ingest_inbox(store: Store, files: Sequence[Path], done: Path,
                  articles: Collection[str]) -> list[InboxFile]:
    """Ticket exports first (feedback looks up their customers), then feedback files; each
    file moves to `done` as soon as it is in the store."""
    results: list[InboxFile] = []
    feedback = {p for p in files if is_feedback_file(p)}
    try:
        done.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{done}: cannot make the folder ingested exports move to "
                         f"({exc.strerror}); fix its permissions") from None
    for path in sorted(files, key=lambda p: p in feedback):
        target = _done_path(done, path.name)
        rejects = target.with_name(f"{target.stem}.rejects.csv")
        try:
            item = (ingest_feedback_file(store, path, rejects_path=rejects, articles=articles)
                    if path in feedback else _ingest_tickets(store, path, rejects))
        except ExpertiseError as exc:
            moved = f"; the {len(results)} file(s) before it are in {done}" if results else ""
            raise _inbox_error(path, exc, moved) from exc
        os.replace(path, target)
        item.moved_to = str(target)
        results.append(item)
    return results


def _inbox_error(path: Path, exc: ExpertiseError, moved: str = "") -> ExpertiseError:
    """The error of an inbox file that cannot be ingested, naming it; a fix by an option
    (``--encoding``, ``--map``), which retrain has not, is given as a fix to the file."""
    message = exc.file_fix if isinstance(exc, ReadOptionError) else str(exc)
    kind = InputError if isinstance(exc, ReadOptionError) else type(exc)
    return kind(f"inbox file {path.name}: {message}. Fix or remove it and run again{moved}")


def _survey_inbox(files: Sequence[Path], store: Store | None,
                  articles: Collection[str]) -> list[InboxFile]:
    """What a dry run reports: each file's kind, rows, labelled rows, rows the readers would
    reject and rows of customers who opted out or were erased (counted with the store, when
    there is one); for a feedback file, what ingesting it would add and reject
    (:func:`check_feedback_file`, as ingest checks it); nothing written."""
    out = []
    for path in files:
        try:
            out.append(_survey_file(path, store, articles))
        except ExpertiseError as exc:
            raise _inbox_error(path, exc) from exc
    return out


def _after_inbox(files: Sequence[Path], store: Store | None, articles: Collection[str], *,
                 base: pd.DataFrame | None, eval_sets: dict[str, Path]) -> TrainingData:
    """The training data a real run would have once it has ingested the inbox: the files
    ingested as it ingests them (ticket exports first) into a temporary copy of the store
    (`Store.scratch_copy`), the store itself, the files and their folder left untouched, and
    no rejects file written."""
    from expertise.store.db import Store
    from expertise.tickets.readers import TicketReader

    scratch = store.scratch_copy() if store is not None else Store("")
    try:
        feedback = {p for p in files if is_feedback_file(p)}
        for path in sorted(files, key=lambda p: p in feedback):
            try:
                if path in feedback:
                    _store_feedback(scratch, check_feedback_file(path, store=scratch,
                                                                 articles=articles))
                    continue
                reader = TicketReader(path)
                for chunk in reader.chunks():
                    scratch.ingest_frame(chunk.frame, source=f"{reader.format}:{path.name}")
            except ExpertiseError as exc:
                raise _inbox_error(path, exc) from exc
        return collect_training_data(base=base, store=scratch, eval_sets=eval_sets)
    finally:
        scratch.close()


def _survey_file(path: Path, store: Store | None, articles: Collection[str]) -> InboxFile:
    from expertise.tickets.readers import TicketReader

    if is_feedback_file(path):
        return check_feedback_file(path, store=store, articles=articles).item
    reader = TicketReader(path)
    item = InboxFile(str(path), "tickets")
    for chunk in reader.chunks():
        item.rejected += len(chunk.rejects)
        frame = chunk.frame
        if "expertise_level" in frame:
            item.labelled += int((frame["expertise_level"] != "").sum())
        if store is not None and len(frame):
            left_out = store.training_exclusions(frame["customer_id"])
            item.excluded += int(frame["customer_id"].isin(left_out).sum())
    item.rows = reader.stats.rows_read
    return item


# ---- training data ------------------------------------------------------------------------


@dataclass
class TrainingData:
    """The frame a candidate is trained on and how it was put together."""

    frame: pd.DataFrame
    counts: dict[str, int]
    #: ids of opted-out and erased customers known here (kept in memory only, never reported)
    left_out: set[str] = field(default_factory=set)


def _empty_labelled() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=["ticket_id", "customer_id", "created_at", "channel", "subject",
                                 "body", "expertise_level", "topic", "resolved_article_id"])


def collect_training_data(
    *,
    base: pd.DataFrame | None,
    store: Store | None,
    eval_sets: dict[str, Path] | None = None,
) -> TrainingData:
    """The bundled split plus the store's labelled tickets, ready to train on.

    De-duplicated by ticket id (the store's copy wins: it may be newer or corrected); agents'
    latest level corrections replace labels; opted-out and erased customers are dropped from
    both sources, and so is every ticket and customer of the evaluation sets, so the gate
    never scores a model on tickets it learned from. Sorted by time and ticket id.
    """
    import pandas as pd

    from expertise.tickets.labelled import read_labelled

    base = _empty_labelled() if base is None else base
    columns = list(_empty_labelled().columns)
    base = base.reindex(columns=columns, fill_value="").fillna("").astype(str)
    counts = {"base": len(base), "store": 0, "store_replaces_base": 0, "corrected": 0,
              "excluded": 0, "excluded_customers": 0, "evaluation_overlap": 0}
    stored = _empty_labelled()
    left_out: set[str] = set()
    if store is not None:
        stored = store.training_frame(exclude=False)
        left_out = store.training_exclusions(stored["customer_id"])
        gone = stored["customer_id"].isin(left_out)
        stored = stored[~gone].reset_index(drop=True)
        counts["excluded"] = int(gone.sum())
        # the store's frame already carries agents' corrections
        counts["corrected"] = int((stored["label_source"] == "feedback").sum())
        stored = stored.reindex(columns=columns)
        counts["store"] = len(stored)
        dup = base["ticket_id"].isin(set(stored["ticket_id"]))
        counts["store_replaces_base"] = int(dup.sum())
        base = base[~dup]
        from_base = store.training_exclusions(base["customer_id"])
        mask = base["customer_id"].isin(from_base)
        counts["excluded"] += int(mask.sum())
        left_out |= from_base
        counts["excluded_customers"] = len(left_out)
        base = base[~mask]
        # the latest correction of each ticket wins
        corrections = {row.ticket_id: row.corrected_level for row in store.feedback_rows()
                       if row.corrected_level and row.ticket_id}
        if corrections:
            new = base["ticket_id"].map(corrections)
            changed = new.notna() & (new != base["expertise_level"])
            counts["corrected"] += int(changed.sum())
            base = base.assign(expertise_level=new.where(new.notna(), base["expertise_level"]))
    frame = pd.concat([base, stored], ignore_index=True)
    held_ids: set[str] = set()
    held_customers: set[str] = set()
    for path in (eval_sets or {}).values():
        held = read_labelled(path)
        held_ids |= set(held["ticket_id"].astype(str))
        held_customers |= {c for c in held.get("customer_id", pd.Series(dtype=str)) if c}
    if held_ids:
        mask = frame["ticket_id"].isin(held_ids) | (
            frame["customer_id"].isin(held_customers) & (frame["customer_id"] != ""))
        counts["evaluation_overlap"] = int(mask.sum())
        frame = frame[~mask]
    frame = frame.drop_duplicates("ticket_id", keep="last")
    frame = frame.sort_values(["created_at", "ticket_id"], kind="stable").reset_index(drop=True)
    counts["total"] = len(frame)
    counts["customers"] = int(frame.loc[frame["customer_id"] != "", "customer_id"].nunique())
    return TrainingData(frame, counts, left_out)


def _learned_from(manifest: dict[str, Any], customers: set[str], root: Path) -> int:
    """How many of `customers` a bundle's customer fingerprints include (0 when the models
    folder `root` has no fingerprint key, or not the one the bundle was made with: that cannot
    be checked here). Never creates a key."""
    from expertise.bundles.fingerprints import hash_customer, read_salt, salt_id, salt_path

    if not customers:
        return 0
    recorded = manifest.get("customers") or {}
    salt = read_salt(salt_path(root))
    if salt is None or recorded.get("salt_id") != salt_id(salt):
        return 0
    hashes = set(recorded.get("hashes") or ())
    return sum(hash_customer(c, salt) in hashes for c in customers)


# ---- retrain ----------------------------------------------------------------------------------


@dataclass
class RetrainReport:
    """Everything `expertise retrain` did and decided (also its JSON output)."""

    decision: str  # promoted | refused | nothing new | dry run
    promoted: bool
    reasons: list[str]
    inbox: list[InboxFile]
    training: dict[str, int]
    current: str | None = None
    candidate: str | None = None
    current_metrics: dict[str, Any] = field(default_factory=dict)
    candidate_metrics: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    comparison_path: str | None = None
    db: str | None = None
    eval_sets: dict[str, str] = field(default_factory=dict)
    #: Per labelled export trained on besides the store, the rows left out and why
    #: (`tickets.labelled.LabelledFile.left_out`; listed in its rejects file unless a dry run).
    left_out: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retrain(
    *,
    inbox: Path | None = None,
    db_path: Path | None = None,
    root: Path | None = None,
    kb_root: Path | None = None,
    base_data: Sequence[Path] | None = None,
    eval_sets: dict[str, Path] | None = None,
    dry_run: bool = False,
    force: bool = False,
    version: str | None = None,
    minimum: DataMinimum | None = None,
    **train_overrides: Any,
) -> RetrainReport:
    """Ingest the inbox, train a candidate, compare it with the current model, maybe promote.

    Parameters
    ----------
    inbox : Path, optional
        Folder of new exports (default ``data/inbox``); ingested files move to ``done/``.
    db_path : Path, optional
        The store (default: $EXPERTISE_DB, else the user data folder). Not created when it
        does not exist and the inbox is empty.
    root : Path, optional
        The models folder (default: $EXPERTISE_MODELS, else ``models/``).
    base_data : list of Path, optional
        Labelled exports trained on besides the store (default: the bundled training split;
        ``[]`` for none).
    eval_sets : dict, optional
        Name -> labelled file; the fixed sets both models are scored on (default
        :func:`expertise.modeling.fit.default_eval_sets`).
    dry_run : bool
        Report what would be ingested (files, rows, labelled rows, rows of opted-out or
        erased customers) and trained on, and the model the candidate would be compared
        with; write nothing. The training data is judged as the real run judges it, the
        inbox ingested into a temporary copy of the store: too little of it is the real
        run's InputError.
    force : bool
        Train and compare even when nothing changed since the current model (the gate still
        decides; to promote past it, `expertise models promote VERSION --force`).
    minimum : DataMinimum, optional
        The least training data (default: `config.MIN_TRAIN_TICKETS`, `MIN_TRAIN_TOPICS`,
        `MIN_LEVEL_TICKETS`); less is refused.
    **train_overrides
        Passed to :func:`expertise.modeling.fit` (e.g. ``folds=3``).
    """
    import pandas as pd

    from expertise.knowledge_base import load_knowledge_base
    from expertise.lifecycle.train import staleness, train_bundle
    from expertise.store.db import Store, default_rejects_path
    from expertise.tickets.labelled import default_eval_sets, read_labelled_file

    root = models_root(root)
    kb_root = kb_root or config.kb_dir()
    if inbox is not None and inbox.exists() and not inbox.is_dir():
        # an export given as the inbox read as "inbox: empty", and was never ingested (a
        # folder not made yet is an empty inbox)
        raise InputError(f"--inbox {inbox} is a file; --inbox takes the folder of new exports: "
                         "put the file in a folder and give that folder, or move it into "
                         f"{config.data_dir() / 'inbox'} and leave --inbox out")
    inbox = inbox or config.data_dir() / "inbox"
    db_path = db_path or config.default_db_path()
    sets = dict(eval_sets) if eval_sets is not None else default_eval_sets()
    if not sets:
        raise InputError("no evaluation sets to compare on; expected data/tickets_eval.csv")
    files = inbox_files(inbox)
    done = inbox / "done"
    if done.exists() and not done.is_dir():
        raise InputError(f"{done}: is a file, but retrain moves ingested exports into a folder "
                         "of that name; rename or move that file out of the inbox")
    paths = list(base_data) if base_data is not None else [
        config.data_dir() / "tickets_train.csv"]
    lock = ExitStack()
    if files and not dry_run:
        lock.enter_context(_inbox_lock(inbox))
        files = [p for p in files if p.exists()]  # what a retrain just before us left
    with lock, _fixes_to_files():
        kb = load_knowledge_base(kb_root)
        articles = {a.id for a in kb.articles}
        read = [read_labelled_file(p, topics=kb.topics,
                                   rejects_path=None if dry_run else default_rejects_path(p))
                for p in paths]
        base = pd.concat([r.frame for r in read], ignore_index=True) if read else None

        store = Store(db_path) if Path(db_path).exists() or (files and not dry_run) else None
        try:
            items = _survey_inbox(files, store, articles) if dry_run else (
                _ingest_inbox(store, files, done, articles) if store is not None and files
                else [])
            now = collect_training_data(base=base, store=store, eval_sets=sets)
            # a dry run judges the data the real run would have: the inbox ingested
            data = _after_inbox(files, store, articles, base=base, eval_sets=sets) if (
                dry_run and files) else now
        finally:
            if store is not None:
                store.close()

    report = RetrainReport("dry run", False, [], items, data.counts,
                           current=current_version(root), db=str(db_path),
                           eval_sets={k: str(v) for k, v in sets.items()},
                           left_out=[r.left_out() for r in read])
    with _naming_left_out(report.left_out):  # too little data: which rows were left out
        if len(data.frame) == 0:
            raise InputError(
                "no labelled tickets to train on: the base exports and the store hold none "
                "(after leaving out opted-out, erased and evaluation customers)"
            )
        current_manifest = (load_current(root).manifest if report.current is not None
                            else None)
        if dry_run:
            return _dry_run(report, now, data, files, items, current_manifest, force=force,
                            root=root, kb_root=kb_root, minimum=minimum)
        if current_manifest is not None and not force and not staleness(
                data.frame, current_manifest, kb_root=kb_root):
            report.decision = "nothing new"
            report.reasons = [f"{report.current} was trained on exactly this data, knowledge "
                              "base and code; use --force to train anyway"]
            return report
        version = version or _unused(root, new_version()).name
        trained = train_bundle(frame=data.frame, out_dir=root, kb_root=kb_root,
                               promote=False, minimum=minimum, version=version,
                               evaluate=True, eval_sets=sets, **train_overrides)
    report.candidate = trained.version
    candidate = summary_with_counts(trained.metrics)
    verdict = judge(trained.version, root, candidate_metrics=candidate, eval_sets=sets,
                    kb_root=kb_root)
    report.candidate_metrics = verdict.candidate_metrics or candidate
    report.current_metrics, report.checks = verdict.current_metrics, verdict.checks
    report.promoted = verdict.passed
    report.decision = "promoted" if verdict.passed else "refused"
    report.reasons = list(verdict.reasons)
    stale = (_learned_from(current_manifest or {}, data.left_out, root)
             if not verdict.passed else 0)
    if stale:
        report.reasons.append(
            f"note: {report.current} learned from {stale} customer(s) who have since opted "
            f"out or been erased, and the candidate leaves them out; to honour that, "
            f"promote it anyway: `expertise models promote {trained.version} --force`")
    if report.promoted:
        try:  # judged against the model current then: refused if another one is current now
            set_current(trained.version, root, action="promote",
                        reason="retrain: passed the gate", expected=verdict.current)
        except ArtifactError as exc:
            report.promoted, report.decision = False, "refused"
            report.reasons.append(str(exc))
    comparison = root / f"{trained.version}{COMPARISON_SUFFIX}"
    report.comparison_path = str(comparison)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write_text(comparison, json.dumps({"at": at, **report.to_dict()}, indent=2,
                                             default=str))
    return report


@contextmanager
def _naming_left_out(left_out: list[dict[str, Any]]) -> Iterator[None]:
    """An InputError (too little training data) with, per labelled export, the rows left out
    and why, when any were."""
    from expertise.tickets.labelled import describe_left_out

    try:
        yield
    except InputError as exc:
        lines = [line for line in map(describe_left_out, left_out) if line]
        if not lines:
            raise
        raise InputError(f"{exc}. " + ". ".join(lines)) from None


@contextmanager
def _fixes_to_files() -> Iterator[None]:
    """A file that only an option of `score` or `ingest` (``--encoding``, ``--map``) would
    read is an error whose fix is made to the file: retrain reads exports of many kinds at
    once, and one encoding for all of them would misread the others."""
    try:
        yield
    except ReadOptionError as exc:
        raise InputError(exc.file_fix) from None


def _dry_run(report: RetrainReport, now: TrainingData, data: TrainingData,
             files: Sequence[Path], items: list[InboxFile],
             current_manifest: dict[str, Any] | None, *, force: bool, root: Path,
             kb_root: Path, minimum: DataMinimum | None) -> RetrainReport:
    """The reasons of a dry run: what would be ingested, trained on and compared with.

    `now` is the training data before the inbox, `data` what the real run would train on,
    the inbox ingested; that is judged as the real run judges it, in the same order: nothing
    new, else too little of it (the real run's InputError, word for word)."""
    from expertise.knowledge_base import load_knowledge_base
    from expertise.lifecycle.train import check_training_data, staleness
    from expertise.tickets.labelled import check_training_frame

    reasons, counts = report.reasons, data.counts
    if files:
        rows = sum(f.rows for f in items)
        labelled = sum(f.labelled for f in items if f.kind == "tickets")
        corrections = sum(f.labelled for f in items if f.kind == "feedback")
        excluded = sum(f.excluded for f in items)
        reasons.append(
            f"would ingest {len(files)} export(s): {rows} rows, {labelled} labelled tickets, "
            f"{corrections} level corrections; {excluded} rows of opted-out or erased "
            "customers would be stored but never trained on")
    before = now.counts.get("total", 0)
    reasons.append(
        ("training data with the inbox: " if files else "training data now: ")
        + f"{counts.get('total', 0)} labelled tickets from "
        f"{counts.get('customers', 0)} customers; left out: {counts.get('excluded', 0)} "
        f"tickets of {counts.get('excluded_customers', 0)} customers who opted out or were "
        f"erased, {counts.get('evaluation_overlap', 0)} in the evaluation sets"
        + (f" ({before} before it)" if files else ""))
    if current_manifest is not None and not force:
        why = staleness(data.frame, current_manifest, kb_root=kb_root)
        if not why:
            report.decision = "nothing new"
            reasons.append(f"{report.current} was trained on exactly this data, knowledge base "
                           "and code; use --force to train anyway")
            return report
        would = "would train a candidate: " + "; ".join(why)
    else:
        would = "would train a candidate: " + ("--force" if force else f"no current model in "
                                                                      f"{root}")
    # too little data: the real run's refusal (train_bundle's check), not a line of the report
    check_training_data(check_training_frame(data.frame),
                        list(load_knowledge_base(kb_root).topics), minimum)
    reasons.append(would)
    reasons.append(
        f"would compare it with the current model {report.current} on "
        f"{', '.join(report.eval_sets)}, and promote it only if no set loses more than "
        f"{MAX_ACCURACY_DROP * 100:g} point of accuracy and severe misses do not rise"
        if report.current else f"no current model in {root}: the candidate would become current")
    return report
