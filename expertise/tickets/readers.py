"""The ticket schema and chunked readers for CSV, JSONL, Parquet, Zendesk and Freshdesk exports.

Every reader turns an export into the canonical columns (:data:`CANONICAL`, then any of
:data:`LABELS`), validates each row, and yields :class:`TicketChunk` objects: the accepted rows
and the rejected ones with a reason. A whole-file problem (a required column missing) raises
:class:`~expertise.errors.SchemaError`; a bad row never does.

>>> from expertise.tickets.readers import TicketReader
>>> reader = TicketReader("tests/data/tickets.csv")        # doctest: +SKIP
>>> for chunk in reader.chunks():                           # doctest: +SKIP
...     handle(chunk.frame); log(chunk.rejects)
>>> reader.stats.rows_read, reader.stats.rows_rejected      # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.config import CHANNELS, CHUNK_ROWS, LEVELS, UNCLEAR
from expertise.errors import InputError, ReadOptionError, SchemaError
from expertise.tickets.writers import REJECT_COLUMNS, RejectsWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CANONICAL", "FORMATS", "LABELS", "REJECT_COLUMNS", "REQUIRED", "ReadStats",
           "RecordFields", "TicketChunk", "TicketReader", "as_text", "customer_id_from_email",
           "detect_encoding", "detect_format", "iter_tickets", "normalise_channel",
           "parse_mapping", "parse_timestamp", "read_csv_rows", "read_tickets", "validate_frame",
           "write_rejects"]

CANONICAL: tuple[str, ...] = ("ticket_id", "customer_id", "created_at", "channel", "subject",
                              "body")
LABELS: tuple[str, ...] = ("expertise_level", "topic", "resolved_article_id")
#: Optional columns the engine reads when present: messages of one conversation (a chat, a
#: thread, a ticket's comments) and the product or brand a message is addressed to.
OPTIONAL: tuple[str, ...] = ("conversation_id", "product")

REQUIRED: tuple[str, ...] = ("ticket_id",)
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet", "zendesk", "freshdesk")
#: The data-row number (1-based) of each ticket in its input file.
ROW_COLUMN = "_row"

#: Zendesk ticket fields -> canonical columns (``via.channel`` is read from the nested object).
ZENDESK_ALIASES: dict[str, str] = {
    "id": "ticket_id",
    "requester_id": "customer_id",
    "created_at": "created_at",
    "via.channel": "channel",
    "subject": "subject",
    "description": "body",
}
#: Freshdesk CSV headers -> canonical columns. ``Email`` stands in for a missing Contact ID,
#: hashed (see :func:`customer_id_from_email`) so that the address never enters the data.
FRESHDESK_ALIASES: dict[str, str] = {
    "Ticket ID": "ticket_id",
    "Contact ID": "customer_id",
    "Created time": "created_at",
    "Source": "channel",
    "Subject": "subject",
    "Description": "body",
}
_LAYOUT_ALIASES = {"zendesk": ZENDESK_ALIASES, "freshdesk": FRESHDESK_ALIASES}

_CHANNEL_ALIASES: dict[str, str] = {
    # e-mail
    "email": "email", "e-mail": "email", "mail": "email", "outbound email": "email",
    "outbound_email": "email", "1": "email", "10": "email",
    # chat and messaging
    "chat": "chat", "live chat": "chat", "livechat": "chat", "messaging": "chat",
    "native_messaging": "chat", "whatsapp": "chat", "7": "chat",
    # web forms and portals
    "web": "web", "portal": "web", "web_form": "web", "webform": "web", "web form": "web",
    "web_widget": "web", "widget": "web", "feedback widget": "web", "feedback_widget": "web",
    "help_center": "web", "help center": "web", "forum": "web", "contact form": "web",
    "2": "web", "9": "web",
    # phone
    "phone": "phone", "voice": "phone", "call": "phone", "telephone": "phone",
    "voicemail": "phone", "3": "phone",
}  # fmt: skip

_DATE_FORMATS: tuple[str, ...] = (
    # day first (UK), then month first when the day-first reading is impossible
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%m/%d/%Y", "%d/%m/%Y %I:%M %p", "%m/%d/%Y %I:%M %p", "%d/%m/%y %H:%M", "%d/%m/%y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M",
    "%d-%m-%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M", "%d %b %Y", "%d %B %Y %H:%M", "%d %B %Y", "%b %d, %Y %H:%M", "%b %d, %Y",
    "%B %d, %Y %H:%M", "%B %d, %Y", "%a, %d %b %Y %H:%M:%S %z", "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %I:%M %p", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z",
)  # fmt: skip

_ZENDESK_KEYS = frozenset({"requester_id", "via", "description"})


@dataclass
class TicketChunk:
    """One chunk of an export: the accepted rows and the rejected ones.

    Attributes
    ----------
    frame : pandas.DataFrame
        Accepted rows: the canonical columns first (strings, ``""`` when missing), then the
        label columns present in the input, then every other input column unchanged, then
        ``_row`` (int), the 1-based data-row number in the input file.
    rejects : pandas.DataFrame
        Columns ``row``, ``ticket_id``, ``reason`` (reasons joined by ``"; "``).
    """

    frame: pd.DataFrame
    rejects: pd.DataFrame


@dataclass
class ReadStats:
    """Counts kept while a file is read."""

    rows_read: int = 0
    rows_rejected: int = 0
    #: Rows in which invalid UTF-8 was replaced (they contain U+FFFD after decoding).
    invalid_byte_rows: int = 0
    chunks: int = 0


# ---------------------------------------------------------------------------------------------
# Small helpers usable without pandas
# ---------------------------------------------------------------------------------------------


def customer_id_from_email(email: str) -> str:
    """A stable customer id for an e-mail address that does not reveal it.

    >>> customer_id_from_email(" Jane@Example.com ")
    'fd-8c87b489ce35cf2e'
    """
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
    return "fd-" + digest[:16]


def normalise_channel(value: object) -> str:
    """Map a channel name from any export to email, chat, web, phone or other (``""`` if empty).

    >>> normalise_channel("Portal"), normalise_channel("web_widget"), normalise_channel("api")
    ('web', 'web', 'other')
    """
    if value is None:
        return ""
    key = str(value).strip().lower()
    if not key:
        return ""
    if key in CHANNELS:
        return key
    return _CHANNEL_ALIASES.get(key) or _CHANNEL_ALIASES.get(key.replace("_", " ")) or "other"


def parse_timestamp(value: object) -> str | None:
    """Normalise a timestamp to ``YYYY-MM-DDTHH:MM:SS`` (UTC when it has an offset).

    Accepts ISO-8601 (with ``T`` or a space, ``Z`` or an offset, date only), common day-first
    and month-first forms (``15/03/2024 10:30``; day-first wins when both read), month names
    (``15 Mar 2024``), RFC 2822 mail dates and Unix epoch seconds or milliseconds. Returns
    None for an empty or unreadable value.

    >>> parse_timestamp("2024-03-15T10:30:00Z"), parse_timestamp("15/03/2024 10:30")
    ('2024-03-15T10:30:00', '2024-03-15T10:30:00')
    >>> parse_timestamp("next Tuesday") is None
    True
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    dt: datetime | None = None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        if text.isdigit() and len(text) in (10, 13):
            seconds = int(text) / (1000 if len(text) == 13 else 1)
            dt = datetime.fromtimestamp(seconds, tz=UTC)
        else:
            for fmt in _DATE_FORMATS:
                try:
                    dt = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="seconds")


def malformed_csv(path: Path | str, exc: Exception) -> InputError:
    """The one-line error for a CSV the parser gives up on."""
    detail = " ".join(str(exc).split())
    return InputError(f"{path}: malformed CSV ({detail}); look for an unclosed quote or a "
                      "row with a different separator")


