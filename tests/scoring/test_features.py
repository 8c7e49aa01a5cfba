"""Features of a batch: wording signals, evidence, tf-idf rows; any text is finite."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expertise.scoring.features import DENSE_INDEX, featurize
from expertise.scoring.text import CURATED_TERMS
from expertise.scoring.tokens import WordTable, token_strings

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


VOCAB = ["wifi", "drops", "wifi drops", "0.0.0", "box", "the box", "the", "fw", "fw 0.0.0",
         "drops wifi", "box the"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["wifi", "drops", "box", "the", "fw", "4.2", "1.0.3",
                                          "lte", "modem", "."]), max_size=30)
                .map(" ".join), min_size=1, max_size=6))
def test_tfidf_rows_are_the_plain_definition(texts: list[str]) -> None:
    """Each row: its distinct unigram columns then its two-word columns, in first-seen order,
    (1 + log count) * idf, divided by the row's l2 norm (summed in entry order)."""
    words = WordTable(VOCAB, CURATED_TERMS)
    idf = np.linspace(1.0, 2.5, len(VOCAB))
    f = featurize(texts, words, idf)
    for i, text in enumerate(texts):
        toks = token_strings(text)[1]
        grams = [t for t in toks if t in VOCAB] + [
            f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False) if f"{a} {b}" in VOCAB]
        cols = [VOCAB.index(g) for g in dict.fromkeys(grams)]
        values = [(1.0 + math.log(grams.count(VOCAB[c]))) * idf[c] for c in cols]
        norm = 0.0
        for v in values:
            norm += v * v
        a, b = f.indptr[i], f.indptr[i + 1]
        assert f.indices[a:b].tolist() == cols
        assert f.data[a:b].tolist() == [v / math.sqrt(norm) for v in values]
