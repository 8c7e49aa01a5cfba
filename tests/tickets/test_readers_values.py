"""Values read as they are written: JSON's NaN and Infinity (which Python's json module
accepts), a JSON export wrapping no records or wrapping them deep down, columns whose type
changes between chunks, and CSV cells holding a NUL byte or true/TRUE."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expertise.cli import app
from expertise.errors import SchemaError
from tests.tickets.test_readers import read_all
from tests.tickets.test_readers_hostile import _rejects, _score, runner
from tests.tickets.test_readers_wrapped import TICKET

NOT_AN_ID = "is not a valid id; write ids as text or whole numbers"

# ---------------------------------------------------------------------------------------------
# NaN and Infinity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", ['"Router X"', "7", "null"])
def test_nan_and_infinity_in_text_fields_are_missing_not_the_word_nan(tmp_path: Path,
                                                                      other: str) -> None:
    """A product, subject, body or level NaN, Infinity or -Infinity was the text "nan" or
    "inf" (or, beside a string, pandas' missing value); it is missing, as null is."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"ticket_id": "T1", "body": "wifi drops", "product": NaN, "subject": Infinity}\n'
        '{"ticket_id": "T2", "body": -Infinity, "subject": "tv", "product": Infinity,'
        ' "expertise_level": NaN}\n'
        f'{{"ticket_id": "T3", "body": "router", "product": {other},'
        ' "expertise_level": "novice"}\n', encoding="utf-8")
    frame, rejects, _ = read_all(path)
    assert rejects.empty
    rows = frame.set_index("ticket_id")[["subject", "body", "product", "expertise_level"]]
    assert rows.loc["T1"].tolist() == ["", "wifi drops", "", ""]
    assert rows.loc["T2"].tolist() == ["tv", "", "", ""]
    assert rows.loc["T3", "product"] == {"null": ""}.get(other, other.strip('"'))


