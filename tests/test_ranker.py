"""Level choice by expected fit, feedback shifts and topic ranking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from expertise.config import LEVELS
from expertise.scoring.ranking import FeedbackStats, adjust_topics, choose_level, neighbours, rank_topics


def test_confident_levels_are_served_as_estimated() -> None:
    assert choose_level([0.9, 0.08, 0.02], LEVELS).level == "novice"
    assert choose_level([0.02, 0.9, 0.08], LEVELS).level == "intermediate"
    assert choose_level([0.01, 0.04, 0.95], LEVELS).level == "expert"


def test_uncertain_between_novice_and_expert_never_serves_expert() -> None:
    # Serving expert text to a novice is the worst outcome: hedge towards simpler text.
    choice = choose_level([0.45, 0.05, 0.5], LEVELS)
    assert choice.level != "expert"


def test_missing_level_falls_back_to_nearest_and_says_so() -> None:
    choice = choose_level([0.02, 0.9, 0.08], ["novice", "expert"])
    assert choice.fallback and choice.preferred == "intermediate"
    assert choice.level in ("novice", "expert")


def test_feedback_moves_topics_and_levels() -> None:
    topics = ["a", "b"]
    available = {"a": list(LEVELS), "b": list(LEVELS)}
    base = adjust_topics(topics, [0.5, 0.5], available, {})
    liked = adjust_topics(topics, [0.5, 0.5], available,
                          {"b/novice": FeedbackStats(helpful=20, not_helpful=0)})
    assert base == [0.5, 0.5] and liked[1] > liked[0]
    disliked = {"t/intermediate": FeedbackStats(helpful=0, not_helpful=40)}
    p = [0.02, 0.45, 0.53]
    assert choose_level(p, LEVELS).level == "intermediate"
    assert choose_level(p, LEVELS, topic="t", feedback=disliked).level != "intermediate"


def test_neighbours() -> None:
    assert neighbours("intermediate", LEVELS) == ["novice", "expert"]
    assert neighbours("novice", ["novice", "expert"]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.integers(1, 10))
def test_rank_topics_returns_at_most_k_unique(scores: list[float], k: int) -> None:
    topics = [f"t{i}" for i in range(len(scores))]
    ranked = rank_topics(topics, scores, k)
    ids = [t for t, _ in ranked]
    assert len(ids) == len(set(ids)) <= k
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
