"""Labelled ticket sets: reading them, checking them, and the fixed evaluation sets.

Training and evaluation read labelled exports with the same readers as everything else
(`expertise.tickets.readers`), so any supported layout works; rows the readers reject are
dropped here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from expertise import config
from expertise.config import LEVELS
from expertise.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_training_frame", "default_eval_sets", "fingerprint_frame", "read_labelled"]


def read_labelled(path: Path, *, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a labelled export with the ticket readers (any supported layout); rejects dropped."""
    import pandas as pd

    from expertise.tickets.readers import iter_tickets

    frames = [chunk.frame for chunk in iter_tickets(path, mapping=mapping, require_labels=True)]
    if not frames or not sum(len(f) for f in frames):
        raise InputError(f"{path}: no usable labelled tickets; check expertise_level and body")
    return pd.concat(frames, ignore_index=True)


def check_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    missing = [c for c in ("ticket_id", "body", "expertise_level") if c not in frame.columns]
    if missing:
        raise InputError(
            f"training data lacks column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    frame = frame.copy()
    for col in ("customer_id", "created_at", "subject", "topic"):
        if col not in frame:
            frame[col] = ""
        frame[col] = frame[col].fillna("").astype(str)
    bad = ~frame["expertise_level"].isin(LEVELS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"training row {row + 1}: expertise_level {frame['expertise_level'].iloc[row]!r} "
            f"is not one of {', '.join(LEVELS)}"
        )
    if frame["expertise_level"].nunique() < 2:
        raise InputError("training data needs tickets of at least two levels")
    return frame.reset_index(drop=True)


def fingerprint_frame(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    cols = [c for c in ("ticket_id", "customer_id", "created_at", "subject", "body",
                        "expertise_level", "topic") if c in frame]
    for row in frame[cols].astype(str).itertuples(index=False):
        digest.update("\x1f".join(row).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def default_eval_sets() -> dict[str, Path]:
    """The fixed evaluation sets that exist: the simulated split, the hand-written tickets and
    the hand-written customer histories."""
    sets = {"eval_split": config.data_dir() / "tickets_eval.csv",
            "handwritten": config.data_dir() / "eval_handwritten.csv",
            "histories": config.data_dir() / "eval_histories_dev.csv"}
    return {k: v for k, v in sets.items() if v.exists()}
