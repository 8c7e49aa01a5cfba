"""The models folder as a registry: which bundle is current, the promotions log, the list.

`models/current` is a one-line file naming the bundle in use; every change of it (train
--promote, retrain, models promote / rollback) appends a line to `models/promotions.jsonl`,
which rollback walks back through. Bundles themselves are `expertise.bundles.format`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expertise.bundles.fingerprints import KEY_NAME
from expertise.bundles.format import (
    MANIFEST,
    Bundle,
    open_bundle,
    read_manifest,
    verify_bundle,
)
from expertise.config import models_dir
from expertise.errors import ArtifactError, InputError, ModelNotFoundError
from expertise.io import atomic_path, atomic_write_text, remove_stale_temps

CURRENT = "current"
#: The promotions log; older installs wrote it as history.jsonl, still read.
PROMOTIONS = "promotions.jsonl"
_OLD_PROMOTIONS = "history.jsonl"
#: The retrain gate's record of a bundle, kept next to it: ``<version>.comparison.json``.
COMPARISON_SUFFIX = ".comparison.json"
#: Names of the files the models folder keeps besides its bundles: no bundle may take one.
RESERVED_NAMES = (CURRENT, PROMOTIONS, _OLD_PROMOTIONS, KEY_NAME)
_SEPARATORS = frozenset(filter(None, ("/", "\\", os.sep, os.altsep)))
#: Room left in a file name (255 bytes) for the comparison file's and temporary folders' affixes.
_MAX_NAME_BYTES = 200


def new_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def _unfit_name(name: str) -> str | None:
    """Why `name` cannot name a bundle folder of the models folder, or None if it can."""
    if not name:
        return "is empty"
    if name != name.strip() or not name.isprintable():
        return "has spaces at its ends or control characters"
    if any(sep in name for sep in _SEPARATORS):
        return "is a path, not a name"
    if name.startswith("."):
        return "starts with a dot (hidden, or '.' or '..')"
    folded = name.casefold()
    if folded in {n.casefold() for n in RESERVED_NAMES} or folded.endswith(COMPARISON_SUFFIX):
        return ("is the name of a file the models folder keeps (" + ", ".join(RESERVED_NAMES)
                + f", <version>{COMPARISON_SUFFIX})")
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
        return f"is longer than {_MAX_NAME_BYTES} bytes"
    return None


#: What a new bundle's name is made of, as the error for a name that cannot be used says.
_NEW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_version_name(name: str, *, new: bool = False) -> str:
    """`name`, if it can name a bundle: a plain folder name of the models folder that is not
    hidden and not one of the files the registry keeps there (:data:`RESERVED_NAMES`,
    comparison files). With `new` (a bundle about to be made), letters, digits, '-', '_' and
    '.' only: no spaces to quote in every later command, no '[...]' a terminal table reads as
    markup. Raises InputError saying why not."""
    why = _unfit_name(name)
    if not why and new and not _NEW_NAME.fullmatch(name):
        why = "has characters other than letters, digits, '-', '_' and '.' (a space, say)"
    if why:
        raise InputError(f"version name {name!r} {why}; choose a name of letters, digits, "
                         f"'-', '_' and '.', such as {new_version()}")
    return name


def _existing_name(name: str) -> str:
    why = _unfit_name(name)
    if why:
        raise InputError(f"{name!r} is not a version name: it {why}; give one that "
                         "`expertise models list` shows")
    return name


def version_named(text: str, root: Path | None = None, *, base: Path | None = None) -> str:
    """The version `text` names: a version name as it is, or a path to a bundle folder of the
    models folder `root` (``models/20261203-132021/`` as tab completion writes it, an
    absolute path; relative to `base`, default the working folder) as that folder's name.
    Raises InputError for a path elsewhere or a name no bundle can have."""
    root = root or models_dir()
    bare = text.rstrip("".join(_SEPARATORS))
    if bare and not any(sep in bare for sep in _SEPARATORS):
        return _existing_name(bare)
    path = Path(os.path.normpath((base or Path.cwd()) / Path(text).expanduser()))
    if path.parent.resolve() != root.resolve():
        raise InputError(f"{text!r} is not a bundle folder of the models folder {root}; give a "
                         "version name (see `expertise models list`), or copy the bundle into "
                         f"{root} first")
    return _existing_name(path.name)


def current_version(root: Path | None = None) -> str | None:
    """The version `models/current` names (None when there is none).

    A path to a bundle of the models folder (as older code could write) counts as its name.
    Raises ArtifactError, naming the file and the fix, when the pointer cannot be read as a
    version name (bytes that are not UTF-8, a path elsewhere, a folder).
    """
    root = root or models_dir()
    pointer = root / CURRENT
    fix = ("delete it, then make a bundle current with `expertise models promote VERSION` "
           "(see `expertise models list`)")
    if root.exists() and not root.is_dir():
        raise ArtifactError(f"the models folder {root} is a file, not a folder; point "
                            "$EXPERTISE_MODELS (or --out) at the folder that holds the bundles")
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ArtifactError(
            f"{pointer} is a folder, where the models folder keeps its pointer to the current "
            f"bundle; move that folder out of {root} (no bundle may be named {CURRENT!r}), "
            "then make a bundle current with `expertise models promote VERSION`") from None
    except OSError as exc:
        raise ArtifactError(f"{pointer} cannot be read ({exc.strerror or exc}); {fix}") from None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ArtifactError(
            f"{pointer} does not hold a version name (bytes that are not UTF-8 text); {fix}"
        ) from None
    if not text:
        return None
    try:
        return version_named(text, root, base=root)
    except InputError:
        raise ArtifactError(
            f"{pointer} holds {text!r}, which is not the name of a bundle folder of {root}; "
            f"{fix}") from None


def load_current(root: Path | None = None) -> Bundle:
    root = root or models_dir()
    version = current_version(root)
    if version is None:
        raise ModelNotFoundError(
            f"no current model in {root}; build one with `make train` "
            f"(or `expertise train --promote`)"
        )
    if not (root / version).is_dir():
        raise ModelNotFoundError(
            f"{root / CURRENT} names {version!r}, which is not in {root} (deleted or moved?); "
            "return to the model current before with `expertise models rollback`, or make "
            "another current with `expertise models promote VERSION` (see `expertise models "
            "list`)"
        )
    try:
        return open_bundle(root / version, root=root)
    except (ArtifactError, ModelNotFoundError) as exc:
        # what to do about it, for whoever meets it first (an agent's answer, a batch)
        raise type(exc)(
            f"the current model {version} is damaged: {exc}; `expertise models rollback` "
            "returns to the model current before it (or promote another: `expertise models "
            "list`)") from None


#: `set_current(expected=ANY)`: whatever the current version is, change it.
ANY: Any = object()


@contextlib.contextmanager
def models_lock(root: Path) -> Iterator[None]:
    """Hold the models folder's lock (an exclusive `flock` on the folder itself, so no file is
    added to it) while the pointer and the promotions log change together: two promotions at
    once, from two processes, each rewrite the log from what they read, and without it one
    line was lost and the log's chain of versions no longer matched the pointer. Released when
    the process ends, however it ends. Where `fcntl` does not exist, or the folder cannot be
    opened or locked (a file system without locks, such as some NFS mounts), nothing is
    locked: the change goes on as it did before there was a lock, and what it then cannot do
    is reported by the step that fails."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # ENOLCK and the like: no lock to be had here
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def set_current(version: str, root: Path | None = None, *, action: str = "promote",
                reason: str = "", expected: str | None = ANY) -> None:
    """Point `models/current` at `version` (atomically) and record it in `models/promotions.jsonl`.

    The promotions log is what `expertise models rollback` walks back through; `action` is
    "promote" or "rollback". Pointer and log change under the models folder's lock
    (:func:`models_lock`). With `expected`, the version that was current when the change was
    decided (the gate's comparison, the rollback's target): if another process has made
    another version current since, nothing changes and ArtifactError says so.
    """
    root = root or models_dir()
    check_version_name(version)  # the pointer holds a bare name, nothing else
    with models_lock(root):
        if not (root / version / MANIFEST).exists():  # under the lock: prune takes it too
            raise ModelNotFoundError(
                f"no bundle {version!r} in {root}; see `expertise models list`")
        for final in (root / CURRENT, _promotions_path(root)):  # what killed runs left
            remove_stale_temps(final)
        previous = current_version(root)
        if expected is not ANY and previous != expected:
            raise ArtifactError(
                f"the current model changed from {expected or 'none'} to {previous or 'none'} "
                f"(another promotion or rollback) while {action} {version} was being decided; "
                f"{root / CURRENT} is left as it is: run the {action} again")
        log = _read_log(root)  # before the pointer moves: an unreadable log stops the change
        try:
            atomic_write_text(root / CURRENT, version + "\n")
        except OSError as exc:
            raise ArtifactError(f"{root / CURRENT} cannot be written ({exc.strerror or exc}); "
                                f"{previous or 'no model'} stays current") from None
        if previous != version:
            _append_promotion(root, log, {"at": datetime.now(UTC).isoformat(timespec="seconds"),
                                          "action": action, "version": version,
                                          "previous": previous, "reason": reason})


