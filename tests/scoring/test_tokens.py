"""The two tokenizer backends give identical token tables, strings and evidence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expertise.scoring.text import CURATED_TERMS
from expertise.scoring.tokens import (
    HASH_MIN,
    Tokenized,
    WordTable,
    positions,
    token_strings,
    tokenize,
)
from tests.scoring.test_pipeline import ADVERSARIAL

WORDS = WordTable(["wifi", "drops", "wifi drops", "0.0.0", "box", "the box", "pppoe", "e-0",
                   "router", "fw", "fw 0.0.0"], CURATED_TERMS | {"pppoe session"})


def _table(tok: Tokenized) -> dict[str, object]:
    t = tok.tokens
    return {
        "indptr": t.indptr.tolist(), "raw_id": t.raw_id.tolist(), "word_id": t.word_id.tolist(),
        "digit": t.digit.tolist(), "raw": t.raw(), "orig": t.orig(),
        "matches": {k: (m.rows.tolist(), m.texts) for k, m in tok.matches.items()},
        "stats": tok.stats.tolist(), "english": tok.english.tolist(),
    }


def assert_backends_agree(texts: list[str]) -> None:
    assert _table(tokenize(texts, WORDS, backend="re")) == \
        _table(tokenize(texts, WORDS, backend="re2"))


CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"-/_#*+<>()")
CHARS += ["\n", "\t", "é", "É", "£", "€", "—", "–", "’", "“", "…", "ß", "İ", "\u212a", "\u0131",
          "\u017f", "日", "я", "\x01", "\x0b", "\x1c", "\xa0", "🙂"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(CHARS), max_size=120), min_size=1,
                max_size=12))
def test_backends_agree_on_any_text(texts: list[str]) -> None:
    assert_backends_agree(texts)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["restarted", "the box with the lights", "fw 4.2.1", "E-1043",
                                 "port 8080", "192.168.1.1", "not good with technology",
                                 "I work in IT", "ping", "PPPoE session", "wifi drops",
                                 "100 Mbps", "0x8024a105", "ERR_NAME_NOT_RESOLVED", "<ip>",
                                 ",", ".", "!", "?", "\n"]), max_size=40))
def test_backends_agree_on_evidence_rich_text(pieces: list[str]) -> None:
    assert_backends_agree([" ".join(pieces), "".join(pieces)])


def test_backends_agree_on_adversarial_texts() -> None:
    assert_backends_agree(ADVERSARIAL)


def test_tokens_are_shaped_and_looked_up() -> None:
    tok = tokenize(["Hub FW 4.2.1: WiFi drops, the box!"], WORDS)
    assert tok.tokens.raw() == ["hub", "fw", "4.2.1", "wifi", "drops", "the", "box"]
    assert tok.tokens.orig() == ["Hub", "FW", "4.2.1", "WiFi", "drops", "the", "box"]
    words = [WORDS.words[k] if k >= 0 else None for k in tok.tokens.word_id.tolist()]
    assert words == [None, "fw", "0.0.0", "wifi", "drops", "the", "box"]  # "the": of "the box"
    assert token_strings("Hub FW 4.2.1")[1] == ["hub", "fw", "0.0.0"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=3 * HASH_MIN // 2),
       st.lists(st.integers(0, 60), max_size=200))
def test_hash_and_sort_lookups_agree(keys: list[int], table: list[int]) -> None:
    k = np.array(keys, dtype=np.int64)
    t = np.unique(np.array(table, dtype=np.int64))
    expected = [table_index(t, x) for x in keys]
    assert positions(t, k).tolist() == expected


def table_index(table: np.ndarray, value: int) -> int:
    hits = np.flatnonzero(table == value)
    return int(hits[0]) if len(hits) else -1


@given(st.lists(st.text(alphabet="ab09 é", max_size=6), max_size=12), st.integers(0, 12),
       st.booleans())
def test_digit_scan_matches_a_regex_on_sliced_arrays(strings: list[str], start: int,
                                                     large: bool) -> None:
    # the RE2 backend's digit flags: read at Arrow offsets (32- or 64-bit), also of a slice
    # and of empty strings
    import pyarrow as pa

    from expertise.scoring.tokens import _has_digit

    kind = pa.large_string() if large else pa.string()
    arr = pa.array(strings, kind).slice(min(start, len(strings)))
    assert _has_digit(arr).tolist() == [any(c.isdigit() for c in s) for s in arr.to_pylist()]