#: Options under which `csv_records` reads: the header is read as a row (so that its width, not
#: the first data row's, is the file's: pandas otherwise takes a first data row one field
#: longer than the header as an unnamed index column and shifts every column), longer rows
#: are reported rather than fatal, and blank lines kept so that records are counted as the
#: parser counts them.
CSV_RECORD_OPTIONS: dict[str, Any] = {"header": None, "index_col": False,
                                      "skip_blank_lines": False, "on_bad_lines": "warn"}
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def _column_names(header: list[Any]) -> list[str]:
    """Header cells as column names, as pandas names them: stripped, a blank one
    ``Unnamed: i``, a repeated one suffixed ``.1``, ``.2``..."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = str(cell).strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


class RecordFields:
    """The fields of chosen records of a CSV file, read by a second pass with the csv module,
    forward only and only as far as asked: for the rows pandas skips for holding more fields
    than the header, which it reports by record number alone. Records are numbered as the
    parser numbers them (the header is record 0, a blank line is one, a quoted line break is
    not a new one). Bad bytes are replaced, as in the main pass."""

    def __init__(self, path: Path, encoding: str, sep: str) -> None:
        self.path, self.encoding, self.sep = path, encoding, sep
        self._handle: Any = None
        self._rows: Iterator[list[str]] = iter(())
        self._next = 0

    def get(self, record: int) -> list[str] | None:
        """The fields of `record`, or None once it is behind (or past the end)."""
        if self._handle is None:
            self._handle = open(self.path, encoding=_text_codec(self.encoding),
                                errors="replace", newline="")
            self._rows = csv.reader(self._handle, delimiter=self.sep)
        if record < self._next:
            return None
        try:
            for fields in self._rows:
                self._next += 1
                if self._next - 1 == record:
                    return fields
        except (csv.Error, UnicodeError):
            self._rows = iter(())  # a file the main pass reads but csv cannot: ids stay empty
        return None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def csv_records(chunks: Any, fail: Any, *,
                ticket_id: Callable[[list[str], int], str] | None = None,
                ) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
    """Chunks of a chunked ``pandas.read_csv`` made with :data:`CSV_RECORD_OPTIONS`, with the
    header row made the columns, each row numbered (``_row``: 1 for the first record after
    the header), blank lines dropped, and the rows pandas skipped for holding more fields
    than the header as rejects ``(row, ticket id, reason)``: the id is
    ``ticket_id(header names, row)`` when given, else empty. `fail(exc)` gives the exception
    to raise for a ParserError (an unclosed quote still ends the read: where its record ends
    is unknowable)."""
    import warnings

    import numpy as np
    import pandas as pd

    names: list[str] | None = None
    record = 0  # the number the next row read gets; the header is record 0
    skipped: set[int] = set()

    def rejected(lines: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
        return [(row, ticket_id(names, row) if ticket_id and names else "",
                 f"more fields than the header's {expected}: quote any field that holds the "
                 "separator")  # one text per file, so that reasons group
                for row, expected in lines]

    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            try:  # the first chunk one row longer: its header row is no record
                frame = chunks.get_chunk(chunks.chunksize + 1 if names is None else None)
            except StopIteration:
                frame = None
            except pd.errors.ParserError as exc:
                raise fail(exc) from None
        lines: list[tuple[int, str]] = []
        for warning in caught:
            found = _SKIPPED_LINE.findall(str(warning.message))
            if not found:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
            for line, expected, _ in found:
                skipped.add(int(line) - 1)
                lines.append((int(line) - 1, expected))
        if frame is None:
            if lines or names is None:
                yield pd.DataFrame({**{n: pd.Series(dtype=object) for n in names or []},
                                    ROW_COLUMN: pd.Series(dtype="int64")}), rejected(lines)
            return
        numbers = np.arange(record, record + len(frame) + len(skipped), dtype=np.int64)
        if skipped:
            numbers = numbers[~np.isin(numbers, list(skipped))]
        numbers = numbers[:len(frame)]
        if len(frame):
            record = int(numbers[-1]) + 1
            skipped = {r for r in skipped if r >= record}
        if names is None:
            names = _column_names(frame.iloc[0].tolist()) if len(frame) else []
            frame, numbers = frame.iloc[1:], numbers[1:]
        frame = _numbered(frame.set_axis(names, axis=1), numbers)  # the header set the width
        blank = (frame.drop(columns=[ROW_COLUMN]) == "").all(axis=1).to_numpy()
        if blank.any():
            frame = frame[~blank]
        yield frame.reset_index(drop=True), rejected(lines)


def _canonical_timestamps(values: Any) -> Any:
    """Per value, whether it is a valid ``YYYY-MM-DDTHH:MM:SS`` (what parse_timestamp gives
    back unchanged), decided for the whole column at once."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    shaped = pc.match_substring_regex(pa.array(values.to_numpy(dtype=object), type=pa.string()),
                                      pattern=_CANONICAL_TS).to_numpy(zero_copy_only=False)
    if not shaped.any():
        return shaped
    valid = pd.to_datetime(values[shaped], format="%Y-%m-%dT%H:%M:%S", errors="coerce").notna()
    out = np.zeros(len(values), dtype=bool)
    out[np.flatnonzero(shaped)[valid.to_numpy()]] = True
    return out


_CANONICAL_TS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"


def check_reading_options(data: object, *, encoding: str, mapping: object) -> None:
    """``--map`` and ``--encoding`` say how to read ``--data``: without a file they are an
    InputError (the one rule of `train`, `evaluate` and the CLI, which makes it a usage
    error)."""
    if not data and (mapping or encoding != "auto"):
        raise InputError("--map and --encoding say how to read --data FILE; give --data FILE")


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--map new=old`` options into ``{canonical: their_column}``.

    >>> parse_mapping(["ticket_id=Case Number", "body=Notes"])
    {'ticket_id': 'Case Number', 'body': 'Notes'}
    """
    mapping: dict[str, str] = {}
    known = CANONICAL + LABELS + OPTIONAL
    for pair in pairs:
        new, sep, old = pair.partition("=")
        new, old = new.strip(), old.strip()
        if not sep or not new or not old:
            raise InputError(f"--map {pair!r}: expected NEW=OLD, e.g. --map ticket_id=Case ID")
        if new not in known:
            raise InputError(
                f"--map {pair!r}: {new!r} is not a ticket column; use one of " + ", ".join(known)
            )
        if new in mapping and mapping[new] != old:
            raise InputError(f"--map {pair!r}: {new} is already mapped to {mapping[new]!r}; "
                             "give one --map per column")
        mapping[new] = old
    return mapping


#: Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEAD = 1 << 20
#: Bytes Windows-1252 leaves undefined: a file holding them is Latin-1, if 8-bit at all.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def detect_encoding(path: Path | str, *, head: bytes | None = None) -> str:
    """The text encoding of an export, from its first megabyte; UTF-8 unless it says otherwise.

    - A byte-order mark decides: UTF-8, UTF-16 or UTF-32 (the mark is dropped).
    - Without one, many NUL bytes in the pattern of UTF-16 or UTF-32 text (ASCII with a zero
      byte before or after each character) mean that encoding, little- or big-endian.
    - Valid UTF-8 is UTF-8 (the common case costs one decode of the first megabyte). So is
      UTF-8 with a few damaged bytes among valid accented characters: those bytes are
      replaced with U+FFFD and the rows counted (``ReadStats.invalid_byte_rows``).
    - Bytes that are not UTF-8 and no valid UTF-8 accented character: a legacy 8-bit
      encoding (what Excel and older systems save). Which one cannot be known for sure, so
      this is refused with the exact fix (``--encoding cp1252`` or ``latin-1``, or a
      conversion), rather than scored with replacement characters.

    Invalid bytes after the first megabyte are replaced and counted, not refused.
    """
    path = Path(path)
    head = _read_head(path, _HEAD) if head is None else head
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    sample = head[: 1 << 16]
    if sample.count(0) > len(sample) // 10:
        return _nul_pattern(path, sample)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _HEAD)
        return "utf-8"
    except UnicodeDecodeError as exc:
        text = head.decode("utf-8", errors="replace")
        damaged = text.count("\ufffd")
        accented = sum(1 for ch in text if ch > "\x7f") - damaged
        if accented >= damaged:
            return "utf-8"
        if 0 in head:  # text has no NUL bytes: binary (a compressed or Excel file?)
            raise _not_text(path) from None
        raise _not_utf8(path, head, exc) from None


def _nul_pattern(path: Path, sample: bytes) -> str:
    """UTF-16 or UTF-32 without a byte-order mark, from where the zero bytes fall."""
    n = len(sample) - len(sample) % 4
    quarter = max(n // 4, 1)

    def zeros(start: int, step: int) -> float:
        return sample[start:n:step].count(0) / (quarter * (4 // step))

    if min(zeros(1, 4), zeros(2, 4), zeros(3, 4)) > 0.9 and zeros(0, 4) < 0.5:
        return "utf-32-le"
    if min(zeros(0, 4), zeros(1, 4), zeros(2, 4)) > 0.9 and zeros(3, 4) < 0.5:
        return "utf-32-be"
    odd, even = zeros(1, 2), zeros(0, 2)
    if odd > 0.3 and even < odd / 4:
        return "utf-16-le"
    if even > 0.3 and odd < even / 4:
        return "utf-16-be"
    raise _not_text(path)


def _not_text(path: Path) -> InputError:
    return InputError(f"{path}: holds NUL bytes and is not UTF-8, UTF-16 or UTF-32 text; is it "
                      "a ticket export (CSV, JSON Lines, Zendesk JSON)? A Parquet file needs "
                      "the .parquet extension; a spreadsheet, saving as CSV UTF-8")


def _not_utf8(path: Path, head: bytes, exc: UnicodeDecodeError) -> InputError:
    guess = "latin-1" if _CP1252_UNDEFINED.intersection(head) else "cp1252"
    label, iconv = {"cp1252": ("Windows-1252", "CP1252"),
                    "latin-1": ("Latin-1", "LATIN1")}[guess]
    line = head.count(b"\n", 0, exc.start) + 1
    fixed = path.with_name(f"{path.stem}-utf8{path.suffix}")
    what = (f"{path}: not UTF-8 (byte 0x{head[exc.start]:02X} on line {line}); it looks like "
            f"{label}, as Excel and older systems save text.")
    convert = f"iconv -f {iconv} -t UTF-8 {path} > {fixed}"
    return ReadOptionError(
        f"{what} Read it as that with --encoding {guess}, or convert it once: {convert}",
        file_fix=f"{what} Convert it to UTF-8 ({convert}) and use {fixed.name} instead")


def check_encoding(name: str) -> str:
    """A codec name (``--encoding``) as Python knows it; InputError if it is unknown or not a
    text encoding (rot13, base64, idna and the like transform text, they do not decode it)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise InputError(f"--encoding {name!r}: unknown encoding; use e.g. utf-8, utf-16, "
                         "cp1252 or latin-1") from None
    if not getattr(info, "_is_text_encoding", True) or info.name == "idna":
        raise InputError(f"--encoding {name!r}: not an encoding of text files; use e.g. "
                         "utf-8, utf-16, cp1252 or latin-1")
    return info.name


