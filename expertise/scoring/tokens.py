"""Tokens and evidence spans of a batch of texts: the one place text becomes integers.

`tokenize` turns texts into a :class:`Tokenized` batch: a :class:`TokenTable` (each token's
row, its id in the model's :class:`WordTable` as written and with digits folded to a shape
(`4.2.1` -> `0.0.0`), whether it holds a digit), the spans of the evidence patterns
(`expertise.scoring.text.PATTERNS`), per-row character counts and whether the text reads as
English. Everything after this module works on those arrays only.

Two backends produce it, and must agree exactly (integers and strings; a test checks it):

- ``re``: the standard library, one text at a time. Small batches (a live answer) and any
  text outside ASCII take it; it imports nothing beyond numpy.
- ``re2``: pyarrow's RE2 kernels over a whole batch, imported lazily. RE2 and Python's re
  find the same leftmost-first matches for these patterns on ASCII text, which (with
  punctuation and currency signs from outside ASCII) is the only text it is given.

A batch of mixed texts is split between the two and merged back in row order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expertise.scoring.text import (
    COMMANDS,
    PATTERNS,
    SENTENCE_BREAK,
    TOKEN,
    TOKEN_STRIP,
    looks_english,
)

#: Batches at least this large send their ASCII texts to the RE2 backend.
RE2_MIN_BATCH = 64
#: Per-row character counts, in this order (`TextStats.counts` columns).
STAT_NAMES = ("letters", "upper", "exclaim", "question", "sentences")

_DIGIT_RUN = re.compile(r"[0-9]+")
_ANY_DIGIT = re.compile(r"[0-9]")
#: Case-sensitive twins of the evidence patterns, run on lower-cased text: Python's re scans a
#: case-insensitive alternation several times slower, and where lower-casing keeps every
#: character in place the twins find exactly the same spans (see `_case_safe`).
_LOWER_TWINS = {kind: re.compile(source) for kind, source, _ in PATTERNS}


@functools.cache
def _folded(source: str) -> re.Pattern[str]:
    """An evidence pattern compiled case-insensitively: only for the rare text where
    lower-casing moves characters (see `_case_safe`), so compiled on first use."""
    return re.compile(source, re.IGNORECASE)

#: Besides the ASCII letters, only these characters match an ASCII letter case-insensitively
#: without lower-casing to it (dotless i, long s); U+0130 and U+212A lower-case to ASCII.
_FOLD_EXTRA = ("\u0131", "\u017f")
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_NOT_LETTER = bytes(b for b in range(128) if b not in _ASCII_LETTERS)
_NOT_UPPER = bytes(b for b in range(128) if not 65 <= b <= 90)


# ---------------------------------------------------------------------------------------------
# The words a model looks up
# ---------------------------------------------------------------------------------------------


class WordTable:
    """Every word a model looks up, once: the vocabulary first (a word's index is its
    tf-idf column), then the lexicon's terms, the words of every two-word term and the
    commands the vocabulary lacks. Two-word terms are looked up by their words' indices, so
    no string is built for a pair.

    Building one walks the whole vocabulary; a model saves it (`arrays`, `extra_words`) at
    training time and loads it with `from_arrays`, which a one-shot answer can afford.
    """

    #: Per-word flags, one bit each, in the saved `flags` array.
    FLAGS = ("in_lexicon", "command", "vocab_head", "vocab_tail", "lex_head", "lex_tail")

    def __init__(self, vocabulary: Sequence[str], lexicon: Iterable[str]) -> None:
        lexicon = frozenset(lexicon)
        vocab_pairs = [(t.split(" ")[0], t.split(" ")[1], c)
                       for c, t in enumerate(vocabulary) if t.count(" ") == 1]
        lex_pairs = [tuple(t.split(" ")) for t in lexicon if t.count(" ") == 1]
        parts = {w for a, b, _ in vocab_pairs for w in (a, b)} | {w for p in lex_pairs for w in p}
        words = list(vocabulary) + sorted((set(lexicon) | parts | COMMANDS) - set(vocabulary))
        index = {w: i for i, w in enumerate(words)}
        n = len(words)
        flags = np.zeros(n, dtype=np.uint8)
        marks = {
            "in_lexicon": [i for i, w in enumerate(words) if w in lexicon],
            "command": [i for i, w in enumerate(words) if w in COMMANDS],
            "vocab_head": [index[a] for a, _, _ in vocab_pairs],
            "vocab_tail": [index[b] for _, b, _ in vocab_pairs],
            "lex_head": [index[a] for a, _ in lex_pairs],
            "lex_tail": [index[b] for _, b in lex_pairs],
        }
        for bit, name in enumerate(self.FLAGS):
            flags[marks[name]] |= np.uint8(1 << bit)
        keys = np.array([index[a] * n + index[b] for a, b, _ in vocab_pairs], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        cols = np.array([c for _, _, c in vocab_pairs], dtype=np.int64)[order]
        lex_keys = np.sort(np.array([index[a] * n + index[b] for a, b in lex_pairs],
                                    dtype=np.int64))
        self._setup(words, len(vocabulary), flags, keys[order], cols, lex_keys, index)

    @classmethod
    def from_arrays(cls, vocabulary: Sequence[str], extra_words: Sequence[str],
                    arrays: dict[str, np.ndarray]) -> WordTable:
        """A table saved with `arrays`: no walk over the vocabulary."""
        table = cls.__new__(cls)
        table._setup([*vocabulary, *extra_words], len(vocabulary), arrays["wt_flags"],
                     arrays["wt_vocab_keys"], arrays["wt_vocab_cols"], arrays["wt_lex_keys"])
        return table

    def arrays(self) -> dict[str, np.ndarray]:
        """What `from_arrays` needs besides the words (saved with a model)."""
        return {"wt_flags": self._flags, "wt_vocab_keys": self._vocab_keys,
                "wt_vocab_cols": self._vocab_cols, "wt_lex_keys": self._lex_keys}

    @property
    def extra_words(self) -> list[str]:
        return self.words[self.n_vocab:]

    def _setup(self, words: list[str], n_vocab: int, flags: np.ndarray, vocab_keys: np.ndarray,
               vocab_cols: np.ndarray, lex_keys: np.ndarray,
               index: dict[str, int] | None = None) -> None:
        self.words = words
        self.n_vocab = n_vocab
        self.n_words = len(words)
        self.index = index if index is not None else dict(zip(words, range(len(words)),
                                                              strict=True))
        self._flags = np.asarray(flags, dtype=np.uint8)
        # each flag with one more entry (False) for "not in the table" (index -1)
        flag = {name: np.append((self._flags >> bit) & 1, 0).astype(bool)
                for bit, name in enumerate(self.FLAGS)}
        self.in_lexicon, self.command = flag["in_lexicon"], flag["command"]
        self.vocab_head, self.vocab_tail = flag["vocab_head"], flag["vocab_tail"]
        self.lex_head, self.lex_tail = flag["lex_head"], flag["lex_tail"]
        self._vocab_keys = np.asarray(vocab_keys, dtype=np.int64)
        self._vocab_cols = np.asarray(vocab_cols, dtype=np.int64)
        self._lex_keys = np.asarray(lex_keys, dtype=np.int64)
        self._arrow: Any = None

    def pair_columns(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The vocabulary column of each two-word term (first, second), -1 where none."""
        return _lookup(self._vocab_keys, self._vocab_cols, first, second, self.n_words)

    def lexicon_pairs(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Whether each (first, second) is a two-word term of the lexicon."""
        return _lookup(self._lex_keys, None, first, second, self.n_words) >= 0

    def arrow(self) -> Any:
        """The words as an Arrow array (for the RE2 backend's look-ups)."""
        if self._arrow is None:
            import pyarrow as pa

            self._arrow = pa.array(self.words, type=pa.string())
        return self._arrow


def _lookup(keys: np.ndarray, values: np.ndarray | None, first: np.ndarray,
            second: np.ndarray, n_words: int) -> np.ndarray:
    """Position (or value) of each key first * n_words + second in sorted `keys`, -1 if absent."""
    out = np.full(len(first), -1, dtype=np.int64)
    if not len(first) or not len(keys):
        return out
    ok = (first >= 0) & (second >= 0)
    pos = positions(keys, first[ok] * n_words + second[ok])
    out[ok] = pos if values is None else np.where(pos >= 0, values[pos], -1)
    return out


#: Key arrays at least this long are looked up with pyarrow's hash kernel (loaded for large
#: batches anyway); shorter ones with a binary search. Both give the same positions.
HASH_MIN = 4096


def positions(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each key's position in `table` (sorted, distinct int64), -1 where it is absent."""
    if len(keys) >= HASH_MIN:
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.index_in(pa.array(keys, type=pa.int64()),
                            value_set=pa.array(table, type=pa.int64()))
        return pc.fill_null(found, -1).to_numpy().astype(np.int64)
    pos = np.searchsorted(table, keys)
    pos[pos == len(table)] = 0
    return np.where(table[pos] == keys, pos, -1) if len(table) else np.full(len(keys), -1)


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------


@dataclass
class TokenTable:
    """The tokens of a batch, as arrays: row i's tokens are ``indptr[i]:indptr[i + 1]``.

    ``raw_id`` is each token's index in the word table as written (lower case, stripped of
    ``'.:-``), ``word_id`` that of its digit shape (equal to ``raw_id`` without digits); -1
    where the table lacks it. The strings are read through :meth:`raw` and :meth:`orig`.
    """

    indptr: np.ndarray
    raw_id: np.ndarray
    word_id: np.ndarray
    digit: np.ndarray
    source: Any = field(repr=False, default=None)

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def rows(self) -> np.ndarray:
        """Each token's row."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.indptr[1:] - self.indptr[:-1])

    def raw(self, positions: np.ndarray | None = None) -> list[str]:
        """The tokens as written (lower case, stripped), at these positions (default all)."""
        return self.source.strings("raw", _positions(positions, len(self.raw_id)))

    def orig(self, positions: np.ndarray | None = None) -> list[str]:
        """The tokens in the caller's own case, not stripped."""
        return self.source.strings("orig", _positions(positions, len(self.raw_id)))


def _positions(positions: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if positions is None else np.asarray(positions,
                                                                             dtype=np.int64)


@dataclass
class Matches:
    """The spans one evidence pattern found: ``rows`` ascending, ``texts`` in text order."""

    rows: np.ndarray
    texts: list[str]


@dataclass
class Tokenized:
    """Everything read off the characters of a batch of texts."""

    tokens: TokenTable
    matches: dict[str, Matches]
    #: (n, len(STAT_NAMES)) counts: letters, upper-case letters, '!', '?', sentences
    stats: np.ndarray
    english: np.ndarray


def tokenize(texts: Sequence[str], words: WordTable, *, backend: str = "auto") -> Tokenized:
    """Tokenize a batch. ``backend``: "auto" (RE2 for the texts it can take of a batch of at
    least :data:`RE2_MIN_BATCH`, re for the rest), "re" or "re2" (RE2 where it can, re
    elsewhere)."""
    n = len(texts)
    if backend not in ("auto", "re", "re2"):
        raise ValueError(f"unknown tokenizer backend {backend!r}")
    use_re2 = backend == "re2" or (backend == "auto" and n >= RE2_MIN_BATCH)
    if not use_re2:
        return _re_backend(texts, words)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(texts, type=pa.string())
    safe = ~pc.or_(pc.match_substring_regex(arr, pattern=_RE2_UNSAFE),
                   pc.greater(pc.binary_length(arr), _MAX_BYTES)).to_numpy(zero_copy_only=False)
    if not safe.any():
        return _re_backend(texts, words)
    fast = np.flatnonzero(safe)
    if len(fast) == n:
        return _re2_backend(texts, words, arr)
    slow = np.flatnonzero(~safe)
    return _merge(n, [(fast, _re2_backend([texts[i] for i in fast.tolist()], words)),
                      (slow, _re_backend([texts[i] for i in slow.tolist()], words))])


# ---------------------------------------------------------------------------------------------
# Backend 1: the standard library, a text at a time
# ---------------------------------------------------------------------------------------------


def token_strings(text: str) -> tuple[list[str], list[str]]:
    """(raw, shaped) tokens of one text: as written (lower case, stripped) and with digit runs
    folded to "0". The n-gram vocabulary is built from the shaped ones (`analyze`)."""
    raw = [t.strip(TOKEN_STRIP) for t in TOKEN.findall(text.lower())]
    return raw, [_DIGIT_RUN.sub("0", t) for t in raw]


def analyze(text: str) -> list[str]:
    """Unigrams and bigrams of the shaped tokens: the n-gram model's terms (training)."""
    _, toks = token_strings(text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


class _ReStrings:
    """Token strings of the re backend: raw ones kept, original-case ones found on demand."""

    def __init__(self, texts: Sequence[str], raw: list[str], indptr: np.ndarray) -> None:
        self.texts = texts
        self.raw_list = raw
        self.indptr = indptr
        self._orig: dict[int, list[str]] = {}

    def strings(self, kind: str, positions: np.ndarray) -> list[str]:
        if kind == "raw":
            return [self.raw_list[p] for p in positions.tolist()]
        rows = np.searchsorted(self.indptr, positions, side="right") - 1
        out = []
        for p, r in zip(positions.tolist(), rows.tolist(), strict=True):
            if r not in self._orig:
                self._orig[r] = _orig_tokens(self.texts[r])
            out.append(self._orig[r][p - int(self.indptr[r])])
        return out


def _orig_tokens(text: str) -> list[str]:
    """A text's tokens as the caller wrote them: the token spans of the lower-cased text, read
    off the text itself where lower-casing keeps every character in place."""
    lower = text.lower()
    if len(lower) != len(text):
        return TOKEN.findall(lower)
    return [text[m.start():m.end()] for m in TOKEN.finditer(lower)]


def _case_safe(text: str, lower: str) -> bool:
    """True when a case-insensitive match on `text` equals a plain match on `lower`."""
    if text.isascii():
        return True
    return len(lower) == len(text) and not any(c in lower for c in _FOLD_EXTRA)


def _re_backend(texts: Sequence[str], words: WordTable) -> Tokenized:
    index = words.index
    n = len(texts)
    raw_all: list[str] = []
    raw_ids: list[int] = []
    word_ids: list[int] = []
    digits: list[bool] = []
    found: dict[str, tuple[list[int], list[str]]] = {kind: ([], []) for kind, _, _ in PATTERNS}
    counts: list[int] = [0]
    stats: list[tuple[int, int, int, int, int]] = []
    english: list[bool] = []
    get = index.get
    for i, text in enumerate(texts):
        lower = text.lower()
        raw = [t.strip(TOKEN_STRIP) for t in TOKEN.findall(lower)]
        ids = [get(t, -1) for t in raw]
        raw_all += raw
        raw_ids += ids
        if _ANY_DIGIT.search(lower) is not None:
            has = [_ANY_DIGIT.search(t) is not None for t in raw]
            word_ids += [get(_DIGIT_RUN.sub("0", t), -1) if d else k
                         for t, k, d in zip(raw, ids, has, strict=True)]
            digits += has
        else:
            word_ids += ids
            digits += [False] * len(raw)
        counts.append(len(raw))
        safe = _case_safe(text, lower)
        for kind, source, on_lower in PATTERNS:
            rows_k, texts_k = found[kind]
            if on_lower:
                spans = [m.group(0) for m in (_LOWER_TWINS[kind] if safe else _folded(source))
                         .finditer(lower)]
            elif safe:
                spans = [text[m.start():m.end()] for m in _LOWER_TWINS[kind].finditer(lower)]
            else:
                spans = [m.group(0) for m in _folded(source).finditer(text)]
            rows_k += [i] * len(spans)
            texts_k += spans
        stats.append(_stats(text))
        english.append(looks_english(text))
    indptr = np.cumsum(counts)
    table = TokenTable(indptr, np.array(raw_ids, dtype=np.int64),
                       np.array(word_ids, dtype=np.int64), np.array(digits, dtype=bool))
    table.source = _ReStrings(texts, raw_all, indptr)
    matches = {kind: Matches(np.array(rows_k, dtype=np.int64), texts_k)
               for kind, (rows_k, texts_k) in found.items()}
    return Tokenized(table, matches, np.array(stats, dtype=np.int64).reshape(n, len(STAT_NAMES)),
                     np.array(english, dtype=bool))


def _stats(text: str) -> tuple[int, int, int, int, int]:
    if text.isascii():
        data = text.encode("ascii")
        letters = len(data.translate(None, _NOT_LETTER))
        upper = len(data.translate(None, _NOT_UPPER))
    else:
        alpha = [c for c in text if c.isalpha()]
        letters = len(alpha)
        upper = sum(c.isupper() for c in alpha)
    sentences = sum(1 for s in SENTENCE_BREAK.split(text) if s.strip())
    return letters, upper, text.count("!"), text.count("?"), sentences


# ---------------------------------------------------------------------------------------------
# Backend 2: pyarrow's RE2 kernels over a whole batch (ASCII texts only)
# ---------------------------------------------------------------------------------------------

#: Marks the start and end of a token or match; texts holding it are not given to RE2.
_MARK = "\x01"
#: Texts RE2 is not given: the marker, or a character outside ASCII other than punctuation
#: and currency signs. Such a character is no letter, digit or space to either engine and has
#: no case, so both find the same matches in the rest.
_RE2_UNSAFE = r"[\x01]|[^\x00-\x7f\p{P}\p{Sc}]"
_MAX_BYTES = 60_000
#: Words of other languages as RE2 finds them in lower-case ASCII text: a text with none of
#: them (and with a word at all) is English to `looks_english`, which then need not run on it.
_FOREIGN_WORD: str | None = None
#: A word as `looks_english` counts one in lower-case ASCII text.
_A_WORD = r"[a-z]{2}|(?:^|[^a-z])[ai](?:[^a-z]|$)"
#: A sentence as RE2 counts it: a maximal run of characters other than [.!?\n] holding one
#: that Python's str.strip() would keep.
_SENTENCE = r"[^.!?\n]*[^.!?\n\t\x0b\x0c\r\x1c-\x1f ][^.!?\n]*"


def _re2(pattern: str) -> str:
    """A Python pattern for RE2: Python's \\s also matches \\v and \\x1c-\\x1f."""
    return pattern.replace(r"\s", r"[\s\x0b\x1c-\x1f]")


class _ArrowStrings:
    """Token strings of the RE2 backend, kept as Arrow arrays until asked for."""

    def __init__(self, raw: Any, orig: Any) -> None:
        self.arrays = {"raw": raw, "orig": orig}

    def strings(self, kind: str, positions: np.ndarray) -> list[str]:
        import pyarrow as pa

        values: list[str] = self.arrays[kind].take(pa.array(positions)).to_pylist()
        return values


def _re2_backend(texts: Sequence[str], words: WordTable, arr: Any = None) -> Tokenized:
    import pyarrow as pa
    import pyarrow.compute as pc

    global _FOREIGN_WORD
    if _FOREIGN_WORD is None:
        from expertise.scoring.text import FOREIGN

        _FOREIGN_WORD = "(?:^|[^a-z])(?:" + "|".join(
            sorted(w for w in FOREIGN if w.isascii())) + ")(?:[^a-z]|$)"
    n = len(texts)
    if arr is None:
        arr = pa.array(texts, type=pa.string())
    # Tokens: mark every match, split on the marks; pieces at odd positions are the tokens.
    pieces = pc.split_pattern(pc.replace_substring_regex(
        arr, pattern="(?i)" + TOKEN.pattern, replacement=f"{_MARK}\\0{_MARK}"), pattern=_MARK)
    offsets = pieces.offsets.to_numpy()
    piece_row = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    odd = ((np.arange(len(piece_row)) - offsets[:-1][piece_row]) & 1).astype(bool)
    orig = pc.list_flatten(pieces).filter(pa.array(odd))
    counts = np.bincount(piece_row[odd], minlength=n)
    del pieces, piece_row, odd
    raw = pc.ascii_trim(pc.ascii_lower(orig), characters=TOKEN_STRIP)
    raw_id = _ids(raw, words.arrow())
    digit_np = _has_digit(raw)
    word_id = raw_id.copy()
    if digit_np.any():
        shaped = pc.replace_substring_regex(raw.filter(pa.array(digit_np)), pattern="[0-9]+",
                                            replacement="0")
        word_id[digit_np] = _ids(shaped, words.arrow())
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    table = TokenTable(indptr, raw_id, word_id, digit_np.astype(bool))
    table.source = _ArrowStrings(raw, orig)

    lower = pc.ascii_lower(arr)
    matches = {}
    for kind, source, on_lower in PATTERNS:
        rows_k, texts_k = _matches(lower if on_lower else arr,
                                   _re2(source) if on_lower else "(?i)" + _re2(source))
        matches[kind] = Matches(rows_k, texts_k)
    stats = np.zeros((n, len(STAT_NAMES)), dtype=np.int64)
    stats[:, :4] = _per_string(arr)
    stats[:, 4] = pc.count_substring_regex(arr, pattern=_SENTENCE).to_numpy()
    english = np.ones(n, dtype=bool)
    maybe = pc.match_substring_regex(lower, pattern=_FOREIGN_WORD).to_numpy(
        zero_copy_only=False)
    # a text without a single word (two letters, or "a"/"i" alone) is no English either
    maybe |= ~pc.match_substring_regex(lower, pattern=_A_WORD).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(maybe).tolist():
        english[i] = looks_english(texts[i])
    return Tokenized(table, matches, stats, english)


def _ids(tokens: Any, vocab: Any) -> np.ndarray:
    """Each token's index in the word table, -1 where it has none."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.index_in(tokens, value_set=vocab), -1).to_numpy().astype(np.int64)


def _matches(texts: Any, pattern: str) -> tuple[np.ndarray, list[str]]:
    """(row, match) of every match of `pattern`, rows ascending, matches in text order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    hit = np.flatnonzero(pc.match_substring_regex(texts, pattern=pattern)
                         .to_numpy(zero_copy_only=False))
    if not len(hit):
        return np.zeros(0, dtype=np.int64), []
    marked = pc.replace_substring_regex(texts.take(pa.array(hit)), pattern=pattern,
                                        replacement=f"{_MARK}\\0{_MARK}")
    pieces = pc.split_pattern(marked, pattern=_MARK)
    offsets = pieces.offsets.to_numpy()
    piece_row = np.repeat(np.arange(len(hit)), np.diff(offsets))
    odd = ((np.arange(len(piece_row)) - offsets[:-1][piece_row]) & 1).astype(bool)
    return hit[piece_row[odd]], pc.list_flatten(pieces).filter(pa.array(odd)).to_pylist()


def _has_digit(strings: Any) -> np.ndarray:
    """Whether each string of an Arrow string array holds an ASCII digit: each digit byte's
    string found by its offset (several times faster than a regex kernel, and the only
    temporaries are a byte mask and the digits' positions)."""
    import pyarrow as pa

    n = len(strings)
    out = np.zeros(n, dtype=bool)
    _, offsets_buf, data_buf = strings.buffers()
    if data_buf is None or not n:
        return out
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[strings.offset:strings.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    at = np.flatnonzero((data >= 48) & (data <= 57))  # b"0" .. b"9"
    if at.size:  # the last string starting at or before the byte (empty ones share offsets)
        out[np.searchsorted(offsets, at + offsets[0], side="right") - 1] = True
    return out


def _byte_classes(*classes: bytes) -> np.ndarray:
    """A table from byte to up to four counters packed in 16-bit fields of a uint64."""
    table = np.zeros(256, dtype=np.uint64)
    for k, chars in enumerate(classes):
        table[list(chars)] += np.uint64(1 << (16 * k))
    table.flags.writeable = False
    return table


_UPPER_BYTES = bytes(range(65, 91))
_TEXT_CLASSES = _byte_classes(_UPPER_BYTES + bytes(range(97, 123)), _UPPER_BYTES, b"!", b"?")


def _per_string(strings: Any) -> np.ndarray:
    """(n, 4): letters, upper-case letters, '!' and '?' of each (ASCII) string.

    The four counters share one 64-bit sum per string, 16 bits each (a string here is at
    most `_MAX_BYTES` long, so no counter overflows into the next).
    """
    n = len(strings)
    _, offsets_buf, data_buf = strings.buffers()
    out = np.zeros((n, 4), dtype=np.int64)
    if data_buf is None or not n:
        return out
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[strings.offset:strings.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    starts = (offsets[:-1] - offsets[0]).astype(np.int64)
    filled = np.flatnonzero(np.diff(offsets) > 0)  # reduceat needs non-empty segments
    if not len(filled):
        return out
    packed = np.add.reduceat(_TEXT_CLASSES[data], starts[filled])
    for j in range(4):
        out[filled, j] = ((packed >> np.uint64(16 * j)) & np.uint64(0xFFFF)).astype(np.int64)
    return out


# ---------------------------------------------------------------------------------------------
# Merging the backends' parts back into row order
# ---------------------------------------------------------------------------------------------


class _MergedStrings:
    def __init__(self, parts: list[Any], part_of: np.ndarray, local: np.ndarray) -> None:
        self.parts = parts
        self.part_of = part_of
        self.local = local

    def strings(self, kind: str, positions: np.ndarray) -> list[str]:
        out: list[str] = [""] * len(positions)
        which = self.part_of[positions]
        for k, source in enumerate(self.parts):
            at = np.flatnonzero(which == k)
            if len(at):
                for j, s in zip(at.tolist(), source.strings(kind, self.local[positions[at]]),
                                strict=True):
                    out[j] = s
        return out


def _merge(n: int, parts: list[tuple[np.ndarray, Tokenized]]) -> Tokenized:
    """Batches of rows (global row numbers, their tokens) as one batch in row order."""
    counts = np.zeros(n, dtype=np.int64)
    stats = np.zeros((n, len(STAT_NAMES)), dtype=np.int64)
    english = np.ones(n, dtype=bool)
    for rows, part in parts:
        counts[rows] = np.diff(part.tokens.indptr)
        stats[rows] = part.stats
        english[rows] = part.english
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    total = int(indptr[-1])
    raw_id = np.empty(total, dtype=np.int64)
    word_id = np.empty(total, dtype=np.int64)
    digit = np.empty(total, dtype=bool)
    part_of = np.empty(total, dtype=np.int64)
    local = np.empty(total, dtype=np.int64)
    matches: dict[str, tuple[list[np.ndarray], list[list[str]]]] = {}
    for k, (rows, part) in enumerate(parts):
        t = part.tokens
        own_rows = t.rows()
        within = np.arange(len(t.raw_id)) - t.indptr[own_rows]
        dest = indptr[rows[own_rows]] + within
        raw_id[dest], word_id[dest], digit[dest] = t.raw_id, t.word_id, t.digit
        part_of[dest] = k
        local[dest] = np.arange(len(t.raw_id))
        for kind, m in part.matches.items():
            got = matches.setdefault(kind, ([], []))
            got[0].append(rows[m.rows])
            got[1].append(m.texts)
    merged = {}
    for kind, (row_parts, text_parts) in matches.items():
        rows_all = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64)
        texts_all = [s for texts in text_parts for s in texts]
        order = np.argsort(rows_all, kind="stable")
        merged[kind] = Matches(rows_all[order], [texts_all[j] for j in order.tolist()])
    table = TokenTable(indptr, raw_id, word_id, digit,
                       _MergedStrings([p.tokens.source for _, p in parts], part_of, local))
    return Tokenized(table, merged, stats, english)
