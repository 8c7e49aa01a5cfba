"""Ticket ids seen earlier in a run, kept small: duplicates across chunks (the local engine)
and across the parts of the input (the Dask engine) are rejected as the reader rejects them
within one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SeenIds:
    """Ticket ids of earlier chunks, for duplicates across chunks in little memory.

    The reader keeps every id as a Python string (about 90 bytes each); here an id is two
    64-bit hashes (16 bytes) in sorted numpy runs, merged as they grow (a log-structured set),
    so a million ids take 16 MB. Two different ids would need both hashes to collide.
    """

    def __init__(self) -> None:
        import numpy as np

        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def seen(self, first: Any, second: Any) -> Any:
        """A boolean array: which (first, second) pairs were added before."""
        import numpy as np

        found = np.zeros(len(first), dtype=bool)
        for keys, others in self._runs:
            left = np.searchsorted(keys, first, side="left")
            right = np.searchsorted(keys, first, side="right")
            for k in np.flatnonzero(right > left):
                found[k] |= bool((others[left[k]:right[k]] == second[k]).any())
        return found

    def add(self, first: Any, second: Any) -> None:
        import numpy as np

        order = np.argsort(first, kind="stable")
        self._runs.append((first[order], second[order]))
        # merge while the newest run is at least half the size of the one before it
        while len(self._runs) > 1 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
            (k1, o1), (k2, o2) = self._runs[-2], self._runs.pop()
            keys = np.concatenate([k1, k2])
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            self._runs[-1] = (keys[order], np.concatenate([o1, o2])[order])

    def seen_before(self, ids: Sequence[str]) -> Any:
        """A boolean array: which of these ids were added before (an empty one never); then
        adds them (the empty ones not)."""
        import numpy as np

        given = [k for k, t in enumerate(ids) if t]
        h1, h2 = _hashes([ids[k] for k in given])
        found = np.zeros(len(ids), dtype=bool)
        found[given] = self.seen(h1, h2)
        self.add(h1, h2)
        return found

    def check(self, chunk: Any) -> Any:
        """The chunk with rows whose id appeared in an earlier chunk moved to its rejects."""
        import pandas as pd

        from expertise.tickets.readers import TicketChunk

        frame, rejects = chunk.frame, chunk.rejects
        ids = frame["ticket_id"].tolist()
        rejected_ids = [t for t in rejects["ticket_id"].tolist() if t]
        h1, h2 = _hashes(ids + rejected_ids)
        dup = self.seen(h1, h2)
        n = len(ids)
        if dup.any():
            bad = dup[:n]
            moved = pd.DataFrame({"row": frame.loc[bad, "_row"].astype("int64").to_numpy(),
                                  "ticket_id": frame.loc[bad, "ticket_id"].astype(str).to_numpy(),
                                  "reason": "duplicate ticket_id"})
            if dup[n:].any():  # rejected for another reason as well: duplicate comes first
                rejects = rejects.copy()
                again = rejects["ticket_id"].isin([t for t, d in zip(rejected_ids, dup[n:],
                                                                      strict=True) if d])
                again &= ~rejects["reason"].str.startswith("duplicate ticket_id")
                rejects.loc[again, "reason"] = "duplicate ticket_id; " + rejects.loc[again,
                                                                                     "reason"]
            rejects = pd.concat([rejects, moved], ignore_index=True).sort_values(
                "row", kind="stable").reset_index(drop=True)
            frame = frame[~bad].reset_index(drop=True)
        self.add(h1, h2)
        return TicketChunk(frame, rejects)


def _hashes(ids: Sequence[str]) -> tuple[Any, Any]:
    """Two 64-bit hashes of each id, under different keys."""
    import numpy as np
    import pandas as pd

    values = np.asarray(ids, dtype=object)
    return (pd.util.hash_array(values, hash_key="expertise-ids-01"),
            pd.util.hash_array(values, hash_key="expertise-ids-02"))
