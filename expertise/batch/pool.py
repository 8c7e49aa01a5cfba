"""Scoring in worker processes: each loads the model once; a customer always goes to the same
worker, so each worker's history carry holds complete histories. Also the two runtime
settings batch processes tune (glibc's free memory, the cycle collector).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertise.batch.chunks import (
    ChunkScorer,
    chunk_payload,
    merge_parts,
    redact_columns,
    take_rows,
)
from expertise.batch.settings import ScoreSettings
from expertise.errors import ExpertiseError

if TYPE_CHECKING:
    import pandas as pd


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    Scoring a chunk allocates arrays of tens of megabytes and frees them; by default glibc maps
    each from the kernel and unmaps it on free, so every chunk pays page faults again (about a
    tenth of batch scoring's CPU time was system time). Keeping them in the heap costs no extra
    peak memory: the next chunk reuses the same space. The setting is process-wide and only
    about when memory goes back to the system. Elsewhere than glibc, nothing happens.
    """
    mallopt = _libc("mallopt")
    if mallopt is None:  # not Linux, or not glibc (e.g. musl)
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)
    mallopt(m_top_pad, 16 << 20)


def _libc(name: str) -> Any:
    """The C library's function `name` on Linux; None elsewhere or if it has none."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                                   use_errno=True), name)
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Keep Python's cycle collector off the long-lived objects and out of the hot loop, for
    the duration of a run; the collector's settings are restored afterwards.

    A chunk makes hundreds of thousands of small objects (lists, floats, strings); each
    collection of the older generations walks every live object, the loaded model and
    knowledge base included, which cost about a seventh of the scoring time. `gc.freeze`
    moves what exists now (enter this once the engine is loaded) out of the collector's
    sight, and a higher first threshold makes collections rarer. Scoring makes no reference
    cycles (reference counting frees its garbage at once), so memory stays where it was.
    """
    import gc

    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def die_with_parent(parent: int, *, interval: float = 0.5) -> None:
    """Make this (worker) process end when its parent `parent` does, however the parent ends.

    A worker killed with its parent frees its memory (hundreds of megabytes: the model) at
    once; one left behind would wait for tasks forever. On Linux the kernel sends SIGKILL
    when the parent dies (``prctl(PR_SET_PDEATHSIG)``; it tracks the thread that started the
    worker, the one running the pool). Everywhere, a watchdog thread checks every `interval`
    seconds that the parent is still this process's parent, and ends the process if not.
    What a killed worker leaves in the temporary folder, the next run removes
    (`batch.run.remove_stale_runs`).
    """
    import os
    import signal
    import threading
    import time

    prctl = _libc("prctl")
    if prctl is not None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)  # no clean-up can be trusted now; the next run removes what is left

    threading.Thread(target=watch, name="expertise-parent-watchdog", daemon=True).start()


def _worker_main(settings: ScoreSettings, worker: int, tasks: Any, results: Any,
                 carry_folder: str | None, parent: int) -> None:
    """A worker process: build the engine once, then score chunks until told to stop."""
    import signal
    import sys

    die_with_parent(parent)

    def stop(*_: Any) -> None:
        # An exit that still removes this worker's history file, and that does not wait to
        # hand results to a parent that no longer reads them.
        results.cancel_join_thread()
        sys.exit(143)

    # Ctrl-C reaches the whole process group; the parent stops the workers itself (SIGTERM).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    keep_freed_memory()
    try:
        scorer = ChunkScorer(settings, carry_folder=carry_folder)
    except BaseException as exc:  # report, so the parent does not wait forever
        results.put((-1, _describe(exc)))
        return
    try:
        with quiet_gc():
            for seq, chunk in iter(tasks.get, None):
                try:
                    out = scorer.score(chunk)
                except BaseException as exc:
                    results.put((-1, _describe(exc)))
                    return
                results.put((seq, {**out, "_worker": worker}))
        results.put((-2, scorer.customers_looked_up))
    finally:
        scorer.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ExpertiseError):
        return str(exc)
    return f"a scoring worker failed: {type(exc).__name__}: {exc}"