def _decoded(path: Path, chunks: Iterator[Any]) -> Iterator[Any]:
    """`chunks`, with a codec that cannot start decoding (:func:`_undecodable`) an
    InputError. Bad bytes are replaced, never raised, so a UnicodeError here is the codec's."""
    try:
        yield from chunks
    except UnicodeError as exc:
        raise _undecodable(path, exc) from None


def _undecodable(path: Path, exc: UnicodeError) -> InputError:
    """The error for a file the chosen codec cannot decode at all (not a bad byte, which is
    replaced, but e.g. a UTF-16 or UTF-32 file without the byte-order mark the codec needs)."""
    return InputError(f"{path}: cannot be read with this encoding ({exc}); name the byte order, "
                      "e.g. --encoding utf-16-le or utf-32-le, or leave --encoding auto")


def _text_codec(encoding: str) -> str:
    """The codec that reads text in `encoding` with a UTF-8 byte-order mark dropped."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


class _Utf8Source:
    """A file's bytes as UTF-8, for pandas' C parser.

    The parser reads UTF-8 bytes natively, and only from a binary source does an exception
    raised while it reads reach the caller: around a text handle it turns every one of them,
    KeyboardInterrupt included, into ``ParserError("... read(nbytes) on source failed")`` (a
    Ctrl-C then read as "malformed CSV", exit 1). Other encodings are decoded here, invalid
    bytes replaced, and handed on as UTF-8. What `read` raised is kept in :attr:`error`, for
    :func:`_read_failure` to raise again.
    """

    mode = "rb"

    def __init__(self, path: Path, encoding: str) -> None:
        self._file = open(path, "rb")  # closed by close(), with the reader
        self._decoder = (None if codecs.lookup(encoding).name == "utf-8" else
                         codecs.getincrementaldecoder(encoding)(errors="replace"))
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            if self._decoder is None:
                return self._file.read(size)
            while True:
                raw = self._file.read(size)
                text = self._decoder.decode(raw, final=not raw)
                if text or not raw:  # never an empty result before the end: that means EOF
                    return text.encode("utf-8")
        except BaseException as exc:
            self.error = exc
            raise

    def __iter__(self) -> Iterator[bytes]:  # pandas takes only "file-like" objects
        return iter(self._file)

    def close(self) -> None:
        self._file.close()


def _read_failure(path: Path, source: _Utf8Source, exc: Exception) -> InputError:
    """The error for a ParserError: what reading raised, if it raised (a KeyboardInterrupt
    is raised again as it is), else a malformed CSV.

    A read that failed without :attr:`_Utf8Source.error` raised before the first line of
    `read` ran: only a signal's exception does that (Python runs pending signal handlers on
    entering a function), so it is an interrupt.
    """
    if isinstance(source.error, OSError):
        return InputError(f"{path}: cannot read ({source.error.strerror or source.error})")
    if isinstance(source.error, UnicodeError):  # e.g. UTF-16 or UTF-32 without a byte-order mark
        return _undecodable(path, source.error)
    if source.error is not None:
        raise source.error
    if "on source failed" in str(exc):
        raise KeyboardInterrupt
    return malformed_csv(path, exc)


def _read_csv(path: Path, encoding: str, empty: type[InputError],
              **options: Any) -> tuple[_Utf8Source, Any]:
    """The file's source and ``pandas.read_csv`` over it (every column text); the source is
    closed if reading the header fails, with `empty` raised for a file without one."""
    import pandas as pd

    source = _Utf8Source(path, encoding)
    buffer: Any = source  # read() and __iter__ are all the C parser uses
    try:
        return source, pd.read_csv(buffer, dtype=str, keep_default_na=False,
                                   encoding="utf-8",  # what the source hands on
                                   encoding_errors="replace", **options)
    except BaseException as exc:
        source.close()
        if isinstance(exc, pd.errors.EmptyDataError):
            raise empty(f"{path}: the file is empty (no header row)") from None
        if isinstance(exc, pd.errors.ParserError):
            raise _read_failure(path, source, exc) from None
        if isinstance(exc, UnicodeError):
            raise _undecodable(path, exc) from None
        raise


def read_csv_rows(path: Path | str, *, sep: str = ",", encoding: str = "auto"
                  ) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """A whole (small) CSV file as strings, read as exports are (`csv_records`: the encoding
    detected or given, a Ctrl-C kept a KeyboardInterrupt, rows numbered in ``_row``), and
    the rows with more fields than the header as rejects, under their ticket id as a ticket
    export's are (:meth:`TicketReader.wide_row_ids`); InputError when it cannot be read or
    parsed."""
    import pandas as pd

    path = Path(path)
    encoding = detect_encoding(path) if encoding == "auto" else encoding
    ids = TicketReader(path, format="csv", encoding=encoding).wide_row_ids
    source, reader = _read_csv(path, encoding, InputError, sep=sep, chunksize=CHUNK_ROWS,
                               **CSV_RECORD_OPTIONS)
    fields = RecordFields(path, encoding, sep)
    frames, rejects = [], []
    with contextlib.closing(source), reader, contextlib.closing(fields):
        for frame, bad in csv_records(reader, lambda exc: _read_failure(path, source, exc),
                                      ticket_id=ids(fields)):
            frames.append(frame)
            rejects += bad
    return pd.concat(frames, ignore_index=True), rejects


def detect_format(path: Path | str, *, encoding: str | None = None) -> str:
    """Guess an export's format from its extension and first bytes.

    Returns one of :data:`FORMATS`. Zendesk: a ``.json`` document ``{"tickets": [...]}``, or
    JSON Lines whose records carry Zendesk fields (``requester_id``, ``via``,
    ``description``). Freshdesk: a CSV whose header has ``Ticket ID`` and ``Description``.
    Text is read in `encoding` (default: :func:`detect_encoding`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    head = _read_head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.decode(_text_codec(encoding or detect_encoding(path, head=head)),
                       errors="replace")
    stripped = text.lstrip()
    if not stripped:
        raise SchemaError(f"{path}: the file is empty")
    if suffix in (".json", ".jsonl", ".ndjson") or stripped.startswith(("{", "[")):
        return _detect_json(path, stripped, suffix, encoding or detect_encoding(path, head=head))
    header = _csv_header(text)
    if "Ticket ID" in header and "Description" in header:
        return "freshdesk"
    return "csv"


def _read_head(path: Path, size: int = 1 << 20) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a ticket export") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _detect_json(path: Path, stripped: str, suffix: str, encoding: str) -> str:
    first_line = stripped.split("\n", 1)[0].strip()
    try:
        record = json.loads(first_line)
    except (ValueError, RecursionError):
        record = None
    if isinstance(record, dict):
        zendesk = isinstance(record.get("tickets"), list) or (
            "body" not in record and len(_ZENDESK_KEYS.intersection(record)) >= 2)
        return "zendesk" if zendesk else "jsonl"
    if re.match(r'\{\s*"tickets"\s*:', stripped) or re.search(r'"tickets"\s*:\s*\[', stripped):
        return "zendesk"
    if (record is None and (suffix == ".json" or first_line in ("{", "["))
            or isinstance(record, list) and suffix not in (".jsonl", ".ndjson")):
        # one JSON document (an array, or pretty-printed over many lines): where are its
        # records?
        try:
            document = json.loads(path.read_bytes().decode(_text_codec(encoding),
                                                           errors="replace"))
        except (ValueError, RecursionError, OSError):
            document = None
        wrapped = one_document_error(path, document)
        if wrapped is not None:
            raise wrapped
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise SchemaError(
        f'{path}: unknown JSON layout; expected a Zendesk export {{"tickets": [...]}} or '
        "JSON Lines (one ticket object per line)"
    )


#: How many objects of a JSON document are looked into for the records of an export wrapped
#: in objects (breadth first, at any depth): enough for any wrapper, few enough to stay quick
#: in a document of many records keyed by id.
_WRAPPER_OBJECTS = 10_000


@dataclass
class _Inside:
    """What a JSON object wrapping an export holds: the keys leading to the largest list of
    objects, or object of objects (records keyed by id), with how many there are and whether
    they are keyed; else the keys leading to the first empty list, if any."""

    keys: tuple[str, ...] = ()
    count: int = 0
    keyed: bool = False
    empty: tuple[str, ...] | None = None


def _records_inside(document: dict[str, Any]) -> _Inside:
    """Where the records of a JSON object that wraps them are, at any depth (of two lists
    as long, the shallower); records keyed by id are not looked into."""
    inside = _Inside()
    queue: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), document)]
    for keys, value in queue:  # breadth first: of two as large, the shallower
        for key, child in value.items():
            where = (*keys, str(key))
            found = 0
            keyed = isinstance(child, dict)
            if isinstance(child, list) and child and all(isinstance(c, dict) for c in child):
                found = len(child)
            elif isinstance(child, list) and not child and inside.empty is None:
                inside.empty = where
            elif keyed and child and all(
                    isinstance(c, dict) and any(not isinstance(v, (dict, list))
                                                for v in c.values()) for c in child.values()):
                # records keyed by id each hold a field; an object of wrappers ({"export":
                # {"items": [...]}}, beside {"meta": {"page": 1}}) holds one that holds none
                found = len(child)
            if keyed and not found and len(queue) < _WRAPPER_OBJECTS:
                queue.append((where, child))  # not into records: their lists are fields
            if found > inside.count:
                inside.keys, inside.count, inside.keyed = where, found, keyed
    return inside