def test_nan_or_infinity_in_an_id_is_a_reject_naming_the_field(tmp_path: Path) -> None:
    """A ticket_id NaN beside string ids was reported as an empty ticket_id (beside numbers
    as 'nan is not a whole number'); an id NaN, Infinity or -Infinity is not a valid id."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"ticket_id": NaN, "body": "wifi drops"}\n'
        '{"ticket_id": "T2", "body": "tv", "customer_id": -Infinity}\n'
        '{"ticket_id": Infinity, "body": "router"}\n'
        '{"ticket_id": "T4", "body": "router", "conversation_id": NaN, "customer_id": "c"}\n'
        '{"ticket_id": "T5", "body": "router", "customer_id": "c"}\n', encoding="utf-8")
    frame, rejects, _ = read_all(path)
    assert frame["ticket_id"].tolist() == ["T5"]
    assert rejects.values.tolist() == [
        [1, "", f"ticket_id NaN {NOT_AN_ID}"],
        [2, "T2", f"customer_id -Infinity {NOT_AN_ID}"],
        [3, "", f"ticket_id Infinity {NOT_AN_ID}"],
        [4, "T4", f"conversation_id NaN {NOT_AN_ID}"]]


def test_score_rejects_a_nan_id_by_its_row_and_scores_the_rest(tmp_path: Path,
                                                               models_env: Path) -> None:
    src = tmp_path / "t.jsonl"
    src.write_text('{"ticket_id": "T1", "body": "my wifi keeps dropping", "product": NaN}\n'
                   '{"ticket_id": NaN, "body": "tv has no signal"}\n', encoding="utf-8")
    code, output = _score(str(src), "--out", str(tmp_path / "out.jsonl"))
    assert code == 0, output
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8").count('"product": ""') == 1
    rejects = _rejects(tmp_path / "out.rejects.csv")
    assert rejects.values.tolist() == [["2", "", f"ticket_id NaN {NOT_AN_ID}"]]


def test_parquet_infinity_in_a_text_field_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "ticket_id": pa.array([1.0, float("inf"), 3.0, float("nan")]),
        "body": pa.array(["wifi", "tv", "router", "modem"]),
        "product": pa.array([float("inf"), 2.0, float("-inf"), None])}), path)
    frame, rejects, _ = read_all(path)
    assert frame[["ticket_id", "product"]].values.tolist() == [["1", ""], ["3", ""]]
    assert rejects.values.tolist() == [  # NaN is how pandas writes a missing float
        [2, "", "ticket_id inf is not a whole number, not an id; write ids as text or whole "
                "numbers"],
        [4, "", "empty ticket_id"]]


# ---------------------------------------------------------------------------------------------
# A wrapper holding no records, and records wrapped deep down
# ---------------------------------------------------------------------------------------------

NO_RECORDS = ("no ticket records: the list under key {key!r} is empty; export the tickets "
              "again, or check the export's filters or date range")


@pytest.mark.parametrize(("name", "text", "key"), [
    ("one-line.json", '{"data": []}\n', "data"),
    ("one-line.jsonl", '{"data": []}\n', "data"),
    ("pretty.json", '{\n  "data": []\n}\n', "data"),
    ("counted.jsonl", '{"meta": {"count": 0}, "data": []}\n', "data"),
    ("nested.json", '{\n  "data": {"export": {"items": []}}\n}\n', "data.export.items"),
])
@pytest.mark.parametrize("command", ["score", "ingest"])
def test_a_wrapper_holding_an_empty_list_says_there_are_no_records_under_its_key(
        tmp_path: Path, name: str, text: str, key: str, command: str) -> None:
    """It was 'missing required column(s) ticket_id; columns found: data; name yours with
    --map', or 'holds one JSON object, not ticket records'; it exits 1, as an empty JSON
    array does."""
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_text("[]\n", encoding="utf-8")
    extra = ["--db", str(tmp_path / "s.db")] if command == "ingest" else []
    result = runner.invoke(app, [command, str(src), *extra])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"Error: {src}: " + NO_RECORDS.format(key=key)
    as_empty = runner.invoke(app, [command, str(empty), *extra])
    assert as_empty.exit_code == result.exit_code
    assert as_empty.output.strip() == (
        f"Error: {empty}: no ticket records: the file holds an empty JSON array; export the "
        "tickets again, or check the export's filters or date range")


def test_a_lone_ticket_with_an_empty_list_keeps_its_missing_column_error(
        tmp_path: Path) -> None:
    lone = tmp_path / "lone.jsonl"
    lone.write_text('{"number": 1, "description": "wifi drops", "tags": []}\n',
                    encoding="utf-8")
    with pytest.raises(SchemaError, match=r"missing required column\(s\) ticket_id.*--map"):
        read_all(lone)


def test_a_one_line_json_array_of_tickets_gets_the_jq_command_as_a_pretty_one_does(
        tmp_path: Path) -> None:
    """It was 'unknown JSON layout' (only an array over many lines named the jq command)."""
    src = tmp_path / "array.json"
    src.write_text('[{"ticket_id": "T1", "body": "wifi"}]\n', encoding="utf-8")
    with pytest.raises(SchemaError) as caught:
        read_all(src)
    out = tmp_path / "array-records.jsonl"
    assert str(caught.value) == (
        f"{src}: holds one JSON array of 1 object, not one ticket object a line; write them one "
        f"a line and read that file instead: jq -c '.[]' {src} > {out}")


@pytest.mark.parametrize("depth", [4, 5, 12])
@pytest.mark.parametrize("indent", [None, 1])
def test_records_wrapped_deeper_than_three_keys_are_named_with_their_jq_command(
        tmp_path: Path, depth: int, indent: int | None) -> None:
    """Only three keys down were looked into: deeper, it was 'missing required column(s)
    ticket_id ... --map' (on one line) or 'not ticket records (its keys: ...)' (pretty)."""
    keys = [f"level{k}" for k in range(1, depth + 1)]
    document: object = [TICKET, {**TICKET, "ticket_id": "T2"}]
    for key in reversed(keys):
        document = {key: document, "meta": {"page": 1}}
    src = tmp_path / "deep.json"
    src.write_text(json.dumps(document, indent=indent) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(src)])
    assert result.exit_code == 1, result.output
    path = ".".join(keys)
    assert result.output.strip() == (
        f"Error: {src}: holds one JSON object, not one ticket object a line: its key {path!r} "
        "looks like the records (a list of 2 objects); write them one a line and read that "
        f"file instead: jq -c '.{path}[]' {src} > {tmp_path / 'deep-records.jsonl'}")


def test_lists_inside_records_keyed_by_id_are_not_taken_for_the_records(
        tmp_path: Path) -> None:
    """Looking at any depth must not look into the records: a ticket's list of comments,
    longer than the list of tickets, is a field."""
    comments = [{"author": "a", "text": "hi"}] * 5
    src = tmp_path / "keyed.json"
    src.write_text(json.dumps({"export": {"tickets": {
        "T1": {"body": "wifi", "comments": comments}, "T2": {"body": "tv"}}}}) + "\n",
        encoding="utf-8")
    with pytest.raises(SchemaError, match=r"its key 'export\.tickets' looks like the records "
                                          r"\(an object of 2 objects keyed by their ids\)"):
        read_all(src)


# ---------------------------------------------------------------------------------------------
# Columns that look numeric in the first chunk and hold text in a later one
# ---------------------------------------------------------------------------------------------

#: Four tickets, two a chunk: long numeric ids first, then ids with leading zeros and text.
_CHUNKED_JSONL = (
    '{"ticket_id": 123456789012, "customer_id": 987654321, "body": "my wifi keeps dropping",'
    ' "order_ref": 12345678901234567}\n'
    '{"ticket_id": 223456789012, "customer_id": 987654322, "body": "tv has no signal",'
    ' "order_ref": null}\n'
    '{"ticket_id": "000123", "customer_id": "00042", "body": "router light is red",'
    ' "order_ref": "000123"}\n'
    '{"ticket_id": "T4", "customer_id": "c-4", "body": "slow broadband", "order_ref": 1.5}\n')
