"""Topic choice and level choice for a batch, as arrays.

Topic probabilities come from the model (lexical retrieval fused with the supervised topic
model); here the product a message is addressed to tilts them towards its area, agents'
feedback shifts them, and the best topic the knowledge base has is chosen (the model says
when no topic fits: "no good match"). The served level maximises expected
fit, sum over true levels of p(true) x U(served, true) (DESIGN.md), among the levels the topic
has; feedback on an article moves its level's fit a little.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from expertise.config import (
    DOMAINS,
    LEVEL_UTILITY,
    LEVELS,
    MIN_TOPIC_SCORE,
    NONE_THRESHOLD,
    PRODUCT_TILT,
    PRODUCT_WORDS,
)

#: How strongly feedback moves a topic (log-odds per unit of net helpfulness).
FEEDBACK_TOPIC_WEIGHT = 0.4
#: How strongly feedback moves the expected fit of one article's level.
FEEDBACK_LEVEL_WEIGHT = 0.15
#: Pseudo-count: feedback needs a few votes before it moves anything much.
FEEDBACK_PRIOR = 5.0
#: Next topics below this probability are not worth the agent's attention.
MIN_ALTERNATIVE_SCORE = 0.02
_UTILITY = np.asarray(LEVEL_UTILITY, dtype=np.float64)
_LEVEL_AXIS = np.arange(len(LEVELS))[None, :]


@dataclass(frozen=True)
class FeedbackStats:
    """Helpful and not-helpful counts of one article."""

    helpful: int = 0
    not_helpful: int = 0

    @property
    def net(self) -> float:
        """In (-1, 1): shrunk towards 0 while there are few votes."""
        votes = self.helpful + self.not_helpful
        return (self.helpful - self.not_helpful) / (votes + FEEDBACK_PRIOR)


@dataclass(frozen=True)
class Catalogue:
    """What the knowledge base offers, in the model's topic order.

    ``levels_present[t, l]``: topic t has an article at level l; ``article_ids[t][l]`` its
    id (None where absent). Topics the model knows but the knowledge base lacks are never
    served.
    """

    topics: tuple[str, ...]
    levels_present: np.ndarray
    article_ids: tuple[tuple[str | None, ...], ...]

    @property
    def served(self) -> np.ndarray:
        return np.asarray(self.levels_present.any(axis=1))

    @cached_property
    def present(self) -> list[list[bool]]:
        """`levels_present` as lists."""
        return self.levels_present.tolist()

    @cached_property
    def first_level(self) -> list[int]:
        """Each topic's simplest level present: served where the chosen level is absent."""
        return self.levels_present.argmax(axis=1).tolist()

    @classmethod
    def build(cls, topics: Sequence[str], available: Mapping[str, Sequence[str]],
              article_id: Mapping[tuple[str, str], str]) -> Catalogue:
        present = np.zeros((len(topics), len(LEVELS)), dtype=bool)
        ids: list[tuple[str | None, ...]] = []
        for t, slug in enumerate(topics):
            have = set(available.get(slug, ()))
            present[t] = [lv in have for lv in LEVELS]
            ids.append(tuple(article_id.get((slug, lv)) for lv in LEVELS))
        return cls(tuple(topics), present, tuple(ids))


def topic_shifts(catalogue: Catalogue, feedback: Mapping[str, FeedbackStats]) -> np.ndarray:
    """Each topic's log-odds shift: the weighted mean net helpfulness of its articles."""
    shift = np.zeros(len(catalogue.topics))
    for t, slug in enumerate(catalogue.topics):
        nets = [feedback[f"{slug}/{lv}"].net
                for lv, here in zip(LEVELS, catalogue.levels_present[t].tolist(), strict=True)
                if here and f"{slug}/{lv}" in feedback]
        if nets:
            shift[t] = FEEDBACK_TOPIC_WEIGHT * (sum(nets) / len(nets))
    return shift


def level_shifts(catalogue: Catalogue, feedback: Mapping[str, FeedbackStats]) -> np.ndarray:
    """(T, 3): how feedback moves the expected fit of each topic's article at each level."""
    out = np.zeros((len(catalogue.topics), len(LEVELS)))
    for t, slug in enumerate(catalogue.topics):
        for j, lv in enumerate(LEVELS):
            stats = feedback.get(f"{slug}/{lv}")
            if stats is not None:
                out[t, j] = FEEDBACK_LEVEL_WEIGHT * stats.net
    return out


