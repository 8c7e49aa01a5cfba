"""Labelled ticket sets: reading them, checking them, and the fixed evaluation sets.

Training and evaluation read labelled exports with the same readers as everything else
(`expertise.tickets.readers`), so any supported layout works; the rows the readers reject, and
rows whose topic the knowledge base does not have, are kept with why (`LabelledFile`), for the
commands to report and write to a rejects file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise import config
from expertise.config import LEVELS, NO_TOPIC
from expertise.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LabelledFile", "check_training_frame", "default_eval_sets", "describe_left_out",
           "fingerprint_frame", "read_labelled", "read_labelled_file", "read_messages"]

#: The hand-written message files in customers' own voice that training reads, under
#: ``data/messages/``: topic-labelled ones, and ones no article fits (topic ``none``).
MESSAGE_FILES = ("in_scope.csv", "out_of_scope.csv")


@dataclass
class LabelledFile:
    """A labelled export as read: the usable rows, and the rows left out with why.

    Attributes
    ----------
    path : Path
        The file.
    frame : pandas.DataFrame
        The usable rows (the ticket readers' canonical columns).
    rejects : pandas.DataFrame
        The rows left out: ``row`` (1-based data row), ``ticket_id``, ``reason``.
    rows_read : int
        Data rows in the file.
    rejects_path : Path or None
        Where the rejects were written, if anywhere.
    """

    path: Path
    frame: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    rejects_path: Path | None = None

    def left_out(self) -> dict[str, Any]:
        """The rows left out, for reports: how many, how many per reason (most first), the
        first few (row, ticket id with personal data redacted, reason) and the rejects file.

        A report goes to the terminal, into `--json` output and into a bundle's metrics, and a
        rejected row's "id" is often text that slid into the id column, so its ids are
        redacted as the rejects file's are; the row number still finds the row."""
        from collections import Counter

        from expertise.tickets.writers import redacted_ids

        reasons = Counter(self.rejects["reason"].tolist())
        head = self.rejects.head(FIRST_REJECTS)
        ids = redacted_ids([str(tid) for tid in head["ticket_id"].tolist()])
        first = [{"row": int(row), "ticket_id": tid, "reason": str(why)}
                 for row, tid, why in zip(head["row"].tolist(), ids, head["reason"].tolist(),
                                          strict=True)]
        return {"file": str(self.path), "rows_read": self.rows_read, "usable": len(self.frame),
                "rejected": len(self.rejects), "reasons": dict(reasons.most_common()),
                "first": first,
                "rejects_path": str(self.rejects_path) if self.rejects_path else None}


#: How many rejected rows a report names (all are in the rejects file).
FIRST_REJECTS = 5


def describe_left_out(info: dict[str, Any]) -> str:
    """One line naming a labelled file's rows left out (:meth:`LabelledFile.left_out`): how
    many, why, which came first and where they are all listed; empty when none were."""
    if not info.get("rejected"):
        return ""
    why = "; ".join(f"{n} {reason}" for reason, n in info["reasons"].items())
    first = ", ".join(f"row {r['row']}" + (f" ({r['ticket_id']})" if r["ticket_id"] else "")
                      for r in info["first"])
    more = ", ..." if info["rejected"] > len(info["first"]) else ""
    where = f"; all listed in {info['rejects_path']}" if info.get("rejects_path") else ""
    return (f"{info['file']}: {info['rejected']} of {info['rows_read']} rows left out ({why}): "
            f"{first}{more}{where}")


def read_labelled_file(path: Path, *, mapping: Mapping[str, str] | None = None,
                       encoding: str = "auto", evaluation: bool = False,
                       topics: Iterable[str] | None = None,
                       rejects_path: Path | None = None) -> LabelledFile:
    """Read a labelled export with the ticket readers (any supported layout, `mapping` as
    ``--map``, `encoding` as ``--encoding``), keeping the rows they reject, with why.

    With `evaluation`, a level may be ``unclear`` (too little to judge), and rows without a
    level are kept as earlier tickets (history) of their customers; without it every row
    needs a level. With `topics` (the knowledge base's slugs), a topic that is none of them
    is a reject too (``none``, no article fits, and an empty topic are kept). The rejects are
    written to `rejects_path` when there are any. InputError when no row carries a level,
    naming the rows left out.
    """
    import pandas as pd

    from expertise.tickets.readers import TicketReader, rejects_frame, write_rejects

    reader = TicketReader(path, mapping=mapping, encoding=encoding,
                          require_labels=not evaluation, unclear_ok=evaluation)
    frames, rejects = [], []
    for chunk in reader.chunks():
        frames.append(chunk.frame)
        if len(chunk.rejects):
            rejects.append(chunk.rejects)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if topics is not None and "topic" in frame and len(frame):
        frame, off = _known_topics(frame, set(topics))
        if off:
            rejects.append(rejects_frame(off))
    rejected = (pd.concat(rejects, ignore_index=True).sort_values("row", kind="stable")
                .reset_index(drop=True) if rejects else rejects_frame([]))
    result = LabelledFile(Path(path), frame, rejected, reader.stats.rows_read)
    if len(rejected) and rejects_path is not None:
        write_rejects(rejects_path, [rejected])
        result.rejects_path = Path(rejects_path)
    if not len(frame) or "expertise_level" not in frame or not (
            frame["expertise_level"] != "").any():
        left = describe_left_out(result.left_out())
        raise InputError(f"{path}: no usable labelled tickets; check expertise_level and body"
                         + (f". {left}" if left else ""))
    return result


def _known_topics(frame: pd.DataFrame, topics: set[str]
                  ) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """The rows whose topic is a known slug, ``none`` or empty, and the others as rejects
    (with the nearest slug when one is close)."""
    import difflib

    from expertise.tickets.readers import ROW_COLUMN

    given = frame["topic"].astype(str)
    bad = ~given.isin(topics | {NO_TOPIC, ""})
    if not bad.any():
        return frame, []
    slugs = sorted(topics)
    off = []
    for i in bad.to_numpy().nonzero()[0].tolist():
        value = given.iloc[i]
        loose = value.strip().lower().replace("_", "-").replace(" ", "-")
        near = difflib.get_close_matches(loose, slugs, n=1, cutoff=0.75)
        hint = (f"did you mean {near[0]}?" if near else
                "see `expertise kb list`, or none where no article fits")
        off.append((int(frame[ROW_COLUMN].iloc[i]), str(frame["ticket_id"].iloc[i]),
                    f"topic {value!r} is not a knowledge-base topic ({hint})"))
    return frame[~bad].reset_index(drop=True), off


def read_labelled(path: Path, *, mapping: Mapping[str, str] | None = None,
                  evaluation: bool = False) -> pd.DataFrame:
    """The usable rows of a labelled export (:func:`read_labelled_file`), for files known to
    be clean (the bundled splits and evaluation sets); rejects are not reported."""
    return read_labelled_file(path, mapping=mapping, evaluation=evaluation).frame


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
