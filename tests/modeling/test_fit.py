"""Training: the served model is the fitted one, and it survives a save and a load."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

from expertise.bundles.registry import load_current
from expertise.modeling.fit import training_texts
from expertise.scoring.features import featurize
from expertise.scoring.model import LeanModel
from tests.conftest import KB


def _wording(lean: LeanModel, texts: list[str]):  # type: ignore[no-untyped-def]
    return lean.wording(featurize(texts, lean.words, lean.idf))


def test_served_scores_match_the_fitted_scikit_learn_model(models_root: Path, small_train) -> None:  # type: ignore[no-untyped-def]
    bundle = load_current(models_root)
    model = bundle.sklearn_model()["model"]
    texts = training_texts(small_train.head(60))
    expected = model.stage1.predict_proba(model.text_features.transform(texts))
    got = _wording(bundle.lean(), texts).proba
    assert np.abs(expected - got).max() < 1e-4  # float32 weights on disk


def test_save_then_load_gives_identical_probabilities(models_root: Path, tmp_path: Path) -> None:
    lean = load_current(models_root).lean()
    texts = ["my internet is down", "PPPoE auth fails on fw 4.2.1", "tv says no signal"]
    before = _wording(lean, texts)
    lean.save(tmp_path / "copy")
    after = _wording(LeanModel.load(tmp_path / "copy"), texts)
    assert np.array_equal(before.proba, after.proba)
    assert np.array_equal(before.topic_proba, after.topic_proba)


def test_training_precomputes_what_reasons_may_quote(models_root: Path) -> None:
    """The quotable n-grams are an array of the bundle, equal to computing them afresh."""
    from expertise.scoring.model import quotable_masks

    lean = load_current(models_root).lean()
    assert "quotable" in lean.arrays
    fresh = quotable_masks(lean.vocabulary, lean.lexicon, lean.w_direction)
    assert np.array_equal(np.asarray(lean.arrays["quotable"], dtype=bool), fresh)


def test_training_is_reproducible_to_the_byte(  # type: ignore[no-untyped-def]
        models_root: Path, small_train, tmp_path: Path) -> None:
    """The same data, knowledge base and code give the same served model, array for array."""
    from expertise.lifecycle.train import train_bundle

    train_bundle(frame=small_train, out_dir=tmp_path, kb_root=KB, promote=False,
                 version="again", evaluate=False, folds=3)
    first, again = models_root / "test-small", tmp_path / "again"
    names = sorted(p.name for p in first.glob("lean.*"))
    assert names and names == sorted(p.name for p in again.glob("lean.*"))
    assert [n for n in names if (first / n).read_bytes() != (again / n).read_bytes()] == []


def test_the_pickled_lexicon_does_not_depend_on_string_hashing() -> None:
    """A set pickles in hash order, which PYTHONHASHSEED changes from process to process:
    the fitted wording features must pickle to the same bytes under any seed, and load back
    as the same set."""
    script = ("import pickle, sys; from expertise.modeling.estimators import WordingFeatures; "
              "f = WordingFeatures(lexicon=['zigbee', 'docsis', 'sinr', 'mtu', 'qam']).fit(None); "
              "sys.stdout.buffer.write(pickle.dumps(f))")
    dumps = [subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout
             for seed in ("1", "2")]
    assert dumps[0] == dumps[1]
    loaded = pickle.loads(dumps[0])
    assert isinstance(loaded.lexicon_, frozenset) and "docsis" in loaded.lexicon_
