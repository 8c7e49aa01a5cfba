"""The models folder for maintainers: list, promote, roll back and prune bundles; the gate.

Every change of the current model goes through `expertise.bundles.registry.set_current`
and is logged in `models/promotions.jsonl`; `rollback` walks back through that log.

Every promotion (`expertise train --promote`, `make train`, `retrain`, `models promote`) goes
through one gate (:func:`judge`): the candidate and the current model are scored on the same
fixed evaluation sets, and the candidate may become current only if no set loses more than
:data:`MAX_ACCURACY_DROP` of accuracy and the severe-miss rate does not rise. ``force``
overrides it, and the promotions log and the result say so. A rollback is not gated: it
returns to a model that was current before, the way out of a bad promotion.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise import config
from expertise.bundles.format import MANIFEST, remove_dead_leftovers, verify_bundle
from expertise.bundles.registry import (
    COMPARISON_SUFFIX,
    check_version_name,
    current_version,
    models_lock,
    read_promotions,
    set_current,
    survey_bundles,
    version_named,
)
from expertise.errors import (
    ArtifactError,
    InputError,
    ModelNotFoundError,
    PromotionRefusedError,
    ReadOptionError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMPARISON_SUFFIX", "MAX_ACCURACY_DROP", "Check", "ModelAction", "PruneResult",
           "Verdict", "gate", "judge", "list_models", "promote", "prune", "rollback"]

#: The largest accuracy drop (on any fixed evaluation set) a candidate may show and still win.
MAX_ACCURACY_DROP = 0.01
#: Floating-point slack for the gate: the figures are rounded to four decimals.
_EPS = 1e-9


def models_root(root: Path | None) -> Path:
    """The models folder: `root`, else $EXPERTISE_MODELS or the bundled one."""
    return Path(root) if root is not None else config.models_dir()


def list_models(root: Path | None = None) -> list[dict[str, Any]]:
    """Every bundle folder in the models folder, oldest first, damaged ones included.

    Each row: ``version`` (the folder's name), ``created``, ``train_tickets``,
    ``train_customers``, ``metrics`` (per evaluation set: accuracy and severe-miss rate),
    ``current`` (bool), ``status`` (``ok``, or ``damaged: why`` when the manifest is unreadable
    or a file does not match its hash) and ``decision`` (the retrain gate's verdict, when the
    bundle came from `retrain`).

    A current pointer that cannot be read (a folder in its place, a path elsewhere) marks no
    bundle current and does not stop the listing: the bundles are what one promotes to mend
    it. `current_version` still raises on it, naming the fix.
    """
    root = models_root(root)
    try:
        current = current_version(root)
    except ArtifactError:
        if not root.is_dir():  # no folder of bundles to list
            raise
        current = None
    rows = []
    for entry in survey_bundles(root):
        manifest, version = entry.manifest, entry.name
        facts = _dict(manifest.get("facts"))
        # The manifest's figures are not covered by its hashes (it lists the files'): a
        # value edited to text or a list is shown as missing, never passed on as a number.
        metrics = {
            str(name): {"accuracy": _number(m.get("accuracy")),
                        "severe_miss_rate": _number(m.get("severe_miss_rate"))}
            for name, m in _dict(manifest.get("metrics")).items()
            if isinstance(m, dict)
        }
        decision = None
        comparison = root / f"{version}{COMPARISON_SUFFIX}"
        if comparison.exists():
            try:
                decision = json.loads(comparison.read_text(encoding="utf-8")).get("decision")
            except (ValueError, AttributeError, OSError):  # not JSON, not UTF-8, not an object
                decision = "unreadable comparison file"
            if decision is not None and not isinstance(decision, str):
                decision = "unreadable comparison file"
        created = manifest.get("created")
        rows.append({
            "version": version, "created": created if isinstance(created, str) else "",
            "train_tickets": _number(facts.get("train_tickets")),
            "train_customers": _number(facts.get("train_customers")),
            "metrics": metrics, "current": version == current, "status": entry.status,
            "decision": decision,
        })
    rows.sort(key=lambda r: (str(r["created"]), r["version"]))
    return rows


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> int | float | None:
    """A figure read from a manifest: an int or a finite float as it is, anything else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if value == value and abs(value) != float("inf") else None


# ---- the gate ---------------------------------------------------------------------------------


@dataclass
class Check:
    """One rule of the gate on one evaluation set."""

    set: str
    metric: str
    current: float | None
    candidate: float | None
    rule: str
    passed: bool


def gate(current: dict[str, Any], candidate: dict[str, Any], *,
         max_drop: float = MAX_ACCURACY_DROP) -> list[Check]:
    """Compare two evaluation summaries (`evaluation.summarise` output, plus each set's
    ticket count ``n``) on the same sets.

    Accuracy may drop by at most `max_drop` on each set. The severe-miss rate (a novice read
    as an expert or the reverse) may not rise at all; it is pooled over the sets (severe
    misses / tickets), since on a set of two hundred tickets one ticket is half a point.
    A set the candidate was not scored on fails.
    """
    checks = []
    severe_cur = severe_new = total_cur = total_new = 0.0
    complete = True
    for name in sorted(set(current) | set(candidate)):
        cur, new = current.get(name) or {}, candidate.get(name) or {}
        a, b = cur.get("accuracy"), new.get("accuracy")
        checks.append(Check(name, "accuracy", a, b, f"drop <= {max_drop * 100:g} point",
                            a is not None and b is not None and b >= a - max_drop - _EPS))
        a, b = cur.get("severe_miss_rate"), new.get("severe_miss_rate")
        if a is None or b is None:
            complete = False
            continue
        n_cur, n_new = float(cur.get("n") or 1), float(new.get("n") or 1)
        severe_cur += round(a * n_cur, 6)
        severe_new += round(b * n_new, 6)
        total_cur, total_new = total_cur + n_cur, total_new + n_new
    a = round(severe_cur / total_cur, 4) if total_cur else None
    b = round(severe_new / total_new, 4) if total_new else None
    checks.append(Check("all sets", "severe_miss_rate", a, b, "no rise",
                        complete and a is not None and b is not None and b <= a + _EPS))
    return checks


def summary_with_counts(report: dict[str, Any]) -> dict[str, Any]:
    """`summarise` figures plus each set's number of estimated tickets (for pooling)."""
    from expertise.modeling.evaluate import summarise

    summary = summarise(report)
    for name, res in report.get("sets", {}).items():
        summary[name]["n"] = (res.get("level") or {}).get("n")
    return summary


def read_eval_sets(sets: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """The fixed evaluation sets, read before any model is scored on them: a file that cannot
    be used is reported as that file's problem (InputError naming the set, the file and the
    fix), never as the model's."""
    from expertise.tickets.labelled import read_labelled

    frames = {}
    for name, path in sets.items():
        try:
            frames[name] = read_labelled(path, evaluation=True)  # as the candidate is read
        except (InputError, OSError) as exc:
            # this command has no --map or --encoding: the fix is made to the file
            why = (exc.file_fix if isinstance(exc, ReadOptionError) else str(exc)
                   if isinstance(exc, InputError) else f"{path}: {exc.strerror or exc}")
            raise InputError(f"evaluation set {name!r}: {why}; fix that file, or compare on "
                             f"another labelled export (--eval {name}=FILE)") from None
    return frames


def evaluate_version(root: Path, version: str, frames: dict[str, pd.DataFrame],
                     kb_root: Path | None = None) -> dict[str, Any]:
    """A bundle of the models folder scored on the fixed evaluation sets (`read_eval_sets`;
    the figures the gate compares), through the same engine that serves answers."""
    from expertise.engine import Engine
    from expertise.modeling.evaluate import evaluate_frame

    engine = Engine(model_dir=root / version, kb_root=kb_root or config.kb_dir(), trust=True)
    try:
        report = {"sets": {name: evaluate_frame(engine, frame)
                           for name, frame in frames.items()}}
    finally:
        engine.close()
    return summary_with_counts(report)


@dataclass
class Verdict:
    """What the gate decided about a candidate against the current model."""

    candidate: str
    current: str | None
    passed: bool
    reasons: list[str]
    checks: list[Check] = field(default_factory=list)
    current_metrics: dict[str, Any] = field(default_factory=dict)
    candidate_metrics: dict[str, Any] = field(default_factory=dict)


def judge(candidate: str, root: Path | None = None, *,
          candidate_metrics: dict[str, Any] | None = None,
          eval_sets: dict[str, Path] | None = None, kb_root: Path | None = None,
          max_drop: float = MAX_ACCURACY_DROP) -> Verdict:
    """The promotion gate: may `candidate` (a bundle of the models folder) replace the
    current model?

    Both are scored on the same fixed evaluation sets (default: the bundled ones); pass
    `candidate_metrics` (:func:`summary_with_counts` of the candidate's own evaluation on
    those sets) to skip scoring it again. The sets are read first, whatever follows: a file
    that cannot be used is an InputError naming it (:func:`read_eval_sets`), with no current
    model too. With no current model the candidate passes; with no evaluation sets, or a
    candidate that was not evaluated, it cannot be compared and does not. A current model
    that is damaged (fails verification) cannot serve, so a verified candidate passes, and so
    it does when the current model cannot be scored by this code at all (a model of older
    code whose features changed).
    """
    from expertise.tickets.labelled import default_eval_sets

    root = models_root(root)
    current = current_version(root)
    if current is not None and current == candidate:
        return Verdict(candidate, current, True, [f"{candidate} is already current"])
    sets = dict(eval_sets) if eval_sets is not None else default_eval_sets()
    # a bad file is the file's fault, not either model's, and an error even where nothing is
    # compared: it would be the next promotion's surprise
    frames = read_eval_sets(sets)
    if current is None:
        return Verdict(candidate, current, True,
                       [f"no current model in {root}: the first model needs no comparison"])
    try:
        verify_bundle(root / current, root=root)
    except (ArtifactError, ModelNotFoundError) as exc:
        return Verdict(candidate, current, True,
                       [f"the current model {current} is damaged ({exc}); nothing to compare"])
    if not sets:
        return Verdict(candidate, current, False, [
            "no evaluation sets to compare on (expected data/tickets_eval.csv); the gate "
            "cannot tell whether the candidate is worse"])
    if candidate_metrics is None:
        try:
            candidate_metrics = evaluate_version(root, candidate, frames, kb_root)
        except (ArtifactError, ModelNotFoundError):
            raise
        except Exception as exc:  # a model of older code whose features changed, say
            raise ArtifactError(
                f"{candidate} cannot be scored by this code ({type(exc).__name__}: {exc}); "
                "it cannot serve: retrain (`expertise train`)") from exc
    if not candidate_metrics:
        return Verdict(candidate, current, False, [
            f"{candidate} was not evaluated (--no-eval), so the gate cannot compare it with "
            f"{current}; train it with evaluation"])
    try:
        current_metrics = evaluate_version(root, current, frames, kb_root)
    except Exception as exc:  # what a model of older code fails with varies
        # A model made by older code may not run with this code (its features changed, say):
        # it cannot serve either, so there is nothing to keep it for.
        return Verdict(candidate, current, True, [
            f"the current model {current} cannot be scored by this code ({type(exc).__name__}: "
            f"{exc}); nothing to compare", ], candidate_metrics=candidate_metrics)
    checks = gate(current_metrics, candidate_metrics, max_drop=max_drop)
    failed = [c for c in checks if not c.passed]
    reasons = [f"{c.set} {c.metric}: {c.current} -> {c.candidate} breaks '{c.rule}'"
               for c in failed] or [
        f"no evaluation set lost more than {max_drop * 100:g} point of accuracy, and severe "
        "misses did not rise"]
    return Verdict(candidate, current, not failed, reasons, checks, current_metrics,
                   candidate_metrics)


def refusal_message(verdict: Verdict) -> str:
    """One line: why the gate refused a candidate and how to promote it anyway."""
    return (f"{verdict.candidate} did not pass the promotion gate against the current model "
            f"{verdict.current}: {'; '.join(verdict.reasons)}. {verdict.current} stays "
            f"current; to promote {verdict.candidate} anyway: "
            f"`expertise models promote {verdict.candidate} --force`")


def forced_note(verdict: Verdict) -> str:
    """What a forced promotion overrode, for the promotions log and the user."""
    return (f"FORCED past the promotion gate ({verdict.current} -> {verdict.candidate}): "
            + "; ".join(verdict.reasons))


# ---- promote, rollback ----------------------------------------------------------------------


@dataclass
class ModelAction:
    """What `promote` or `rollback` did."""

    action: str
    version: str
    previous: str | None
    changed: bool
    notes: list[str] = field(default_factory=list)
    forced: bool = False
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promote(version: str, root: Path | None = None, *, reason: str = "manual",
            force: bool = False, eval_sets: dict[str, Path] | None = None,
            kb_root: Path | None = None) -> ModelAction:
    """Make `version` current after verifying every file and passing the gate (:func:`judge`).

    Parameters
    ----------
    force : bool
        Promote even if the gate refuses; the promotions log and the returned notes say what
        was overridden.

    `version` may also be a path to a bundle folder of the models folder (a trailing slash
    from tab completion, an absolute path): it is promoted by its name, the only thing
    `models/current` ever holds.

    Raises
    ------
    InputError
        `version` is not a version name or a bundle folder of the models folder.
    ModelNotFoundError
        No such bundle.
    ArtifactError
        The bundle fails verification (a file changed, is missing or is not listed).
    PromotionRefusedError
        The gate refused it and `force` was not given.
    """
    root = models_root(root)
    version = version_named(version, root)
    if not (root / version / MANIFEST).exists():
        known = ", ".join(r["version"] for r in list_models(root)) or "none"
        raise ModelNotFoundError(
            f"no bundle {version!r} in {root} (bundles: {known}); see `expertise models list`"
        )
    verify_bundle(root / version, root=root)
    previous = current_version(root)
    if previous == version:
        return ModelAction("promote", version, previous, False, [f"{version} is already current"])
    verdict = judge(version, root, eval_sets=eval_sets, kb_root=kb_root)
    notes: list[str] = []
    if not verdict.passed:
        if not force:
            raise PromotionRefusedError(refusal_message(verdict))
        notes.append(forced_note(verdict))
        reason = f"{reason}; {notes[0]}"
    set_current(version, root, action="promote", reason=reason, expected=verdict.current)
    return ModelAction("promote", version, previous, True, notes, forced=not verdict.passed,
                       checks=verdict.checks)


def _promotion_stack(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Replay the promotions log: a promotion pushes a version, a rollback pops one."""
    stack: list[str] = []
    for entry in entries:
        version, previous = str(entry["version"]), entry.get("previous")
        if entry.get("action") == "rollback":
            if stack and stack[-1] == previous:
                stack.pop()
        elif previous and (not stack or stack[-1] != previous):
            # the pointer moved without a record (edited by hand): treat it as a promotion
            stack.append(str(previous))
        if not stack or stack[-1] != version:
            stack.append(version)
    return stack


def _logged_names(entries: list[dict[str, Any]], root: Path) -> list[dict[str, Any]]:
    """Log entries with versions written as paths to bundles of `root` (as older code could
    log them: ``20261203-132021/``) read as those bundles' names, as `current_version` reads
    the pointer; anything else is left as logged."""
    def name(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        with contextlib.suppress(InputError):
            return version_named(value, root, base=root)
        return value

    return [{**e, "version": name(e["version"]), "previous": name(e.get("previous"))}
            for e in entries]


def rollback(root: Path | None = None) -> ModelAction:
    """Return to the version that was current before the latest promotion.

    Repeated rollbacks walk further back through ``models/promotions.jsonl``. Versions pruned
    since are skipped (and named in the notes). Not gated: a rollback returns to a model that
    was current before, and must work when the current one is the problem.

    Raises
    ------
    ModelNotFoundError
        No current model, or nothing earlier to return to.
    """
    root = models_root(root)
    current = current_version(root)
    if current is None:
        raise ModelNotFoundError(f"no current model in {root}; nothing to roll back")
    stack = _promotion_stack(_logged_names(read_promotions(root), root))
    if stack and stack[-1] == current:
        stack.pop()
    notes: list[str] = []
    while stack:
        target = stack.pop()
        if target == current:
            continue
        try:
            check_version_name(target)
        except InputError:
            notes.append(f"skipped {target!r}: not a version name of {root}")
            continue
        if (root / target / MANIFEST).exists():
            try:
                verify_bundle(root / target, root=root)
            except ArtifactError as exc:
                raise ArtifactError(
                    f"cannot roll back to {target}, the model current before {current}: {exc}; "
                    f"{current} stays current. Restore {target}'s files, or make another "
                    "current with `expertise models promote VERSION` (see `expertise models "
                    "list`)") from None
            set_current(target, root, action="rollback", reason=f"rollback from {current}",
                        expected=current)
            return ModelAction("rollback", target, current, True, notes)
        notes.append(f"skipped {target}: no longer in {root} (pruned?)")
    raise ModelNotFoundError(
        f"nothing to roll back to: the promotions log of {root} records no earlier version that "
        f"still exists; choose one with `expertise models promote VERSION`"
    )


# ---- prune ------------------------------------------------------------------------------------


@dataclass
class PruneResult:
    kept: list[str]
    removed: list[str]
    dry_run: bool = False
    #: Why bundles beyond --keep were kept (the current one, the only good one).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prune(keep: int, root: Path | None = None, *, dry_run: bool = False) -> PruneResult:
    """Delete all but the `keep` newest bundles.

    Never deleted, whatever `keep` says: the current bundle (the folder `models/current`
    resolves to, by any name), and the newest bundle that verifies when none of the kept ones
    does (so a models folder always keeps a model that can serve). A bundle's comparison file
    goes with it. Each folder is renamed to a hidden name before it is deleted, so an
    interrupted prune never leaves a half bundle that looks whole. `dry_run` reports what
    would be removed and removes nothing.
    """
    if keep < 0:
        raise InputError(f"--keep must be zero or more, got {keep}")
    root = models_root(root)
    rows = list_models(root)
    if dry_run or not root.is_dir():
        return _prune(keep, root, rows, dry_run=dry_run)
    # Under the models folder's lock, as a promotion changes the pointer: a bundle promoted
    # after the current one was read here would otherwise be deleted as it became current.
    with models_lock(root):
        return _prune(keep, root, rows, dry_run=dry_run)


def _prune(keep: int, root: Path, rows: list[dict[str, Any]], *, dry_run: bool) -> PruneResult:
    newest_first = [r["version"] for r in reversed(rows)]
    ok = {r["version"] for r in rows if r["status"] == "ok"}
    current = current_version(root)  # an unreadable pointer raises: never prune blind
    kept = set(newest_first[:keep])
    notes: list[str] = []
    if current:
        # the folder the pointer resolves to, by whatever name (a link, say), is never removed
        serving = (root / current).resolve()
        for version in newest_first:
            if version not in kept and (root / version).resolve() == serving:
                kept.add(version)
                notes.append(f"kept {version}: it is the current model")
    if ok and not kept & ok:
        good = next(v for v in newest_first if v in ok)
        kept.add(good)
        notes.append(f"kept {good}: the newest bundle that verifies (none of the others kept "
                     "does)")
    removed = [v for v in newest_first if v not in kept]
    notes += [f"{'would remove' if dry_run else 'removed'} {name}: left by a training or "
              "prune that was killed" for name in remove_dead_leftovers(root, dry_run=dry_run)]
    for version in [] if dry_run else removed:
        doomed = root / f".{version}.pruning-{os.getpid()}"
        (root / version).rename(doomed)
        shutil.rmtree(doomed)
        (root / f"{version}{COMPARISON_SUFFIX}").unlink(missing_ok=True)
    return PruneResult([v for v in reversed(newest_first) if v in kept], list(reversed(removed)),
                       dry_run, notes)
