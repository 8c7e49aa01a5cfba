"""Writing scored tickets: CSV, JSONL or Parquet appended chunk by chunk, and rejects files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.errors import InputError
from expertise.io import write_failed

if TYPE_CHECKING:
    import pandas as pd

#: Columns written as floats even when a chunk's values are all missing.
FLOAT_COLUMNS = frozenset({"expertise_confidence", "p_novice", "p_intermediate", "p_expert",
                            "topic_score"})

#: The columns of a rejects file (and of `TicketChunk.rejects`).
REJECT_COLUMNS: tuple[str, ...] = ("row", "ticket_id", "reason")

#: Output file kinds by extension.
OUTPUT_KINDS: dict[str, str] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}


class TableWriter:
    """Append frames to one CSV, JSONL or Parquet file with the first frame's schema.

    Passed-through columns keep their types; all-null columns become strings, columns of
    mixed Python objects JSON text, and (in CSV) lists and records JSON text.
    """

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._writer: Any = None
        self._schema: Any = None
        self._handle: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        try:
            if self.kind == "jsonl":
                self._write_jsonl(frame)
            else:
                self._write_arrow(frame)
        except OSError as exc:
            raise write_failed(self.path, exc, "--out") from None
        self.rows += len(frame)

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        import json

        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        lines = [json.dumps({k: _json_value(v) for k, v in record.items()}, ensure_ascii=False,
                            default=_json_default)
                 for record in frame.to_dict(orient="records")]
        if lines:
            self._handle.write("\n".join(lines) + "\n")

    def _write_arrow(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        table = to_arrow(frame, flat=self.kind == "csv")
        if self._schema is not None and table.schema.names != self._schema.names:
            new = [n for n in table.schema.names if n not in self._schema.names]
            gone = [n for n in self._schema.names if n not in table.schema.names]
            what = (f"column(s) {', '.join(map(repr, new))} first appear after the first "
                    f"{self.rows:,} rows" if new else
                    f"column(s) {', '.join(map(repr, gone))} missing after the first "
                    f"{self.rows:,} rows" if gone else "columns in another order after the "
                    f"first {self.rows:,} rows")
            raise InputError(
                f"{what}, and a {'CSV' if self.kind == 'csv' else 'Parquet'} output's columns are "
                "those of its first rows; write JSON Lines instead (--out NAME.jsonl), which "
                "keeps every column")
        if self.kind == "csv":
            # CSV has no column types: a column whose type changes between chunks (numbers
            # then text) is written as it comes, under the header the first chunk wrote
            import pyarrow.csv as pacsv

            first = self._handle is None
            if first:
                self._schema = table.schema
                self._handle = pa.OSFile(str(self.path), "wb")
            pacsv.write_csv(table, self._handle, pacsv.WriteOptions(include_header=first))
            return
        if self._schema is None:
            import pyarrow.parquet as pq

            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        elif table.schema != self._schema:
            # Arrow casts text to numbers when it parses ("000123" -> 123): refused, as a
            # cast that fails is, since the written value would not be the one read
            parsed = [f.name for f in table.schema if f.name in self._schema.names
                      and _is_text(f.type) and not _is_text(self._schema.field(f.name).type)]
            if parsed:
                raise InputError(
                    f"column(s) {', '.join(parsed)} hold numbers in the first {self.rows:,} rows "
                    "and text after them, which a Parquet column cannot keep as written; write "
                    "CSV or JSON Lines instead (--out NAME.csv or NAME.jsonl)")
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                changed = [f.name for f in table.schema if f.name in self._schema.names
                           and self._schema.field(f.name).type != f.type]
                raise InputError(
                    f"column(s) {', '.join(changed) or '?'} change type between rows "
                    f"({exc}); write CSV instead (--out NAME.csv)"
                ) from None
        self._writer.write_table(table)

    def close(self) -> None:
        writer, handle, self._writer, self._handle = self._writer, self._handle, None, None
        try:
            if writer is not None:
                writer.close()
            if handle is not None:
                handle.close()
        except OSError as exc:
            raise write_failed(self.path, exc, "--out") from None


def to_arrow(frame: pd.DataFrame, *, flat: bool = False) -> Any:
    """A frame as an Arrow table (see `TableWriter`); ``flat`` turns nested values into JSON."""
    import pyarrow as pa

    columns = []
    names = []
    for name in frame.columns:
        series = frame[name]
        try:
            array = pa.array(series, from_pandas=True)
            if flat and pa.types.is_nested(array.type):
                raise pa.ArrowTypeError("nested")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            array = pa.array([_json_cell(v) for v in series.tolist()], type=pa.string())
        if pa.types.is_null(array.type) or pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        if name in FLOAT_COLUMNS and not pa.types.is_floating(array.type):
            array = array.cast(pa.float64())
        columns.append(array)
        names.append(str(name))
    return pa.Table.from_arrays(columns, names=names)


def _json_value(value: Any) -> Any:
    """NaN and pandas' missing values as null (JSON has no NaN)."""
    missing = value is None or (isinstance(value, float) and value != value)
    return None if missing or type(value).__name__ in ("NAType", "NaTType") else value


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def _json_cell(value: Any) -> str | None:
    import json

    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


#: An id that cannot hold personal data, so redaction (which would leave it as it is) is
#: skipped: every id of a column is distinct, so each costs. Either a short run of letters,
#: digits and id punctuation with fewer than 7 digits (no e-mail address, phone or card
#: number, no words), or a help desk's number behind a prefix of letters ("T000123456",
#: "INC0012345678"): digits glued to a word character are no phone or card number to any of
#: redaction's patterns, and a two-letter prefix before 13 or more digits is left out, as it
#: may be an IBAN (a test checks the rule against redaction on generated ids).
PLAIN_ID = re.compile(r"(?!(?:[^0-9]*[0-9]){7})[A-Za-z0-9_.:#/-]{1,40}"
                      r"|(?![A-Za-z]{2}[0-9]{13})[A-Za-z_]{1,8}[0-9]{7,31}")


def redact_id(value: str) -> str:
    """An id (a ticket's or a customer's) with personal data redacted; a plain one
    (:data:`PLAIN_ID`) as it is.

    >>> redact_id("ZD-2026-000123"), redact_id("jane.doe@example.com")
    ('ZD-2026-000123', '<EMAIL>')
    """
    if not value or PLAIN_ID.fullmatch(value):
        return value
    from expertise.privacy import redact

    return redact(value)


def redacted_ids(values: list[Any]) -> list[Any]:
    """Ticket ids as a rejects file or an error message may show them: personal data taken
    out. A rejected row's "id" is often text that slid into the id column (a body, a phone
    number, an e-mail address); the row number still finds it in the export."""
    from expertise.privacy import redact

    return [redact(v) if isinstance(v, str) and v else v for v in values]


class RejectsWriter:
    """Stream rejected rows to CSV (created only when there is one), their ticket ids with
    personal data redacted (:func:`redacted_ids`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0

    def write(self, rejects: pd.DataFrame) -> None:
        if not len(rejects):
            return
        rejects = rejects.loc[:, list(REJECT_COLUMNS)].copy()
        rejects["ticket_id"] = redacted_ids(rejects["ticket_id"].tolist())
        try:
            rejects.to_csv(
                self.path, mode="a", header=self.rows == 0, index=False, encoding="utf-8")
        except OSError as exc:
            raise write_failed(self.path, exc, "--rejects") from None
        self.rows += len(rejects)

    def close(self) -> None:
        pass


def _is_text(kind: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))