def _jq_path(keys: tuple[str, ...]) -> str:
    """``.tickets``, ``.data.tickets``, ``."odd key"``: the jq path of nested keys."""
    return "".join("." + (k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else json.dumps(k))
                   for k in keys)


def one_document_error(path: Path, document: Any, *, records_only: bool = False
                       ) -> SchemaError | None:
    """The error for an export that is one JSON document wrapping its records (an object
    such as ``{"tickets": {...}}`` or ``{"data": [...]}``, or one array) rather than JSON Lines:
    which key holds what looks like the records, and the jq command that writes them one a
    line; for an empty array, or an object whose only place for records is an empty list
    (``{"data": []}``), that there are none; None when `document` is no object or array of
    objects, or (`records_only`) an object in which nothing looks like records (nor an empty
    list, beside no ticket field or text)."""
    out = path.with_name(f"{path.stem}-records.jsonl")
    if isinstance(document, list):
        if not document:
            return SchemaError(f"{path}: no ticket records: the file holds an empty JSON array; "
                               "export the tickets again, or check the export's filters or "
                               "date range")
        if not all(isinstance(d, dict) for d in document):
            return None
        many = "" if len(document) == 1 else "s"
        return SchemaError(
            f"{path}: holds one JSON array of {len(document)} object{many}, not one ticket "
            f"object a line; write them one a line and read that file instead: jq -c '.[]' "
            f"{path} > {out}")
    if not isinstance(document, dict):
        return None
    found = _records_inside(document)
    if not found.count and found.empty is not None and not (records_only and (
            _TEXT_FIELDS.intersection(map(str, document))
            or any(isinstance(v, str) for v in document.values()))):  # a ticket's text
        return SchemaError(
            f"{path}: no ticket records: the list under key {'.'.join(found.empty)!r} is "
            "empty; export the tickets again, or check the export's filters or date range")
    if not found.count and records_only:
        return None
    if not found.count:
        names = ", ".join(map(str, list(document)[:10])) or "none"
        return SchemaError(
            f"{path}: holds one JSON object, not ticket records (its keys: {names}); expected "
            'JSON Lines (one ticket object a line) or a Zendesk export {"tickets": [...]}')
    keys, count, keyed = found.keys, found.count, found.keyed
    jq = _jq_path(keys)
    objects = f"{count} object{'' if count == 1 else 's'}"
    what, extract = ((f"an object of {objects} keyed by their ids",
                      f"{jq} | to_entries[] | {{ticket_id: .key}} + .value") if keyed
                     else (f"a list of {objects}", f"{jq}[]"))
    return SchemaError(
        f"{path}: holds one JSON object, not one ticket object a line: its key "
        f"{'.'.join(keys)!r} looks like the records ({what}); write them one a line and read "
        f"that file instead: jq -c '{extract}' {path} > {out}")


def _csv_header(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(first)))]
    except (StopIteration, csv.Error):
        return []


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