def _read_log(root: Path) -> bytes:
    """The promotions log's bytes (empty when there is none); ArtifactError, naming the file
    and the fix, when it cannot be read (a folder in its place, no permission)."""
    path = _promotions_path(root)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ArtifactError(
            f"the promotions log {path} cannot be read ({exc.strerror or exc}); move it out of "
            f"{root} or make it a readable file (the log of changes of {CURRENT})") from None


def read_promotions(root: Path | None = None) -> list[dict[str, Any]]:
    """The promotions and rollbacks recorded in `models/promotions.jsonl`, oldest first."""
    root = root or models_dir()
    path = _promotions_path(root)
    entries = []
    for number, raw in enumerate(_read_log(root).splitlines(), 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError
            what = " (bytes that are not UTF-8)" if isinstance(exc, UnicodeDecodeError) else ""
            raise ArtifactError(
                f"{path} line {number} is not valid JSON{what}; fix or delete that line"
            ) from None
        if isinstance(entry, dict) and entry.get("version"):
            entries.append(entry)
    return entries


def _append_promotion(root: Path, old: bytes, entry: dict[str, Any]) -> None:
    # Rewritten whole (`old`, read under the lock, and the new line) through a temporary file
    # so a crash never leaves half a line; as bytes, so a damaged line stays as it was (for
    # rollback to report) and does not stop a promotion.
    path = _promotions_path(root)
    if old and not old.endswith(b"\n"):
        old += b"\n"
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(old + (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
    except OSError as exc:
        raise ArtifactError(
            f"{entry['version']} is current, but the promotions log {path} cannot be written "
            f"({exc.strerror or exc}), so `expertise models rollback` will not know it came "
            f"after {entry['previous'] or 'no model'}; free space or fix the file") from None


def list_bundles(root: Path | None = None) -> list[dict[str, Any]]:
    """The manifests that can be read (JSON objects), whether or not their files verify: what
    a question about training data (which models learned from a customer) needs."""
    out: list[dict[str, Any]] = []
    for folder in _bundle_folders(root or models_dir()):
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(manifest, dict):
            out.append(manifest)
    return out


@dataclass(frozen=True)
class BundleStatus:
    """One folder of the models folder: its manifest (``{}`` when unreadable) and whether
    every file verifies (``ok``) or why not (``damaged: ...``)."""

    name: str
    path: Path
    manifest: dict[str, Any]
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def survey_bundles(root: Path | None = None) -> list[BundleStatus]:
    """Every bundle folder of the models folder, verified in full (the pickle's hash too), by
    name. Folders without a manifest, with a manifest that is not a JSON object of this format,
    or with a file that does not match are listed as damaged, never hidden."""
    root = root or models_dir()
    out = []
    for folder in _bundle_folders(root):
        manifest: dict[str, Any] = {}
        try:
            manifest = read_manifest(folder)
            verify_bundle(folder, root=root)
            status = "ok"
        except (ArtifactError, ModelNotFoundError) as exc:
            why = str(exc).replace(f"{folder}{os.sep}", "").replace(str(folder), folder.name)
            status = f"damaged: {why}"
        out.append(BundleStatus(folder.name, folder, manifest, status))
    return out


def _bundle_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    # `current` is the pointer's name, never a bundle's (a folder there is a broken pointer)
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != CURRENT)


def _promotions_path(root: Path) -> Path:
    """The promotions log: promotions.jsonl, or an older install's history.jsonl."""
    path = root / PROMOTIONS
    old = root / _OLD_PROMOTIONS
    return old if not path.exists() and old.exists() else path
