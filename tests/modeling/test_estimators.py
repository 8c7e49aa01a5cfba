"""The scikit-learn estimators: the ordinal classifier and the transformers over the scoring
featurizer follow the API; history never uses the future."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from expertise.modeling.estimators import (
    NgramFeatures,
    OrdinalClassifier,
    WordingFeatures,
    learn_lexicon,
)
from expertise.scoring.model import cumulative_to_proba


# Every check passes, check_classifiers_classes included (its blobs happen to separate along
# one direction even though its labels follow no order); none is listed as expected to fail, so
# a regression in any of them fails here.
@parametrize_with_checks([OrdinalClassifier(max_iter=500)])
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


def test_lexicon_is_learned_from_expert_versus_novice_articles() -> None:
    expert = ["set the MTU and check DHCP lease"] * 5
    novice = ["press the button on the box"] * 5
    lexicon = learn_lexicon(expert, novice)
    assert "mtu" in lexicon and "dhcp" in lexicon
    assert "button" not in lexicon and "the" not in lexicon
    # everyday words experts also write, and Markdown left on a token, are no terms
    expert = ["**Causes:** the PPPoE session state string and error info"] * 5
    lexicon = learn_lexicon(expert, novice)
    assert "pppoe" in lexicon
    assert not {"session", "state", "string", "error", "info", "causes:**"} & set(lexicon)


def test_wording_transformer_follows_sklearn_api() -> None:
    tf = WordingFeatures(lexicon=["pppoe"])
    with pytest.raises(Exception, match="not fitted"):
        tf.transform(["x"])
    out = tf.fit(["a"]).transform(["pppoe is down", "help"])
    assert out.shape[0] == 2 and out[0, 0] > out[1, 0]


def test_ngram_transformer_is_the_scoring_featurizer() -> None:
    """Fitting learns a vocabulary; transforming gives the pipeline's own tf-idf rows."""
    from expertise.scoring.features import featurize
    from expertise.scoring.tokens import WordTable

    texts = ["wifi drops every evening", "wifi drops again", "tv says no signal",
             "no signal on the tv box", "pppoe auth fails"]
    tf = NgramFeatures(min_df=2).fit(texts)
    assert "wifi drops" in tf.vocabulary_ and "pppoe" not in tf.vocabulary_
    X = tf.transform(texts)
    f = featurize(texts, WordTable(tf.vocabulary_, ()), tf.idf_)
    assert np.array_equal(X.indptr, f.indptr) and np.array_equal(X.data, f.data)
    assert np.allclose(np.asarray(X.multiply(X).sum(axis=1)).ravel()[:4], 1.0)  # last: no term

