"""Features of a batch, from its tokens: tf-idf rows as CSR arrays, wording signals, evidence.

Written once over arrays (`expertise.scoring.tokens` makes the arrays): the n-gram model's
tf-idf rows (unigram columns of the digit-shaped tokens, then two-word columns, each row's
entries in first-seen order, sublinear term frequency, l2-normalised), the dense wording
signals of :data:`DENSE_FEATURES` counted per row, and the evidence reasons quote. Every sum
runs over one row's entries in a fixed order, so a text gets the same features bit for bit
in a batch of one or of a million.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from expertise.scoring.tokens import STAT_NAMES, Tokenized, WordTable, first_seen, tokenize

#: Names and plain-language labels of the dense wording features, in order.
DENSE_FEATURES: tuple[tuple[str, str], ...] = (
    ("tech_terms", "technical terms named"),
    ("tech_density", "share of technical words"),
    ("specific", "exact details quoted (codes, versions, addresses, units)"),
    ("commands", "diagnostic commands named"),
    ("self_novice", "said they are not confident with technology"),
    ("self_expert", "said they work with technology"),
    ("tried", "troubleshooting already tried"),
    ("appearance", "described equipment by how it looks"),
    ("n_tokens", "length of the ticket"),
    ("sentence_len", "length of sentences"),
    ("digit_share", "share of words with digits"),
)
#: How many signals of each kind count towards a ticket's evidence at most: evidence
#: saturates, so repeating a term or quoting ten versions buys no more certainty.
SIGNAL_CAPS: dict[str, int] = {
    "tech_terms": 3, "specific": 2, "commands": 2, "self_novice": 2, "self_expert": 2,
    "tried": 2, "appearance": 2,
}
DENSE_INDEX = {name: i for i, (name, _) in enumerate(DENSE_FEATURES)}
#: Kinds of evidence and how many distinct items of each a row keeps.
EVIDENCE_LIMITS: dict[str, int] = {
    "tech_terms": 6, "specific": 6, "commands": 6, "self_novice": 2, "self_expert": 2,
    "tried": 4, "appearance": 2,
}
_N_SUBLINEAR = 64
_SUBLINEAR = np.array([0.0] + [1.0 + math.log(c) for c in range(1, _N_SUBLINEAR)])
_N_LOG1P = 1024
_LOG1P = np.array([math.log1p(c) for c in range(_N_LOG1P)])


def log1p(values: np.ndarray) -> np.ndarray:
    """math.log1p of each value: tabulated for small counts, the same function for others
    (numpy's vectorised log1p may differ in the last bit)."""
    if values.dtype.kind in "iu" and (not values.size or values.max() < _N_LOG1P):
        return _LOG1P[values]
    return np.array([math.log1p(v) for v in values.tolist()], dtype=np.float64)


class Grouped:
    """Per-row lists of strings, stored flat: row i's items are values[start[i]:start[i+1]]."""

    def __init__(self, rows: np.ndarray, values: list[str], n: int) -> None:
        if len(rows) > 1 and (rows[1:] < rows[:-1]).any():
            order = np.argsort(rows, kind="stable")
            values = [values[k] for k in order.tolist()]
        self.values = list(values)
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=start[1:])
        self.counts = np.diff(start)
        self.start = start.tolist()

    def get(self, i: int) -> list[str]:
        return self.values[self.start[i]:self.start[i + 1]]


def distinct(items: Sequence[str], limit: int) -> list[str]:
    """The first `limit` distinct items (ignoring case and surrounding spaces), stripped."""
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = item.strip()
        key = item.lower()
        if item and key not in seen:
            out.append(item)
            seen.add(key)
            if len(out) >= limit:
                break
    return out


class Evidence:
    """What the wording signals found, per row and kind, read only for the rows that quote it."""

    def __init__(self, n: int, kinds: dict[str, Grouped]) -> None:
        self.n = n
        self.kinds = kinds

    def signals(self) -> np.ndarray:
        """Per row, how many signals of a level were found, each kind counting at most its
        `SIGNAL_CAPS` (in the order of the kinds, so every batch adds them the same way)."""
        total = np.zeros(self.n, dtype=np.int64)
        for kind, group in self.kinds.items():
            total += np.minimum(group.counts, SIGNAL_CAPS[kind])
        return total

    def has(self, kind: str) -> np.ndarray:
        """Per row, whether anything of this kind was found."""
        return self.kinds[kind].counts > 0

    def items(self, i: int, kind: str) -> list[str]:
        """Row i's evidence of one kind: distinct (ignoring case), at most its limit."""
        return distinct(self.kinds[kind].get(i), EVIDENCE_LIMITS[kind])


@dataclass
class Features:
    """A batch's tf-idf rows (CSR arrays), dense wording signals, evidence and language."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    dense: np.ndarray
    evidence: Evidence
    english: np.ndarray
    n_tokens: np.ndarray

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def rows(self) -> np.ndarray:
        """Each tf-idf entry's row."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))


