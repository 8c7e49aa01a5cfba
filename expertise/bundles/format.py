"""Save and load model bundles with a verified manifest.

A bundle is `models/<version>/` with `manifest.json` (format version, package, Python, numpy and
scikit-learn versions, created time, data and knowledge-base fingerprints, metrics, customer
fingerprints and the SHA-256 of every file). `models/current` names the version in use.

Loading checks the manifest before reading anything else. The lean files (JSON and a numpy
archive without pickles) serve answers; the scikit-learn pickle is loaded only for evaluation
and research, and only after its hash and the scikit-learn version are checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any

from expertise.config import __version__, cache_dir, models_dir
from expertise.errors import ArtifactError, ModelNotFoundError
from expertise.io import atomic_write_text, pid_alive

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
PICKLE = "model.joblib"
#: A lean file hashed less than this long after it last changed is hashed again next time:
#: file systems stamp times in ticks (up to 2 s), and a write within the tick of the hashing
#: would leave its times as they were (git's "racily clean" entries).
RACY_SECONDS = 2.0


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def lean(self) -> Any:
        from expertise.scoring.model import LeanModel

        return LeanModel.load(self.path)

    def sklearn_model(self) -> dict[str, Any]:
        """Unpickle the scikit-learn objects (hashes were verified at open)."""
        import joblib
        import sklearn

        built = self.manifest["versions"].get("scikit-learn")
        if built != sklearn.__version__:
            raise ArtifactError(
                f"{self.path / PICKLE} was built with scikit-learn {built}, this is "
                f"{sklearn.__version__}; retrain with `make train` (answers still work)"
            )
        _verify(self.path, self.manifest, [PICKLE])
        with old_pickle_names():
            obj: dict[str, Any] = joblib.load(self.path / PICKLE)
        return obj


#: Modules that held pickled classes and functions before the package was split into layers:
#: bundles pickled then name them, and still load.
OLD_MODULES: dict[str, str] = {
    "expertise.classifier": "expertise.modeling.estimators",
    "expertise.features": "expertise.modeling.estimators",
    "expertise.text": "expertise.scoring.tokens",
}


@contextlib.contextmanager
def old_pickle_names() -> Iterator[None]:
    """While unpickling: the old module names of :data:`OLD_MODULES` resolve to the modules
    that hold those classes now (added to `sys.modules` only for the duration)."""
    import importlib
    import sys

    added = [old for old in OLD_MODULES if old not in sys.modules]
    for old in added:
        sys.modules[old] = importlib.import_module(OLD_MODULES[old])
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(
    *,
    lean: Any,
    sklearn_objects: dict[str, Any] | None,
    out_dir: Path,
    version: str,
    data_fingerprint: str,
    kb_fingerprint: str,
    metrics: dict[str, Any],
    facts: dict[str, Any],
    customer_hashes: list[str],
    salt_id: str,
    extra_files: dict[str, bytes] | None = None,
) -> Bundle:
    """Write a bundle atomically: into a temporary folder, then renamed to `out_dir/version`."""
    import numpy
    import sklearn

    final = out_dir / version
    if final.exists():
        raise ArtifactError(f"{final} exists already; choose another version name")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_leftovers(out_dir)
    tmp = out_dir / f".{version}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        lean.save(tmp)
        if sklearn_objects is not None:
            import joblib

            joblib.dump(sklearn_objects, tmp / PICKLE, compress=3)
        for name, content in (extra_files or {}).items():
            (tmp / name).write_bytes(content)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": {
                "expertise": __version__, "python": platform.python_version(),
                "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
            },
            "training_data": data_fingerprint,
            "knowledge_base": kb_fingerprint,
            "metrics": metrics.get("summary", {}),
            "facts": facts,
            "customers": {"salt_id": salt_id, "hashes": sorted(customer_hashes)},
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(final, manifest)


#: What a killed `save_bundle` (``.<version>.tmp-<pid>``) or prune (``.<version>.pruning-<pid>``)
#: leaves in the models folder: a hidden folder of a whole bundle's size.
_LEFTOVER = re.compile(r"^\..+\.(?:tmp|pruning)-(\d+)$")


def remove_dead_leftovers(root: Path, *, dry_run: bool = False) -> list[str]:
    """Remove the hidden folders that trainings or prunes killed outright left in the models
    folder `root` (those of processes still running stay), and return their names. No command
    lists these folders, so each killed training kept a bundle's worth of disk for ever."""
    removed: list[str] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _LEFTOVER.match(entry.name)
        if (not found or pid_alive(int(found.group(1))) or entry.is_symlink()
                or not entry.is_dir()):
            continue
        if not dry_run:
            shutil.rmtree(entry, ignore_errors=True)
            if entry.exists():
                continue
        removed.append(entry.name)
    return removed


def open_bundle(path: Path, *, trust: bool = False, root: Path | None = None) -> Bundle:
    """Read and verify a bundle's manifest and file hashes; nothing is unpickled here.

    Every file in the folder must be listed in the manifest with its SHA-256 (a file the
    manifest does not list is refused, so deleting an entry does not let a file in
    unverified); every listed file must exist. The pickle's hash is checked right before it is
    unpickled (:meth:`Bundle.sklearn_model`), so a one-shot answer does not pay for it.
    """
    path = Path(path)
    root = (root or models_dir()).resolve()
    if not trust and not path.resolve().is_relative_to(root):
        raise ArtifactError(
            f"{path} is outside the models folder {root}; copy the bundle into {root} to use "
            "it as a model version, or load it with --model PATH --trust if you trust its source"
        )
    manifest = read_manifest(path)
    _verify(path, manifest, [n for n in manifest["files"] if n != PICKLE], remember=True)
    return Bundle(path, manifest)


