"""Shared fixtures: a small real model trained once per test session, and paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from expertise.config import PROJECT_DIR

DATA = Path(__file__).parent / "data"
KB = PROJECT_DIR / "knowledge_base"


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                   _cache_home: Path) -> None:
    """Never touch the developer's own database, salt or cache: point the defaults at temp
    folders (the cache, which only ever holds what can be rebuilt, is shared by the session)."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_cache_home))
    monkeypatch.delenv("EXPERTISE_DB", raising=False)


@pytest.fixture(scope="session")
def small_train() -> pd.DataFrame:
    """A customer-grouped sample of the bundled training split (about 1,500 tickets)."""
    frame = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False)
    customers = sorted(frame["customer_id"].unique())[::4]
    return frame[frame["customer_id"].isin(customers)].reset_index(drop=True)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory, small_train: pd.DataFrame) -> Path:
    """A models folder holding one small real bundle, made current (trained once per session)."""
    import os

    from expertise.lifecycle.train import train_bundle

    root = tmp_path_factory.mktemp("models")
    salt_home = tmp_path_factory.mktemp("salt-home")
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(salt_home)
    try:
        train_bundle(frame=small_train, out_dir=root, kb_root=KB, promote=True,
                     version="test-small", evaluate=False, folds=3)
    finally:
        if old is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = old
    return root


@pytest.fixture()
def models_env(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point EXPERTISE_MODELS at the small bundle for code that uses the default location."""
    monkeypatch.setenv("EXPERTISE_MODELS", str(models_root))
    return models_root


@pytest.fixture()
def engine(models_env: Path):  # type: ignore[no-untyped-def]
    from expertise.engine import Engine

    eng = Engine(kb_root=KB)
    yield eng
    eng.close()
