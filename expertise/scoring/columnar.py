"""Columnar featurisation: a whole batch of texts at once, with pyarrow's RE2 kernels and numpy.

Batch scoring spends most of its time turning text into features. The per-text path
(`expertise.scoring.text_features` and `LeanModel._tfidf_tokens`) is a Python loop over tokens;
here each step runs once over every token of the batch in C++: the token pattern marks the
tokens, a split lists them, `index_in` looks them up in the vocabulary, and numpy counts,
weights and normalises. The result is the same tf-idf matrix and the same wording features,
bit for bit (tests compare the two paths), so a ticket scored in a batch gets exactly what
`expertise answer` gives it.

RE2 and Python's re find the same matches for these patterns (leftmost first, same
greediness, no look-around) when their character classes agree, which they do on ASCII text.
Other texts, and texts holding the marker characters, take the per-text path.

Evidence (the terms and phrases reasons quote) is kept as flat lists with per-row offsets and
read only for the rows whose reasons quote it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from expertise.config import DEFAULT_TOP
from expertise.scoring.text import (
    _APPEARANCE_LOWER,
    _FOREIGN,
    _SELF_EXPERT_LOWER,
    _SELF_NOVICE_LOWER,
    _SPECIFIC_LOWER,
    _TOKEN,
    _TRIED_LOWER,
    COMMANDS,
    DENSE_FEATURES,
    Evidence,
    _uniq,
    text_features,
)

#: Marks the start and end of a token or match; texts holding it take the per-text path.
_MARK = "\x01"
#: Texts RE2 cannot take exactly: the marker, or a character outside ASCII other than
#: punctuation and currency signs (such a character is no letter, digit or space to either
#: engine and has no case, so both find the same matches).
_UNSAFE = r"[\x01]|[^\x00-\x7f\p{P}\p{Sc}]"
_MAX_BYTES = 60_000
#: The characters Python's str.strip() removes that can occur in a text RE2 takes.
_PY_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
#: Words of other languages (`text._FOREIGN`) as RE2 finds them in lower-case ASCII text: a
#: text with none of them is English to `text.looks_english`, which need not run on it.
_FOREIGN_WORD = "(?:^|[^a-z])(?:" + "|".join(
    sorted(w for w in _FOREIGN if w.isascii())) + ")(?:[^a-z]|$)"
#: Evidence kinds found by pattern, in Evidence's order: (name, pattern, from lower-case text).
_PATTERNS: tuple[tuple[str, Any, bool], ...] = (
    ("specific", _SPECIFIC_LOWER, True),
    ("self_novice", _SELF_NOVICE_LOWER, False),
    ("self_expert", _SELF_EXPERT_LOWER, False),
    ("tried", _TRIED_LOWER, False),
    ("appearance", _APPEARANCE_LOWER, False),
)
#: How many items of each kind of evidence a reason may quote (`text._wording`).
_LIMITS = {"tech_terms": 6, "specific": 6, "commands": 6, "self_novice": 2, "self_expert": 2,
           "tried": 4, "appearance": 2}
_SENTENCE = r"[^.!?\n]*[^.!?\n\t\x0b\x0c\r\x1c-\x1f ][^.!?\n]*"
_N_SUBLINEAR = 64
_SUBLINEAR = np.array([0.0] + [1.0 + math.log(c) for c in range(1, _N_SUBLINEAR)])
#: log1p of small counts as Python's math.log1p gives it (numpy's vectorised log1p can differ
#: in the last bit, and the features must equal the per-text path's exactly).
_N_LOG1P = 1024
_LOG1P = np.array([math.log1p(c) for c in range(_N_LOG1P)])


def _re2(pattern: str) -> str:
    """A Python pattern for RE2: Python's \\s also matches \\v and \\x1c-\\x1f."""
    return pattern.replace(r"\s", r"[\s\x0b\x1c-\x1f]")


class _Grouped:
    """Per-row lists of strings, stored flat: the items of row i are values[start[i]:start[i+1]]."""

    def __init__(self, rows: np.ndarray, values: list[str], n: int) -> None:
        order = np.argsort(rows, kind="stable")
        self.values = [values[k] for k in order.tolist()] if len(values) else []
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=start[1:])
        self.counts = np.diff(start)
        self.start = start.tolist()

    def get(self, i: int) -> list[str]:
        return self.values[self.start[i]:self.start[i + 1]]

    def count(self) -> np.ndarray:
        return self.counts


