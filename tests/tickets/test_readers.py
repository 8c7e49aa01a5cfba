"""Tests for expertise.tickets.readers (readers, aliases, validation) and expertise.io."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertise.errors import InputError, SchemaError
from expertise.io import atomic_path, atomic_write_text
from expertise.store.db import Store
from expertise.tickets.readers import (
    CANONICAL,
    LABELS,
    REJECT_COLUMNS,
    TicketReader,
    customer_id_from_email,
    detect_format,
    iter_tickets,
    normalise_channel,
    parse_mapping,
    parse_timestamp,
    read_tickets,
    validate_frame,
    write_rejects,
)

DATA = Path(__file__).parents[1] / "data"


def read_all(path: Path, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame, TicketReader]:
    reader = TicketReader(path, **kwargs)  # type: ignore[arg-type]
    chunks = list(reader.chunks())
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rejects = pd.concat([c.rejects for c in chunks], ignore_index=True)
    return frame, rejects, reader


# ---------------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tickets.csv", "csv"),
        ("tickets.jsonl", "jsonl"),
        ("zendesk.json", "zendesk"),
        ("zendesk_incremental.jsonl", "zendesk"),
        ("freshdesk.csv", "freshdesk"),
        ("bom.csv", "csv"),
        ("broken.jsonl", "jsonl"),
    ],
)
def test_detect_format(name: str, expected: str) -> None:
    assert detect_format(DATA / name) == expected


def test_detect_format_by_content_and_magic(tmp_path: Path) -> None:
    frame = pd.read_csv(DATA / "tickets.csv", dtype=str)
    frame.to_parquet(tmp_path / "export.bin")
    assert detect_format(tmp_path / "export.bin") == "parquet"
    shutil.copy(DATA / "zendesk.json", tmp_path / "export.txt")
    assert detect_format(tmp_path / "export.txt") == "zendesk"
    shutil.copy(DATA / "freshdesk.csv", tmp_path / "export.dat")
    assert detect_format(tmp_path / "export.dat") == "freshdesk"


def test_detect_format_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SchemaError, match="empty"):
        detect_format(tmp_path / "empty.csv")
    (tmp_path / "array.json").write_text('[\n {"ticket_id": 1}\n]\n')
    with pytest.raises(SchemaError, match=r"holds one JSON array of 1 object, .* jq -c '\.\[\]'"):
        detect_format(tmp_path / "array.json")
    (tmp_path / "numbers.json").write_text('[\n 1, 2\n]\n')
    with pytest.raises(SchemaError, match="unknown JSON layout"):
        detect_format(tmp_path / "numbers.json")


#: Exports that are one JSON object wrapping their records: (file text, the key, what the
#: key holds, the jq filter that writes them one a line).
_WRAPPED = {
    "list.json": ('{"records": [{"ticket_id": "T1", "body": "wifi"}, '
                  '{"ticket_id": "T2", "body": "tv"}]}\n',
                  "records", "a list of 2 objects", ".records[]"),
    "keyed.json": ('{"tickets": {"T1": {"body": "wifi"}, "T2": {"body": "tv"}}}\n',
                   "tickets", "an object of 2 objects keyed by their ids",
                   ".tickets | to_entries[] | {ticket_id: .key} + .value"),
    "pretty.json": ('{\n  "tickets": {\n    "T1": {"body": "wifi"}\n  }\n}\n',
                    "tickets", "an object of 1 object keyed by their ids",
                    ".tickets | to_entries[] | {ticket_id: .key} + .value"),
    "nested.json": ('{\n  "meta": {"count": 2},\n  "data": {"items": [{"id": 1}, {"id": 2}]}\n}\n',
                    "data.items", "a list of 2 objects", ".data.items[]"),
    "counted.jsonl": ('{"count": 2, "tickets": {"T1": {"body": "a"}, "T2": {"body": "b"}}}\n',
                      "tickets", "an object of 2 objects keyed by their ids",
                      ".tickets | to_entries[] | {ticket_id: .key} + .value"),
    "pretty.jsonl": ('{\n  "results": [\n    {"ticket_id": "T1", "body": "wifi"}\n  ]\n}\n',
                     "results", "a list of 1 object", ".results[]"),
}


@pytest.mark.parametrize("name", sorted(_WRAPPED))
def test_a_json_object_wrapping_the_records_says_which_key_and_how_to_extract_them(
        tmp_path: Path, name: str) -> None:
    """One JSON object holding the records under a key (a list, or an object keyed by id;
    on one line or many) was 'missing required column(s) ticket_id ... --map', 'unknown JSON
    layout' or 'expected a Zendesk export'; it names the key and gives the jq command, and
    no option. A Zendesk export's list of tickets is still read as one."""
    text, key, what, extract = _WRAPPED[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = tmp_path / f"{path.stem}-records.jsonl"
    with pytest.raises(SchemaError) as caught:
        list(TicketReader(path).chunks())
    assert str(caught.value) == (
        f"{path}: holds one JSON object, not one ticket object a line: its key {key!r} looks "
        f"like the records ({what}); write them one a line and read that file instead: "
        f"jq -c '{extract}' {path} > {out}")
    assert "--map" not in str(caught.value)


def test_a_json_object_with_no_records_and_a_lone_ticket_keep_their_errors(
        tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text('{\n  "meta": {"count": 0}\n}\n', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"holds one JSON object, not ticket records \(its "
                                          r"keys: meta\); expected JSON Lines"):
        list(TicketReader(meta).chunks())
    lone = tmp_path / "lone.jsonl"  # a ticket with a list of objects in it, but no ticket_id
    lone.write_text('{"number": 1, "body": "wifi", "comments": [{"a": 1}, {"a": 2}]}\n',
                    encoding="utf-8")
    with pytest.raises(SchemaError, match=r"missing required column\(s\) ticket_id.*--map"):
        list(TicketReader(lone).chunks())
    wrapped = tmp_path / "zendesk.json"
    wrapped.write_text('{"tickets": [{"ticket_id": "T1", "body": "wifi"}]}\n', encoding="utf-8")
    assert read_tickets(wrapped).frame["ticket_id"].tolist() == ["T1"]


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------


def test_csv_canonical_columns_labels_passthrough_and_rows() -> None:
    frame, rejects, reader = read_all(DATA / "tickets.csv")
    assert list(frame.columns) == [*CANONICAL, *LABELS, "priority", "agent", "_row"]
    assert len(frame) == 24 and rejects.empty
    assert frame["_row"].tolist() == list(range(1, 25))
    assert frame["_row"].dtype.kind == "i"
    for column in (*CANONICAL, *LABELS):
        assert all(isinstance(v, str) for v in frame[column]), column
    anonymous = frame.set_index("ticket_id").loc["T-1005"]
    assert anonymous["customer_id"] == ""
    # a quoted field spanning two lines is one row
    assert frame.set_index("ticket_id").loc["T-1015", "body"].endswith("Regards,\nSarah")
    assert reader.format == "csv"
    assert (reader.stats.rows_read, reader.stats.rows_rejected, reader.stats.chunks) == (24, 0, 1)


def test_csv_in_chunks_numbers_rows_across_chunks() -> None:
    chunks = list(iter_tickets(DATA / "tickets.csv", chunk_rows=5))
    assert [len(c.frame) for c in chunks] == [5, 5, 5, 5, 4]
    rows = [r for c in chunks for r in c.frame["_row"].tolist()]
    assert rows == list(range(1, 25))


def test_jsonl_normalises_values() -> None:
    frame, rejects, _ = read_all(DATA / "tickets.jsonl")
    assert rejects.empty
    by_id = frame.set_index("ticket_id")
    assert by_id.loc["J-1", "channel"] == "email"  # "Email"
    assert by_id.loc["J-3", "channel"] == "web"  # "Portal"
    assert by_id.loc["4", "channel"] == "phone"  # "voice"; numeric id became "4"
    assert by_id.loc["4", "customer_id"] == "202"
    assert by_id.loc["J-2", "expertise_level"] == "intermediate"
    assert by_id.loc["J-1", "created_at"] == "2024-04-01T09:00:00"  # Z dropped, UTC
    assert by_id.loc["J-2", "created_at"] == "2024-04-01T10:30:00"
    assert by_id.loc["J-3", "created_at"] == "2024-04-02T08:15:00"  # day first
    assert by_id.loc["4", "created_at"] == "2024-04-03T11:00:00"  # +01:00 to UTC
    assert by_id.loc["J-5", "body"] == "" and by_id.loc["J-5", "customer_id"] == ""
    # nested values pass through unchanged
    assert by_id.loc["J-1", "meta"] == {"source": "import", "tags": ["router", "lights"]}
    # line numbers, the blank line 4 included
    assert by_id.loc["4", "_row"] == 5


def test_json_numbers_and_booleans_in_text_fields_keep_their_json_text(
        tmp_path: Path) -> None:
    """Ids, text and product given as JSON numbers or booleans are read as they are written:
    true was "True", 1.50 "1.5", a product 7 beside a missing one "7.0" (a float column), an
    id 1e300 three hundred digits and a long id next to a missing one rounded; a ticket whose
    id is a boolean or not a whole number is a reject with one line of reason. Other columns
    keep the types pandas gives them."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"ticket_id": 1, "body": true, "product": 7, "customer_id": 123456789012345678901,'
        ' "rating": 4}\n'
        '{"ticket_id": 2, "body": "wifi", "subject": 1.50, "rating": 4.5}\n'
        '{"ticket_id": 1e300, "body": "tv", "conversation_id": 12}\n'
        '{"ticket_id": true, "body": "x"}\n'
        '{"ticket_id": 7.5, "body": "x", "product": 7}\n'
        '{"ticket_id": "T-9", "customer_id": false, "body": "x"}\n'
        '{"ticket_id": 12345678901234567890, "body": "x", "customer_id": 99.0}\n',
        encoding="utf-8")
    frame, rejects, _ = read_all(path)
    by_id = frame.set_index("ticket_id")
    assert list(by_id.index) == ["1", "2", "1e300", "12345678901234567890"]
    assert (by_id.loc["1", "body"], by_id.loc["1", "product"]) == ("true", "7")
    assert by_id.loc["1", "customer_id"] == "123456789012345678901"
    assert (by_id.loc["2", "subject"], by_id.loc["2", "product"]) == ("1.50", "")
    assert by_id.loc["1e300", "conversation_id"] == "12"
    assert by_id.loc["12345678901234567890", "customer_id"] == "99.0"
    assert by_id["rating"].tolist()[:2] == [4.0, 4.5]  # not an id or text: a number still
    assert rejects.values.tolist() == [
        [4, "", "ticket_id is the JSON boolean true, not an id; write ids as text or whole "
                "numbers"],
        [5, "", "ticket_id 7.5 is not a whole number, not an id; write ids as text or whole "
                "numbers"],
        [6, "T-9", "customer_id is the JSON boolean false, not an id; write ids as text or "
                   "whole numbers"]]
    # in a Zendesk document too, and in the rejects file of an ingest
    zendesk = tmp_path / "z.json"
    zendesk.write_text('{"tickets": [{"id": 10, "requester_id": 5, "description": "wifi"}, '
                       '{"id": 10.5, "requester_id": 6, "description": "tv"}, '
                       '{"id": 11, "requester_id": true, "description": "tv"}]}\n',
                       encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        report = store.ingest_file(zendesk, rejects_path=tmp_path / "rej.csv")
        assert (report.added, report.rejected) == (1, 2)
        assert store.history("5")[0].ticket_id == "10"
    written = pd.read_csv(tmp_path / "rej.csv", dtype=str, keep_default_na=False)
    assert written.values.tolist() == [
        ["2", "", "ticket_id 10.5 is not a whole number, not an id; write ids as text or whole "
                  "numbers"],
        ["3", "11", "customer_id is the JSON boolean true, not an id; write ids as text or "
                    "whole numbers"]]


def test_parquet_matches_csv(tmp_path: Path) -> None:
    source = pd.read_csv(DATA / "tickets.csv", dtype=str, keep_default_na=False)
    source.to_parquet(tmp_path / "tickets.parquet")
    csv_frame, _, _ = read_all(DATA / "tickets.csv")
    pq_frame, rejects, reader = read_all(tmp_path / "tickets.parquet", chunk_rows=7)
    assert reader.format == "parquet" and reader.stats.chunks == 4
    assert rejects.empty
    pd.testing.assert_frame_equal(
        csv_frame[list(CANONICAL)].astype(object), pq_frame[list(CANONICAL)].astype(object)
    )


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "ticket_id": [1, 2, 3],
            "customer_id": [10.0, None, 12.0],
            "created_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:30", None]),
            "subject": ["a", None, "c"],
            "body": ["x", "y", None],
            "score": [0.5, 0.25, 1.0],
        }
    )
    frame.to_parquet(tmp_path / "typed.parquet")
    out, rejects, _ = read_all(tmp_path / "typed.parquet")
    assert rejects.empty
    assert out["ticket_id"].tolist() == ["1", "2", "3"]
    assert out["customer_id"].tolist() == ["10", "", "12"]
    assert out["created_at"].tolist() == ["2024-01-01T10:00:00", "2024-01-02T11:30:00", ""]
    assert out["score"].tolist() == [0.5, 0.25, 1.0]  # passed through with its type


def test_parquet_numbers_in_id_text_and_product_fields_read_as_csv_and_json_do(
        tmp_path: Path) -> None:
    """A Parquet column of whole numbers with a missing value is a float column (as pandas
    writes it): its 7.0 is "7" as in CSV and JSON, not "7.0", and missing is "", in the
    product and conversation fields (passed through) as in the ids and text; an int64 id
    with a missing value is exact, not rounded through a float. Other columns keep their
    types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "ticket_id": pa.array([1, 2, 3], pa.int64()),
        "customer_id": pa.array([9007199254740993, None, 12], pa.int64()),
        "subject": pa.array([5.0, None, 6.5]),
        "body": ["wifi down", "tv broken", "my bill"],
        "product": pa.array([7.0, None, 8.5]),
        "conversation_id": pa.array([3, None, 3], pa.int64()),
        "topic": pa.array([4.0, None, None]),
        "rating": pa.array([1.0, None, 2.5]),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    frame, rejects, _ = read_all(tmp_path / "t.parquet")
    assert rejects.empty
    assert frame["ticket_id"].tolist() == ["1", "2", "3"]
    assert frame["customer_id"].tolist() == ["9007199254740993", "", "12"]
    assert frame["subject"].tolist() == ["5", "", "6.5"]
    assert frame["product"].tolist() == ["7", "", "8.5"]
    assert frame["conversation_id"].tolist() == ["3", "", "3"]
    assert frame["topic"].tolist() == ["4", "", ""]
    assert frame["rating"].tolist()[::2] == [1.0, 2.5]  # not read as text: a number still
    # the same tickets as CSV and as JSON Lines read the same
    rows = [{"ticket_id": "1", "customer_id": "9007199254740993", "subject": "5",
             "body": "wifi down", "product": "7", "conversation_id": "3"},
            {"ticket_id": "2", "customer_id": "", "subject": "", "body": "tv broken",
             "product": "", "conversation_id": ""}]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "t.jsonl").write_text(
        '{"ticket_id": 1, "customer_id": 9007199254740993, "subject": 5, "body": "wifi down",'
        ' "product": 7, "conversation_id": 3}\n'
        '{"ticket_id": 2, "customer_id": null, "subject": null, "body": "tv broken",'
        ' "product": null, "conversation_id": null}\n', encoding="utf-8")
    fields = ["ticket_id", "customer_id", "subject", "product", "conversation_id"]
    for other in ("t.csv", "t.jsonl"):
        again, _, _ = read_all(tmp_path / other)
        assert again[fields].values.tolist() == frame[fields].head(2).values.tolist(), other
    # a frame read from the file by others (the Dask engine reads Parquet itself)
    checked = validate_frame(pd.read_parquet(tmp_path / "t.parquet")).frame
    assert checked["product"].tolist() == ["7", "", "8.5"]
    assert checked["conversation_id"].tolist() == ["3", "", "3"]


def test_zendesk_document() -> None:
    frame, rejects, reader = read_all(DATA / "zendesk.json")
    assert reader.format == "zendesk" and rejects.empty
    assert frame["ticket_id"].tolist() == ["35436", "35437", "35438", "35439"]
    assert frame["customer_id"].tolist() == ["20978392", "20978400", "20978392", ""]
    assert frame["channel"].tolist() == ["email", "web", "other", "phone"]
    assert frame["created_at"].iloc[0] == "2024-05-02T08:14:03"
    assert frame["body"].iloc[0].startswith("My hub restarts itself")
    assert frame["tags"].iloc[0] == ["hub", "reboot"]
    assert "status" in frame.columns and "via" not in frame.columns
    # via.source.from carried the requester's address; it must not reach the data
    assert not frame.astype(str).apply(lambda c: c.str.contains("jane.doe@")).any().any()


def test_zendesk_incremental_ndjson() -> None:
    frame, rejects, reader = read_all(DATA / "zendesk_incremental.jsonl")
    assert reader.format == "zendesk" and rejects.empty
    assert frame["channel"].tolist() == ["chat", "chat", "email"]
    assert frame["customer_id"].tolist() == ["31000001", "31000002", "31000001"]
    assert frame["_row"].tolist() == [1, 2, 3]


def test_freshdesk_hashes_emails_and_drops_them() -> None:
    frame, rejects, reader = read_all(DATA / "freshdesk.csv")
    assert reader.format == "freshdesk" and rejects.empty
    by_id = frame.set_index("ticket_id")
    assert by_id.loc["401", "customer_id"] == "80001"  # Contact ID wins
    assert by_id.loc["402", "customer_id"] == customer_id_from_email("tom.baker@example.com")
    assert by_id.loc["405", "customer_id"] == "80005"
    assert by_id.loc["401", "channel"] == "web"  # Portal
    assert by_id.loc["405", "channel"] == "web"  # Feedback Widget
    assert by_id.loc["402", "channel"] == "phone"
    assert by_id.loc["403", "channel"] == "chat"
    assert by_id.loc["404", "channel"] == "email"
    assert by_id.loc["401", "created_at"] == "2024-07-01T09:00:00"
    assert "Email" not in frame.columns and "Status" in frame.columns
    assert not frame.astype(str).apply(lambda c: c.str.contains("@")).any().any()


def test_customer_id_from_email_is_stable_and_case_blind() -> None:
    a = customer_id_from_email("Tom.Baker@Example.com")
    assert a == customer_id_from_email(" tom.baker@example.com ")
    assert a.startswith("fd-") and len(a) == 19 and "tom" not in a


# ---------------------------------------------------------------------------------------------
# Schema errors and mapping
# ---------------------------------------------------------------------------------------------


def test_missing_column_names_file_columns_and_fix() -> None:
    with pytest.raises(SchemaError) as info:
        list(iter_tickets(DATA / "missing_column.csv"))
    message = str(info.value)
    assert "\n" not in message
    assert "missing_column.csv" in message
    assert "ticket_id" in message
    assert "id, text, when" in message
    assert "--map ticket_id=<column>" in message


def test_mapping_applies_before_validation() -> None:
    mapping = parse_mapping(["ticket_id=id", "body=text", "created_at=when"])
    frame, rejects, _ = read_all(DATA / "missing_column.csv", mapping=mapping)
    assert rejects.empty
    assert frame["ticket_id"].tolist() == ["1", "2"]
    assert frame["body"].tolist() == ["Router broken", "Wi-Fi slow"]
    assert frame["created_at"].tolist() == ["2024-01-01T00:00:00", "2024-01-02T00:00:00"]


def test_mapping_overrides_a_layout_alias() -> None:
    frame, _, _ = read_all(DATA / "freshdesk.csv", mapping={"body": "Subject"})
    assert frame["body"].iloc[0] == "Wi-Fi password"


def test_mapping_to_a_missing_column() -> None:
    with pytest.raises(SchemaError, match="no column 'nope'"):
        list(iter_tickets(DATA / "missing_column.csv", mapping={"ticket_id": "nope"}))


@pytest.mark.parametrize("pair", ["ticket_id", "=id", "ticket_id=", "colour=id"])
def test_parse_mapping_rejects_bad_pairs(pair: str) -> None:
    with pytest.raises(InputError):
        parse_mapping([pair])


def test_reader_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown format"):
        TicketReader(DATA / "tickets.csv", format="xml")
    with pytest.raises(InputError, match="no such file"):
        TicketReader(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not ticket columns"):
        TicketReader(DATA / "tickets.csv", mapping={"colour": "x"})


def test_require_labels_without_the_column() -> None:
    with pytest.raises(SchemaError, match="expertise_level"):
        list(iter_tickets(DATA / "duplicate_ids.csv", require_labels=True))


def test_header_only_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("ticket_id,subject,body\n")
    frame, rejects, reader = read_all(tmp_path / "header.csv")
    assert frame.empty and rejects.empty and reader.stats.rows_read == 0
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SchemaError, match="empty"):
        list(iter_tickets(tmp_path / "empty.csv", format="csv"))


def test_an_unclosed_quote_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text('ticket_id,body\n1,ok\n2,"never closed\n3,x\n')
    with pytest.raises(InputError, match="bad.csv: malformed CSV.*unclosed quote"):
        list(iter_tickets(tmp_path / "bad.csv"))


@pytest.mark.parametrize("chunk_rows", [1, 2, 50_000])
def test_rows_with_too_many_fields_are_rejects_and_the_rest_is_read(tmp_path: Path,
                                                                    chunk_rows: int) -> None:
    # the first data row one field longer than the header once made pandas take the ids for
    # an index and shift every column; blank lines count as records, as pandas counts them
    (tmp_path / "bad.csv").write_text(
        'ticket_id,body\n1,my router,is broken\n2,"multi\nline, quoted"\n\n'
        "3,too,many,fields\n4,fine\n5,x,y\n\n6,last\n7,a,b\n")
    frame, rejects, reader = read_all(tmp_path / "bad.csv", chunk_rows=chunk_rows)
    assert frame["ticket_id"].tolist() == ["2", "4", "6"]
    assert frame["body"].tolist() == ["multi\nline, quoted", "fine", "last"]
    assert frame["_row"].tolist() == [2, 5, 8]
    assert rejects["row"].tolist() == [1, 4, 6, 9]
    assert rejects["ticket_id"].tolist() == ["1", "3", "5", "7"]  # found again, in any chunk
    assert set(rejects["reason"]) == {"more fields than the header's 2: quote any field "
                                      "that holds the separator"}
    assert reader.stats.rows_rejected == 4


# ---------------------------------------------------------------------------------------------
# Row rejects
# ---------------------------------------------------------------------------------------------


def test_bad_dates_are_rejected_good_ones_normalised() -> None:
    frame, rejects, reader = read_all(DATA / "bad_dates.csv")
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    assert rejects["ticket_id"].tolist() == ["B-1", "B-2", "B-5"]  # Feb 30th, "yesterday", month 13
    assert rejects["row"].tolist() == [1, 2, 5]
    assert rejects["reason"].str.contains("created_at").all()
    assert frame["created_at"].tolist() == ["2024-03-15T10:30:00", ""]
    assert reader.stats.rows_rejected == 3
    assert reader.stats.rows_read - reader.stats.rows_rejected == 2


@pytest.mark.parametrize("chunk_rows", [1, 2, 50_000])
def test_duplicate_ids_rejected_across_chunks(chunk_rows: int) -> None:
    frame, rejects, _ = read_all(DATA / "duplicate_ids.csv", chunk_rows=chunk_rows)
    assert frame["ticket_id"].tolist() == ["D-1", "D-2", "D-3"]
    assert frame.set_index("ticket_id").loc["D-1", "body"] == "first copy"
    assert rejects["row"].tolist() == [3, 5]
    assert (rejects["reason"] == "duplicate ticket_id").all()


def test_empty_text_and_empty_id() -> None:
    frame, rejects, _ = read_all(DATA / "empty_text.csv")
    assert frame["ticket_id"].tolist() == ["E-3", "E-4"]
    assert rejects["row"].tolist() == [1, 2, 5]
    assert rejects["reason"].tolist() == [
        "no subject and no body",
        "no subject and no body",
        "empty ticket_id",
    ]


def test_bad_levels() -> None:
    frame, rejects, _ = read_all(DATA / "bad_level.csv")
    assert frame["expertise_level"].tolist() == ["novice", "expert", ""]
    assert rejects["ticket_id"].tolist() == ["L-2", "L-5"]
    frame, rejects, _ = read_all(DATA / "bad_level.csv", require_labels=True)
    assert rejects["ticket_id"].tolist() == ["L-2", "L-4", "L-5"]
    assert "missing expertise_level" in rejects.set_index("ticket_id").loc["L-4", "reason"]


def test_several_reasons_are_joined() -> None:
    frame = pd.DataFrame(
        {"ticket_id": ["X"], "created_at": ["soon"], "subject": [""], "body": [""],
         "expertise_level": ["guru"]}
    )  # fmt: skip
    chunk = validate_frame(frame)
    assert chunk.frame.empty
    assert chunk.rejects["reason"].iloc[0].split("; ") == [
        "no subject and no body",
        "created_at is not a date (use ISO-8601, e.g. 2024-03-15T10:30:00)",
        "expertise_level must be novice, intermediate or expert (or unclear)",
    ]


def test_broken_jsonl_lines_are_rejects_not_crashes() -> None:
    frame, rejects, reader = read_all(DATA / "broken.jsonl")
    assert frame["ticket_id"].tolist() == ["K-1", "K-3"]
    assert frame["_row"].tolist() == [1, 4]
    assert rejects["row"].tolist() == [2, 3]
    assert rejects["reason"].iloc[0].startswith("invalid JSON")
    assert rejects["reason"].iloc[1] == "not a JSON object"
    assert reader.stats.rows_read == 4 and reader.stats.rows_rejected == 2


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------


def test_bom_is_stripped_and_text_kept() -> None:
    frame, rejects, reader = read_all(DATA / "bom.csv")
    assert rejects.empty and reader.stats.invalid_byte_rows == 0
    assert frame.columns[0] == "ticket_id"
    assert frame["subject"].iloc[0] == "Café Wi-Fi"
    assert "📺" in frame["body"].iloc[1]


def test_a_file_in_an_8bit_encoding_is_refused_with_the_fix() -> None:
    """Latin-1 / Windows-1252 bytes and no valid UTF-8: refused, not read with U+FFFD (the
    exact fix in the message); --encoding reads it (tests/tickets/test_readers_encoding.py)."""
    with pytest.raises(InputError, match="not UTF-8") as refused:
        read_all(DATA / "invalid_utf8.csv")
    assert "--encoding cp1252" in str(refused.value) and "iconv -f CP1252" in str(refused.value)
    frame, rejects, reader = read_all(DATA / "invalid_utf8.csv", encoding="cp1252")
    assert rejects.empty and len(frame) == 3
    assert reader.stats.invalid_byte_rows == 0
    assert frame["body"].iloc[0] == "café wifi broken"


def test_invalid_bytes_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"ticket_id": "A", "body": "ok"}\n{"ticket_id": "B", "body": "bad \xff"}\n'
    )
    frame, rejects, reader = read_all(path)
    assert frame["ticket_id"].tolist() == ["A", "B"] and rejects.empty
    assert reader.stats.invalid_byte_rows == 1


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-15T10:30:00", "2024-03-15T10:30:00"),
        ("2024-03-15 10:30", "2024-03-15T10:30:00"),
        ("2024-03-15", "2024-03-15T00:00:00"),
        ("2024-03-15T10:30:00.123456Z", "2024-03-15T10:30:00"),
        ("2024-03-15T12:30:00+02:00", "2024-03-15T10:30:00"),
        ("15/03/2024 10:30", "2024-03-15T10:30:00"),
        ("03/04/2024", "2024-04-03T00:00:00"),  # day first
        ("03/15/2024", "2024-03-15T00:00:00"),  # month first when day first is impossible
        ("15 Mar 2024", "2024-03-15T00:00:00"),
        ("March 15, 2024", "2024-03-15T00:00:00"),
        ("Fri, 15 Mar 2024 10:30:00 +0000", "2024-03-15T10:30:00"),
        ("1710498600", "2024-03-15T10:30:00"),
        ("1710498600000", "2024-03-15T10:30:00"),
        ("", None),
        ("tomorrow", None),
        ("2024-02-30", None),
    ],
)
def test_parse_timestamp(value: str, expected: str | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Portal", "web"), ("Phone", "phone"), ("Chat", "chat"), ("Email", "email"),
        ("web_widget", "web"), ("api", "other"), ("voice", "phone"), ("native_messaging", "chat"),
        ("Feedback Widget", "web"), ("Outbound Email", "email"), ("Twitter", "other"), ("", ""),
        ("2", "web"), (None, ""),
    ],
)  # fmt: skip
def test_normalise_channel(value: str | None, expected: str) -> None:
    assert normalise_channel(value) == expected


