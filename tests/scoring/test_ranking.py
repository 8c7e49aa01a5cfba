"""Level choice by expected fit, feedback shifts and topic ranking."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from expertise.config import DOMAINS, LEVELS, PRODUCT_TILT
from expertise.scoring.ranking import (
    Catalogue,
    FeedbackStats,
    choose_levels,
    level_shifts,
    neighbours,
    product_areas,
    rank_topics,
    shift_topics,
    tilt_topics,
    topic_shifts,
)

ALL = np.ones((1, 3), dtype=bool)


def _choose(p: list[float], present: np.ndarray = ALL, shifts: np.ndarray | None = None
            ) -> tuple[str, str]:
    choice = choose_levels(np.array([p]), present, shifts)
    return LEVELS[int(choice.chosen[0])], LEVELS[int(choice.preferred[0])]


def test_confident_levels_are_served_as_estimated() -> None:
    assert _choose([0.9, 0.08, 0.02])[0] == "novice"
    assert _choose([0.02, 0.9, 0.08])[0] == "intermediate"
    assert _choose([0.01, 0.04, 0.95])[0] == "expert"


def test_uncertain_between_novice_and_expert_never_serves_expert() -> None:
    # Serving expert text to a novice is the worst outcome: hedge towards simpler text.
    assert _choose([0.45, 0.05, 0.5])[0] != "expert"


def test_missing_level_falls_back_to_nearest_and_says_so() -> None:
    present = np.array([[True, False, True]])
    chosen, preferred = _choose([0.02, 0.9, 0.08], present)
    assert preferred == "intermediate" and chosen in ("novice", "expert")
    assert choose_levels(np.array([[0.02, 0.9, 0.08]]), present).fallback[0]


def test_a_topic_with_no_article_at_all_serves_the_preferred_level() -> None:
    assert _choose([0.02, 0.9, 0.08], np.zeros((1, 3), dtype=bool))[0] == "intermediate"


def test_feedback_moves_topics_and_levels() -> None:
    cat = Catalogue.build(["a", "b"], {"a": list(LEVELS), "b": list(LEVELS)},
                          {(t, lv): f"{t}/{lv}" for t in "ab" for lv in LEVELS})
    base = np.array([[0.5, 0.5]])
    assert np.array_equal(shift_topics(base, topic_shifts(cat, {})), base)
    liked = shift_topics(base, topic_shifts(cat, {"b/novice": FeedbackStats(20, 0)}))
    assert liked[0, 1] > liked[0, 0]
    disliked = {"a/intermediate": FeedbackStats(helpful=0, not_helpful=40)}
    p = [0.02, 0.45, 0.53]
    assert _choose(p)[0] == "intermediate"
    assert _choose(p, shifts=level_shifts(cat, disliked)[[0]])[0] != "intermediate"


def test_neighbours() -> None:
    assert neighbours(1, [True, True, True]) == [0, 2]
    assert neighbours(0, [True, False, True]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.integers(1, 10))
def test_rank_topics_returns_at_most_k_unique_served_best_first(scores: list[float], k: int
                                                                 ) -> None:
    served = np.array([i % 5 != 3 for i in range(len(scores))])
    if not served.any():
        return
    ranked = rank_topics(np.array([scores]), served, k)[0].tolist()
    assert len(ranked) == len(set(ranked)) <= k
    assert all(served[t] for t in ranked)
    got = [scores[t] for t in ranked]
    assert got == sorted(got, reverse=True)


def _areas(value: str) -> set[str]:
    mask = int(product_areas([value])[0])
    return {d for k, d in enumerate(DOMAINS) if mask >> k & 1}


def test_a_product_names_its_areas_kind_of_product_before_company() -> None:
    assert _areas("Lumen Broadband") == {"network"}
    assert _areas("Lumen TV box") == {"tv"}
    assert _areas("sprintcare") == {"mobile"}
    # a cable company sells home internet and TV alike
    assert _areas("comcastcares") == _areas("Ask_Spectrum") == {"network", "tv"}
    # ... but its mobile service is mobile
    assert _areas("Xfinity Mobile") == {"mobile"}
    assert _areas("SpotifyCares") == _areas("") == set()
    # a carrier that sells phone plans, home internet and TV: the name alone picks none of them
    assert _areas("VerizonSupport") == _areas("ATTCares") == _areas("AT&T") == \
        {"mobile", "network", "tv"}
    # ... while its wireless arm, or its home service, is one
    assert _areas("VZWSupport") == _areas("Verizon Wireless") == {"mobile"}
    assert _areas("verizonfios") == _areas("Uverse") == {"network", "tv"}


def test_the_tilt_boosts_every_area_of_the_product_and_nothing_else() -> None:
    topic_areas = np.array([DOMAINS.index(d) for d in ("network", "tv", "mobile")] + [-1])
    proba = np.full((3, 4), 0.25)
    areas = product_areas(["Xfinity", "Lumen Mobile", "SpotifyCares"])
    out = tilt_topics(proba, areas, topic_areas)
    assert np.allclose(out.sum(axis=1), 1.0)
    # cable: network and TV each PRODUCT_TILT times mobile and the area-less topic
    assert np.isclose(out[0, 0] / out[0, 2], PRODUCT_TILT) and np.isclose(out[0, 1], out[0, 0])
    assert np.isclose(out[0, 2], out[0, 3])
    assert np.isclose(out[1, 2] / out[1, 0], PRODUCT_TILT) and np.isclose(out[1, 0], out[1, 1])
    assert np.array_equal(out[2], proba[2])  # no area: unchanged