def shift_topics(proba: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Rows of topic probabilities (n, T) moved by per-topic log-odds shifts, renormalised."""
    logits = np.log(np.maximum(proba, 1e-12)) + shifts
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def product_areas(products: Sequence[str | None]) -> np.ndarray:
    """Each row's areas from its product column, as a bit mask over `config.DOMAINS` (bit k
    for area k; 0 for none): those of the first group of `config.PRODUCT_WORDS` with a word or
    phrase in the value. A cable company sells home internet and TV, so its name sets both."""
    out = np.zeros(len(products), dtype=np.int64)
    cache: dict[str, int] = {}
    for i, value in enumerate(products):
        if not value:
            continue
        if value not in cache:
            words = " " + " ".join(re.findall(r"[a-z0-9+-]+", value.lower())) + " "
            squashed = words.replace(" ", "")
            cache[value] = next((sum(1 << DOMAINS.index(area) for area in group)
                                 for group, keys in PRODUCT_WORDS
                                 if any(f" {k} " in words or (len(k) >= 4 and k in squashed)
                                        for k in keys)), 0)
        out[i] = cache[value]
    return out


def tilt_topics(proba: np.ndarray, areas: np.ndarray, topic_areas: np.ndarray) -> np.ndarray:
    """Rows of topic probabilities with the topics of each row's product areas (a bit mask,
    `product_areas`) made `config.PRODUCT_TILT` times as likely (rows of no area unchanged),
    renormalised. `topic_areas` is each topic's area index (-1 for none)."""
    rows = np.flatnonzero(areas)
    if not len(rows):
        return proba
    out = proba.copy()
    hit = (areas[rows, None] >> np.maximum(topic_areas[None, :], 0)) & 1
    boost = np.where((topic_areas[None, :] >= 0) & (hit == 1), PRODUCT_TILT, 1.0)
    tilted = out[rows] * boost
    out[rows] = tilted / np.maximum(tilted.sum(axis=1, keepdims=True), 1e-300)
    return out


def flag_no_match(none_p: np.ndarray, best_score: np.ndarray, *,
                  none_threshold: float = NONE_THRESHOLD) -> np.ndarray:
    """"No good match": the out-of-scope class is sure enough, or no topic stands out (the
    best topic's probability, given that a topic fits, is under `config.MIN_TOPIC_SCORE`)."""
    return (none_p >= none_threshold) | (best_score < MIN_TOPIC_SCORE)


def rank_topics(proba: np.ndarray, served: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of each row's k most probable served topics, best first; equal scores
    keep the topics' order."""
    masked = np.where(served, proba, -np.inf)
    k = min(max(1, k), int(served.sum()) or 1)
    return np.argsort(-masked, axis=1, kind="stable")[:, :k]


@dataclass
class LevelChoice:
    """The served level of each row, by expected fit, among the levels its topic has."""

    chosen: np.ndarray  # (n,) level index served
    preferred: np.ndarray  # (n,) best level had every level been present
    fits: np.ndarray  # (n, 3) expected fit of each level

    @property
    def fallback(self) -> np.ndarray:
        return self.chosen != self.preferred


def choose_levels(level_p: np.ndarray, present: np.ndarray, shifts: np.ndarray | None = None,
                  utility: Sequence[Sequence[float]] = LEVEL_UTILITY) -> LevelChoice:
    """Expected fit sum_t p(t) U(served, t) (+ feedback shifts) per served level; the best
    present level, ties going to the level nearest the preferred one, then the simpler."""
    u = _UTILITY if utility is LEVEL_UTILITY else np.asarray(utility, dtype=np.float64)
    fits = level_p[:, :1] * u[:, 0] + level_p[:, 1:2] * u[:, 1] + level_p[:, 2:] * u[:, 2]
    if shifts is not None:
        fits = fits + shifts
    preferred = fits.argmax(axis=1)
    present = present | ~present.any(axis=1, keepdims=True)  # no article at all: any level
    masked = np.where(present, fits, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    distance = np.abs(_LEVEL_AXIS - preferred[:, None])
    candidates = present & (masked == best)
    chosen = np.where(candidates, distance, len(LEVELS)).argmin(axis=1)
    return LevelChoice(chosen, preferred, fits)


def neighbours(level: int, present: Sequence[bool]) -> list[int]:
    """The levels one step down and up from `level` that are present, simpler first."""
    return [j for j in (level - 1, level + 1) if 0 <= j < len(LEVELS) and present[j]]