def featurize(texts: Sequence[str], words: WordTable, idf: np.ndarray, *,
              backend: str = "auto") -> Features:
    """Features of a batch of prepared texts for a model's word table and idf weights."""
    return features_from_tokens(tokenize(texts, words, backend=backend), words, idf)


def features_from_tokens(tok: Tokenized, words: WordTable, idf: np.ndarray) -> Features:
    t = tok.tokens
    n = t.n
    trow = t.rows()
    same_row = trow[:-1] == trow[1:] if len(trow) else np.zeros(0, dtype=bool)
    indptr, indices, data = _tfidf(n, trow, t.word_id, same_row, words, idf)

    # wording signals, counted per row
    tech = words.in_lexicon[t.raw_id] | words.in_lexicon[t.word_id]
    bpair = np.flatnonzero(words.lex_head[t.raw_id][:-1] & words.lex_tail[t.raw_id][1:]
                           & same_row)
    bpair = bpair[words.lexicon_pairs(t.raw_id[bpair], t.raw_id[bpair + 1])]
    bigram_tech = [f"{words.words[a]} {words.words[b]}" for a, b in
                   zip(t.raw_id[bpair].tolist(), t.raw_id[bpair + 1].tolist(), strict=True)]
    n_tech = np.bincount(trow[tech], minlength=n) + np.bincount(trow[bpair], minlength=n)
    is_cmd = words.command[t.raw_id]
    n_tok = np.diff(t.indptr)
    with_digits = np.bincount(trow[t.digit], minlength=n)
    found = {kind: np.bincount(m.rows, minlength=n) for kind, m in tok.matches.items()}
    stats = {name: tok.stats[:, j] for j, name in enumerate(STAT_NAMES)}

    tech_at = np.flatnonzero(tech)
    shown = [s.strip("'.:-") for s in t.orig(tech_at)]
    # a row's technical words, then its two-word terms
    tech_rows = np.concatenate([trow[tech_at], trow[bpair]])
    kinds = {"tech_terms": Grouped(tech_rows, shown + bigram_tech, n),
             "commands": Grouped(trow[is_cmd], [words.words[k] for k in t.raw_id[is_cmd]], n)}
    for kind, m in tok.matches.items():
        kinds[kind] = Grouped(m.rows, m.texts, n)

    n_f = n_tok.astype(np.float64)
    safe_tok = np.maximum(n_tok, 1)
    dense = np.column_stack([
        log1p(n_tech),
        np.where(n_tok > 0, n_tech / safe_tok, 0.0),
        log1p(found["specific"]),
        log1p(np.bincount(trow[is_cmd], minlength=n)),
        np.minimum(found["self_novice"], 3).astype(np.float64),
        np.minimum(found["self_expert"], 3).astype(np.float64),
        log1p(found["tried"]),
        log1p(found["appearance"]),
        log1p(n_tok),
        log1p(n_f / np.maximum(1, stats["sentences"])),
        np.where(n_tok > 0, with_digits / safe_tok, 0.0),
    ]).reshape(n, len(DENSE_FEATURES))
    # words of no language the model knows: another language in Latin script, or junk
    alpha = ~t.digit
    words_n = np.bincount(trow[alpha], minlength=n)
    known_n = np.bincount(trow[alpha & (t.raw_id >= 0)], minlength=n)
    english = tok.english & (known_n * 2 >= words_n) & (words_n > 0)
    return Features(indptr, indices, data, dense, Evidence(n, kinds), english, n_tok)


def _tfidf(n: int, trow: np.ndarray, word: np.ndarray, same_row: np.ndarray,
           words: WordTable, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the tf-idf rows: each row's unigram columns then its two-word columns,
    in first-seen order."""
    n_vocab = words.n_vocab
    uni = (word >= 0) & (word < n_vocab)
    pair = np.flatnonzero(words.vocab_head[word][:-1] & words.vocab_tail[word][1:] & same_row)
    bi = words.pair_columns(word[pair], word[pair + 1])
    u_rows, u_cols = trow[uni], word[uni]
    b_rows, b_cols = trow[pair[bi >= 0]], bi[bi >= 0]
    if not len(u_rows) and not len(b_rows):
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    # each row's unigram entries, then its two-word entries, each part in token order
    rows = np.concatenate([u_rows, b_rows])
    cols = np.concatenate([u_cols, b_cols])
    part = np.concatenate([np.zeros(len(u_rows), dtype=np.int64),
                           np.ones(len(b_rows), dtype=np.int64)])
    inter = np.argsort(rows * 2 + part, kind="stable")
    rows, cols, part = rows[inter], cols[inter], part[inter]
    # distinct (row, part, column) entries, in first-seen order
    first, count = first_seen((rows * 2 + part) * n_vocab + cols)
    e_rows, e_cols = rows[first], cols[first]
    if count.max() >= _N_SUBLINEAR:
        tf = np.array([1.0 + math.log(c) for c in count.tolist()])
    else:
        tf = _SUBLINEAR[count]
    values = tf * idf[e_cols]
    norm = np.sqrt(np.bincount(e_rows, weights=values * values, minlength=n))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(e_rows, minlength=n), out=indptr[1:])
    return indptr, e_cols, values / norm[e_rows]