class BatchEvidence:
    """What the wording features found, per row, materialised only when asked for."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._kinds: dict[str, _Grouped] = {}
        self._bigram_tech: _Grouped | None = None
        self._slow: dict[int, Evidence] = {}

    def has(self, kind: str) -> np.ndarray:
        """Per row, whether the evidence of this kind is not empty."""
        out = self._kinds[kind].count() > 0
        if kind == "tech_terms" and self._bigram_tech is not None:
            out |= self._bigram_tech.count() > 0
        for i, ev in self._slow.items():
            out[i] = bool(getattr(ev, kind))
        return out

    def items(self, i: int, kind: str) -> list[str]:
        """The evidence of one kind for row i, as `Evidence` holds it (unique, capped)."""
        if i in self._slow:
            return list(getattr(self._slow[i], kind))
        found = self._kinds[kind].get(i)
        if kind == "tech_terms" and self._bigram_tech is not None:
            found = found + self._bigram_tech.get(i)
        return _uniq(found, _LIMITS[kind])

    def __getitem__(self, i: int) -> Evidence:
        return Evidence(**{kind: self.items(i, kind) for kind in _LIMITS})

    def quoted(self, kind: str, shown: int) -> tuple[list[str], list[int]]:
        """For every row: the first `shown` items of this kind as `explain._quote` joins them
        (without its ", ..." mark), and how many items `Evidence` holds (unique, capped).

        Computed for the whole batch at once, like `text._uniq` row by row: items stripped,
        empty ones dropped, repeats (ignoring case) dropped, at most the kind's limit. Rows
        that took the per-text path quote their own `Evidence`.
        """
        import pandas as pd

        from expertise.scoring.reasons import join_quoted

        group = self._kinds[kind]
        rows = np.repeat(np.arange(self.n), group.counts)
        values = group.values
        if kind == "tech_terms" and self._bigram_tech is not None:
            extra = self._bigram_tech
            both = np.concatenate([rows, np.repeat(np.arange(self.n), extra.counts)])
            order = np.argsort(both, kind="stable")  # a row's terms, then its two-word terms
            pooled = values + extra.values
            rows, values = both[order], [pooled[k] for k in order.tolist()]
        joined = [""] * self.n
        counts = np.zeros(self.n, dtype=np.int64)
        if values:
            items = pc.utf8_trim(pa.array(values, type=pa.string()), characters=_PY_SPACE)
            keys = pc.ascii_lower(items).to_numpy(zero_copy_only=False)
            codes, _ = pd.factorize(keys)
            repeat = pd.Series(rows * (int(codes.max()) + 1) + codes).duplicated().to_numpy()
            keep = ~repeat & (pc.binary_length(items).to_numpy(zero_copy_only=False) > 0)
            k_rows = rows[keep]
            rank = _rank_in_row(k_rows, np.bincount(k_rows, minlength=self.n))
            capped = rank < _LIMITS[kind]
            counts = np.bincount(k_rows[capped], minlength=self.n)
            show = rank < shown
            picked = items.filter(pa.array(keep)).filter(pa.array(show))
            spaced = pc.match_substring(picked, pattern=" ")
            picked = pc.if_else(spaced, pc.binary_join_element_wise("'", picked, "'", ""),
                                picked)
            offsets = np.zeros(self.n + 1, dtype=np.int32)
            np.cumsum(np.bincount(k_rows[show], minlength=self.n), out=offsets[1:])
            lists = pa.ListArray.from_arrays(pa.array(offsets), picked)
            joined = pc.binary_join(lists, ", ").to_pylist()
        count_list = counts.tolist()
        for i, ev in self._slow.items():  # rows that took the per-text path
            items = getattr(ev, kind)
            joined[i], count_list[i] = join_quoted(items[:shown]), len(items)
        return joined, count_list


@dataclass
class BatchFeatures:
    """The tf-idf matrix (entries of a row in first-seen order), dense wording features and
    evidence of a batch of texts."""

    X: Any  # scipy.sparse.csr_matrix (n, vocabulary)
    dense: np.ndarray  # (n, len(DENSE_FEATURES))
    evidence: BatchEvidence
    #: Rows that may not be English (`text.looks_english` must decide); the others are.
    maybe_foreign: np.ndarray


class ColumnarFeaturizer:
    """Featurises batches of texts for one lean model (vocabulary, idf and lexicon)."""

    def __init__(self, lean: Any) -> None:
        self.lean = lean
        self.n_cols = len(lean.vocabulary)
        self.idf = np.asarray(lean.arrays["idf"], dtype=np.float64)
        # One table of words for every look-up: the vocabulary (so a word's index is its
        # column), then the lexicon's terms, both words of every two-word term and the
        # commands it lacks. Two-word terms are found by their words' indices: no string is
        # built for a pair.
        vocab_pairs = [(t.split(" ")[0], t.split(" ")[1], c)
                       for c, t in enumerate(lean.vocabulary) if t.count(" ") == 1]
        lex_pairs = [tuple(t.split(" ")) for t in lean.lexicon if t.count(" ") == 1]
        parts = {w for a, b, _ in vocab_pairs for w in (a, b)} | {w for p in lex_pairs for w in p}
        known = set(lean.vocabulary)
        extra = sorted((set(lean.lexicon) | parts | COMMANDS) - known)
        words = list(lean.vocabulary) + extra
        self.words = pa.array(words, type=pa.string())
        self.word_list = words
        index = {w: i for i, w in enumerate(words)}
        self.n_words = len(words)
        # flags per word, with one more entry (False) for "not in the table" (index -1)
        self.in_lexicon = np.array([w in lean.lexicon for w in words] + [False])
        self.command = np.array([w in COMMANDS for w in words] + [False])
        self.vocab_head = np.zeros(len(words) + 1, dtype=bool)
        self.vocab_head[[index[a] for a, _, _ in vocab_pairs]] = True
        self.lex_head = np.zeros(len(words) + 1, dtype=bool)
        self.lex_head[[index[a] for a, _ in lex_pairs]] = True
        self.vocab_pair_keys = pa.array([index[a] * self.n_words + index[b]
                                         for a, b, _ in vocab_pairs], type=pa.int64())
        self.vocab_pair_cols = np.array([c for _, _, c in vocab_pairs], dtype=np.int64)
        self.lex_pair_keys = pa.array([index[a] * self.n_words + index[b] for a, b in lex_pairs],
                                      type=pa.int64())
        self.token_pattern = "(?i)" + _TOKEN.pattern
        self.patterns = [(name, _re2(p.pattern) if lower else "(?i)" + _re2(p.pattern), lower)
                         for name, p, lower in _PATTERNS]

    def transform(self, texts: Sequence[str]) -> BatchFeatures:
        n = len(texts)
        arr = pa.array(texts, type=pa.string())
        # (and texts too long for the 16-bit counters of `_per_string`)
        unsafe = pc.or_(pc.match_substring_regex(arr, pattern=_UNSAFE),
                        pc.greater(pc.binary_length(arr), _MAX_BYTES))
        fast = np.flatnonzero(~unsafe.to_numpy(zero_copy_only=False))
        slow = np.setdiff1d(np.arange(n), fast)
        evidence = BatchEvidence(n)
        dense = np.zeros((n, len(DENSE_FEATURES)))
        maybe_foreign = np.ones(n, dtype=bool)
        sub = arr if not len(slow) else arr.take(pa.array(fast))
        rows, cols, vals = self._fast(sub, fast, n, dense, evidence, maybe_foreign)
        if len(slow):
            s_rows, s_cols, s_vals = self._slow(texts, slow, dense, evidence)
            rows = np.concatenate([rows, s_rows])
            cols = np.concatenate([cols, s_cols])
            vals = np.concatenate([vals, s_vals])
            order = np.argsort(rows, kind="stable")
            rows, cols, vals = rows[order], cols[order], vals[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        X = sparse.csr_matrix((vals, cols, indptr), shape=(n, self.n_cols))
        X.has_sorted_indices = False  # first-seen order: it fixes the floating-point sums
        return BatchFeatures(X=X, dense=dense, evidence=evidence, maybe_foreign=maybe_foreign)

    # ---- the per-text path, for texts RE2 cannot take ----------------------------------------
    def _slow(self, texts: Sequence[str], slow: np.ndarray, dense: np.ndarray,
              evidence: BatchEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i in slow.tolist():
            toks, values, ev = text_features(texts[i], self.lean.lexicon)
            row = self.lean._tfidf_tokens(toks)
            rows += [i] * len(row)
            cols += list(row)
            vals += list(row.values())
            dense[i] = values
            evidence._slow[i] = ev
        return (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                np.array(vals, dtype=np.float64))

    # ---- the columnar path -------------------------------------------------------------------
    def _tokens(self, sub: Any) -> tuple[Any, Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tokens in the text's case, tokens as written (lower case, stripped), each token's
        row, its index in the word table as written and with digits folded, digit mask).

        Every match of the token pattern is marked and the text split on the marks: pieces at
        odd positions within a row are the tokens (ASCII: the same spans as on lower case).
        The folded token (`word`, the n-gram model's) differs from the written one only where
        the token has digits. Intermediate arrays are freed on return (peak memory).
        """
        marked = pc.replace_substring_regex(sub, pattern=self.token_pattern,
                                            replacement=f"{_MARK}\\0{_MARK}")
        pieces = pc.split_pattern(marked, pattern=_MARK)
        del marked
        offsets = pieces.offsets.to_numpy()
        piece_row = np.repeat(np.arange(len(sub), dtype=np.int64), np.diff(offsets))
        odd = ((np.arange(len(piece_row)) - offsets[:-1][piece_row]) & 1).astype(bool)
        orig = pc.list_flatten(pieces).filter(pa.array(odd))
        trow = piece_row[odd]
        del pieces, piece_row, odd
        raw = pc.ascii_trim(pc.ascii_lower(orig), characters="'.:-")
        raw_word = _ids(raw, self.words)
        digit = pc.match_substring_regex(raw, pattern="[0-9]")
        digit_np = digit.to_numpy(zero_copy_only=False)
        word = raw_word.copy()
        if digit_np.any():
            shaped = pc.replace_substring_regex(raw.filter(digit), pattern="[0-9]+",
                                                replacement="0")
            word[digit_np] = _ids(shaped, self.words)
        return orig, raw, trow, raw_word, word, digit_np

    def _tfidf(self, m: int, trow: np.ndarray, word: np.ndarray, same_row: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of the tf-idf entries: each row's unigram columns then its
        bigram columns, counted in first-seen order (the order fixes the floating-point sums,
        as in `LeanModel._tfidf_tokens`)."""
        uni = np.where(word < self.n_cols, word, -1)
        pair = np.flatnonzero(self.vocab_head[word][:-1] & same_row)
        bi = self._pairs(word, pair, self.vocab_pair_keys, self.vocab_pair_cols)
        u_row, u_col, u_n = self._count(trow[uni >= 0], uni[uni >= 0])
        b_row, b_col, b_n = self._count(trow[pair[bi >= 0]], bi[bi >= 0])
        del uni, pair, bi
        nu = np.bincount(u_row, minlength=m)
        nb = np.bincount(b_row, minlength=m)
        start = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(nu + nb, out=start[1:])
        u_pos = start[u_row] + _rank_in_row(u_row, nu)
        b_pos = start[b_row] + nu[b_row] + _rank_in_row(b_row, nb)
        total = int(start[-1])
        rows = np.empty(total, dtype=np.int64)
        cols = np.empty(total, dtype=np.int64)
        counts = np.empty(total, dtype=np.int64)
        rows[u_pos], cols[u_pos], counts[u_pos] = u_row, u_col, u_n
        rows[b_pos], cols[b_pos], counts[b_pos] = b_row, b_col, b_n
        if counts.size and counts.max() >= _N_SUBLINEAR:
            tf = np.array([1.0 + math.log(c) for c in counts.tolist()])
        else:
            tf = _SUBLINEAR[counts]
        values = tf * self.idf[cols]
        norm = np.sqrt(np.bincount(rows, weights=values * values, minlength=m))
        return rows, cols, values / norm[rows]

    def _pairs(self, word: np.ndarray, at: np.ndarray, keys: Any, cols: np.ndarray | None
               ) -> np.ndarray:
        """For each position in `at`, the two-word term (token there, token after) as its
        column in `cols` (or its index in `keys`), -1 where there is none."""
        if not len(at) or not len(keys):
            return np.full(len(at), -1, dtype=np.int64)
        first, second = word[at], word[at + 1]
        key = np.where((first >= 0) & (second >= 0), first * self.n_words + second, -1)
        pos = _ids(pa.array(key), keys)
        if cols is None:
            return pos
        return np.where(pos >= 0, cols[pos], -1)

    def _count(self, rows: np.ndarray, cols: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct (row, column) pairs in first-seen order, and how often each occurs."""
        import pandas as pd

        if not len(rows):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        codes, keys = pd.factorize(rows * self.n_cols + cols, sort=False)
        return keys // self.n_cols, keys % self.n_cols, np.bincount(codes)

    def _fast(self, sub: Any, fast: np.ndarray, n: int, dense: np.ndarray,
              evidence: BatchEvidence, maybe_foreign: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = len(sub)
        orig, raw, trow, raw_word, word, digit_np = self._tokens(sub)
        n_tok = np.bincount(trow, minlength=m)
        same_row = trow[:-1] == trow[1:] if len(trow) else np.zeros(0, dtype=bool)
        rows, cols, values = self._tfidf(m, trow, word, same_row)

        # Wording features (`text._wording`), counted per row.
        tech = self.in_lexicon[raw_word] | self.in_lexicon[word]
        bpair = np.flatnonzero(self.lex_head[raw_word][:-1] & same_row)
        bhit = self._pairs(raw_word, bpair, self.lex_pair_keys, None) >= 0
        bpair = bpair[bhit]
        words = self.word_list
        bigram_tech = [f"{words[a]} {words[b]}"
                       for a, b in zip(raw_word[bpair].tolist(), raw_word[bpair + 1].tolist(),
                                       strict=True)]
        bt_row = trow[bpair]
        n_tech = np.bincount(trow[tech], minlength=m) + np.bincount(bt_row, minlength=m)
        is_cmd = self.command[raw_word]
        with_digits = np.bincount(trow[digit_np], minlength=m)

        lower = pc.ascii_lower(sub)
        maybe_foreign[fast] = pc.match_substring_regex(lower, pattern=_FOREIGN_WORD).to_numpy(
            zero_copy_only=False)
        found_counts: dict[str, np.ndarray] = {}
        for name, pattern, on_lower in self.patterns:
            rows_k, values_k = _matches(lower if on_lower else sub, pattern)
            found_counts[name] = np.bincount(rows_k, minlength=m)
            evidence._kinds[name] = _Grouped(fast[rows_k], values_k, n)
        shown = pc.ascii_trim(orig.filter(pa.array(tech)), characters="'.:-").to_pylist()
        evidence._kinds["tech_terms"] = _Grouped(fast[trow[tech]], shown, n)
        evidence._bigram_tech = _Grouped(fast[bt_row], bigram_tech, n)
        evidence._kinds["commands"] = _Grouped(fast[trow[is_cmd]],
                                               [words[k] for k in raw_word[is_cmd].tolist()], n)

        # sentences: the pieces between runs of [.!?\n] that are not blank, i.e. maximal runs
        # of other characters holding a non-blank one
        n_sent = pc.count_substring_regex(sub, pattern=_SENTENCE).to_numpy()
        n_letters, n_upper, n_excl, n_quest = _per_string(sub, _TEXT_CLASSES).T

        with np.errstate(divide="ignore", invalid="ignore"):
            n_f = n_tok.astype(np.float64)
            block = np.column_stack([
                _log1p(n_tech),
                np.where(n_tok > 0, n_tech / n_f, 0.0),
                _log1p(found_counts["specific"]),
                _log1p(np.bincount(trow[is_cmd], minlength=m)),
                np.minimum(found_counts["self_novice"], 3).astype(np.float64),
                np.minimum(found_counts["self_expert"], 3).astype(np.float64),
                _log1p(found_counts["tried"]),
                _log1p(found_counts["appearance"]),
                _log1p(n_tok),
                _log1p(n_tok / np.maximum(1, n_sent)),
                np.where(n_tok > 0, with_digits / n_f, 0.0),
                np.where(n_letters > 0, n_upper / n_letters.astype(np.float64), 0.0),
                _log1p(n_excl),
                _log1p(n_quest),
            ])
        dense[fast] = block
        return fast[rows], cols.astype(np.int64), values


def _log1p(counts: np.ndarray) -> np.ndarray:
    """math.log1p of each count (or any float), exactly."""
    if counts.dtype.kind in "iu" and (not counts.size or counts.max() < _N_LOG1P):
        return _LOG1P[counts]
    return np.array([math.log1p(v) for v in counts.tolist()], dtype=np.float64)


def _ids(tokens: Any, vocab: Any) -> np.ndarray:
    """Each token's vocabulary column, -1 where it has none."""
    return pc.fill_null(pc.index_in(tokens, value_set=vocab), -1).to_numpy().astype(np.int64)


def _byte_classes(*classes: bytes) -> np.ndarray:
    """A table from byte to up to four counters packed in 16-bit fields of a uint64."""
    table = np.zeros(256, dtype=np.uint64)
    for k, chars in enumerate(classes):
        table[list(chars)] += np.uint64(1 << (16 * k))
    table.flags.writeable = False
    return table


_UPPER_BYTES = bytes(range(65, 91))
_TEXT_CLASSES = (_byte_classes(_UPPER_BYTES + bytes(range(97, 123)), _UPPER_BYTES, b"!", b"?"),
                 4)


def _per_string(strings: Any, classes: tuple[np.ndarray, int]) -> np.ndarray:
    """(n, k): how many bytes of each string fall in each of k ASCII byte classes.

    No byte of a non-ASCII character in UTF-8 is below 0x80, so these count characters. The
    k counters share one 64-bit sum per string, 16 bits each (a string here is at most
    `_MAX_BYTES` long, so no counter overflows into the next).
    """
    table, k = classes
    n = len(strings)
    _, offsets_buf, data_buf = strings.buffers()
    out = np.zeros((n, k), dtype=np.int64)
    if data_buf is None or not n:
        return out
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[strings.offset:strings.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    starts = (offsets[:-1] - offsets[0]).astype(np.int64)
    filled = np.flatnonzero(np.diff(offsets) > 0)  # reduceat needs non-empty segments
    if not len(filled):
        return out
    packed = np.add.reduceat(table[data], starts[filled])
    for j in range(k):
        out[filled, j] = ((packed >> np.uint64(16 * j)) & np.uint64(0xFFFF)).astype(np.int64)
    return out


def _top_per_row(idx: np.ndarray, row: np.ndarray, key: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k entries of largest `key` in each row (ties: the earlier entry), as (entries, rows,
    ranks) sorted by row and rank; `idx` lists the candidate entries in row order.

    Equals a stable sort by (row, -key) cut at k, without sorting: k rounds of a per-row max.
    """
    chosen: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    left = idx
    for r in range(k):
        if not len(left):
            break
        rows = row[left]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        vals = key[left]
        best = np.maximum.reduceat(vals, starts)
        at_max = vals == np.repeat(best, np.diff(np.r_[starts, len(left)]))
        hits = np.flatnonzero(at_max)
        first = hits[np.r_[True, rows[hits][1:] != rows[hits][:-1]]]
        chosen.append(left[first])
        ranks.append(np.full(len(first), r, dtype=np.int64))
        keep = np.ones(len(left), dtype=bool)
        keep[first] = False
        left = left[keep]
    if not chosen:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    entries = np.concatenate(chosen)
    rank = np.concatenate(ranks)
    order = np.lexsort((rank, row[entries]))
    return entries[order], row[entries][order], rank[order]


def _rank_in_row(rows: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    """For items sorted by row, each item's position among its row's items."""
    first = np.zeros(len(per_row), dtype=np.int64)
    np.cumsum(per_row[:-1], out=first[1:])
    return np.arange(len(rows)) - first[rows]


def _matches(texts: Any, pattern: str) -> tuple[np.ndarray, list[str]]:
    """(row, match) of every match of `pattern`, rows ascending, matches in text order."""
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


# ---------------------------------------------------------------------------------------------
# Answers as columns
# ---------------------------------------------------------------------------------------------

#: The reasons a batch considers, in the order `explain.reasons_for` adds them (ties keep it).
_KINDS = ("tech", "specific", "commands", "self_novice", "self_expert", "tried", "appearance",
          "length", "wording", "history")
_K = {kind: k for k, kind in enumerate(_KINDS)}


class ColumnarScorer:
    """`Engine.score_rows` for a whole batch, with the scored columns of batch scoring as the
    result instead of one `Answer` per row.

    Every figure is computed by the same operations, in the same order, as the per-row path,
    so the columns equal `batch.answer_columns(engine.score_rows(...))` exactly (a test checks
    it on the bundled tickets); rows the vectorised steps cannot take (a topic missing a level)
    go through the per-row functions.
    """

    def __init__(self, engine: Any) -> None:
        from expertise.config import LEVELS
        from expertise.scoring.ranking import neighbours

        self.engine = engine
        lean = engine.lean
        self.featurizer = ColumnarFeaturizer(lean)
        topics = lean.topics
        n_t = len(topics)
        self.levels_present = np.zeros((n_t, 3), dtype=bool)
        self.article_id: dict[tuple[int, int], str] = {}
        self.neighbour_ids: dict[tuple[int, int], list[str]] = {}
        self.next_id: dict[tuple[int, int], str] = {}
        for t, slug in enumerate(topics):
            have = engine.available.get(slug)
            if not have:
                continue
            articles = engine.kb.topics[slug].articles
            for li, level in enumerate(LEVELS):
                self.levels_present[t, li] = level in have
                if level in have:
                    self.article_id[t, li] = articles[level].id
                    self.neighbour_ids[t, li] = [articles[lv].id
                                                 for lv in neighbours(level, have)]
                self.next_id[t, li] = articles[level if level in have else have[0]].id
        vocab = lean.vocabulary
        self.lexicon_cols = np.array([g in lean.lexicon for g in vocab], dtype=bool)
        plain = lean.plain_terms
        self.plain_cols = np.array([g in plain for g in vocab], dtype=bool)
        self.quotable = np.array([lean.quotable(k) for k in range(3)], dtype=bool)
        self.w_dir = np.asarray(lean.w_direction)

    def score(
        self,
        texts: Sequence[str],
        *,
        customer_ids: Sequence[str | None],
        created_at: Sequence[str | None],
        labels: Sequence[str | None] | None = None,
        topics: Sequence[str | None] | None = None,
        external_priors: Sequence[list[Any]] | None = None,
        states: Sequence[dict[str, Any]] | None = None,
        top: int = DEFAULT_TOP,
    ) -> tuple[dict[str, list[Any]], list[Any]]:
        """(columns, each row as an earlier ticket); the columns are those of
        `batch.answer_columns` (`_no_match` included)."""
        from expertise.config import LEVEL_UTILITY, LEVELS
        from expertise.engine import MIN_ALTERNATIVE_SCORE
        from expertise.privacy import redact
        from expertise.scoring.ranking import FEEDBACK_LEVEL_WEIGHT, choose_level, shift_topics
        from expertise.scoring.text import looks_english, prepare

        engine, lean = self.engine, self.engine.lean
        n = len(texts)
        clean = [prepare(redact(t))[0] for t in texts]
        feats = self.featurizer.transform(clean)
        scores = lean.score_features(feats.X, feats.dense, feats.evidence)
        topic_proba, top_topic = engine.served_topics(scores.topic_proba)
        states = engine.row_states(customer_ids, states)
        own, priors, history = engine.histories(
            scores, top_topic, customer_ids=customer_ids, created_at=created_at, labels=labels,
            topics=topics, external_priors=external_priors, states=states)
        level_p, s2 = lean.level_proba(scores.decision, history, scores.n_tokens)

        # Topics: feedback shifts, ranking, the best topic the knowledge base has.
        shifts = engine.feedback_shifts()
        adjusted = topic_proba if shifts is None else shift_topics(topic_proba, shifts)
        k = min(max(top, 1) + 1, adjusted.shape[1])
        ranked = np.argsort(-adjusted, axis=1, kind="stable")[:, :k]
        served = engine.topic_mask[ranked]
        best = ranked[np.arange(n), served.argmax(axis=1)]
        best_score = adjusted[np.arange(n), best]
        no_match = best_score < engine.topic_threshold

        # Levels: estimate where the text is English and the caller did not opt out.
        english = np.ones(n, dtype=bool)
        for i in np.flatnonzero(feats.maybe_foreign).tolist():
            english[i] = looks_english(clean[i])
        opted = np.array([s.get("status") == "opted_out" for s in states], dtype=bool)
        estimate = english & ~opted
        level_index = level_p.argmax(axis=1)
        confidence = level_p.max(axis=1)
        served_p = np.where(estimate[:, None], level_p, np.array([0.0, 1.0, 0.0]))
        fits = np.column_stack([
            served_p[:, 0] * u[0] + served_p[:, 1] * u[1] + served_p[:, 2] * u[2]
            for u in LEVEL_UTILITY])
        if engine.feedback:
            for t_level, stats in engine.feedback.items():
                slug, _, level = t_level.partition("/")
                if slug in lean.topics and level in LEVELS:
                    at = best == lean.topics.index(slug)
                    j = LEVELS.index(level)
                    fits[at, j] += FEEDBACK_LEVEL_WEIGHT * stats.net
        chosen = fits.argmax(axis=1)
        for i in np.flatnonzero(~self.levels_present[best].all(axis=1)).tolist():
            slug = lean.topics[best[i]]
            choice = choose_level(served_p[i].tolist(), engine.available[slug], topic=slug,
                                  feedback=engine.feedback)
            chosen[i] = LEVELS.index(choice.level)
        low = estimate & (confidence < engine.confidence_threshold)

        reasons = self._reasons(scores, feats.evidence, s2, level_p, priors, best,
                                np.flatnonzero(estimate))
        cols: dict[str, list[Any]] = {}
        est = estimate.tolist()
        cols["expertise_level"] = [LEVELS[k] if e else None
                                   for k, e in zip(level_index.tolist(), est, strict=True)]
        cols["expertise_confidence"] = [round(c, 4) if e else None
                                        for c, e in zip(confidence.tolist(), est, strict=True)]
        p_rows = level_p.tolist()
        for j, level in enumerate(LEVELS):
            cols[f"p_{level}"] = [round(p[j], 4) if e else None
                                  for p, e in zip(p_rows, est, strict=True)]
        best_l, chosen_l = best.tolist(), chosen.tolist()
        cols["topic"] = [lean.topics[t] for t in best_l]
        cols["topic_score"] = [round(s, 4) for s in best_score.tolist()]
        cols["article_id"] = [self.article_id[t, c] for t, c in zip(best_l, chosen_l, strict=True)]
        cols["article_level"] = [LEVELS[c] for c in chosen_l]
        alternatives = []
        extra = (low | ~estimate).tolist()
        ranked_l, served_l, adjusted_top = ranked.tolist(), served.tolist(), \
            np.take_along_axis(adjusted, ranked, axis=1).tolist()
        for i, (t, c) in enumerate(zip(best_l, chosen_l, strict=True)):
            out = list(self.neighbour_ids[t, c])
            limit = top + (2 if extra[i] else 1)
            # the served topics after the best one, as `Engine._alternatives` walks them
            following = [(r, p) for r, ok, p in zip(ranked_l[i], served_l[i], adjusted_top[i],
                                                    strict=True) if ok][1:]
            for r, p in following:
                if len(out) >= limit or p < MIN_ALTERNATIVE_SCORE:
                    break
                out.append(self.next_id[r, c])
            alternatives.append(";".join(out))
        cols["alternatives"] = alternatives
        cols["reasons"] = [";".join(r.replace(";", ",") for r in row) for row in reasons]
        cols["_no_match"] = no_match.tolist()
        return cols, own

    def _reasons(self, scores: Any, evidence: BatchEvidence, s2: np.ndarray, level_p: np.ndarray,
                 priors: list[list[Any]], best: np.ndarray, rows: np.ndarray) -> list[list[str]]:
        """`explain.reasons_for` for the given rows, each figure computed as it computes it."""
        from expertise.config import TOPICS
        from expertise.scoring.reasons import (
            EVIDENCE_TEXT,
            MAX_REASONS,
            MIN_CONTRIBUTION,
            NOTHING_TRIED,
            TECH_QUOTED,
            history_text,
            length_text,
            more,
            tech_text_quoted,
            wording_text,
        )
        from expertise.scoring.text import DENSE_FEATURES

        lean = self.engine.lean
        a = lean.arrays
        n = len(level_p)
        out: list[list[str]] = [[] for _ in range(n)]
        if not len(rows):
            return out
        d = {name: i for i, (name, _) in enumerate(DENSE_FEATURES)}
        level_index = level_p.argmax(axis=1)
        toward = np.array([-1.0, 0.0, 1.0])[level_index]
        dense_scaled = (scores.dense - a["dense_mean"]) / a["dense_scale"]
        dc = dense_scaled * lean.dense_direction
        s2c = s2 * lean.s2_direction
        history_weight = np.zeros(n)
        for j, name in enumerate(lean.stage2_names):
            if name not in ("wording_1", "wording_2", "wording_terse"):
                history_weight = history_weight + s2c[:, j]

        # n-gram contributions, in each row's first-seen order
        X = scores.X
        e_row = np.repeat(np.arange(n), np.diff(X.indptr))
        e_col = X.indices
        contrib = X.data * self.w_dir[e_col]
        quoted = self.quotable[level_index[e_row], e_col]
        tech = quoted & self.lexicon_cols[e_col]
        tech_ngrams = np.bincount(e_row[tech], weights=contrib[tech], minlength=n)
        t_row = toward[e_row]
        plain = quoted & self.plain_cols[e_col] & ((contrib * t_row > 0) | (t_row == 0))
        p_idx, p_rows, p_rank = _top_per_row(np.flatnonzero(plain), e_row, np.abs(contrib), 3)
        wording_sum = np.zeros(n)
        for r in range(3):  # summed strongest first, as `sum` over the sorted list does
            at = p_rank == r
            wording_sum[p_rows[at]] = wording_sum[p_rows[at]] + contrib[p_idx[at]]
        grams = _Grouped(p_rows, [lean.vocabulary[j] for j in e_col[p_idx].tolist()], n)
        has_wording = grams.count() > 0

        value = np.full((n, len(_KINDS)), np.nan)
        applies = np.zeros((n, len(_KINDS)), dtype=bool)
        value[:, _K["tech"]] = dc[:, d["tech_terms"]] + dc[:, d["tech_density"]] + tech_ngrams
        applies[:, _K["tech"]] = True
        has = {kind: evidence.has(kind) for kind in
               ("tech_terms", "specific", "commands", "self_novice", "self_expert", "tried",
                "appearance")}
        value[:, _K["specific"]] = dc[:, d["specific"]] + dc[:, d["digit_share"]]
        applies[:, _K["specific"]] = has["specific"]
        for kind in ("commands", "self_novice", "self_expert", "appearance"):
            value[:, _K[kind]] = dc[:, d[kind]]
            applies[:, _K[kind]] = has[kind]
        value[:, _K["tried"]] = dc[:, d["tried"]]
        applies[:, _K["tried"]] = has["tried"] | (toward < 0)
        length = dc[:, d["n_tokens"]] + dc[:, d["sentence_len"]]
        value[:, _K["length"]] = length
        applies[:, _K["length"]] = True
        short = (length * toward < 0) | (dense_scaled[:, d["n_tokens"]] < 0)
        value[:, _K["wording"]] = 0.5 * wording_sum
        applies[:, _K["wording"]] = has_wording
        value[:, _K["history"]] = history_weight
        applies[:, _K["history"]] = np.array([bool(p) for p in priors], dtype=bool)
        strength = np.where(toward[:, None] != 0, value * toward[:, None], np.abs(value))
        keep = applies & (strength >= MIN_CONTRIBUTION)
        strength = np.where(keep, strength, -np.inf)
        order = np.argsort(-strength, axis=1, kind="stable")[:, :MAX_REASONS]

        # Texts only for the reasons shown; evidence is quoted for the whole batch at once.
        has_tried, is_short, best_l = has["tried"].tolist(), short.tolist(), best.tolist()
        quoted = {kind: evidence.quoted(kind, TECH_QUOTED if kind == "tech_terms"
                                        else EVIDENCE_TEXT[kind][1])
                  for kind in _LIMITS}
        nothing_tried, tech_kind = NOTHING_TRIED, _K["tech"]
        for i, kinds, kept in zip(rows.tolist(), order[rows].tolist(),
                                  np.take_along_axis(keep[rows], order[rows], axis=1).tolist(),
                                  strict=True):
            texts: list[str] = []
            for kind, ok in zip(kinds, kept, strict=True):
                if not ok:
                    break
                if kind == tech_kind:
                    joined, counts = quoted["tech_terms"]
                    texts.append(tech_text_quoted(
                        counts[i], more(joined[i], counts[i], TECH_QUOTED)))
                    continue
                name = _KINDS[kind]
                if name == "tried" and not has_tried[i]:
                    texts.append(nothing_tried)
                elif name == "length":
                    texts.append(length_text(is_short[i]))
                elif name == "wording":
                    texts.append(wording_text(grams.get(i)))
                elif name == "history":
                    slug = lean.topics[best_l[i]]
                    texts.append(history_text(priors[i], TOPICS.get(slug, ("", ""))[0] or None))
                else:
                    template, limit = EVIDENCE_TEXT[name]
                    joined, counts = quoted[name]
                    texts.append(template.format(more(joined[i], counts[i], limit)))
            out[i] = texts
        return out
