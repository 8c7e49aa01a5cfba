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
