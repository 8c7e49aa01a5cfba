"""Bundles: what is saved is what is verified before anything is read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expertise.bundles.format import open_bundle
from expertise.bundles.registry import load_current, set_current
from expertise.errors import ArtifactError, ModelNotFoundError


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
