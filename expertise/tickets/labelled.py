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

__all__ = ["check_training_frame", "default_eval_sets", "fingerprint_frame", "read_labelled",
           "read_messages"]

#: The hand-written message files in customers' own voice that training reads, under
#: ``data/messages/``: topic-labelled ones, and ones no article fits (topic ``none``).
MESSAGE_FILES = ("in_scope.csv", "out_of_scope.csv")


def read_labelled(path: Path, *, mapping: dict[str, str] | None = None,
                  evaluation: bool = False) -> pd.DataFrame:
    """Read a labelled export with the ticket readers (any supported layout); rejects dropped.

    With `evaluation`, a level may be ``unclear`` (too little to judge) and a topic ``none``
    (no article fits), and rows without a level are kept as earlier tickets (history) of
    their customers; at least one row must carry a level.
    """
    import pandas as pd

    from expertise.tickets.readers import iter_tickets

    frames = [chunk.frame for chunk in iter_tickets(path, mapping=mapping,
                                                    require_labels=not evaluation,
                                                    unclear_ok=evaluation)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not len(frame) or "expertise_level" not in frame or not (
            frame["expertise_level"] != "").any():
        raise InputError(f"{path}: no usable labelled tickets; check expertise_level and body")
    return frame


def read_messages(folder: Path | None = None) -> pd.DataFrame:
    """The training messages (`MESSAGE_FILES`): columns ``text``, ``topic`` (a slug or
    ``none``), ``level`` (a level, or ``unclear``); empty when the folder has none."""
    import pandas as pd

    folder = folder or config.data_dir() / "messages"
    frames = []
    for name in MESSAGE_FILES:
        path = folder / name
        if not path.exists():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"text", "topic", "level"} - set(frame.columns)
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        frames.append(frame[["text", "topic", "level"]])
    if not frames:
        return pd.DataFrame({"text": [], "topic": [], "level": []}, dtype=object)
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


def fingerprint_frame(frame: pd.DataFrame, messages: pd.DataFrame | None = None) -> str:
    """What a model was trained on, as a hash: the tickets, and the messages if any."""
    digest = hashlib.sha256()
    cols = [c for c in ("ticket_id", "customer_id", "created_at", "subject", "body",
                        "expertise_level", "topic") if c in frame]
    for row in frame[cols].astype(str).itertuples(index=False):
        digest.update("\x1f".join(row).encode())
        digest.update(b"\x1e")
    if messages is not None and len(messages):
        digest.update(b"messages\x1d")
        for row in messages[["text", "topic", "level"]].astype(str).itertuples(index=False):
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
