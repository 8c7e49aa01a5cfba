"""Safe file writing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; move it over ``final`` on success.

    The temporary file lives in the same directory as ``final`` (so the rename is atomic on
    POSIX and Windows) and is deleted if the block raises. If the block never creates the
    temporary file, ``final`` is left untouched: a writer that turns out to have nothing to
    write simply does not open it.

    Parameters
    ----------
    final : Path or str
        Where the finished file should end up. Missing parent directories are created.

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
    # A fresh random name, not yet created, so that "not created" can mean "nothing to write".
    tmp = final.parent / f".{final.name}.{secrets.token_hex(8)}.tmp"
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if not tmp.exists():
        return
    try:
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(final: Path | str, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``final`` atomically and return the path."""
    final = Path(final)
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding=encoding)
    return final
