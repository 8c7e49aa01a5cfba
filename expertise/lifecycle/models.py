"""The models folder for maintainers: list, promote, roll back and prune bundles.

Every change of the current model goes through `expertise.bundles.registry.set_current`
and is logged in `models/promotions.jsonl`; `rollback` walks back through that log.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertise import config
from expertise.bundles.format import MANIFEST, open_bundle
from expertise.bundles.registry import current_version, list_bundles, read_promotions, set_current
from expertise.errors import InputError, ModelNotFoundError

__all__ = ["COMPARISON_SUFFIX", "ModelAction", "PruneResult", "list_models", "promote", "prune",
           "rollback"]

COMPARISON_SUFFIX = ".comparison.json"


def _root(root: Path | None) -> Path:
    return Path(root) if root is not None else config.models_dir()


def list_models(root: Path | None = None) -> list[dict[str, Any]]:
    """Every bundle in the models folder, oldest first.

    Each row: ``version``, ``created``, ``train_tickets``, ``train_customers``, ``metrics``
    (per evaluation set: accuracy and severe-miss rate), ``current`` (bool) and ``decision``
    (the retrain gate's verdict, when the bundle came from `retrain`).
    """
    root = _root(root)
    current = current_version(root)
    rows = []
    for manifest in list_bundles(root):
        version = str(manifest.get("version", ""))
        facts = manifest.get("facts") or {}
        metrics = {
            name: {"accuracy": m.get("accuracy"), "severe_miss_rate": m.get("severe_miss_rate")}
            for name, m in (manifest.get("metrics") or {}).items()
            if isinstance(m, dict)
        }
        decision = None
        comparison = root / f"{version}{COMPARISON_SUFFIX}"
        if comparison.exists():
            try:
                decision = json.loads(comparison.read_text(encoding="utf-8")).get("decision")
            except json.JSONDecodeError:
                decision = "unreadable comparison file"
        rows.append({
            "version": version, "created": manifest.get("created", ""),
            "train_tickets": facts.get("train_tickets"),
            "train_customers": facts.get("train_customers"),
            "metrics": metrics, "current": version == current, "decision": decision,
        })
    rows.sort(key=lambda r: (str(r["created"]), r["version"]))
    return rows


@dataclass
class ModelAction:
    """What `promote` or `rollback` did."""

    action: str
    version: str
    previous: str | None
    changed: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promote(version: str, root: Path | None = None, *, reason: str = "manual") -> ModelAction:
    """Make `version` current after verifying its manifest and file hashes.

    Raises
    ------
    ModelNotFoundError
        No such bundle.
    ArtifactError
        The bundle fails verification (a file changed or is missing).
    """
    root = _root(root)
    if not (root / version / MANIFEST).exists():
        known = ", ".join(r["version"] for r in list_models(root)) or "none"
        raise ModelNotFoundError(
            f"no bundle {version!r} in {root} (bundles: {known}); see `expertise models list`"
        )
    open_bundle(root / version, root=root)
    previous = current_version(root)
    if previous == version:
        return ModelAction("promote", version, previous, False, [f"{version} is already current"])
    set_current(version, root, action="promote", reason=reason)
    return ModelAction("promote", version, previous, True)


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


def rollback(root: Path | None = None) -> ModelAction:
    """Return to the version that was current before the latest promotion.

    Repeated rollbacks walk further back through ``models/promotions.jsonl``. Versions pruned
    since are skipped (and named in the notes).

    Raises
    ------
    ModelNotFoundError
        No current model, or nothing earlier to return to.
    """
    root = _root(root)
    current = current_version(root)
    if current is None:
        raise ModelNotFoundError(f"no current model in {root}; nothing to roll back")
    stack = _promotion_stack(read_promotions(root))
    if not stack or stack[-1] != current:
        stack.append(current)
    stack.pop()
    notes: list[str] = []
    while stack:
        target = stack.pop()
        if target == current:
            continue
        if (root / target / MANIFEST).exists():
            open_bundle(root / target, root=root)
            set_current(target, root, action="rollback",
                                  reason=f"rollback from {current}")
            return ModelAction("rollback", target, current, True, notes)
        notes.append(f"skipped {target}: no longer in {root} (pruned?)")
    raise ModelNotFoundError(
        f"nothing to roll back to: the promotions log of {root} records no earlier version that "
        f"still exists; choose one with `expertise models promote VERSION`"
    )


@dataclass
class PruneResult:
    kept: list[str]
    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prune(keep: int, root: Path | None = None) -> PruneResult:
    """Delete all but the `keep` newest bundles; the current one is always kept as well.

    A bundle's comparison file goes with it. Each folder is renamed to a hidden name before it
    is deleted, so an interrupted prune never leaves a half bundle that looks whole.
    """
    if keep < 0:
        raise InputError(f"--keep must be zero or more, got {keep}")
    root = _root(root)
    rows = list_models(root)
    newest_first = [r["version"] for r in reversed(rows)]
    current = current_version(root)
    kept = set(newest_first[:keep]) | ({current} if current else set())
    removed = []
    for version in newest_first:
        if version in kept:
            continue
        folder = root / version
        doomed = root / f".{version}.pruning-{os.getpid()}"
        folder.rename(doomed)
        shutil.rmtree(doomed)
        (root / f"{version}{COMPARISON_SUFFIX}").unlink(missing_ok=True)
        removed.append(version)
    return PruneResult([v for v in reversed(newest_first) if v in kept], list(reversed(removed)))


