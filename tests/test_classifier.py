"""The ordinal classifier (scikit-learn conventions), features and the lean path's parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from expertise.modeling.estimators import OrdinalClassifier
from expertise.scoring.ordinal import cumulative_to_proba
from expertise.modeling.features import HistoryFeatures, WordingFeatures, learn_lexicon
from expertise.scoring.text import looks_english, prepare, wording_features

ORDINAL_ONLY = {
    "check_classifiers_classes": "classes are ordered; this check's labels follow no order, so a "
                                 "cumulative model cannot separate them",
}


@parametrize_with_checks([OrdinalClassifier(max_iter=500)],
                         expected_failed_checks=lambda est: ORDINAL_ONLY)
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def test_ordinal_respects_given_order_and_monotone_probabilities() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, size=300)
    y = np.array(["novice", "intermediate", "expert"])[np.clip(x.astype(int), 0, 2)]
    clf = OrdinalClassifier(classes=["novice", "intermediate", "expert"]).fit(x[:, None], y)
    assert clf.classes_.tolist() == ["novice", "intermediate", "expert"]
    grid = np.linspace(0, 3, 50)[:, None]
    p = clf.predict_proba(grid)
    assert np.allclose(p.sum(axis=1), 1.0)
    # More of the signal never makes "expert" less likely nor "novice" more likely.
    assert np.all(np.diff(p[:, 2]) >= -1e-9)
    assert np.all(np.diff(p[:, 0]) <= 1e-9)
    assert (clf.predict(x[:, None]) == y).mean() > 0.9


def test_ordinal_rejects_labels_outside_classes() -> None:
    with pytest.raises(ValueError, match="not in classes"):
        OrdinalClassifier(classes=["a", "b"]).fit(np.zeros((4, 1)), ["a", "b", "c", "a"])


@given(st.lists(st.lists(st.floats(-50, 50), min_size=2, max_size=2), min_size=1, max_size=20))
def test_cumulative_to_proba_is_a_distribution(rows: list[list[float]]) -> None:
    p = cumulative_to_proba(np.array(rows))
    assert p.shape == (len(rows), 3)
    assert np.all(p > 0)
    assert np.allclose(p.sum(axis=1), 1.0)


def test_wording_signals_find_what_they_claim() -> None:
    values, ev = wording_features(
        "I'm not good with technology. The box with the lights is flashing orange.")
    assert ev.self_novice and ev.appearance and not ev.tech_terms
    values_e, ev_e = wording_features(
        "Hub fw 4.2.1, PPPoE auth fails with E-1043; ran traceroute, DHCP lease on 192.168.1.254")
    assert {"PPPoE", "DHCP"} <= set(ev_e.tech_terms)
    assert "traceroute" in ev_e.commands
    assert any("4.2.1" in s for s in ev_e.specific)
    assert values_e[0] > values[0]  # more technical terms


def test_lexicon_is_learned_from_expert_versus_novice_articles() -> None:
    expert = ["set the MTU and check DHCP lease"] * 5
    novice = ["press the button on the box"] * 5
    lexicon = learn_lexicon(expert, novice)
    assert "mtu" in lexicon and "dhcp" in lexicon
    assert "button" not in lexicon and "the" not in lexicon


def test_wording_transformer_follows_sklearn_api() -> None:
    tf = WordingFeatures(lexicon=["pppoe"])
    with pytest.raises(Exception, match="not fitted"):
        tf.transform(["x"])
    out = tf.fit(["a"]).transform(["pppoe is down", "help"])
    assert out.shape[0] == 2 and out[0, 0] > out[1, 0]


def test_history_never_uses_the_future() -> None:
    frame = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1", ""],
        "created_at": ["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-01"],
        "domain": ["network"] * 4, "level_score": [0.0, 2.0, 2.0, 2.0],
        "labelled": [True] * 4, "tech_density": [0.1] * 4, "n_tokens": [5] * 4,
    })
    h = HistoryFeatures().fit(frame).transform(frame)
    assert h[1].tolist() == [0.0] * h.shape[1]  # first ticket: no history
    assert h[2, 0] == 1.0 and h[2, 2] == pytest.approx(1.0)  # one earlier expert ticket
    assert h[0, 1] == pytest.approx(np.log1p(2))  # two earlier tickets
    assert h[3].tolist() == [0.0] * h.shape[1]  # anonymous


def test_language_and_length_edge_cases() -> None:
    assert not looks_english("Bonjour, ma connexion internet ne fonctionne plus depuis hier soir")
    assert looks_english("still not working")
    assert not looks_english("Hola, mi internet no funciona desde ayer y el router tiene una luz")
    assert not looks_english("Привет, у меня не работает интернет уже два дня")
    # jargon-heavy English has few common words but is English
    assert looks_english("PPPoE session drops every 40 min since hub fw 4.2.1, LCP echo timeouts,"
                         " MTU 1492, SNR 6dB, VLAN 101 tagged")
    text, cut = prepare("word " * 5000)
    assert cut and len(text) <= 5000


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_any_text_gives_finite_features(text: str) -> None:
    values, _ = wording_features(text)
    assert all(np.isfinite(values))