class TicketReader:
    """Read an export in chunks of canonical, validated tickets.

    Parameters
    ----------
    path : Path or str
        The export file.
    format : str, default "auto"
        One of :data:`FORMATS`, or "auto" to use :func:`detect_format`.
    mapping : dict, optional
        ``{canonical: their_column}`` applied before aliases and validation (``--map``).
    chunk_rows : int
        Rows per chunk (the last chunk may be shorter; JSON rows that fail to parse count).
    require_labels : bool
        Training data: the ``expertise_level`` column must exist and be set on every row.
    track_ids : bool, default True
        Remember every ticket id, to reject duplicates across chunks. False rejects only
        duplicates within a chunk: for a caller that checks across chunks itself, in less
        memory (batch scoring).
    encoding : str, default "auto"
        The text encoding (``--encoding``), or "auto" for :func:`detect_encoding`, which
        refuses a file in a legacy 8-bit encoding with the exact fix rather than guess.

    Attributes
    ----------
    format : str
        The format in use.
    encoding : str
        The text encoding in use (``utf-8`` for Parquet).
    stats : ReadStats
        Counts, complete once :meth:`chunks` has been exhausted.

    Notes
    -----
    Duplicate ``ticket_id`` values are detected across the whole file: the first occurrence
    is kept and every later one rejected, so the reader holds the ids seen in memory.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        format: str = "auto",
        mapping: Mapping[str, str] | None = None,
        chunk_rows: int = CHUNK_ROWS,
        require_labels: bool = False,
        unclear_ok: bool = False,
        track_ids: bool = True,
        encoding: str = "auto",
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        explicit = None if encoding == "auto" else check_encoding(encoding)
        if format == "auto":
            format = detect_format(self.path, encoding=explicit)
        self.encoding = explicit or ("utf-8" if format == "parquet" else
                                     detect_encoding(self.path))
        if format not in FORMATS:
            raise InputError(f"unknown format {format!r}; use one of auto, {', '.join(FORMATS)}")
        if chunk_rows < 1:
            raise InputError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.format = format
        self.mapping = dict(mapping or {})
        unknown = [k for k in self.mapping if k not in CANONICAL + LABELS + OPTIONAL]
        if unknown:
            raise InputError(
                f"--map: {', '.join(unknown)} not ticket columns; use one of "
                + ", ".join(CANONICAL + LABELS + OPTIONAL)
            )
        self.chunk_rows = chunk_rows
        self.require_labels = require_labels
        self.unclear_ok = unclear_ok
        self.track_ids = track_ids
        self.stats = ReadStats()
        self._seen: set[str] = set()

    def __iter__(self) -> Iterator[TicketChunk]:
        return self.chunks()

    def chunks(self) -> Iterator[TicketChunk]:
        """Yield :class:`TicketChunk` objects; raise SchemaError on the first if columns lack.

        Each call reads the file from the start and resets :attr:`stats`.
        """
        import pandas as pd

        self._seen = set()
        for number, (raw, parse_rejects) in enumerate(self.records()):
            frame = self._canonicalise(raw)
            if number == 0:
                self._check_columns(frame)
            if "ticket_id" not in frame.columns:  # JSON records that lack it: row rejects
                frame = frame.assign(ticket_id="")
            seen = self._seen if self.track_ids else set()
            chunk = validate_frame(frame, seen_ids=seen, require_labels=self.require_labels,
                                   unclear_ok=self.unclear_ok)
            if parse_rejects:
                both = pd.concat([rejects_frame(parse_rejects), chunk.rejects], ignore_index=True)
                rejects = both.sort_values("row", kind="stable").reset_index(drop=True)
                chunk = TicketChunk(chunk.frame, rejects)
            self.stats.rows_read += len(frame) + len(parse_rejects)
            self.stats.rows_rejected += len(chunk.rejects)
            yield chunk

    def records(self) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        """The file's rows as read, before their columns are named and validated: chunks of
        at most `chunk_rows` rows as the file names its columns, with ``_row``, and the rows
        that could not be parsed as rejects ``(row, ticket id, reason)``. For engines that
        validate elsewhere (Dask); :meth:`chunks` reads through it.

        Each call reads the file from the start and resets :attr:`stats`, counting the rows
        whose bytes the encoding could not decode (``stats.invalid_byte_rows``).
        """
        self.stats = ReadStats()
        raw_chunks = {
            "csv": self._csv_raw,
            "freshdesk": self._csv_raw,
            "jsonl": self._jsonl_raw,
            "zendesk": self._zendesk_raw,
            "parquet": self._parquet_raw,
        }[self.format]()
        for raw, parse_rejects in _decoded(self.path, raw_chunks):
            self.stats.invalid_byte_rows += _count_replaced_rows(raw)
            self.stats.chunks += 1
            yield raw, parse_rejects

    # -- raw readers: (frame with _row, [(row, ticket_id, reason), ...]) ----------------------

    def _csv_raw(self) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        sep = sniff_separator(self.path, self.encoding)
        source, reader = _read_csv(self.path, self.encoding, SchemaError, na_filter=False,
                                   sep=sep, chunksize=self.chunk_rows, **CSV_RECORD_OPTIONS)
        fields = RecordFields(self.path, self.encoding, sep)
        with contextlib.closing(source), reader, contextlib.closing(fields):
            yield from csv_records(reader, lambda exc: _read_failure(self.path, source, exc),
                                   ticket_id=self.wide_row_ids(fields))

    def wide_row_ids(self, fields: RecordFields) -> Callable[[list[str], int], str]:
        """The ticket id of a CSV row with more fields than the header, for
        :func:`csv_records`: the row's first fields, named by the header and read as any row
        is (``--map``, the layout's aliases), so that the rejected row can be found; empty
        when that cannot be told."""
        import pandas as pd

        def ticket_id(names: list[str], row: int) -> str:
            found = fields.get(row)
            if found is None or len(found) <= len(names):  # not the row pandas skipped
                return ""
            try:
                frame = self._canonicalise(pd.DataFrame([found[:len(names)]], columns=names))
            except SchemaError:  # a --map naming no column: raised for the first chunk anyway
                return ""
            if "ticket_id" not in frame.columns:
                return ""
            return _cell_str(frame["ticket_id"].iloc[0]).strip()

        return ticket_id

    def _jsonl_raw(self) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        def parsed(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
            for number, text in enumerate(lines, start=1):
                if number == 1:
                    text = text.lstrip("\ufeff")
                if not text.strip():
                    continue
                try:
                    record = _JSON.decode(text)
                except json.JSONDecodeError as exc:
                    record = exc
                except RecursionError:  # nested deeper than the parser goes: this line only
                    record = _TOO_DEEP
                if (text.count("[") + text.count("{") > MAX_JSON_DEPTH
                        and _nested_deeper(record, MAX_JSON_DEPTH)):
                    record = _TOO_DEEP
                if (("\\ud" in text or "\\uD" in text) and record is not _TOO_DEEP
                        and not isinstance(record, json.JSONDecodeError)
                        and _lone_surrogate(record)):
                    record = _LONE_SURROGATE
                if record is not None:  # a line of JSON null makes no row
                    yield number, record

        # invalid bytes are replaced (U+FFFD, counted per row)
        if codecs.lookup(self.encoding).name == "utf-8":  # lines split on bytes: fastest
            with open(self.path, "rb") as raw:
                yield from self._record_chunks(
                    parsed(line.decode("utf-8", errors="replace") for line in raw))
        else:
            with open(self.path, encoding=self.encoding, errors="replace", newline="") as text:
                yield from self._record_chunks(parsed(text))

    def _record_chunks(
        self, records: Iterable[tuple[int, Any]]
    ) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        """Numbered JSON values in chunks of `chunk_rows`; a value that is no object, or the
        JSONDecodeError of a line, is a reject. No values at all still make one chunk."""
        kept: list[dict[str, Any]] = []
        rows: list[int] = []
        bad: list[tuple[int, str, str]] = []
        for number, record in records:
            if self.format == "zendesk" and _nested_deeper(record, MAX_JSON_DEPTH):
                record = _TOO_DEEP  # (JSON Lines were checked as they were parsed)
            if isinstance(record, dict):
                kept.append(record)
                rows.append(number)
            elif isinstance(record, json.JSONDecodeError):
                bad.append((number, "", f"invalid JSON: {record.msg} (column {record.colno})"))
            elif record is _TOO_DEEP:
                bad.append((number, "", f"JSON nested more than {MAX_JSON_DEPTH} deep (arrays "
                            "or objects inside one another); flatten or remove that value"))
            elif record is _LONE_SURROGATE:
                bad.append((number, "", "a \\uD800-\\uDFFF escape without its pair: no "
                            "character; fix or remove that escape"))
            else:
                bad.append((number, "", "not a JSON object"))
            if len(kept) + len(bad) >= self.chunk_rows:
                frame, refused = self._records_frame(kept, rows)
                yield frame, sorted(bad + refused)
                kept, rows, bad = [], [], []
        if kept or bad or self.stats.chunks == 0:
            frame, refused = self._records_frame(kept, rows)
            yield frame, sorted(bad + refused)

    def _zendesk_raw(self) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        codec = _text_codec(self.encoding)
        head = _read_head(self.path, 1 << 16).decode(codec, errors="replace").lstrip()
        first_line = head.split("\n", 1)[0]
        try:
            first = json.loads(first_line)
        except (ValueError, RecursionError):
            first = None
        if isinstance(first, dict) and "tickets" not in first:
            yield from self._jsonl_raw()  # incremental export: one ticket per line
            return
        text = self.path.read_bytes().decode(codec, errors="replace")
        try:
            document = _JSON.decode(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{self.path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise InputError(
                f"{self.path}: JSON nested too deeply to read (arrays or objects inside one "
                "another, thousands deep); flatten or remove that value, or export JSON Lines "
                "(one ticket a line), where only that ticket is rejected") from None
        tickets = document.get("tickets") if isinstance(document, dict) else None
        if not isinstance(tickets, list):
            raise one_document_error(self.path, document) or SchemaError(
                f'{self.path}: expected a Zendesk export {{"tickets": [...]}}')
        yield from self._record_chunks(enumerate(tickets, start=1))

    def _parquet_raw(self) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, str]]]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{self.path}: not a readable Parquet file ({exc})") from None
        try:
            names = self._column_renames(parquet.schema_arrow.names)
        except SchemaError:
            names = {}  # a --map naming no column: raised where the columns are named
        offset = 0
        with parquet:
            for batch in parquet.iter_batches(batch_size=self.chunk_rows):
                rows = list(range(offset + 1, offset + batch.num_rows + 1))
                offset += batch.num_rows
                # a boolean or fractional id refuses the row, as in JSON
                problems = _parquet_id_problems(batch, names)
                batch = _numbers_as_text(batch, {
                    c for c in batch.schema.names if names.get(c, c) in _TEXT_FIELDS})
                refused: list[tuple[int, str, str]] = []
                if problems:
                    ticket = next((c for c in batch.schema.names
                                   if names.get(c, c) == "ticket_id"), None)
                    shown = (batch.column(ticket).to_pylist() if ticket is not None
                             else [""] * batch.num_rows)
                    for i, found in sorted(problems.items()):
                        own = any(p.startswith("ticket_id") for p in found)
                        refused.append((rows[i], "" if own else _cell_str(shown[i]),
                                        "; ".join(found)))
                    batch = batch.filter(pa.array([i not in problems
                                                   for i in range(batch.num_rows)]))
                    rows = [r for i, r in enumerate(rows) if i not in problems]
                frame = batch.to_pandas()
                for field in batch.schema:  # bytes columns: read as UTF-8, bad bytes replaced
                    if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                        frame[field.name] = [
                            v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
                            for v in frame[field.name]]
                    elif pa.types.is_dictionary(field.type):  # categorical: its values
                        frame[field.name] = frame[field.name].astype(object)
                yield _numbered(frame, rows), refused
            if self.stats.chunks == 0:
                frame = _numbered(parquet.schema_arrow.empty_table().to_pandas(), [])
                yield frame, []

    def _records_frame(self, records: list[dict[str, Any]], rows: list[int]
                       ) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
        """JSON records as a frame, and the records refused for their ids (a boolean, a
        number that is not whole). The values of the fields the readers read as text (ids,
        text, labels, product) are their JSON text: 7 is "7", 1.50 "1.50", 1e300 "1e300",
        true "true", NaN and Infinity missing (an id NaN or Infinity refuses the record);
        other columns are typed as pandas infers them, but whole numbers beside missing
        values stay whole numbers (pandas would make them floats)."""
        import pandas as pd

        if self.format == "zendesk":
            for record in records:
                via = record.get("via")
                channel = via.get("channel") if isinstance(via, dict) else via
                # via.source.from can hold the requester's address: keep only the channel
                record.pop("via", None)
                record["via.channel"] = "" if channel is None else channel
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
        try:
            names = self._column_renames(frame.columns)
        except SchemaError:
            names = {}  # a --map naming no column: raised where the columns are named
        # the fields read as text whose values are not all strings: rebuilt from the values
        loose = {c: names.get(c, c) for c in frame.columns
                 if names.get(c, c) in _TEXT_FIELDS and not _all_text(frame[c], records, c)}
        refused: list[tuple[int, str, str]] = []
        ids = [c for c, name in loose.items() if name in _ID_FIELDS]
        bad = []
        for i, record in enumerate(records if ids else ()):
            problems = [p for c in ids if (p := _id_problem(record.get(c), loose[c]))]
            if problems:
                ticket = next((c for c, name in names.items() if name == "ticket_id"),
                              "ticket_id")
                shown = "" if any(p.startswith("ticket_id") for p in problems) else (
                    _json_text(record.get(ticket)))
                refused.append((rows[i], shown, "; ".join(problems)))
                bad.append(i)
        for c in loose:
            frame[c] = pd.Series([_json_text(r.get(c)) for r in records], index=frame.index,
                                 dtype=object)
        for c in frame.columns:
            if c in loose or frame[c].dtype.kind != "f" or not frame[c].isna().any():
                continue
            # whole numbers beside a missing value: pandas makes them floats (123456789.0,
            # a long one rounded); kept as written, ints and None
            values = [r.get(c) for r in records]
            if all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                   for v in values):
                frame[c] = pd.Series(values, index=frame.index, dtype=object)
        if bad:
            dropped = set(bad)
            keep = [i for i in range(len(records)) if i not in dropped]
            frame, rows = frame.iloc[keep].reset_index(drop=True), [rows[i] for i in keep]
        return _numbered(frame, rows), refused

    # -- columns ------------------------------------------------------------------------------

    def _column_renames(self, columns: Any) -> dict[Any, str]:
        """How :meth:`_canonicalise` renames these columns: ``--map`` first, then the layout's
        aliases; a column bearing a canonical name another one takes becomes ``*_original``.
        SchemaError for a ``--map`` naming no column."""
        columns = list(columns)
        renames: dict[Any, str] = {}
        # 1. the user's --map, on the file's own column names
        for canonical, theirs in self.mapping.items():
            if theirs not in columns:
                if len(columns) <= 1:  # an empty JSON chunk: nothing to map yet
                    continue
                raise SchemaError(
                    f"{self.path}: --map {canonical}={theirs}: no column {theirs!r}; columns "
                    f"found: {_list_columns(columns)}"
                )
            renames[theirs] = canonical
        taken = set(self.mapping)
        # 2. the layout's aliases for whatever is still unmapped
        aliases = _LAYOUT_ALIASES.get(self.format) or {
            # generic files: "Ticket ID" or "TICKET_ID" mean ticket_id
            c: _loose_name(c)
            for c in columns
            if isinstance(c, str) and _loose_name(c) in CANONICAL + LABELS
        }
        for theirs, canonical in aliases.items():
            if canonical in taken or theirs not in columns or theirs in renames:
                continue
            if canonical in columns and canonical != theirs:
                continue  # the file already has the canonical column itself
            renames[theirs] = canonical
            taken.add(canonical)
        # a column that already bears a canonical name but is displaced by the mapping
        displaced = {
            c: f"{c}_original" for c in columns if c in renames.values() and c not in renames
        }
        return {**displaced, **renames}

    def _canonicalise(self, frame: pd.DataFrame) -> pd.DataFrame:
        renames = self._column_renames(frame.columns)
        if renames:
            frame = frame.rename(columns=renames)
        if self.format == "freshdesk" and "Email" in frame.columns:
            frame = _freshdesk_customer_ids(frame)
        return frame

    def canonicalise(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Name the columns of a frame read elsewhere canonically (aliases, ``--map``).

        For engines that read the file themselves (Dask): the result goes to
        :func:`validate_frame`. Raises SchemaError when required columns are missing.
        """
        frame = self._canonicalise(raw)
        self._check_columns(frame)
        return frame

    def _check_columns(self, frame: pd.DataFrame) -> None:
        twice = [c for c in CANONICAL + LABELS + OPTIONAL
                 if c in frame.columns and f"{c}.1" in frame.columns]
        if twice:  # the header names a ticket column twice: which one holds it is a guess
            name = twice[0]
            raise SchemaError(
                f"{self.path}: the header names column {name!r} more than once; rename the "
                f"copies, or pick one with --map {name}={name}.1 (the second)")
        required = list(REQUIRED)
        if self.require_labels:
            required.append("expertise_level")
        missing = [c for c in required if c not in frame.columns]
        if not missing and "subject" not in frame.columns and "body" not in frame.columns:
            missing = ["subject or body"]
        if not missing:
            return
        if self.format in ("jsonl", "zendesk") and len(frame.columns) <= 1:
            return  # no records in this chunk: nothing to check against
        if (self.format in ("jsonl", "zendesk") and len(frame) == 1
                and not {"subject", "body"} & set(frame.columns)):  # one object, no ticket
            wrapped = one_document_error(self.path, {
                str(c): frame[c].iloc[0] for c in frame.columns if c != ROW_COLUMN},
                records_only=True)
            if wrapped is not None:
                raise wrapped
        hint = missing[0].split(" ")[0]
        what = (f"{self.path}: missing required column(s) {', '.join(missing)}; columns "
                f"found: {_list_columns(frame.columns)}")
        raise ReadOptionError(
            f"{what}; name yours with --map {hint}=<column>",
            file_fix=f"{what}; rename yours in the file's header ({', '.join(missing)})")


def sniff_separator(path: Path, encoding: str = "utf-8") -> str:
    """Comma, unless the header line clearly uses semicolons or tabs (spreadsheet exports)."""
    head = _read_head(path, 1 << 16)
    header = head.decode(_text_codec(encoding), errors="replace").split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _numbered(frame: pd.DataFrame, numbers: Any) -> pd.DataFrame:
    """``frame`` with its rows' numbers in :data:`ROW_COLUMN`; an input column of that name
    is kept as ``_row_input`` (numbered if taken), as clashing columns are in the output."""
    if ROW_COLUMN in frame.columns:
        new, k = f"{ROW_COLUMN}_input", 2
        while new in frame.columns:
            new, k = f"{ROW_COLUMN}_input{k}", k + 1
        frame = frame.rename(columns={ROW_COLUMN: new})
    frame[ROW_COLUMN] = numbers
    return frame


def _loose_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _list_columns(columns: Iterable[object]) -> str:
    names = [str(c) for c in columns if c != ROW_COLUMN]
    if not names:
        return "(none)"
    shown = ", ".join(names[:20])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


def _freshdesk_customer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    emails = _as_str(frame["Email"])
    hashed = emails.map(lambda e: customer_id_from_email(e) if e.strip() else "")
    if "customer_id" in frame.columns:
        current = _as_str(frame["customer_id"]).str.strip()
        frame["customer_id"] = current.where(current != "", hashed)
    else:
        frame["customer_id"] = hashed
    return frame.drop(columns=["Email"])


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate_frame(
    frame: pd.DataFrame,
    *,
    seen_ids: set[str] | None = None,
    require_labels: bool = False,
    unclear_ok: bool = False,
) -> TicketChunk:
    """Normalise and validate canonical columns; split accepted rows from rejected ones.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns named canonically (``ticket_id`` required); ``_row`` if known, else rows are
        numbered from 1.
    seen_ids : set of str, optional
        Ticket ids accepted or rejected earlier in the same file; updated in place. Lets
        duplicate detection span chunks.
    require_labels : bool
        Reject rows without an ``expertise_level``.
    unclear_ok : bool
        Evaluation files: an ``expertise_level`` of ``unclear`` (the text says too little to
        judge) is accepted.

    Returns
    -------
    TicketChunk
        Rows are rejected for: an empty ``ticket_id``; a ``ticket_id`` seen before; neither
        subject nor body; an unreadable ``created_at``; an ``expertise_level`` outside
        novice/intermediate/expert (or empty, with ``require_labels``). Good timestamps are
        rewritten as ``YYYY-MM-DDTHH:MM:SS``, channels as email/chat/web/phone/other, levels
        in lower case, a numeric ``conversation_id`` or ``product`` as text (7.0 "7").
    """
    import numpy as np
    import pandas as pd

    if "ticket_id" not in frame.columns:
        raise SchemaError(
            "missing required column ticket_id; columns found: "
            f"{_list_columns(frame.columns)}; name yours with --map ticket_id=<column>"
        )
    frame = frame.reset_index(drop=True)  # CSV chunks keep counting their index
    n = len(frame)
    rows = (
        frame[ROW_COLUMN].to_numpy(dtype=np.int64)
        if ROW_COLUMN in frame.columns
        else np.arange(1, n + 1, dtype=np.int64)
    )
    out: dict[str, Any] = {
        name: _as_str(frame[name]) if name in frame.columns else pd.Series([""] * n)
        for name in CANONICAL
    }
    labels = [name for name in LABELS if name in frame.columns]
    for name in labels:
        out[name] = _as_str(frame[name]).str.strip()
    for name in ("ticket_id", "customer_id"):
        out[name] = out[name].str.strip()

    reasons: dict[int, list[str]] = {}

    def flag(mask: Any, reason: str) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons.setdefault(int(i), []).append(reason)

    ids = out["ticket_id"].tolist()
    empty_id = np.fromiter((not t for t in ids), dtype=bool, count=n)
    flag(empty_id, "empty ticket_id")
    seen = seen_ids if seen_ids is not None else set()
    duplicate = np.zeros(n, dtype=bool)
    for i, tid in enumerate(ids):
        if tid and tid in seen:
            duplicate[i] = True
        elif tid:
            seen.add(tid)
    flag(duplicate, "duplicate ticket_id")

    no_text = (out["subject"].str.strip() == "") & (out["body"].str.strip() == "")
    flag(no_text.to_numpy(), "no subject and no body")

    created = out["created_at"]
    # Timestamps already in the canonical form stay as they are (checked in bulk); only the
    # others go through parse_timestamp, once per distinct value.
    other = ~_canonical_timestamps(created)
    if other.any():
        values = created[other]
        parsed = {value: parse_timestamp(value) for value in pd.unique(values) if value}
        bad_date = np.zeros(n, dtype=bool)
        bad_date[other] = [bool(v) and parsed[v] is None for v in values.tolist()]
        flag(bad_date, "created_at is not a date (use ISO-8601, e.g. 2024-03-15T10:30:00)")
        created = created.copy()
        created[other] = [(parsed.get(v) or "") if v else "" for v in values.tolist()]
        out["created_at"] = created

    channels = {value: normalise_channel(value) for value in pd.unique(out["channel"])}
    out["channel"] = out["channel"].map(channels)

    if "expertise_level" in out:
        level = out["expertise_level"].str.lower()
        out["expertise_level"] = level
        # where a known level is optional (score, ingest), "unclear" says none is known: kept
        # as written, read as no level; training needs a level
        unclear_ok = unclear_ok or not require_labels
        allowed = [*LEVELS, UNCLEAR] if unclear_ok else list(LEVELS)
        bad_level = (level != "") & ~level.isin(allowed)
        flag(bad_level.to_numpy(), "expertise_level must be novice, intermediate or expert"
             + (" (or unclear)" if unclear_ok else ""))
        if require_labels:
            flag((level == "").to_numpy(), "missing expertise_level")
    elif require_labels:
        flag(np.ones(n, dtype=bool), "missing expertise_level")

    passthrough = [
        c for c in frame.columns if c not in CANONICAL and c not in LABELS and c != ROW_COLUMN
    ]
    result = pd.DataFrame({name: out[name].to_numpy() for name in (*CANONICAL, *labels)})
    result = result.astype(str)
    for name in passthrough:
        column = frame[name]
        if name in OPTIONAL and _numbers(column):  # a frame read elsewhere (Dask): 7.0 is "7"
            column = _as_str(column)
        result[name] = column
    result[ROW_COLUMN] = rows

    if not reasons:
        return TicketChunk(result, rejects_frame([]))
    bad_index = sorted(reasons)
    rejects = rejects_frame([(int(rows[i]), ids[i], "; ".join(reasons[i])) for i in bad_index])
    keep = np.ones(n, dtype=bool)
    keep[bad_index] = False
    return TicketChunk(result[keep].reset_index(drop=True), rejects)


def as_text(series: pd.Series) -> pd.Series:
    """A column as the readers make it text (:func:`validate_frame`): missing values ``""``,
    12.0 ``"12"``, records and lists JSON."""
    return _as_str(series)


def _as_str(series: pd.Series) -> pd.Series:
    """A column as strings: missing values become ``""``, 12.0 becomes ``"12"``."""
    import pandas as pd
    from pandas.api import types as ptypes

    if isinstance(series.dtype, pd.CategoricalDtype):  # Parquet dictionary columns: values
        series = series.astype(object)
    if ptypes.is_datetime64_any_dtype(series):
        values = series
        if getattr(series.dt, "tz", None) is not None:
            values = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("").astype(str)
    if ptypes.is_bool_dtype(series) or ptypes.is_integer_dtype(series):
        return series.astype("string").fillna("").astype(str)
    if ptypes.is_float_dtype(series):
        return series.map(_cell_str).astype(str)
    if ptypes.is_string_dtype(series) and not ptypes.is_object_dtype(series):
        return series.fillna("").astype(str)
    return pd.Series(
        [_cell_str(v) for v in series.tolist()], index=series.index, dtype=object
    ).astype(str)


def _numbers(series: pd.Series) -> bool:
    """Whether a column holds numbers (not booleans)."""
    from pandas.api import types as ptypes

    return bool(ptypes.is_numeric_dtype(series)) and not ptypes.is_bool_dtype(series)


#: The canonical fields read as text, whose JSON values keep their JSON text; and the ids
#: among them, for which a boolean or a number that is not whole refuses the record.
_TEXT_FIELDS = frozenset((*CANONICAL, *LABELS, *OPTIONAL))
_ID_FIELDS = frozenset(("ticket_id", "customer_id", "conversation_id"))


class _JsonFloat(float):
    """A JSON number with a fraction or an exponent that Python would write otherwise
    (``1.50``, ``1e300``), remembering how it was written: a float everywhere else."""

    text: str

    def __new__(cls, text: str) -> _JsonFloat:
        value = super().__new__(cls, text)
        value.text = text
        return value


def _json_float(text: str) -> float:
    """A JSON number with a fraction or an exponent: a float whose ``repr`` is its text, or
    a :class:`_JsonFloat` that remembers the text."""
    value = float(text)
    return value if repr(value) == text else _JsonFloat(text)


#: Parses JSON as `json.loads` does, its numbers with a fraction or an exponent keeping their
#: text (made once: `json.loads` with an option makes a decoder per call).
_JSON = json.JSONDecoder(parse_float=_json_float)


def _json_text(value: Any) -> str:
    """A JSON value of a text field as text: a string as it is, a number as it was written
    (7 "7", 1.50 "1.50", 1e300 "1e300"), true "true", null, a missing key and NaN or
    Infinity (which Python's json reads, but JSON has not) ""; records and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):  # no text was written: "nan" would read as a word
            return ""
        return value.text if isinstance(value, _JsonFloat) else repr(value)
    return _cell_str(value)


def _numbers_as_text(batch: Any, columns: set[str]) -> Any:
    """A Parquet batch whose numeric and boolean ``columns`` (those the readers read as text:
    ids, text, labels, product) are text as CSV and JSON give them: whole numbers as their
    digits (a float column's 7.0 "7", as a column of integers with a missing value is
    written; an int64 exactly, not through a float), other floats as Python writes them,
    booleans "true"/"false", missing values ""."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = list(batch.columns)
    changed = False
    for k, field in enumerate(batch.schema):
        if field.name not in columns:
            continue
        array, kind = arrays[k], field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                    or pa.types.is_boolean(kind) or pa.types.is_decimal(kind)):
                continue
            array = array.dictionary_decode()
        if pa.types.is_floating(kind):  # NaN and infinity: missing, as in JSON
            text = pa.array([_cell_str(v) if v is not None and math.isfinite(v) else ""
                             for v in array.to_pylist()], type=pa.string())
        elif pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
            text = pc.fill_null(pc.cast(array, pa.string()), "")
        else:
            continue
        arrays[k] = text
        changed = True
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _parquet_id_problems(batch: Any, names: dict[Any, str]) -> dict[int, list[str]]:
    """Why rows of a Parquet batch cannot be read, by position: an id column holding a
    boolean or a number that is not whole (as :func:`_id_problem` says of JSON values)."""
    import pyarrow as pa

    problems: dict[int, list[str]] = {}
    for k, field in enumerate(batch.schema):
        name = names.get(field.name, field.name)
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if name not in _ID_FIELDS or not (pa.types.is_boolean(kind)
                                          or pa.types.is_floating(kind)
                                          or pa.types.is_decimal(kind)):
            continue
        for i, value in enumerate(batch.column(k).to_pylist()):
            if value is None:
                continue
            if isinstance(value, bool):
                problem = (f"{name} is the boolean {'true' if value else 'false'}, not an id; "
                           "write ids as text or whole numbers")
            elif isinstance(value, float):
                if value != value or value.is_integer():  # NaN: an empty id
                    continue
                problem = (f"{name} {value!r} is not a whole number, not an id; write ids as "
                           "text or whole numbers")
            elif value == value.to_integral_value():  # a decimal
                continue
            else:
                problem = (f"{name} {value} is not a whole number, not an id; write ids as "
                           "text or whole numbers")
            problems.setdefault(i, []).append(problem)
    return problems


