"""Plain-language reasons for the level estimates of a batch, from the model's own terms.

Every reason names a signal whose contribution (input times coefficient, in the direction of
the estimate) is among the largest for its row, so no reason is shown that the model did not
use; contributions are measured against the average training ticket (inputs are
standardised). Strengths are computed for the whole batch as arrays; the text of a reason is
built only for the reasons shown.

These are the agent's reasons for one estimate; the customer's own statement of what is used
about them is `expertise.rights.disclosure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from expertise.scoring.features import DENSE_INDEX, EVIDENCE_KINDS, Features, Grouped
from expertise.scoring.history import BatchHistory

MIN_CONTRIBUTION = 0.12
MAX_REASONS = 4
#: How many technical terms a reason quotes.
TECH_QUOTED = 3
#: Evidence quoted by a reason: (template, how many items it quotes).
EVIDENCE_TEXT = {
    "specific": ("quoted exact details: {}", 3),
    "commands": ("ran or named diagnostics: {}", 3),
    "self_novice": ("said {}", 1),
    "self_expert": ("said {}", 1),
    "tried": ("already tried: {}", 3),
    "appearance": ("described equipment by how it looks: {}", 2),
}
NOTHING_TRIED = "mentions nothing tried yet"
#: The reasons considered, in the order they are offered (equal strengths keep this order).
KINDS = ("tech", "specific", "commands", "self_novice", "self_expert", "tried", "appearance",
         "length", "wording", "history")
_K = {kind: k for k, kind in enumerate(KINDS)}
_TOWARD = np.array([-1.0, 0.0, 1.0])
_SIGN = _TOWARD.astype(np.int8)
#: Reasons that weigh one wording signal alone (its contribution), in `KINDS` columns and
#: `DENSE_INDEX` columns; and those that apply only where their evidence was found.
_ONE_SIGNAL_NAMES = ("commands", "self_novice", "self_expert", "tried", "appearance")
_ONE_SIGNAL = np.array([_K[kind] for kind in _ONE_SIGNAL_NAMES])
_ONE_SIGNAL_DENSE = np.array([DENSE_INDEX[kind] for kind in _ONE_SIGNAL_NAMES])
_FOUND = ("specific", *_ONE_SIGNAL_NAMES)
_FOUND_K = np.array([_K[kind] for kind in _FOUND])
_FOUND_EVIDENCE = np.array([EVIDENCE_KINDS.index(kind) for kind in _FOUND])


def join_quoted(items: Sequence[str]) -> str:
    """Items joined for a reason; those of several words in quotes."""
    return ", ".join(f"'{s}'" if " " in s else s for s in items)


def quote(items: Sequence[str], limit: int) -> str:
    """The first `limit` items, joined, with a mark when some are left out."""
    items = list(items)
    return join_quoted(items[:limit]) + (", ..." if len(items) > limit else "")


def tech_text(terms: Sequence[str]) -> str:
    n = len(terms)
    if not n:
        return "used no technical terms"
    return f"named {n} technical term{'s' if n > 1 else ''}: {quote(terms, TECH_QUOTED)}"


def evidence_text(kind: str, items: Sequence[str]) -> str:
    template, limit = EVIDENCE_TEXT[kind]
    return template.format(quote(items, limit))


def length_text(short: bool) -> str:
    return "a short, plain message" if short else "a long, detailed message"


def wording_text(grams: Sequence[str]) -> str:
    return f"wording such as {quote(grams, 3)}"


def batch_reasons(lean: Any, f: Features, dense_scaled: np.ndarray, level_p: np.ndarray,
                  hist: BatchHistory, area: np.ndarray, rows: np.ndarray) -> list[list[str]]:
    """Up to MAX_REASONS reasons, strongest first, for each of `rows` (others get none).

    Wording reasons weigh the stage-1 contributions (`dense_scaled`: the standardised wording
    signals); the history reason, how far the earlier tickets' evidence favours the estimated
    level over the next best.
    """
    n = f.n
    out: list[list[str]] = [[] for _ in range(n)]
    if not len(rows):
        return out
    d = DENSE_INDEX
    level_index = level_p.argmax(axis=1)
    # +1 pushes towards expert, -1 towards novice; for intermediate any strong signal counts,
    # since the middle level is where pulls up and pulls down meet
    toward = _TOWARD[level_index]
    dc = dense_scaled * lean.dense_direction

    # n-gram contributions, in each row's entry order
    e_row, e_col = f.rows(), f.indices
    contrib = f.data * lean.w_direction[e_col]
    quoted = lean.quotable[level_index[e_row], e_col]
    lexicon = lean.words.in_lexicon[e_col]  # a column's word is in the lexicon
    tech = quoted & lexicon
    sign = _SIGN[level_index][e_row]  # the estimate's direction, per entry
    plain = (quoted & ~lexicon & lean.quotable[1][e_col]
             & ((sign == 0) | ((sign > 0) & (contrib > 0)) | ((sign < 0) & (contrib < 0))))
    p_idx, p_rows = _top_per_row(plain.nonzero()[0], e_row, np.abs(contrib), 3)
    grams = Grouped(p_rows, [lean.vocabulary[j] for j in e_col[p_idx].tolist()], n)

    value = np.zeros((n, len(KINDS)))
    value[:, _K["tech"]] = (dc[:, d["tech_terms"]] + dc[:, d["tech_density"]]
                            + np.bincount(e_row[tech], weights=contrib[tech], minlength=n))
    value[:, _K["specific"]] = dc[:, d["specific"]] + dc[:, d["digit_share"]]
    value[:, _ONE_SIGNAL] = dc[:, _ONE_SIGNAL_DENSE]
    length = dc[:, d["n_tokens"]] + dc[:, d["sentence_len"]]
    value[:, _K["length"]] = length
    # the three strongest, summed strongest first (`np.bincount` adds in input order)
    value[:, _K["wording"]] = 0.5 * np.bincount(p_rows, weights=contrib[p_idx], minlength=n)
    strength = np.where(toward[:, None] != 0, value * toward[:, None], np.abs(value))
    ev = f.evidence
    found = ev.counts[:, _FOUND_EVIDENCE] > 0
    applies = np.ones((n, len(KINDS)), dtype=bool)
    applies[:, _FOUND_K] = found
    applies[:, _K["tried"]] |= toward < 0
    applies[:, _K["wording"]] = grams.counts > 0
    applies[:, _K["history"]] = hist.n_before > 0
    if applies[:, _K["history"]].any():
        # history is measured as support for the estimate itself, whatever the level
        rest = hist.evidence.copy()
        rest[np.arange(n), level_index] = -np.inf
        strength[:, _K["history"]] = (hist.evidence[np.arange(n), level_index]
                                      - rest.max(axis=1))
    keep = applies & (strength >= MIN_CONTRIBUTION)
    order = np.argsort(-np.where(keep, strength, -np.inf), axis=1, kind="stable")[:, :MAX_REASONS]

    short = (length * toward < 0) | (dense_scaled[:, d["n_tokens"]] < 0)
    tried = found[:, _FOUND.index("tried")]
    for i, kinds in zip(rows.tolist(), order[rows].tolist(), strict=True):
        texts: list[str] = []
        for k in kinds:
            if not keep[i, k]:
                break
            name = KINDS[k]
            if name == "tech":
                texts.append(tech_text(ev.items(i, "tech_terms")))
            elif name == "tried" and not tried[i]:
                texts.append(NOTHING_TRIED)
            elif name == "length":
                texts.append(length_text(bool(short[i])))
            elif name == "wording":
                texts.append(wording_text(grams.get(i)))
            elif name == "history":
                texts.append(hist.text(i, int(area[i])))
            else:
                texts.append(evidence_text(name, ev.items(i, name)))
        out[i] = texts
    return out


def _top_per_row(idx: np.ndarray, row: np.ndarray, key: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The k entries of largest `key` in each row (ties: the earlier entry), as (entries,
    rows) sorted by row and rank; `idx` lists the candidate entries in row order.

    k rounds of a per-row maximum (`np.maximum.reduceat` over each row's candidates), which
    is exact whatever the batch, rather than a sort of every candidate.
    """
    chosen: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    left = idx
    for r in range(k):
        if not len(left):
            break
        rows = row[left]
        new = _changes(rows)
        vals = key[left]
        at_max = vals == np.maximum.reduceat(vals, new.nonzero()[0])[new.cumsum() - 1]
        hits = at_max.nonzero()[0]
        first = hits[_changes(rows[hits])]  # each row's first entry at its maximum
        chosen.append(left[first])
        ranks.append(np.full(len(first), r))
        keep = np.ones(len(left), dtype=bool)
        keep[first] = False
        left = left[keep]
    entries = np.concatenate(chosen) if chosen else idx[:0]
    order = np.lexsort((np.concatenate(ranks), row[entries])) if chosen else idx[:0]
    return entries[order], row[entries][order]


def _changes(values: np.ndarray) -> np.ndarray:
    """True where a sorted array's value differs from the one before (and at the start)."""
    out = np.empty(len(values), dtype=bool)
    out[:1] = True
    out[1:] = values[1:] != values[:-1]
    return out
