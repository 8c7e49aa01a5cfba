"""Features of a batch: wording signals, evidence, tf-idf rows; any text is finite."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expertise.scoring.features import DENSE_INDEX, featurize
from expertise.scoring.text import CURATED_TERMS
from expertise.scoring.tokens import WordTable

WORDS = WordTable((), CURATED_TERMS)


def _one(text: str):  # type: ignore[no-untyped-def]
    f = featurize([text], WORDS, np.zeros(0))
    return f.dense[0], f.evidence


def test_wording_signals_find_what_they_claim() -> None:
    values, ev = _one(
        "I'm not good with technology. The box with the lights is flashing orange.")
    assert ev.items(0, "self_novice") and ev.items(0, "appearance")
    assert not ev.items(0, "tech_terms")
    values_e, ev_e = _one(
        "Hub fw 4.2.1, PPPoE auth fails with E-1043; ran traceroute, DHCP lease on 192.168.1.254")
    assert {"PPPoE", "DHCP"} <= set(ev_e.items(0, "tech_terms"))
    assert "traceroute" in ev_e.items(0, "commands")
    assert any("4.2.1" in s for s in ev_e.items(0, "specific"))
    assert values_e[DENSE_INDEX["tech_terms"]] > values[DENSE_INDEX["tech_terms"]]



@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_any_text_gives_finite_features(text: str) -> None:
    values, _ = _one(text)
    assert np.all(np.isfinite(values))
