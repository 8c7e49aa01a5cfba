"""The sample-data generator: deterministic, split by customer, history never out of order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expertise.config import LEVELS, PROJECT_DIR, TOPICS
from expertise.tickets.simulate import build_sample_data, generate, load_phrase_bank


def test_generation_is_deterministic_and_realistic(tmp_path: Path) -> None:
    bank = load_phrase_bank(PROJECT_DIR / "data")
    assert {t for t, _ in bank.tickets} == set(TOPICS)
    assert min(len(v) for v in bank.tickets.values()) >= 15
    a, fa = generate(bank, customers=150, seed=7)
    b, fb = generate(bank, customers=150, seed=7)
    c, _ = generate(bank, customers=150, seed=8)
    assert a == b and fa == fb and a != c
    frame = pd.DataFrame(a)
    assert set(frame["expertise_level"]) == set(LEVELS)
    split = frame.groupby("customer_id")["split"].nunique()
    assert (split == 1).all()  # no customer in both splits
    assert frame["ticket_id"].is_unique


def test_build_writes_the_files(tmp_path: Path) -> None:
    for name in ("phrases", "generic_phrases.yaml"):
        src = PROJECT_DIR / "data" / name
        dst = tmp_path / name
        if src.is_dir():
            dst.mkdir()
            for f in src.glob("*.yaml"):
                (dst / f.name).write_bytes(f.read_bytes())
        else:
            dst.write_bytes(src.read_bytes())
    counts = build_sample_data(tmp_path, customers=60, seed=1)
    train = pd.read_csv(tmp_path / "tickets_train.csv", dtype=str, keep_default_na=False)
    evals = pd.read_csv(tmp_path / "tickets_eval.csv", dtype=str, keep_default_na=False)
    assert len(train) + len(evals) == counts["tickets"]
    assert not set(train["customer_id"]) & set(evals["customer_id"])
    assert (tmp_path / "feedback.csv").exists()