_CHUNKED_CSV = ("ticket_id,customer_id,body,order_ref\n"
                "123456789012,987654321,my wifi keeps dropping,12345678901234567\n"
                "223456789012,987654322,tv has no signal,\n"
                "000123,00042,router light is red,000123\n"
                "T4,c-4,slow broadband,1.50\n")
_IDS = [["123456789012", "987654321"], ["223456789012", "987654322"], ["000123", "00042"],
        ["T4", "c-4"]]


@pytest.mark.parametrize(("name", "text", "refs"), [
    ("t.jsonl", _CHUNKED_JSONL, [12345678901234567, None, "000123", 1.5]),
    ("t.csv", _CHUNKED_CSV, ["12345678901234567", "", "000123", "1.50"]),
])
def test_numbers_in_a_first_chunk_and_text_in_a_later_one_are_read_as_written(
        tmp_path: Path, name: str, text: str, refs: list[object]) -> None:
    """A JSON column of whole numbers beside a null was floats (12345678901234567 read as
    1.2345678901234568e16); ids stay their text in every chunk, leading zeros kept."""
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    frame, rejects, reader = read_all(src, chunk_rows=2)
    assert reader.stats.chunks == 2 and rejects.empty
    assert frame[["ticket_id", "customer_id"]].values.tolist() == _IDS
    assert frame["order_ref"].tolist() == refs
    assert [type(v) for v in frame["order_ref"]] == [type(v) for v in refs]


def test_score_writes_a_column_numeric_then_text_as_written(tmp_path: Path,
                                                             models_env: Path) -> None:
    from expertise import score_file

    src = tmp_path / "t.jsonl"
    src.write_text(_CHUNKED_JSONL, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    score_file(src, out=out, chunk_rows=2, redact=False)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [[r["ticket_id"], r["customer_id"]] for r in written] == _IDS
    assert [r["order_ref"] for r in written] == [12345678901234567, None, "000123", 1.5]


# ---------------------------------------------------------------------------------------------
# CSV cells read as written: NUL bytes, true/TRUE and other words pandas likes to convert
# ---------------------------------------------------------------------------------------------


def test_csv_cells_are_read_as_written_nul_bytes_and_booleans_included(tmp_path: Path) -> None:
    """A NUL byte inside a cell is kept where it is (decisions.md), as a JSON \\u0000 is; true,
    TRUE, NA, null, nan, 1e5 and 0012 are text, in canonical and passed-through columns."""
    src = tmp_path / "t.csv"
    words = ["true", "TRUE", "False", "NA", "null", "nan", "1e5", "0012"]
    lines = [f"T{i},{w},wifi drops {i},{w},{w}" for i, w in enumerate(words)]
    src.write_bytes(("ticket_id,subject,body,product,flag\n" + "\n".join(lines)
                     + '\nT9,"a\x00b",wifi\x00 drops,x,"\x00"\n').encode())
    frame, rejects, _ = read_all(src, chunk_rows=3)
    assert rejects.empty
    assert frame["subject"].tolist() == [*words, "a\x00b"]
    assert frame["product"].tolist() == [*words, "x"]
    assert frame["flag"].tolist() == [*words, "\x00"]
    assert frame["body"].tolist()[-1] == "wifi\x00 drops"
    same = tmp_path / "t.jsonl"
    same.write_text('{"ticket_id": "T9", "subject": "a\\u0000b", "body": "wifi\\u0000 drops",'
                    ' "product": "x", "flag": "\\u0000"}\n', encoding="utf-8")
    as_json, _, _ = read_all(same)
    assert as_json.drop(columns="_row").values.tolist() == (
        frame.drop(columns="_row").tail(1).values.tolist())


def test_score_keeps_a_nul_byte_and_true_as_written(tmp_path: Path, models_env: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_bytes(b'ticket_id,body,flag\nT1,my wifi\x00 keeps dropping,TRUE\n'
                    b'T2,tv has no signal,"x\x00"\n')
    code, output = _score(str(src), "--keep-text", "--out", str(tmp_path / "out.jsonl"))
    assert code == 0, output
    written = [json.loads(line)
               for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["body"], r["flag"]) for r in written] == [
        ("my wifi\x00 keeps dropping", "TRUE"), ("tv has no signal", "x\x00")]


def test_score_refuses_parquet_output_that_would_turn_later_text_into_numbers(
        tmp_path: Path, models_env: Path) -> None:
    """Parquet keeps one type a column: text after numbers ("000123" after 12345678901234567)
    was cast to 123; now a one-line error names the column and the formats that keep it."""
    src = tmp_path / "t.jsonl"
    src.write_text(_CHUNKED_JSONL, encoding="utf-8")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the previous output")
    from expertise import score_file
    from expertise.errors import InputError

    with pytest.raises(InputError) as caught:
        score_file(src, out=out, chunk_rows=2, redact=False)
    message = str(caught.value)
    assert "order_ref" in message and "NAME.jsonl" in message and "\n" not in message
    assert out.read_bytes() == b"the previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "t.jsonl"]
