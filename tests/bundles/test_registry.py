"""The registry: `models/current` only ever names a bundle, and is read as one or refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expertise.bundles.registry import (
    check_version_name,
    current_version,
    load_current,
    read_promotions,
    set_current,
    version_named,
)
from expertise.errors import ArtifactError, InputError


@pytest.fixture()
def root(models_root: Path, tmp_path: Path) -> Path:
    """A private copy of the small models folder (`test-small`, current) with a second bundle,
    `zz-copy`, not current."""
    copy = tmp_path / "models"
    shutil.copytree(models_root, copy)
    shutil.copytree(copy / "test-small", copy / "zz-copy")
    return copy


def test_a_path_to_a_bundle_of_the_models_folder_names_that_bundle(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for text in ("zz-copy", "zz-copy/", "models/zz-copy", "./models/zz-copy//",
                 str(root / "zz-copy"), f"{root}/zz-copy/", "models/../models/zz-copy"):
        assert version_named(text, root) == "zz-copy", text
    monkeypatch.chdir(root)
    assert version_named("./zz-copy/", root) == "zz-copy"
    for text in (str(tmp_path / "zz-copy"), "../zz-copy", str(root), "/"):
        with pytest.raises(InputError, match="is not a bundle folder of the models folder"):
            version_named(text, root)
    for text in ("current", "current/", str(root / "current"), "..", ".", ".hidden",
                 "promotions.jsonl", "customers.key", "v1.comparison.json"):
        with pytest.raises(InputError, match="is not a version name"):
            version_named(text, root)


@pytest.mark.parametrize("name", ["current", "Current", "promotions.jsonl", "history.jsonl",
                                  "customers.key", "v1.comparison.json", ".", "..", "../x",
                                  "a/b", "a\\b", ".hidden", "", " v1", "v1\n", "x" * 201])
def test_names_a_bundle_cannot_take_are_refused(name: str) -> None:
    with pytest.raises(InputError, match=r"^version name .*; choose a name of letters"):
        check_version_name(name)


@pytest.mark.parametrize("name", ["v1", "20261203-132021", "test-small", "v1.2_rc"])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert check_version_name(name) == name


def test_set_current_writes_nothing_but_a_bare_name(root: Path) -> None:
    for bad in ("zz-copy/", str(root / "zz-copy"), "../models/zz-copy"):
        with pytest.raises(InputError):
            set_current(bad, root)
    assert (root / "current").read_text() == "test-small\n"


def test_a_pointer_written_as_a_path_is_read_as_the_bundle_it_names(root: Path) -> None:
    """Older code wrote what it was given (`zz-copy/` from tab completion, an absolute path):
    such a pointer still names its bundle, so nothing treats that bundle as not current."""
    for text in ("zz-copy/", f"{root}/zz-copy", "./zz-copy/"):
        (root / "current").write_text(text + "\n")
        assert current_version(root) == "zz-copy"
        assert load_current(root).path == root / "zz-copy"


@pytest.mark.parametrize("content", [b"\xff\xfe", b"../elsewhere/v1\n", b"/tmp/v1\n"])
def test_a_pointer_that_names_no_bundle_is_a_one_line_error(root: Path, content: bytes) -> None:
    (root / "current").write_bytes(content)
    with pytest.raises(ArtifactError) as raised:
        current_version(root)
    message = str(raised.value)
    assert message.startswith(f"{root / 'current'} ") and "\n" not in message
    assert "delete it, then make a bundle current with `expertise models promote VERSION`" \
        in message


def test_a_folder_named_current_is_a_one_line_error(root: Path) -> None:
    (root / "current").unlink()
    shutil.copytree(root / "test-small", root / "current")
    with pytest.raises(ArtifactError, match=r"current is a folder, where the models folder "
                                            r"keeps its pointer.*move that folder out"):
        current_version(root)


def test_a_promotions_line_that_is_not_utf8_is_reported_as_invalid_json(root: Path) -> None:
    log = root / "promotions.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + b'{"version": "v\xff"}\n')
    with pytest.raises(ArtifactError, match=r"promotions.jsonl line 2 is not valid JSON \(bytes "
                                            r"that are not UTF-8\); fix or delete that line"):
        read_promotions(root)
    # a promotion still goes through, and keeps the damaged line as it was for rollback to report
    set_current("zz-copy", root)
    lines = log.read_bytes().splitlines()
    assert lines[:2] == [*good.splitlines(), b'{"version": "v\xff"}']
    assert json.loads(lines[2])["version"] == "zz-copy" and len(lines) == 3
    assert current_version(root) == "zz-copy"

