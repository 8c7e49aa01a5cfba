"""Train a model bundle: fit, evaluate, fingerprint and save; know when one is out of date.

`train_bundle` is what `expertise train` and `make train` run. The code fingerprint covers
only the code that changes a model (:data:`MODEL_CODE`), so that editing, say, the CLI's help
does not make the committed bundle look stale.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise import config
from expertise.errors import ArtifactError, InputError, ModelNotFoundError
from expertise.io import write_failed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODEL_CODE", "DataMinimum", "TrainReport", "check_training_data", "code_fingerprint",
           "model_code_files", "staleness", "train_bundle", "training_shortfalls",
           "training_status"]

#: What changes a model, relative to the package: folders are read recursively. The Makefile's
#: MODEL_CODE lists the same (a test compares them).
MODEL_CODE: tuple[str, ...] = ("config.py", "privacy.py", "knowledge_base.py", "scoring",
                               "modeling", "tickets/labelled.py")


@dataclass
class TrainReport:
    version: str
    path: Path
    promoted: bool
    facts: dict[str, Any]
    metrics: dict[str, Any]
    #: With promote: the gate's verdict ("promoted", "refused" or "forced") and its reasons.
    decision: str = "not promoted"
    reasons: list[str] = field(default_factory=list)
    current: str | None = None
    checks: list[Any] = field(default_factory=list)
    #: Per file of training data, the rows left out and why (`LabelledFile.left_out`).
    left_out: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DataMinimum:
    """The least training data a model is made from (defaults: `config.MIN_TRAIN_TICKETS`,
    `MIN_TRAIN_TOPICS`, `MIN_LEVEL_TICKETS`)."""

    tickets: int = config.MIN_TRAIN_TICKETS
    topics: int = config.MIN_TRAIN_TOPICS
    per_level: int = config.MIN_LEVEL_TICKETS


def training_shortfalls(frame: pd.DataFrame, topics: Sequence[str],
                        minimum: DataMinimum | None = None) -> list[str]:
    """What a labelled frame lacks to make a model: too few tickets, too few of the knowledge
    base's `topics` with a ticket, too few tickets of a level. Empty when it is enough."""
    from expertise.config import LEVELS

    minimum = minimum or DataMinimum()
    short = []
    if len(frame) < minimum.tickets:
        short.append(f"{len(frame)} labelled tickets ({minimum.tickets} needed)")
    topic_col = frame["topic"] if "topic" in frame else None
    covered = len(set(topics) & set(topic_col)) if topic_col is not None else 0
    if covered < minimum.topics:
        short.append(f"{covered} knowledge-base topics with a ticket ({minimum.topics} needed)")
    counts = frame["expertise_level"].value_counts().to_dict() if len(frame) else {}
    for level in LEVELS:
        n = int(counts.get(level, 0))
        if n < minimum.per_level:
            short.append(f"{n} {level} tickets ({minimum.per_level} needed)")
    return short


def check_training_data(frame: pd.DataFrame, topics: Sequence[str],
                        minimum: DataMinimum | None = None) -> None:
    """Raise InputError when the frame is too small or too topic-poor to make a model."""
    short = training_shortfalls(frame, topics, minimum)
    if short:
        raise InputError(
            "too little training data for a model that can be trusted: " + "; ".join(short)
            + ". Add labelled tickets (agents' corrections count: `expertise retrain`), or "
            "train anyway for an experiment with `expertise train --force` (it becomes current "
            "only through the promotion gate; `retrain --force` does not lift this minimum)")