def _all_text(column: pd.Series, records: list[dict[str, Any]], key: Any) -> bool:
    """Whether a column pandas made from JSON `records` holds strings only (and missing
    values): its values are then their JSON text already. Pandas' string columns take a JSON
    NaN for a missing value, so a string column with one is checked against the records."""
    from pandas.api import types as ptypes

    if ptypes.is_string_dtype(column) and not ptypes.is_object_dtype(column):
        if not column.isna().any():
            return True
        return all(isinstance(v, str) or v is None for v in (r.get(key) for r in records))
    return bool(ptypes.is_object_dtype(column)) and all(
        isinstance(v, str) or v is None for v in column.tolist())


def _id_problem(value: Any, name: str) -> str | None:
    """Why a JSON value cannot be an id (a boolean, a number that is not whole, NaN or
    Infinity), or None."""
    if isinstance(value, bool):
        return (f"{name} is the JSON boolean {'true' if value else 'false'}, not an id; write "
                "ids as text or whole numbers")
    if isinstance(value, float) and not math.isfinite(value):  # as Python's json writes them
        written = "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
        return f"{name} {written} is not a valid id; write ids as text or whole numbers"
    if isinstance(value, float) and not value.is_integer():
        return (f"{name} {_json_text(value)} is not a whole number, not an id; write ids as "
                "text or whole numbers")
    return None


