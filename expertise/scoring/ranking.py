"""Topic choice and level choice.

Topic probabilities come from the lean model (lexical retrieval fused with the supervised topic
model, `lean.fuse_topics`); here they are adjusted by agents' feedback and cut at a threshold
below which the answer is "no good match". The served level maximises expected fit under the
level probabilities (DESIGN.md), among the levels the topic has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertise.config import LEVEL_UTILITY, LEVELS

if TYPE_CHECKING:
    import numpy as np

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


def topic_shifts(
    topics: Sequence[str], available: Mapping[str, Sequence[str]],
    feedback: Mapping[str, FeedbackStats],
) -> np.ndarray:
    """Each topic's log-odds shift: the weighted mean net helpfulness of its articles.

    One pass over the topics: an engine computes it once per feedback refresh, not per answer.
    """
    import numpy as np

    shift = np.zeros(len(topics))
    with_feedback = {key.partition("/")[0] for key in feedback}
    if not with_feedback:
        return shift
    for i, topic in enumerate(topics):
        if topic not in with_feedback:
            continue
        nets = [feedback[f"{topic}/{lv}"].net for lv in available.get(topic, ())
                if f"{topic}/{lv}" in feedback]
        if nets:
            shift[i] = FEEDBACK_TOPIC_WEIGHT * (sum(nets) / len(nets))
    return shift


def adjust_topics(
    topics: Sequence[str], proba: Sequence[float], available: Mapping[str, Sequence[str]],
    feedback: Mapping[str, FeedbackStats], *, shifts: np.ndarray | None = None,
) -> list[float]:
    """Shift topic probabilities by the net helpfulness of their articles, then renormalise.

    `shifts`, when given, is `topic_shifts(topics, available, feedback)` computed beforehand.
    """
    if not feedback:
        return list(proba)
    import numpy as np

    if len(topics) != len(proba):
        raise ValueError(f"{len(topics)} topics but {len(proba)} probabilities")
    if shifts is None:
        shifts = topic_shifts(topics, available, feedback)
    return shift_topics(np.asarray(proba, dtype=np.float64)[None, :], shifts)[0].tolist()


def shift_topics(proba: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Rows of topic probabilities (n, T) moved by per-topic log-odds shifts, renormalised."""
    import numpy as np

    logits = np.log(np.maximum(proba, 1e-12)) + shifts
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def rank_topics(topics: Sequence[str], proba: Sequence[float], k: int) -> list[tuple[str, float]]:
    """The k most probable topics, best first, unique; equal scores keep the topics' order."""
    import numpy as np

    n = len(topics)
    k = min(max(1, k), n)
    if not k:
        return []
    p = np.asarray(proba, dtype=np.float64)
    candidates = np.arange(n)
    if n > 4 * k:  # sort only the scores that can reach the top k (ties at the cut included)
        kth = np.partition(p, n - k)[n - k]
        candidates = np.flatnonzero(p >= kth)
    order = candidates[np.argsort(-p[candidates], kind="stable")][:k]
    return [(topics[i], float(p[i])) for i in order]


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
