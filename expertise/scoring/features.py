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

from expertise.scoring.text import PATTERNS
from expertise.scoring.tokens import STAT_NAMES, Tokenized, WordTable, tokenize

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
#: The kinds of evidence, in the order of `Evidence.counts` columns.
EVIDENCE_KINDS = ("tech_terms", "commands", *(kind for kind, _, _ in PATTERNS))
_CAPS = np.array([SIGNAL_CAPS[kind] for kind in EVIDENCE_KINDS])
#: Wording signals read off the evidence counts: log(1 + count), or the count up to 3.
_LOGGED = np.array([EVIDENCE_KINDS.index(k) for k in
                    ("tech_terms", "specific", "commands", "tried", "appearance")])
_LOGGED_DENSE = np.array([DENSE_INDEX[EVIDENCE_KINDS[j]] for j in _LOGGED])
_CAPPED = np.array([EVIDENCE_KINDS.index(k) for k in ("self_novice", "self_expert")])
_CAPPED_DENSE = np.array([DENSE_INDEX[EVIDENCE_KINDS[j]] for j in _CAPPED])
_N_SUBLINEAR = 64
_SUBLINEAR = np.array([0.0] + [1.0 + math.log(c) for c in range(1, _N_SUBLINEAR)])
_N_LOG1P = 1024
_LOG1P = np.array([math.log1p(c) for c in range(_N_LOG1P)])


def log1p(values: np.ndarray) -> np.ndarray:
    """math.log1p of each value: tabulated for small counts, the same function for others
    (numpy's vectorised log1p may differ in the last bit)."""
    if values.dtype.kind in "iu" and (not values.size or values.max() < _N_LOG1P):
        return _LOG1P[values]
    return np.array([math.log1p(v) for v in values.ravel().tolist()],
                    dtype=np.float64).reshape(values.shape)


class Grouped:
    """Per-row lists of strings, stored flat in row order (`get`), and how many each row has."""

    def __init__(self, rows: np.ndarray, values: list[str], n: int) -> None:
        if len(rows) > 1 and (rows[1:] < rows[:-1]).any():
            order = np.argsort(rows, kind="stable")
            rows, values = rows[order], [values[k] for k in order.tolist()]
        self.values = values
        self.counts = np.bincount(rows, minlength=n)
        self._start: list[int] | None = None

    def get(self, i: int) -> list[str]:
        if self._start is None:  # made once, for the first row that quotes the kind
            self._start = [0, *self.counts.cumsum().tolist()]
        return self.values[self._start[i]:self._start[i + 1]]


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
    """What the wording signals found, per row and kind (`counts`, in the columns of
    `EVIDENCE_KINDS`), the items read only for the rows that quote them."""

    def __init__(self, kinds: dict[str, Grouped]) -> None:
        self.kinds = kinds
        self.counts = np.stack([kinds[kind].counts for kind in EVIDENCE_KINDS], axis=1)

    def signals(self) -> np.ndarray:
        """Per row, how many signals of a level were found, each kind counting at most its
        `SIGNAL_CAPS`."""
        return np.minimum(self.counts, _CAPS).sum(axis=1)

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
    #: the share of a row's words (digits aside) the model's word table knows
    known_share: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def rows(self) -> np.ndarray:
        """Each tf-idf entry's row."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.indptr[1:] - self.indptr[:-1])


def featurize(texts: Sequence[str], words: WordTable, idf: np.ndarray, *,
              backend: str = "auto") -> Features:
    """Features of a batch of prepared texts for a model's word table and idf weights."""
    return features_from_tokens(tokenize(texts, words, backend=backend), words, idf)


