"""The registry: `models/current` only ever names a bundle, and is read as one or refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expertise.bundles.registry import (
    current_version,
    read_promotions,
    set_current,
)
from expertise.errors import ArtifactError


@pytest.fixture()
def root(models_root: Path, tmp_path: Path) -> Path:
    """A private copy of the small models folder (`test-small`, current) with a second bundle,
    `zz-copy`, not current."""
    copy = tmp_path / "models"
    shutil.copytree(models_root, copy)
    shutil.copytree(copy / "test-small", copy / "zz-copy")
    return copy


@pytest.mark.parametrize("content", [b"\xff\xfe"])
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