def train_bundle(
    *,
    data: Path | list[Path] | None = None,
    frame: pd.DataFrame | None = None,
    out_dir: Path | None = None,
    kb_root: Path | None = None,
    promote: bool = False,
    force: bool = False,
    minimum: DataMinimum | None = None,
    version: str | None = None,
    evaluate: bool = True,
    eval_sets: dict[str, Path] | None = None,
    messages: pd.DataFrame | None = None,
    mapping: Mapping[str, str] | None = None,
    encoding: str = "auto",
    store_path: Path | None = None,
    **overrides: Any,
) -> TrainReport:
    """Fit on the bundled training split (or `data`/`frame`) and the bundled messages in
    customers' own voice (or `messages`; `tickets.labelled.read_messages`), evaluate, and
    save a bundle.

    The files of `data` are read as exports are (`mapping` as ``--map``, `encoding` as
    ``--encoding``); the rows left out (unreadable, duplicate, without a level, of a topic
    the knowledge base lacks...) are listed in ``<file>.rejects.csv`` next to each, and
    counted in the report's `left_out`; training goes on with the others.

    With `store_path`, the customers that store says must never be trained on (opted out, or
    erased: `Store.training_exclusions`, the rule `retrain` follows) are left out of whatever
    the data is, and counted in the facts (``excluded_customers``, ``excluded_tickets``)."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from expertise.bundles.fingerprints import customer_salt, hash_customer, salt_id, salt_path
    from expertise.bundles.format import save_bundle
    from expertise.bundles.registry import check_version_name, new_version
    from expertise.knowledge_base import fingerprint_knowledge_base, load_knowledge_base
    from expertise.modeling.evaluate import evaluate_lean, plots
    from expertise.modeling.fit import fit
    from expertise.store.db import default_rejects_path
    from expertise.tickets.labelled import (
        check_training_frame,
        default_eval_sets,
        fingerprint_frame,
        read_labelled_file,
        read_messages,
    )

    started = time.perf_counter()
    out_dir = out_dir or config.models_dir()
    _check_models_folder(out_dir)  # before training: a bundle nowhere to go is minutes lost
    if version is not None:  # a name that cannot be saved is refused before any training
        check_version_name(version, new=True)
        if (out_dir / version).exists():
            raise ArtifactError(f"{out_dir / version} exists already; choose another version "
                                "name")
    kb_root = kb_root or config.kb_dir()
    kb = load_knowledge_base(kb_root)
    left_out: list[dict[str, Any]] = []
    if frame is None:
        read = [read_labelled_file(p, mapping=mapping, encoding=encoding, topics=kb.topics,
                                   rejects_path=default_rejects_path(p))
                for p in _training_paths(data, mapping, encoding)]
        left_out = [r.left_out() for r in read]
        frame = pd.concat([r.frame for r in read], ignore_index=True)
    excluded: dict[str, int] = {}
    if store_path is not None:
        frame, excluded = _without_excluded(frame, store_path)
    try:
        frame = check_training_frame(frame)
        if not force:
            check_training_data(frame, list(kb.topics), minimum)
    except InputError as exc:
        raise InputError(_with_left_out(str(exc), frame, left_out)) from None
    if messages is None:
        messages = read_messages()
    result = fit(frame, kb, messages=messages, **overrides)
    if version is None:  # named when saved: another training may have taken this second's
        stem, n = new_version(), 2
        version = stem
        while (out_dir / version).exists():
            version, n = f"{stem}-{n}", n + 1
    try:
        salt = customer_salt(salt_path(out_dir))  # the key lives with the models, not the user
    except OSError as exc:
        raise write_failed(salt_path(out_dir), exc, "--out", what="the models' customer key") \
            from None
    customers = sorted({c for c in frame["customer_id"] if c})
    metrics: dict[str, Any] = {}
    extra: dict[str, bytes] = {}
    if evaluate:
        with threadpool_limits(limits=1, user_api="blas"):  # see modeling.fit.fit
            metrics = evaluate_lean(result.lean, kb_root=kb_root, train=frame,
                                    sets=eval_sets if eval_sets is not None
                                    else default_eval_sets())
        extra = plots(metrics)
    result.facts.update(excluded)
    result.facts["train_seconds"] = round(time.perf_counter() - started, 2)
    result.facts["code_fingerprint"] = code_fingerprint()
    try:
        bundle = save_bundle(
            lean=result.lean,
            sklearn_objects={"model": result.model, "topic_model": result.topic_model,
                             "params": result.params},
            out_dir=out_dir, version=version,
            data_fingerprint=fingerprint_frame(frame, messages),
            kb_fingerprint=fingerprint_knowledge_base(kb_root), metrics=metrics,
            facts=result.facts, customer_hashes=[hash_customer(c, salt) for c in customers],
            salt_id=salt_id(salt), extra_files=extra,
        )
    except OSError as exc:  # a full disk, say: save_bundle has removed its temporary folder
        raise write_failed(out_dir / version, exc, "--out", what="the model bundle") from None
    report = TrainReport(version, bundle.path, False, result.facts, metrics,
                         left_out=left_out)
    if promote:
        _promote_trained(report, out_dir, force=force, evaluated=evaluate,
                         eval_sets=eval_sets, kb_root=kb_root)
    return report


def _check_models_folder(out_dir: Path) -> None:
    """Raise InputError when `out_dir` cannot take a new bundle: it is a file, or it (or the
    folder it would be made in) cannot be written to. Nothing is created here."""
    import os

    fix = "give a models folder you can write to with --out (or $EXPERTISE_MODELS)"
    existing = out_dir
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        what = "" if existing == out_dir else f" (in the path of {out_dir})"
        raise InputError(f"{existing}{what} is a file, not a folder; {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{existing}: cannot write there (permission denied or a read-only "
                         f"file system); {fix}")


def _without_excluded(frame: pd.DataFrame, store_path: Path
                      ) -> tuple[pd.DataFrame, dict[str, int]]:
    """`frame` without the tickets of customers the store excludes from training, and how
    many customers and tickets were left out."""
    from expertise.store.db import Store

    if "customer_id" not in frame or not len(frame):
        return frame, {"excluded_customers": 0, "excluded_tickets": 0}
    with Store(store_path, create=False) as store:
        left_out = store.training_exclusions(frame["customer_id"].astype(str))
    gone = frame["customer_id"].isin(left_out)
    counts = {"excluded_customers": len(left_out), "excluded_tickets": int(gone.sum())}
    return (frame[~gone].reset_index(drop=True) if left_out else frame), counts


def _with_left_out(message: str, frame: pd.DataFrame, left_out: list[dict[str, Any]]) -> str:
    """Why the training data read from files is not enough, with how many rows were usable
    and, per file, the rows left out and why (when any were)."""
    from expertise.tickets.labelled import describe_left_out

    if not left_out:  # a frame given, not read here
        return message
    levels = (frame["expertise_level"].value_counts().to_dict()
              if "expertise_level" in frame and len(frame) else {})
    mix = ", ".join(f"{n} {level}" for level, n in levels.items())
    usable = f"{len(frame)} usable labelled ticket(s)" + (f" ({mix})" if mix else "")
    lines = [line for line in (describe_left_out(info) for info in left_out) if line]
    return f"{message}. {usable}" + "".join(f"; {line}" for line in lines)


def _promote_trained(report: TrainReport, root: Path, *, force: bool, evaluated: bool,
                     eval_sets: dict[str, Path] | None, kb_root: Path) -> None:
    """Make a freshly trained bundle current if it passes the gate that every promotion goes
    through (`lifecycle.models.judge`), on the sets it was just evaluated on; `force` promotes
    it anyway, and the promotions log says so."""
    from expertise.bundles.registry import set_current
    from expertise.lifecycle.models import forced_note, judge, summary_with_counts

    candidate = summary_with_counts(report.metrics) if evaluated else {}
    verdict = judge(report.version, root, candidate_metrics=candidate, eval_sets=eval_sets,
                    kb_root=kb_root)
    report.current, report.checks, report.reasons = verdict.current, verdict.checks, \
        verdict.reasons
    reason = "expertise train --promote"
    if not verdict.passed:
        if not force:
            report.decision = "refused"
            return
        report.reasons = [forced_note(verdict)]
        reason += f" --force; {report.reasons[0]}"
    set_current(report.version, root, reason=reason, expected=verdict.current)
    report.promoted = True
    report.decision = "promoted" if verdict.passed else "forced"


def model_code_files() -> list[Path]:
    """The package files of :data:`MODEL_CODE`, sorted by their path in the package."""
    files: list[Path] = []
    for entry in MODEL_CODE:
        path = config.PACKAGE_DIR / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return sorted(files, key=lambda p: p.relative_to(config.PACKAGE_DIR).as_posix())


def code_fingerprint() -> str:
    """SHA-256 over the code that changes a model (path in the package and content), in a
    stable order: recorded in each bundle so that `expertise train --if-changed` sees it."""
    digest = hashlib.sha256()
    for path in model_code_files():
        digest.update(path.relative_to(config.PACKAGE_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def staleness(frame: pd.DataFrame | None, manifest: dict[str, Any], *,
              kb_root: Path | None = None) -> list[str]:
    """Why a bundle is out of date for this training frame: changed training data, knowledge
    base or code (a bundle that recorded no code fingerprint counts as changed code).
    An empty list means it is up to date. `frame=None` skips the data check."""
    from expertise.knowledge_base import fingerprint_knowledge_base
    from expertise.tickets.labelled import check_training_frame, fingerprint_frame, read_messages

    reasons = []
    if frame is not None:
        fingerprint = fingerprint_frame(check_training_frame(frame), read_messages())
        if fingerprint != manifest.get("training_data"):
            reasons.append("training data changed")
    if fingerprint_knowledge_base(kb_root or config.kb_dir()) != manifest.get("knowledge_base"):
        reasons.append("knowledge base changed")
    recorded = (manifest.get("facts") or {}).get("code_fingerprint")
    if recorded is None:
        reasons.append("the current model records no code fingerprint")
    elif recorded != code_fingerprint():
        reasons.append("code changed")
    return reasons


def training_status(*, data: Sequence[Path] | None = None, root: Path | None = None,
                    kb_root: Path | None = None, mapping: Mapping[str, str] | None = None,
                    encoding: str = "auto") -> list[str]:
    """What `expertise train --if-changed` checks: reasons the current model is out of date
    for `data` (default: the bundled training split), read as training reads it; empty when
    it is up to date."""
    import pandas as pd

    from expertise.bundles.registry import load_current
    from expertise.knowledge_base import load_knowledge_base
    from expertise.tickets.labelled import read_labelled_file

    root = Path(root) if root is not None else config.models_dir()
    try:
        manifest = load_current(root).manifest
    except ModelNotFoundError:
        return [f"no current model in {root}"]
    topics = load_knowledge_base(kb_root or config.kb_dir()).topics
    frame = pd.concat([read_labelled_file(p, mapping=mapping, encoding=encoding,
                                          topics=topics).frame
                       for p in _training_paths(data, mapping, encoding)], ignore_index=True)
    return staleness(frame, manifest, kb_root=kb_root)


def _training_paths(data: Path | Sequence[Path] | None, mapping: Mapping[str, str] | None,
                    encoding: str) -> list[Path]:
    """The labelled files to train on: `data`, else the bundled training split (which
    ``--map`` and ``--encoding`` are not for)."""
    from expertise.tickets.readers import check_reading_options

    if data:
        return [data] if isinstance(data, Path) else list(data)
    check_reading_options(data, encoding=encoding, mapping=mapping)
    return [config.data_dir() / "tickets_train.csv"]