def test_read_tickets_concatenates() -> None:
    chunk = read_tickets(DATA / "duplicate_ids.csv")
    assert len(chunk.frame) == 3 and len(chunk.rejects) == 2


def test_write_rejects_only_when_there_are_some(tmp_path: Path) -> None:
    _, rejects, _ = read_all(DATA / "empty_text.csv")
    out = tmp_path / "out" / "rejects.csv"
    assert write_rejects(out, [rejects.iloc[:1], rejects.iloc[:0], rejects.iloc[1:]]) == 3
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(REJECT_COLUMNS) and len(rows) == 4
    nothing = tmp_path / "none.csv"
    assert write_rejects(nothing, [rejects.iloc[:0]]) == 0
    assert not nothing.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "rejects.csv"]


def test_reading_does_not_import_pandas_at_module_level() -> None:
    import subprocess
    import sys

    code = (
        "import sys, expertise.tickets.readers, expertise.store.db, expertise.io\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'pyarrow'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    final = tmp_path / "a" / "out.txt"
    atomic_write_text(final, "old")
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent and not tmp.exists()
        tmp.write_text("new")
        assert final.read_text() == "old"  # not visible until the block ends
    assert final.read_text() == "new"
    assert [p.name for p in final.parent.iterdir()] == ["out.txt"]


def test_atomic_path_leaves_target_alone_on_error(tmp_path: Path) -> None:
    final = tmp_path / "out.txt"
    final.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_without_writing_creates_nothing(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "never.txt"):
        pass
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

CELL = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00\r\ufffd"),
    max_size=60,
)
IDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)