class _Pool:
    """N worker processes; chunk parts go to a fixed worker so its carry stays complete."""

    def __init__(self, settings: ScoreSettings, jobs: int, carry_folder: Path | None) -> None:
        import multiprocessing as mp
        import os
        import signal

        ctx = mp.get_context("spawn")
        self.jobs = jobs
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue(maxsize=2) for _ in range(jobs)]
        self.procs = [
            ctx.Process(target=_worker_main, daemon=True, name=f"expertise-score-{w}",
                        args=(settings, w, self.tasks[w], self.results,
                              str(carry_folder) if carry_folder else None, os.getpid()))
            for w in range(jobs)
        ]
        # Ctrl-C reaches the whole process group, also while a worker still imports (before
        # it can ignore it: a traceback per worker). Started with SIGINT blocked, a worker
        # inherits the mask and never sees it; here it waits, and arrives once unblocked.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for proc in self.procs:
                proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.customers_looked_up = 0

    def submit(self, worker: int, seq: int, chunk: dict[str, Any]) -> None:
        self._wait(self.tasks[worker].put, (seq, chunk))

    def _wait(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args, timeout=1.0)`` until it succeeds, checking each second that every
        worker still runs."""
        import queue

        while True:
            try:
                return call(*args, timeout=1.0)
            except (queue.Full, queue.Empty):
                self._check_alive()

    def get(self) -> tuple[int, dict[str, Any]]:
        seq, payload = self.get_raw()
        if seq < 0:
            raise ExpertiseError(f"unexpected message from a scoring worker: {seq}")
        return seq, payload

    def _check_alive(self) -> None:
        for proc in self.procs:
            if not proc.is_alive():
                raise ExpertiseError(
                    f"scoring worker {proc.name} stopped unexpectedly (exit code "
                    f"{proc.exitcode}); try fewer --jobs or check free memory")

    def finish(self) -> None:
        for queue in self.tasks:
            self._wait(queue.put, None)
        done = 0
        while done < self.jobs:
            seq, payload = self.get_raw()
            if seq == -2:
                self.customers_looked_up += int(payload)
                done += 1
        for proc in self.procs:
            proc.join(timeout=30)

    def get_raw(self) -> tuple[int, Any]:
        item: tuple[int, Any] = self._wait(self.results.get)
        if item[0] == -1:
            raise ExpertiseError(str(item[1]))
        return item

    def terminate(self) -> None:
        """Stop the workers: SIGTERM (each removes its history file), then SIGKILL for any
        still running after a few seconds: none outlives the run."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(timeout=5)
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for queue in [*self.tasks, self.results]:
            queue.cancel_join_thread()
            queue.close()


def _partition(customers: Sequence[str], jobs: int) -> list[list[int]]:
    """Row positions per worker: by a stable hash of the customer, anonymous rows round-robin."""
    parts: list[list[int]] = [[] for _ in range(jobs)]
    for k, cid in enumerate(customers):
        w = zlib.crc32(cid.encode("utf-8")) % jobs if cid else k % jobs
        parts[w].append(k)
    return parts


class LocalRun:
    """Scores frames in order, in this process (jobs=1) or in a pool of workers."""

    #: Chunks in flight at once with workers: enough to keep them busy, few for flat memory.
    IN_FLIGHT = 2

    def __init__(self, settings: ScoreSettings, jobs: int, carry_folder: Path | None) -> None:
        self.settings = settings
        self.jobs = jobs
        self.redact_cols: list[str] = []
        self.scorer: ChunkScorer | None = None
        self.pool: _Pool | None = None
        self.customers_looked_up = 0
        if jobs == 1:
            self.scorer = ChunkScorer(settings, carry_folder=carry_folder)
        else:
            self.pool = _Pool(settings, jobs, carry_folder)

    def run(self, frames: Iterable[pd.DataFrame]
            ) -> Iterator[tuple[pd.DataFrame, dict[str, list[Any]]]]:
        """Yield (frame, scored columns) in input order."""
        if self.scorer is not None:
            for frame in frames:
                yield frame, self.scorer.score(self._payload(frame))
            return
        assert self.pool is not None
        # seq -> (frame, row positions of each worker given some, results by worker)
        pending: dict[int, tuple[pd.DataFrame, dict[int, list[int]], dict[int, Any]]] = {}
        for seq, frame in enumerate(frames):
            chunk = self._payload(frame)
            parts = {w: positions for w, positions in
                     enumerate(_partition(chunk["customer_id"], self.jobs)) if positions}
            pending[seq] = (frame, parts, {})
            for w, positions in parts.items():
                self.pool.submit(w, seq, take_rows(chunk, positions))
            yield from self._ready(pending, self.IN_FLIGHT)
        yield from self._ready(pending, 0)

    def _ready(self, pending: dict[int, tuple[pd.DataFrame, dict[int, list[int]], dict[int, Any]]],
               in_flight: int) -> Iterator[tuple[pd.DataFrame, dict[str, list[Any]]]]:
        """Yield the oldest chunks whose parts are all scored, collecting results while more
        than `in_flight` chunks are pending."""
        assert self.pool is not None
        while pending:
            seq = next(iter(pending))  # the oldest: chunks are added and yielded in order
            frame, parts, got = pending[seq]
            if len(got) == len(parts):
                del pending[seq]
                yield frame, merge_parts(len(frame), list(parts.values()),
                                         [got[w] for w in parts])
            elif len(pending) > in_flight:
                done, result = self.pool.get()
                pending[done][2][int(result.pop("_worker"))] = result
            else:
                return

    def _payload(self, frame: pd.DataFrame) -> dict[str, Any]:
        if self.settings.redact:
            # chunk by chunk: a column numeric in the first chunk may hold text in a later
            # one, and a JSON key may first appear after the first chunk; once redacted, a
            # column is redacted in every later chunk that has it
            known = set(self.redact_cols)
            self.redact_cols += [c for c in redact_columns(frame) if c not in known]
        return chunk_payload(frame, [c for c in self.redact_cols if c in frame.columns])

    def finish(self) -> None:
        if self.pool is not None:
            self.pool.finish()
            self.customers_looked_up = self.pool.customers_looked_up
        elif self.scorer is not None:
            self.customers_looked_up = self.scorer.customers_looked_up

    def close(self) -> None:
        if self.scorer is not None:
            self.scorer.close()
        if self.pool is not None:
            self.pool.terminate()
