"""Bundles: what is saved is what is verified before anything is read."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from expertise.bundles.format import PICKLE, RACY_SECONDS, open_bundle
from expertise.bundles.registry import load_current, set_current
from expertise.config import cache_dir
from expertise.errors import ArtifactError, ModelNotFoundError
from expertise.scoring.features import DENSE_FEATURES


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


def _copy(models_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models" / "v1"
    shutil.copytree(load_current(models_root).path, copy)
    return copy


@pytest.mark.parametrize("name", ["lean.W.npy", "model.joblib"])
def test_a_file_struck_from_the_manifest_is_refused(models_root: Path, tmp_path: Path,
                                                    name: str) -> None:
    """Deleting a file's entry from the manifest must not let the file load unverified."""
    copy = _copy(models_root, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"][name]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / name).write_bytes(b"anything at all")
    with pytest.raises(ArtifactError, match=f"{name} is not listed in"):
        open_bundle(copy, root=tmp_path / "models")


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "is not a JSON object"),
    ('"v1"', "is not a JSON object"),
    ('{"format_version": 2, "version": "v1", "files": ["lean.json"]}', 'no valid "files"'),
    ('{"format_version": 2, "files": {}}', "names no version"),
])
def test_a_manifest_of_the_wrong_shape_is_a_one_line_error(models_root: Path, tmp_path: Path,
                                                           text: str, message: str) -> None:
    from typer.testing import CliRunner

    from expertise.cli import app

    copy = _copy(models_root, tmp_path)
    (copy / "manifest.json").write_text(text)
    with pytest.raises(ArtifactError, match=message):
        open_bundle(copy, root=tmp_path / "models")
    result = CliRunner().invoke(app, ["answer", "wifi drops", "--model", str(copy), "--trust"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_outside_folder_error_names_options_that_exist(models_root: Path,
                                                          tmp_path: Path) -> None:
    """A version in the models folder that resolves elsewhere (a symbolic link) is refused,
    and the message tells `models promote` what it can do: it takes no --trust."""
    from typer.testing import CliRunner

    from expertise.cli import app

    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(load_current(models_root).path, tmp_path / "elsewhere")
    (root / "v9").symlink_to(tmp_path / "elsewhere")
    result = CliRunner().invoke(app, ["models", "promote", "v9"],
                                env={"EXPERTISE_MODELS": str(root)})
    assert result.exit_code == 1
    assert "outside the models folder" in result.output
    assert f"copy the bundle into {root.resolve()}" in result.output
    assert "pass --trust" not in result.output and "--model PATH --trust" in result.output


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


def test_pickles_naming_the_old_modules_still_load() -> None:
    """Bundles trained before the package was split into layers name expertise.classifier,
    expertise.features and expertise.text; those names resolve while unpickling, only then."""
    import pickle
    import sys

    import numpy as np

    from expertise.bundles.format import old_pickle_names
    from expertise.modeling.estimators import OrdinalClassifier, WordingFeatures
    from expertise.scoring.tokens import analyze

    model = OrdinalClassifier(classes=["a", "b", "c"]).fit(np.arange(9.0)[:, None],
                                                           list("aaabbbccc"))
    objects = {"model": model, "signals": WordingFeatures(["pppoe"]).fit(["x"]),
               "analyzer": analyze}
    data = pickle.dumps(objects, protocol=0)
    for old, new in ((b"expertise.classifier", b"expertise.modeling.estimators\nOrdinal"),
                     (b"expertise.features", b"expertise.modeling.estimators\nWording"),
                     (b"expertise.text", b"expertise.scoring.tokens\nanalyze")):
        data = data.replace(new, old + b"\n" + new.split(b"\n")[1])
    assert b"expertise.modeling" not in data and b"expertise.scoring" not in data
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data)
    with old_pickle_names():
        loaded = pickle.loads(data)
    assert "expertise.classifier" not in sys.modules
    assert loaded["model"].predict([[0.0], [8.0]]).tolist() == ["a", "c"]
    assert loaded["signals"].transform(["pppoe is down"]).shape == (1, len(DENSE_FEATURES))
    assert loaded["analyzer"]("wifi drops") == ["wifi", "drops", "wifi drops"]


def test_the_committed_bundle_loads_and_answers() -> None:
    """What a clean clone serves: models/current verifies, serves and unpickles."""
    from expertise.config import PROJECT_DIR
    from expertise.engine import Engine

    root = PROJECT_DIR / "models"
    bundle = load_current(root)
    assert bundle.sklearn_model()["model"].stage1 is not None
    engine = Engine(model_dir=bundle.path)
    try:
        answer = engine.answer("my broadband keeps dropping every evening")
    finally:
        engine.close()
    assert answer.level in ("novice", "intermediate", "expert") and answer.article is not None


def _remembered(folder: Path) -> set[str]:
    """Files of `folder` the verification cache holds."""
    doc = json.loads((cache_dir() / "verified.json").read_text())
    return {Path(k).name for k in doc if Path(k).parent == folder.resolve()}


def test_verified_files_are_remembered_and_a_later_change_is_still_caught(
        models_root: Path, tmp_path: Path) -> None:
    """A lean file left alone since it matched is not hashed again; a write to it (same size,
    modification time set back) still changes its change time, and the bundle is refused."""
    copy = _copy(models_root, tmp_path)
    time.sleep(RACY_SECONDS + 0.2)  # older than a file system's time stamp tick
    open_bundle(copy, root=tmp_path / "models")
    lean = {n for n in json.loads((copy / "manifest.json").read_text())["files"] if n != PICKLE}
    assert _remembered(copy) == lean  # the pickle is always hashed, never remembered
    open_bundle(copy, root=tmp_path / "models")  # remembered: opens without reading

    victim = copy / "lean.W.npy"
    before = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert victim.stat().st_size == before.st_size
    assert victim.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(ArtifactError, match="lean.W.npy does not match its SHA-256"):
        open_bundle(copy, root=tmp_path / "models")


def test_a_file_just_written_is_hashed_every_time(models_root: Path, tmp_path: Path) -> None:
    """A file that changed within a time stamp tick of its hashing is not remembered: a write
    in the same tick would leave its times as they were."""
    copy = _copy(models_root, tmp_path)
    (copy / "lean.json").write_bytes((copy / "lean.json").read_bytes())  # changed just now
    open_bundle(copy, root=tmp_path / "models")
    assert not _remembered(copy)


def test_an_unwritable_cache_only_means_hashing_again(models_root: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    copy = _copy(models_root, tmp_path)
    time.sleep(RACY_SECONDS + 0.2)
    assert open_bundle(copy, root=tmp_path / "models").version == "test-small"
    with (copy / "lean.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(ArtifactError, match="does not match its SHA-256"):
        open_bundle(copy, root=tmp_path / "models")