def read_manifest(path: Path) -> dict[str, Any]:
    """A bundle's manifest, checked for shape (not yet for hashes): a JSON object of this
    format version with a ``version`` name and a ``files`` table of SHA-256 digests."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.exists():
        raise ModelNotFoundError(f"{path} has no {MANIFEST}; train one with `make train`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{manifest_path} is not valid JSON ({exc.msg}); retrain") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{manifest_path} cannot be read ({exc}); retrain") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(
            f"{manifest_path} is not a JSON object (found {type(manifest).__name__}); retrain")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has bundle format {manifest.get('format_version')}, this expertise reads "
            f"{FORMAT_VERSION}; retrain with `make train`"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ArtifactError(f"{manifest_path} has no valid \"files\" table (file name -> "
                            "SHA-256); retrain")
    if not isinstance(manifest.get("version"), str) or not manifest["version"]:
        raise ArtifactError(f"{manifest_path} names no version; retrain")
    return manifest


def verify_bundle(path: Path, *, trust: bool = False, root: Path | None = None) -> Bundle:
    """:func:`open_bundle`, with the pickle's hash checked as well: every file verified."""
    bundle = open_bundle(path, trust=trust, root=root)
    if PICKLE in bundle.manifest["files"]:
        _verify(bundle.path, bundle.manifest, [PICKLE])
    return bundle


def _verify(path: Path, manifest: dict[str, Any], names: list[str], *,
            remember: bool = False) -> None:
    """Check that the folder holds only listed files and that each of `names` matches its
    SHA-256. With `remember`, a file whose size, inode, modification and change times are as
    they were when it last matched this digest is not read again (`_Verified`); the pickle
    is always hashed."""
    files: dict[str, str] = manifest["files"]
    # What is on disk, not what the manifest names: an entry deleted from the manifest must
    # not let its file in unverified.
    try:
        present = sorted(p for p in path.iterdir() if p.name != MANIFEST)
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot list the bundle ({exc.strerror or exc})") from None
    for file in [path / MANIFEST, *present]:
        # A bundle holds its own files: a link's target (another bundle's file, a file outside
        # the models folder) can be pruned, moved or changed while this bundle reads as whole.
        if file.is_symlink():
            raise ArtifactError(f"{file} is a symbolic link; a bundle holds its own files: "
                                "replace the link by a copy of the file it points to (or "
                                "retrain)")
    for file in present:
        if file.name not in files:
            raise ArtifactError(f"{file} is not listed in {path / MANIFEST}; refusing the "
                                "bundle (remove the file, or retrain)")
    verified = _Verified(path) if remember else None
    for name in names:
        file = path / name
        if name not in files:
            raise ArtifactError(f"{file} is not listed in {path / MANIFEST}; refusing it")
        if Path(name).name != name or name in ("", ".", ".."):
            raise ArtifactError(f"{path / MANIFEST} lists {name!r}, which is not a file name "
                                "in the bundle; refusing it")
        try:
            st = file.stat()
        except OSError:
            st = None
        if st is None or not S_ISREG(st.st_mode):
            raise ArtifactError(f"{file} is listed in the manifest but missing; retrain")
        if verified is not None and verified.known(name, st, files[name]):
            continue
        if sha256_file(file) != files[name]:
            raise ArtifactError(f"{file} does not match its SHA-256 in the manifest; refusing it")
        if verified is not None:
            verified.add(name, st, files[name])
    if verified is not None:
        verified.save()
    if not any(n.startswith("lean") for n in files):
        raise ArtifactError(f"{path / MANIFEST} lists no model files; retrain")


class _Verified:
    """Lean files of a bundle already found to match their digests, as git's index keeps
    files it has hashed: keyed by path, with the size, inode, modification and change times
    seen when the file matched. A write changes the change time, which no program can set
    back, so a file whose stat is as recorded holds the bytes that matched; it is not read
    again, and a one-shot answer saves hashing ~9 MB. Kept in the cache folder
    (``verified.json``); a missing, damaged or unwritable cache only means hashing again.
    """

    def __init__(self, folder: Path) -> None:
        self.file = cache_dir() / "verified.json"
        self.folder = str(folder.resolve())
        self.entries: dict[str, list[Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(self.file.read_text(encoding="utf-8"))
            if isinstance(doc, dict):
                self.entries = doc
        self.changed = False

    @staticmethod
    def _stamp(stat: os.stat_result, digest: str) -> list[Any]:
        return [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, digest]

    def known(self, name: str, stat: os.stat_result, digest: str) -> bool:
        return self.entries.get(os.path.join(self.folder, name)) == self._stamp(stat, digest)

    def add(self, name: str, stat: os.stat_result, digest: str) -> None:
        changed = max(stat.st_mtime_ns, stat.st_ctime_ns)
        if time.time_ns() - changed > RACY_SECONDS * 1e9:
            self.entries[os.path.join(self.folder, name)] = self._stamp(stat, digest)
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        # entries of bundles since deleted go when the cache is next written
        keep = {k: v for k, v in self.entries.items()
                if k.startswith(self.folder + os.sep) or os.path.exists(k)}
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.file, json.dumps(keep))
