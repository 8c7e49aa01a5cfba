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
    import shutil

    for name in ("phrases", "generic_phrases.yaml", "messages"):
        src = PROJECT_DIR / "data" / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        else:
            (tmp_path / name).write_bytes(src.read_bytes())
    counts = build_sample_data(tmp_path, customers=60, seed=1)
    train = pd.read_csv(tmp_path / "tickets_train.csv", dtype=str, keep_default_na=False)
    evals = pd.read_csv(tmp_path / "tickets_eval.csv", dtype=str, keep_default_na=False)
    assert len(train) + len(evals) == counts["tickets"]
    assert not set(train["customer_id"]) & set(evals["customer_id"])
    assert (tmp_path / "feedback.csv").exists()
    again = tmp_path / "again"
    again.mkdir()
    for name in ("phrases", "messages"):
        shutil.copytree(tmp_path / name, again / name)
    (again / "generic_phrases.yaml").write_bytes((tmp_path / "generic_phrases.yaml").read_bytes())
    build_sample_data(again, customers=60, seed=1)
    for name in ("tickets_train.csv", "tickets_eval.csv"):  # deterministic
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes()


def test_the_label_is_the_customers_lasting_level_not_the_wording() -> None:
    """In the bundled data a customer keeps one level per area (bar the few who learn and
    agents' noise), while 10-20% of tickets are written off that level."""
    frame = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False)
    worded = frame[frame["wording_level"] != ""]
    off = (worded["register"] != "on").mean()
    assert 0.10 <= off <= 0.20
    assert (worded.loc[worded["register"] != "on", "wording_level"]
            != worded.loc[worded["register"] != "on", "expertise_level"]).mean() > 0.9
    assert (worded.loc[worded["register"] == "on", "wording_level"]
            == worded.loc[worded["register"] == "on", "expertise_level"]).mean() > 0.95
    # per customer and area, nearly always a single level
    frame["area"] = frame["topic"].map(lambda t: TOPICS[t][0])
    levels = frame.groupby(["customer_id", "area"])["expertise_level"].nunique()
    assert (levels == 1).mean() > 0.9
    kinds = set(frame["register"])
    assert {"on", "casual", "relayed", "vague", "precise", "thin"} <= kinds
