"""Topic choice and level choice.

Topic probabilities come from the lean model (lexical retrieval fused with the supervised topic
model, `lean.fuse_topics`); here they are adjusted by agents' feedback and cut at a threshold
below which the answer is "no good match". The served level maximises expected fit under the
level probabilities (DESIGN.md), among the levels the topic has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from expertise.config import LEVEL_UTILITY, LEVELS

#: How strongly feedback moves a topic (log-odds per unit of net helpfulness).
FEEDBACK_TOPIC_WEIGHT = 0.4
#: How strongly feedback moves the expected fit of one article's level.
FEEDBACK_LEVEL_WEIGHT = 0.15
#: Pseudo-count: feedback needs a few votes before it moves anything much.
FEEDBACK_PRIOR = 5.0


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
class LevelChoice:
    level: str
    expected_fit: dict[str, float]
    preferred: str  # best level had every level been present
    fallback: bool


def adjust_topics(
    topics: Sequence[str], proba: Sequence[float], available: Mapping[str, Sequence[str]],
    feedback: Mapping[str, FeedbackStats],
) -> list[float]:
    """Shift topic probabilities by the net helpfulness of their articles, then renormalise."""
    if not feedback:
        return list(proba)
    logits = []
    for topic, p in zip(topics, proba, strict=True):
        nets = [feedback[f"{topic}/{lv}"].net for lv in available.get(topic, ())
                if f"{topic}/{lv}" in feedback]
        shift = FEEDBACK_TOPIC_WEIGHT * (sum(nets) / len(nets)) if nets else 0.0
        logits.append(math.log(max(p, 1e-12)) + shift)
    top = max(logits)
    exp = [math.exp(v - top) for v in logits]
    total = sum(exp)
    return [v / total for v in exp]


def rank_topics(topics: Sequence[str], proba: Sequence[float], k: int) -> list[tuple[str, float]]:
    """The k most probable topics, best first, unique."""
    order = sorted(range(len(topics)), key=lambda i: -proba[i])[: max(1, k)]
    return [(topics[i], float(proba[i])) for i in order]


def choose_level(
    level_proba: Sequence[float], available: Sequence[str], *, topic: str = "",
    feedback: Mapping[str, FeedbackStats] | None = None,
    utility: Sequence[Sequence[float]] = LEVEL_UTILITY,
) -> LevelChoice:
    """The served level: maximum expected fit, sum_t p(t) U(served, t), among levels present."""
    fits = {}
    for s, served in enumerate(LEVELS):
        fit = sum(p * utility[s][t] for t, p in enumerate(level_proba))
        if feedback and topic and f"{topic}/{served}" in feedback:
            fit += FEEDBACK_LEVEL_WEIGHT * feedback[f"{topic}/{served}"].net
        fits[served] = fit
    preferred = max(LEVELS, key=lambda lv: fits[lv])
    present = [lv for lv in LEVELS if lv in available] or list(LEVELS)
    def closeness(lv: str) -> int:
        return -abs(LEVELS.index(lv) - LEVELS.index(preferred))

    level = max(present, key=lambda lv: (fits[lv], closeness(lv)))
    return LevelChoice(level, fits, preferred, level != preferred)


def neighbours(level: str, available: Sequence[str]) -> list[str]:
    """The levels one step down and up from `level` that are present, simpler first."""
    i = LEVELS.index(level)
    return [lv for lv in (LEVELS[j] for j in (i - 1, i + 1) if 0 <= j < len(LEVELS))
            if lv in available]
