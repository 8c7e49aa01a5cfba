"""The lean inference path agrees with the scikit-learn model, and bundles round-trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from expertise.bundles.format import load_current, open_bundle, set_current
from expertise.errors import ArtifactError, ModelNotFoundError
from expertise.scoring.model import LeanModel
from expertise.modeling.fit import ticket_texts


def test_lean_scores_match_scikit_learn(models_root: Path, small_train) -> None:  # type: ignore[no-untyped-def]
    bundle = load_current(models_root)
    objects = bundle.sklearn_model()
    model = objects["model"]
    texts = ticket_texts(small_train.head(60))
    X = model.text_features.transform(texts)
    expected = model.stage1.predict_proba(X)
    got = bundle.lean().score_texts(texts).proba
    assert np.abs(expected - got).max() < 1e-4  # float32 weights on disk


def test_save_then_load_gives_identical_probabilities(models_root: Path, tmp_path: Path) -> None:
    lean = load_current(models_root).lean()
    texts = ["my internet is down", "PPPoE auth fails on fw 4.2.1", "tv says no signal"]
    before = lean.score_texts(texts)
    lean.save(tmp_path / "copy")
    after = LeanModel.load(tmp_path / "copy").score_texts(texts)
    assert np.array_equal(before.proba, after.proba)
    assert np.array_equal(before.topic_proba, after.topic_proba)


def test_tampered_bundle_is_refused(models_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models" / "v1"
    shutil.copytree(load_current(models_root).path, copy)
    open_bundle(copy, root=tmp_path / "models")  # intact: fine
    with (copy / "lean.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(ArtifactError, match="does not match its SHA-256"):
        open_bundle(copy, root=tmp_path / "models")


def test_tampered_pickle_is_refused_before_unpickling(models_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models" / "v1"
    shutil.copytree(load_current(models_root).path, copy)
    (copy / "model.joblib").write_bytes(b"not a pickle")
    bundle = open_bundle(copy, root=tmp_path / "models")  # lean files still verify
    with pytest.raises(ArtifactError, match="model.joblib does not match"):
        bundle.sklearn_model()


def test_bundle_outside_models_folder_needs_trust(models_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    shutil.copytree(load_current(models_root).path, outside)
    with pytest.raises(ArtifactError, match="outside the models folder"):
        open_bundle(outside, root=models_root)
    assert open_bundle(outside, trust=True, root=models_root).version == "test-small"


def test_format_version_mismatch_is_refused(models_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models" / "v1"
    shutil.copytree(load_current(models_root).path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="bundle format 99"):
        open_bundle(copy, root=tmp_path / "models")


def test_missing_current_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="make train"):
        load_current(tmp_path)
    with pytest.raises(ModelNotFoundError):
        set_current("nope", tmp_path)


def test_manifest_records_versions_fingerprints_and_hashes(models_root: Path) -> None:
    m = load_current(models_root).manifest
    assert m["versions"]["scikit-learn"] and m["versions"]["python"]
    assert len(m["training_data"]) == 64 and len(m["knowledge_base"]) == 64
    assert "lean.W.npy" in m["files"] and "model.joblib" in m["files"]
    assert m["customers"]["hashes"] and len(m["customers"]["salt_id"]) == 12


def test_batch_and_single_paths_agree(models_root: Path) -> None:
    """Batches use scipy's sparse products, single texts plain numpy: same numbers."""
    lean = load_current(models_root).lean()
    texts = [f"ticket {i}: wifi drops, PPPoE fails, tv says no signal, bill is higher"
             for i in range(12)] + ["", "the box with the lights"]
    together = lean.score_texts(texts)
    for i, text in enumerate(texts):
        alone = lean.score_texts([text])
        assert np.allclose(alone.proba[0], together.proba[i], atol=1e-9)
        assert np.allclose(alone.topic_proba[0], together.topic_proba[i], atol=1e-9)
