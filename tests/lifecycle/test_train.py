"""`expertise train`: what is refused before any training starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.config import PROJECT_DIR

runner = CliRunner()


@pytest.fixture()
def few_tickets(tmp_path: Path) -> Path:
    """300 labelled tickets: enough to train with --force."""
    frame = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False)
    path = tmp_path / "d.csv"
    frame.head(300).to_csv(path, index=False)
    return path


def _refused(args: list[str]) -> str:
    result = runner.invoke(app, ["train", *args, "--force", "--no-eval"])
    assert result.exit_code == 1, result.output
    # after --force's warning, one line: the error
    warning, error = result.output.strip().splitlines()
    assert warning.startswith("WARNING: --force") and error.startswith("Error: version name ")
    return error


def test_a_version_named_like_the_pointer_file_is_refused_before_training(
        few_tickets: Path, tmp_path: Path) -> None:
    """`--version-name current` made a bundle folder where the models folder keeps its
    pointer file, and the models folder unusable."""
    out = tmp_path / "models"
    message = _refused(["--data", str(few_tickets), "--out", str(out), "--version-name",
                        "current"])
    assert "is the name of a file the models folder keeps" in message
    assert not out.exists()


@pytest.mark.parametrize("name", ["../x", "a/b", ".", "..", ".hidden", "customers.key",
                                  "promotions.jsonl", "history.jsonl", "v1.comparison.json",
                                  "CURRENT", " v1"])
def test_unsafe_version_names_are_refused_first(name: str, models_root: Path,
                                                tmp_path: Path) -> None:
    """Checked before the data is even read (here it does not exist), so nothing is trained
    for a name that cannot be saved; the models folder is left as it was."""
    out = tmp_path / "models"
    shutil.copytree(models_root, out)
    before = sorted(p.name for p in out.iterdir())
    _refused(["--data", str(tmp_path / "missing.csv"), "--out", str(out), "--version-name",
              name])
    assert sorted(p.name for p in out.iterdir()) == before
    assert not (tmp_path / "x").exists()


def test_a_version_that_exists_already_is_refused_before_training(models_root: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "models"
    shutil.copytree(models_root, out)
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing.csv"), "--out",
                                 str(out), "--version-name", "test-small", "--force"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {out / 'test-small'} exists already; choose another version name")