@given(
    rows=st.lists(
        st.tuples(IDS, CELL, CELL.filter(lambda s: s.strip() != ""), CELL),
        min_size=1,
        max_size=20,
        unique_by=lambda r: r[0],
    ),
    chunk_rows=st.integers(1, 7),
)
@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
def test_csv_round_trip_of_arbitrary_text(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, ...]], chunk_rows: int
) -> None:
    path = tmp_path_factory.mktemp("rt") / "t.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_id", "subject", "body", "note"])
        writer.writerows(rows)
    frame, rejects, reader = read_all(path, chunk_rows=chunk_rows)
    assert rejects.empty and reader.stats.invalid_byte_rows == 0
    assert frame["ticket_id"].tolist() == [r[0] for r in rows]
    assert frame["subject"].tolist() == [r[1] for r in rows]
    assert frame["body"].tolist() == [r[2] for r in rows]
    assert frame["note"].tolist() == [r[3] for r in rows]
    assert frame["_row"].tolist() == list(range(1, len(rows) + 1))


@given(
    records=st.lists(
        st.dictionaries(
            st.sampled_from(["ticket_id", "subject", "body", "x"]),
            st.one_of(st.none(), st.integers(), CELL),
        ),
        max_size=15,
    )
)
@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
def test_jsonl_never_crashes_and_accounts_for_every_row(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]]
) -> None:
    path = tmp_path_factory.mktemp("js") / "t.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in [{"ticket_id": "seed", "body": "b"}, *records])
    )
    frame, rejects, reader = read_all(path, chunk_rows=4)
    assert len(frame) + len(rejects) == reader.stats.rows_read == len(records) + 1
    assert frame["ticket_id"].is_unique