def features_from_tokens(tok: Tokenized, words: WordTable, idf: np.ndarray) -> Features:
    t = tok.tokens
    n, raw = t.n, t.raw_id
    trow = t.rows()
    same_row = trow[:-1] == trow[1:]
    indptr, indices, data = _tfidf(t.indptr, trow, t.word_id, same_row, words, idf)

    # evidence: a row's technical words then its two-word terms, commands, pattern matches
    tech_at = (words.in_lexicon[raw] | words.in_lexicon[t.word_id]).nonzero()[0]
    bpair = (words.lex_head[raw][:-1] & words.lex_tail[raw][1:] & same_row).nonzero()[0]
    bpair = bpair[words.lexicon_pairs(raw[bpair], raw[bpair + 1])]
    shown = [s.strip("'.:-") for s in t.orig(tech_at)]
    shown += [f"{words.words[a]} {words.words[b]}" for a, b in
              zip(raw[bpair].tolist(), raw[bpair + 1].tolist(), strict=True)]
    cmd_at = words.command[raw].nonzero()[0]
    kinds = {"tech_terms": Grouped(np.concatenate([trow[tech_at], trow[bpair]]), shown, n),
             "commands": Grouped(trow[cmd_at], [words.words[k] for k in raw[cmd_at].tolist()],
                                 n)}
    kinds.update((kind, Grouped(m.rows, m.texts, n)) for kind, m in tok.matches.items())
    evidence = Evidence(kinds)

    # the wording signals, from each row's counts
    d = DENSE_INDEX
    n_tech = evidence.counts[:, EVIDENCE_KINDS.index("tech_terms")]
    n_tok = t.indptr[1:] - t.indptr[:-1]
    safe_tok = np.maximum(n_tok, 1)
    with_digits = np.bincount(trow[t.digit], minlength=n)
    sentences = tok.stats[:, STAT_NAMES.index("sentences")]
    dense = np.empty((n, len(DENSE_FEATURES)))
    dense[:, _LOGGED_DENSE] = log1p(evidence.counts[:, _LOGGED])
    dense[:, _CAPPED_DENSE] = np.minimum(evidence.counts[:, _CAPPED], 3)
    dense[:, d["n_tokens"]] = log1p(n_tok)
    dense[:, d["tech_density"]] = np.where(n_tok > 0, n_tech / safe_tok, 0.0)
    dense[:, d["sentence_len"]] = log1p(n_tok / np.maximum(1, sentences))
    dense[:, d["digit_share"]] = np.where(n_tok > 0, with_digits / safe_tok, 0.0)
    # words of no language the model knows: another language in Latin script, or junk
    words_n = n_tok - with_digits
    known_n = np.bincount(trow[~t.digit & (raw >= 0)], minlength=n)
    english = tok.english & (known_n * 2 >= words_n) & (words_n > 0)
    known_share = np.where(words_n > 0, known_n / np.maximum(words_n, 1), 1.0)
    return Features(indptr, indices, data, dense, evidence, english, n_tok, known_share)


def _tfidf(a: np.ndarray, trow: np.ndarray, word: np.ndarray, same_row: np.ndarray,
           words: WordTable, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the tf-idf rows (tokens of row i: ``a[i]:a[i + 1]``): each row's unigram
    columns then its two-word columns, in first-seen order."""
    n, n_vocab, n_tok = len(a) - 1, words.n_vocab, len(word)
    uni = ((word >= 0) & (word < n_vocab)).nonzero()[0]
    pair = (words.vocab_head[word][:-1] & words.vocab_tail[word][1:] & same_row).nonzero()[0]
    bi = words.pair_columns(word[pair], word[pair + 1])
    at = np.concatenate([uni, pair[bi >= 0]])  # each entry's (first) token
    if not len(at):
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    # One sort of distinct integers (row, column, token within the row; below 2**63 for any
    # batch that fits in memory) puts a row's entries of one column together, the first one
    # first, and counts them. (A column is a unigram's or a two-word term's, never both.)
    # Built in place: a batch has a million entries.
    longest = int((a[1:] - a[:-1]).max())
    rows = trow[at]
    key = rows * n_vocab
    key += np.concatenate([word[uni], bi[bi >= 0]])
    key *= longest
    key += at
    key -= a[rows]
    del uni, pair, bi, at, rows
    key.sort()
    group, within = np.divmod(key, longest)
    del key
    starts = np.concatenate([[0], (group[1:] != group[:-1]).nonzero()[0] + 1])
    count = np.concatenate([starts[1:], [len(group)]]) - starts
    rows, cols = np.divmod(group[starts], n_vocab)
    at = within[starts]
    del group, within, starts
    at += a[rows]
    # In first-seen order: each row's unigrams, then its two-word terms, each by (first)
    # token; a row's tokens [a, b) place its unigrams in [2a, a + b), its terms in [a + b, 2b).
    place = np.where(cols != word[at], a[rows + 1], a[rows])
    place += at
    del at
    slot = np.full(2 * n_tok, -1)
    slot[place] = np.arange(len(place))
    del place
    order = slot[slot >= 0]
    del slot
    e_rows, e_cols, count = rows[order], cols[order], count[order]
    del rows, cols, order
    if count.max() >= _N_SUBLINEAR:
        tf = np.array([1.0 + math.log(c) for c in count.tolist()])
    else:
        tf = _SUBLINEAR[count]
    values = tf * idf[e_cols]
    norm = np.sqrt(np.bincount(e_rows, weights=values * values, minlength=n))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(e_rows, minlength=n), out=indptr[1:])
    return indptr, e_cols, values / norm[e_rows]
