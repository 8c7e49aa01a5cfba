"""What a batch-scoring run needs and reports: settings, output paths, the run's audit row."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.config import DEFAULT_TOP
from expertise.errors import InputError
from expertise.store.db import Store, default_rejects_path
from expertise.tickets.writers import OUTPUT_KINDS

if TYPE_CHECKING:
    import pandas as pd

#: Canonical columns that are never redacted (ids, times, channel names). A customer id is
#: redacted like text: one that is an e-mail address or a phone number leaves as a placeholder.
NOT_TEXT = frozenset({"ticket_id", "created_at", "channel", "expertise_level", "topic",
                      "resolved_article_id"})


NOT_ESTIMATED = "not estimated"


@dataclass(frozen=True)
class ScoreSettings:
    """What a scorer needs to build its engine: picklable, so workers can rebuild it.

    ``model_dir`` is the resolved bundle folder (checked by the parent process), so every
    worker scores with the same model even if ``models/current`` changes during the run.
    """

    model_dir: Path | None = None
    kb_root: Path | None = None
    db_path: Path | None = None
    trust: bool = False
    top: int = DEFAULT_TOP
    redact: bool = False
    #: Who runs the batch and on which file: each customer looked up in the store gets an
    #: audit row naming them (`ChunkScorer`).
    actor: str | None = None
    input_name: str = ""


@dataclass
class ScoreReport:
    """What a scoring run did (also the JSON of ``expertise score --json``)."""

    input: Path
    output: Path
    rejects_path: Path | None
    input_format: str
    output_kind: str
    engine: str
    jobs: int
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    #: Rows per estimated level, and "not estimated" (opted out, not English).
    levels: dict[str, int] = field(default_factory=dict)
    #: Rows whose best topic scored below the topic threshold ("no good match").
    no_match: int = 0
    #: Input columns renamed because an output column has their name.
    renamed: dict[str, str] = field(default_factory=dict)
    model_version: str = ""
    seconds: float = 0.0
    #: The input's text encoding, and the rows in which bytes it cannot decode were replaced
    #: with U+FFFD (counted and reported, as `ingest` does, not refused: the encoding was
    #: detected or named).
    encoding: str = ""
    invalid_byte_rows: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(input=str(self.input), output=str(self.output),
                    rejects_path=str(self.rejects_path) if self.rejects_path else None,
                    rows_per_second=round(self.rows_per_second, 1),
                    seconds=round(self.seconds, 3))
        return data


#: The default output kind for each input format.
_KIND_FOR_FORMAT = {"csv": "csv", "freshdesk": "csv", "jsonl": "jsonl", "zendesk": "jsonl",
                    "parquet": "parquet"}


def output_paths(input_path: Path, out: Path | str | None, rejects: Path | str | None,
                 input_format: str, *, engine: str = "local") -> tuple[Path, str, Path]:
    """The output (default ``<input name>.scored.<ext>`` next to the input, the extension
    following the input's format), its kind (csv, jsonl or parquet, from its extension) and the
    rejects file (default ``<output name>.rejects.csv``), checked to be three different files."""
    out_path = Path(out) if out else input_path.with_name(
        f"{input_path.stem}.scored.{_KIND_FOR_FORMAT.get(input_format, 'csv')}")
    suffix = out_path.suffix.lower()
    if suffix not in OUTPUT_KINDS:
        raise InputError(
            f"{out_path}: cannot tell the output format from {suffix or 'no extension'!r}; "
            "end the name with .csv, .jsonl or .parquet"
        )
    kind = OUTPUT_KINDS[suffix]
    if engine == "dask" and kind == "jsonl":
        raise InputError("--engine dask writes a folder of CSV or Parquet parts; "
                         "name the output .csv or .parquet")
    rejects_path = Path(rejects) if rejects else default_rejects_path(out_path)
    if _same_file(input_path, out_path):
        raise InputError(f"{out_path} is the input file; choose another --out")
    if _same_file(input_path, rejects_path) or _same_file(out_path, rejects_path):
        raise InputError(f"{rejects_path}: the rejects file cannot be the input or the output; "
                         "choose another --rejects")
    return out_path, kind, rejects_path


def check_writable(path: Path, option: str) -> None:
    """Refuse an output that cannot be written, before any work: a folder, a path below a
    file, or a folder in which this user cannot create files (tried, not guessed: a
    permission check says yes to root even where the file system says no)."""
    import secrets

    if path.is_dir():
        raise InputError(f"{path} is a folder; {option} needs a file name, e.g. "
                         f"{path / ('scored' + (path.suffix or '.csv'))}")
    parent = path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{path}: {existing} is a file, not a folder; choose another {option}")
    if existing != parent:  # missing folders are created; the nearest existing one must allow it
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f"{path}: cannot create {parent}, {existing} is not writable; "
                             f"choose another {option}")
        return
    probe = parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {parent} ({exc.strerror or exc}); choose "
                         f"another {option} or a folder you can write to") from None
    probe.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def resolve_settings(model_dir: Path | None, trust: bool, kb_root: Path | None,
              db_path: Path | str | None, top: int, redact: bool, *, actor: str | None = None,
              input_name: str = "") -> tuple[ScoreSettings, str]:
    """Resolve the bundle (checked here, once: workers then open that very folder), the
    knowledge base and the store to absolute paths that every worker can use."""
    from expertise.bundles.format import open_bundle
    from expertise.bundles.registry import load_current
    from expertise.config import kb_dir

    bundle = open_bundle(model_dir, trust=trust) if model_dir else load_current()
    settings = ScoreSettings(
        model_dir=bundle.path.resolve(), kb_root=Path(kb_root or kb_dir()).resolve(),
        db_path=Path(db_path).resolve() if db_path else None, trust=True, top=top,
        redact=redact, actor=actor, input_name=input_name)
    return settings, bundle.version


def audit_run(db_path: Path, actor: str | None, input_path: Path, rows: int, customers: int
              ) -> None:
    with Store(db_path) as store:
        store.audit(actor, "score", purpose="batch scoring",
                    detail=f"{input_path.name}: {rows} tickets scored, history of "
                           f"{customers} customers looked up")


def nothing_scored(input_path: Path, rejected: int, rejects_path: Path) -> InputError:
    where = f"; see {rejects_path}" if rejected else ""
    return InputError(f"{input_path}: no row could be scored ({rejected} rejected){where}")


def strict_stop(input_path: Path, rejects: pd.DataFrame) -> InputError:
    """--strict: the first of these rejected rows as the run's error."""
    from expertise.tickets.writers import redacted_ids

    first = rejects.iloc[0]
    ticket = redacted_ids([first["ticket_id"]])[0]
    return InputError(f"{input_path}: row {int(first['row'])} "
                      f"(ticket {ticket or '?'}): {first['reason']} "
                      "(--strict stops at the first bad row)")