def test_semicolon_and_tab_separated_exports(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("ticket_id;subject;body\n1;Router;it is down, again\n")
    (tmp_path / "tabs.csv").write_text("ticket_id\tsubject\tbody\n1\tRouter\tdown; again\n")
    semi, _, _ = read_all(tmp_path / "semi.csv")
    tabs, _, _ = read_all(tmp_path / "tabs.csv")
    assert semi["body"].tolist() == ["it is down, again"]
    assert tabs["body"].tolist() == ["down; again"]


def test_reading_twice_starts_afresh() -> None:
    reader = TicketReader(DATA / "duplicate_ids.csv")
    first = [len(c.frame) for c in reader.chunks()]
    second = [len(c.frame) for c in reader.chunks()]
    assert first == second == [3]
    assert reader.stats.rows_read == 5


def test_one_column_mapped_twice_or_named_twice_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="already mapped to 'Description'"):
        parse_mapping(["body=Description", "body=Subject"])
    assert parse_mapping(["body=Notes", "body=Notes"]) == {"body": "Notes"}
    path = tmp_path / "twice.csv"
    path.write_text("ticket_id,body,body\nT1,Router,PPPoE drops after the update\n",
                    encoding="utf-8")
    with pytest.raises(SchemaError, match="names column 'body' more than once"):
        list(TicketReader(path).chunks())
    frame = pd.concat([c.frame for c in TicketReader(path, mapping={"body": "body.1"}).chunks()])
    assert frame["body"].tolist() == ["PPPoE drops after the update"]


