"""Safe file writing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from expertise.errors import InputError

__all__ = ["atomic_path", "atomic_write_text", "key_file", "pid_alive", "read_key_file",
           "remove_stale_temps", "write_failed"]


@contextlib.contextmanager
def atomic_path(final: Path | str, *, option: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; move it over ``final`` on success.

    The temporary file lives in the same directory as ``final`` (so the rename is atomic on
    POSIX and Windows) and is deleted if the block raises. If the block never creates the
    temporary file, ``final`` is left untouched: a writer that turns out to have nothing to
    write simply does not open it.

    Parameters
    ----------
    final : Path or str
        Where the finished file should end up. Missing parent directories are created.
    option : str, optional
        The option that names ``final`` (``--out``): an OSError finishing the file (its
        flush to disk or the rename over ``final``, a full disk say) is then raised as
        :func:`write_failed`'s one-line error, and ``final`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # A fresh random name, not yet created, so that "not created" can mean "nothing to write";
    # it carries this process's id, so that a later run can tell a killed run's leftover
    # (`remove_stale_temps`) from a run still writing.
    tmp = final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp"
    try:
        yield tmp
        if tmp.exists():
            try:
                with open(tmp, "rb+") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, final)
            except OSError as exc:
                if option is None:
                    raise
                raise write_failed(final, exc, option) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


#: The temporary name :func:`atomic_path` gives a file: ``.<name>.<pid>-<hex>.tmp``.
_ATOMIC_TEMP = re.compile(r"^\.(.+)\.\d+-[0-9a-f]{12}\.tmp$")


def write_failed(path: Path, exc: OSError, option: str, *, what: str = "") -> InputError:
    """The one-line error for a file that cannot be written: the file (its final name, not the
    temporary one it is written under), what it is (``what``, if said) and the reason, with
    the fix: write elsewhere with ``option`` (``--out``, or ``TMPDIR`` for scratch files)."""
    found = _ATOMIC_TEMP.match(path.name)
    name = path.with_name(found.group(1)) if found else path
    if exc.errno == errno.ENOSPC:
        why = "no space left on device; free space or write elsewhere with " + option
    elif exc.errno == errno.EFBIG:
        why = ("file too large for this file system or limit; write elsewhere with "
               + option)
    elif exc.errno == errno.EDQUOT:
        why = "disk quota exceeded; free space or write elsewhere with " + option
    else:
        why = f"{exc.strerror or exc}; write elsewhere with {option}"
    return InputError(f"{name}{f' ({what})' if what else ''}: cannot write ({why})")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if os.name == "nt" or pid <= 0 or pid > 1 << 22:  # beyond any Linux pid_max: not a pid
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def remove_stale_temps(final: Path | str) -> list[Path]:
    """Remove what killed runs left next to ``final``: temporary files or folders named
    ``.<name>.<pid>-<12 hex digits>.tmp`` (:func:`atomic_path`) or ``.<name>.<pid>.<seconds>.tmp``
    whose process no longer runs.

    A run killed outright (SIGKILL, a power cut) cannot remove its temporary output; the next
    run writing the same file does. Files of processes still running are left alone, and so
    is anything not named that way. Returns what was removed.
    """
    import re
    import shutil

    final = Path(final)
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(\d+)(?:-[0-9a-f]{{12}}|\.\d+)\.tmp$")
    removed: list[Path] = []
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def atomic_write_text(final: Path | str, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``final`` atomically and return the path."""
    final = Path(final)
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding=encoding)
    return final


def read_key_file(path: Path | str) -> str | None:
    """The secret in a key file written by :func:`key_file`, or None if there is no file.

    Raises PermissionError (an OSError) when the file exists but cannot be read, and an
    OSError (EINVAL) when it holds bytes that are not text: a damaged key, to restore from a
    backup (callers report an OSError as a key they cannot read, in one line).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise OSError(errno.EINVAL, "damaged: not the text key expertise wrote; restore it from "
                      "a backup", str(path)) from None
    return text or None


def key_file(path: Path | str, *, share_like: Path | str | None = None) -> str:
    """A random 256-bit secret (64 hex digits) kept in ``path``, created on first use.

    The file is created readable and writable by its owner only (0600); when ``share_like``
    (the database or folder the key protects) is readable by its group, the key is too (0640),
    so the users who share a store can use its key, and nobody else. Two processes creating it
    at once end up with the same key: the file is written under a temporary name and linked
    into place only if no key exists yet.
    """
    path = Path(path)
    existing = read_key_file(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600
    if share_like is not None:
        with contextlib.suppress(OSError):
            mode |= os.stat(share_like).st_mode & 0o040
    secret = secrets.token_hex(32) + "\n"
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        _write_new(tmp, secret, mode)
        try:
            os.link(tmp, path)  # never replaces a key another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: create the key in place
            with contextlib.suppress(FileExistsError):
                _write_new(path, secret, mode)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    key = read_key_file(path)
    if key is None:
        raise OSError(f"{path}: the key file is empty")
    return key


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` (it must not exist) with ``text``, durably, with exactly ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # the umask neither widens nor narrows it