def _cell_str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "" if text in ("nan", "NaT", "<NA>", "None") else text


#: What a JSON line becomes when it holds half a surrogate pair (text no file can hold).
_LONE_SURROGATE = object()
#: What a JSON record becomes when it is nested deeper than :data:`MAX_JSON_DEPTH` (or than
#: the parser goes: a RecursionError): later steps (redaction, writing) walk values
#: recursively, so a record the parser still reads could stop the run there.
_TOO_DEEP = object()
#: The deepest nesting of arrays and objects a JSON ticket may have (the record is level 1).
MAX_JSON_DEPTH = 64


def _nested_deeper(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and dicts more than `limit` deep (without recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _lone_surrogate(record: Any) -> bool:
    """Whether a parsed JSON value holds a lone UTF-16 surrogate (``"\\ud800"``)."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _count_replaced_rows(raw: pd.DataFrame) -> int:
    import numpy as np
    from pandas.api import types as ptypes

    hit = np.zeros(len(raw), dtype=bool)
    for name in raw.columns:
        column = raw[name]
        if ptypes.is_object_dtype(column) or ptypes.is_string_dtype(column):
            contains = column.astype(str).str.contains("\ufffd", regex=False)
            hit |= contains.fillna(False).to_numpy(dtype=bool)
    return int(hit.sum())


def rejects_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(REJECT_COLUMNS))
    return frame.astype({"row": "int64", "ticket_id": str, "reason": str})


# ---------------------------------------------------------------------------------------------
# Conveniences
# ---------------------------------------------------------------------------------------------


def iter_tickets(
    path: Path | str,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    require_labels: bool = False,
    unclear_ok: bool = False,
) -> Iterator[TicketChunk]:
    """Iterate over an export in validated chunks (see :class:`TicketReader`).

    Use :class:`TicketReader` directly to read the counts (``reader.stats``) afterwards.
    """
    reader = TicketReader(
        path, format=format, mapping=mapping, chunk_rows=chunk_rows,
        require_labels=require_labels, unclear_ok=unclear_ok,
    )  # fmt: skip
    return reader.chunks()


def read_tickets(
    path: Path | str,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    require_labels: bool = False,
) -> TicketChunk:
    """Read a whole export into one :class:`TicketChunk` (for files that fit in memory)."""
    import pandas as pd

    chunks = list(iter_tickets(path, format=format, mapping=mapping, require_labels=require_labels))
    if not chunks:
        return TicketChunk(pd.DataFrame(columns=[*CANONICAL, ROW_COLUMN]), rejects_frame([]))
    frames = [c.frame for c in chunks if len(c.frame)] or [chunks[0].frame]
    rejects = [c.rejects for c in chunks if len(c.rejects)] or [chunks[0].rejects]
    return TicketChunk(pd.concat(frames, ignore_index=True), pd.concat(rejects, ignore_index=True))


def write_rejects(path: Path | str, rejects: Iterable[pd.DataFrame]) -> int:
    """Write reject frames to one CSV (atomically) and return the number of rows.

    Nothing is written when there are no rejects.
    """
    from expertise.io import atomic_path

    with atomic_path(path) as tmp:
        writer = RejectsWriter(tmp)
        for frame in rejects:
            writer.write(frame)
    return writer.rows