def test_an_unclear_level_in_an_export_is_no_known_level_not_a_reject(models_env: Path,
                                                                     tmp_path: Path) -> None:
    """A labelled export (like the real-message files) marks a level "unclear": scoring and
    ingest must keep the row (the value passes through as written; the store holds no level),
    and only training, which needs a level, leaves it out with a reason."""
    import sqlite3

    from typer.testing import CliRunner

    from expertise.cli import app

    export = tmp_path / "labelled.csv"
    export.write_text("ticket_id,customer_id,body,expertise_level\n"
                      "T1,C1,my wifi is down,unclear\nT2,C1,router dead since 3pm,Expert\n"
                      "T3,C2,the tv says no signal,\nT4,C2,my phone is slow,guru\n",
                      encoding="utf-8")
    runner = CliRunner()
    scored = runner.invoke(app, ["score", str(export), "--out", str(tmp_path / "out.csv")])
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out["ticket_id"].tolist() == ["T1", "T2", "T3"]
    assert out["expertise_level_input"].tolist() == ["unclear", "expert", ""]
    rejects = pd.read_csv(tmp_path / "out.rejects.csv", dtype=str)
    assert rejects["ticket_id"].tolist() == ["T4"]
    assert "novice, intermediate or expert (or unclear)" in rejects["reason"].iloc[0]

    db = tmp_path / "s.db"
    assert runner.invoke(app, ["ingest", str(export), "--db", str(db)]).exit_code == 0
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT ticket_id, expertise_level FROM tickets"))
    assert stored == {"T1": None, "T2": "expert", "T3": None}

    from expertise.tickets.labelled import read_labelled_file

    training = read_labelled_file(export)
    assert training.frame["ticket_id"].tolist() == ["T2"]
    assert set(training.rejects["ticket_id"]) == {"T1", "T3", "T4"}
