"""Plain-language reasons for a level estimate, derived from the model's own contributions.

Every reason names a signal whose contribution (input times coefficient, in the direction of
the estimate) is among the largest for this ticket, so no reason is shown that the model did not
use. Contributions are measured against the average training ticket (inputs are standardised).
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Sequence

import numpy as np

from expertise.config import LEVELS
from expertise.scoring.history import HISTORY_FEATURES, PriorTicket
from expertise.scoring.text import DENSE_FEATURES, Evidence, is_stopword

MIN_CONTRIBUTION = 0.12
MAX_REASONS = 4
_DENSE_INDEX = {name: i for i, (name, _) in enumerate(DENSE_FEATURES)}
_HIST_INDEX = {name: i for i, (name, _) in enumerate(HISTORY_FEATURES)}


def _quote(items: Sequence[str], limit: int = 3) -> str:
    items = list(items)
    return more(join_quoted(items[:limit]), len(items), limit)


def join_quoted(items: Sequence[str]) -> str:
    """Items joined for a reason; those of several words in quotes."""
    return ", ".join(f"'{s}'" if " " in s else s for s in items)


def more(shown: str, count: int, limit: int) -> str:
    """The first `limit` of `count` items, joined, and a mark when some are left out."""
    return shown + (", ..." if count > limit else "")


#: How many technical terms a reason quotes.
TECH_QUOTED = 3


def _first_max(counts: list[int]) -> int:
    """Index of the first largest count (as numpy's argmax), without numpy's per-call cost."""
    return max(range(len(counts)), key=counts.__getitem__)


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


def tech_text(terms: Sequence[str]) -> str:
    return tech_text_quoted(len(terms), _quote(terms, TECH_QUOTED))


def tech_text_quoted(n: int, quoted: str) -> str:
    """`tech_text` of n terms whose quoted form (`_quote`) is given."""
    if not n:
        return "used no technical terms"
    return f"named {n} technical term{'s' if n > 1 else ''}: {quoted}"


def evidence_text(kind: str, items: Sequence[str]) -> str:
    template, limit = EVIDENCE_TEXT[kind]
    return template.format(_quote(items, limit))


def length_text(short: bool) -> str:
    return "a short, plain message" if short else "a long, detailed message"


def wording_text(grams: Sequence[str]) -> str:
    return f"wording such as {_quote(grams)}"


def history_text(prior: Sequence[PriorTicket], domain: str | None) -> str:
    counts = [0, 0, 0]
    for p in prior:
        counts[int(round(min(2.0, max(0.0, p.level_score))))] += 1
    n = len(prior)
    main = _first_max(counts)
    word = "ticket" if n == 1 else "tickets"
    text = f"{n} earlier {word}, {counts[main]} read as {LEVELS[main]}"
    same = [p for p in prior if domain and p.domain == domain]
    if same and len(same) < n:
        dom_counts = [0, 0, 0]
        for p in same:
            dom_counts[int(round(min(2.0, max(0.0, p.level_score))))] += 1
        text += f"; in this area ({domain}) mostly {LEVELS[_first_max(dom_counts)]}"
    return text


def plain_term(ngram: str, lexicon: frozenset[str]) -> bool:
    """An n-gram worth quoting as wording: not a technical term, not only stopwords, and no
    digit shapes (a folded "by 0" means nothing to an agent; exact details have their own
    reason)."""
    return (ngram not in lexicon and len(ngram) > 3
            and not any(c.isdigit() for c in ngram)
            and not all(is_stopword(w) for w in ngram.split()))


def reasons_for(
    *,
    level_index: int,
    dense_scaled: np.ndarray,
    w_dense: np.ndarray,
    ngram_contrib: list[tuple[str, float]],
    lexicon: frozenset[str],
    evidence: Evidence,
    s2_scaled: np.ndarray,
    s2_coef: np.ndarray,
    s2_names: Sequence[str],
    prior: Sequence[PriorTicket],
    domain: str | None,
    plain_terms: Container[str] | None = None,
    s2_dir: np.ndarray | None = None,
    dense_dir: np.ndarray | None = None,
) -> list[str]:
    """Up to MAX_REASONS plain-language reasons, strongest first.

    `plain_terms` may hold, precomputed, the n-grams that `plain_term` accepts (a batch
    passes the vocabulary's), and `s2_dir` and `dense_dir` the mean coefficients
    (``s2_coef.mean(axis=0)``, ``w_dense.mean(axis=1)``); the result is the same.
    """
    # +1 pushes towards expert, -1 towards novice; for intermediate take what pulls to the middle.
    toward = {0: -1.0, 1: 0.0, 2: 1.0}[level_index]
    if s2_dir is None:
        s2_dir = s2_coef.mean(axis=0)
    # Python floats multiply exactly as numpy's float64 scalars do, at a fraction of the cost.
    s2_contrib = {name: z * w for name, z, w in zip(s2_names, s2_scaled.tolist(),
                                                     s2_dir.tolist(), strict=True)}
    history_weight = sum(v for k, v in s2_contrib.items() if k not in ("wording_1", "wording_2",
                                                                         "wording_terse"))
    # Stage-1 contributions, scaled by how much stage 2 leans on wording.
    if dense_dir is None:
        dense_dir = w_dense.mean(axis=1)
    scaled_list, dir_list = dense_scaled.tolist(), dense_dir.tolist()
    dense_c = {name: scaled_list[i] * dir_list[i] for name, i in _DENSE_INDEX.items()}
    tech_ngrams = sum(c for g, c in ngram_contrib if g in lexicon)
    candidates: list[tuple[float, str]] = []

    def add(value: float, text: str) -> None:
        if not text:
            return
        # Towards the estimate for novice or expert; for intermediate, any strong signal, since
        # the middle level is where pulls up and pulls down meet.
        strength = value * toward if toward else abs(value)
        if strength >= MIN_CONTRIBUTION:
            candidates.append((strength, text))

    tech_value = dense_c["tech_terms"] + dense_c["tech_density"] + tech_ngrams
    add(tech_value, tech_text(evidence.tech_terms))
    if evidence.specific:
        add(dense_c["specific"] + dense_c["digit_share"],
            evidence_text("specific", evidence.specific))
    for kind in ("commands", "self_novice", "self_expert"):
        if getattr(evidence, kind):
            add(dense_c[kind], evidence_text(kind, getattr(evidence, kind)))
    if evidence.tried:
        add(dense_c["tried"], evidence_text("tried", evidence.tried))
    elif toward < 0:
        add(dense_c["tried"], NOTHING_TRIED)
    if evidence.appearance:
        add(dense_c["appearance"], evidence_text("appearance", evidence.appearance))
    length = dense_c["n_tokens"] + dense_c["sentence_len"]
    add(length, length_text(length * toward < 0 or dense_scaled[8] < 0))
    # heapq.nsmallest equals sorted(...)[:3], ties included.
    if plain_terms is None:
        other = [(g, c) for g, c in ngram_contrib
                 if (c * toward > 0 or not toward) and plain_term(g, lexicon)]
    else:
        other = [(g, c) for g, c in ngram_contrib
                 if (c * toward > 0 or not toward) and g in plain_terms]
    strength = [-abs(c) for _, c in other]
    other = [other[k] for k in heapq.nsmallest(3, range(len(other)), key=strength.__getitem__)]
    if other:
        # Word choice is the weakest kind of reason for an agent: it ranks after the others.
        add(0.5 * sum(c for _, c in other), wording_text([g for g, _ in other]))
    if prior:
        add(history_weight, history_text(prior, domain))
    candidates.sort(key=lambda x: -x[0])
    return [text for _, text in candidates[:MAX_REASONS]]
