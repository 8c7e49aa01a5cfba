"""Batch scoring benchmark: `expertise score` end to end, against a naive scikit-learn baseline.

Run from the repository root::

    python bench/batch_bench.py                        # 100,000 and 1,000,000 rows, jobs 1 and 2
    python bench/batch_bench.py --rows 20000 --jobs 2  # a quick look
    python bench/batch_bench.py --json
    python bench/batch_bench.py --engine dask --jobs 2 --no-baseline   # the Dask engine

Each measurement generates its own export (tickets of about 300 characters built from the
bundled ticket texts, with some e-mail addresses and phone numbers to redact, customers with
several tickets each, in time order) in a temporary folder, runs ``expertise score`` on it in a
subprocess and reads that process's resource usage with ``os.wait4``: wall time, CPU time and
peak RSS (``ru_maxrss``: the largest single process, which with ``--jobs`` includes its workers
as waited-for children). The summed RSS of the whole process tree is also sampled from /proc
every 0.1 s (``peak_tree_rss_mb``): with workers, that is the real footprint.

The baseline is what one would write first: pandas reads the whole CSV, a TfidfVectorizer of
character 2-4-grams and a LogisticRegression (trained beforehand on the bundled training split,
not timed) predict the level, pandas writes the CSV. It transforms in slices of 100,000 rows,
since a million rows of character n-grams need some 10 GB at once. Same export, same run.

Figures depend on the machine and on what else runs on it; on a shared machine treat them as
rough. ``run(rows, jobs)`` is the importable entry point (`make bench` uses it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEFAULT_ROWS = (100_000, 1_000_000)
DEFAULT_JOBS = (1, 2)
TARGET_ROWS_PER_S = 20_000
TARGET_PEAK_MB = 1024
_PII = (" Call me on 07700 900{n:03d}.", " My email is sam.jones{n}@example.com",
        " Regards, Sam Jones", " My account number is 88{n:05d}.")


# ---------------------------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------------------------


def _texts() -> tuple[list[str], list[str]]:
    subjects: list[str] = []
    bodies: list[str] = []
    for name in ("tickets_train.csv", "tickets_eval.csv"):
        with open(DATA / name, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("subject"):
                    subjects.append(row["subject"])
                if row.get("body"):
                    bodies.append(row["body"])
    return subjects, bodies


def make_export(path: Path, rows: int, *, seed: int = 1, customers: int | None = None) -> Path:
    """Write a CSV export of `rows` tickets (~300 characters each, in time order)."""
    rng = random.Random(seed)
    subjects, bodies = _texts()
    customers = customers or max(1, rows // 3)
    start = 1_700_000_000
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["ticket_id", "customer_id", "created_at", "channel", "subject", "body",
                      "priority"])
        for i in range(rows):
            subject = rng.choice(subjects)
            body = rng.choice(bodies)
            while len(subject) + len(body) < 240:
                body += " " + rng.choice(bodies)
            if len(subject) + len(body) > 330:
                body = body[: max(60, 330 - len(subject))].rsplit(" ", 1)[0]
            if rng.random() < 0.15:
                body += rng.choice(_PII).format(n=rng.randrange(1000))
            customer = "" if rng.random() < 0.1 else f"C{rng.randrange(customers):07d}"
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i * 20))
            out.writerow([f"T{i:09d}", customer, when, rng.choice(("email", "chat", "web",
                                                                     "phone")),
                          subject, body, rng.choice(("low", "normal", "high"))])
    return path


# ---------------------------------------------------------------------------------------------
# Measuring a subprocess
# ---------------------------------------------------------------------------------------------


def _tree_rss_kb(pid: int) -> int:
    """Summed RSS (kB) of a process and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(p)
        rss[p] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def measure(cmd: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`; return wall and CPU seconds, peak RSS (wait4) and peak tree RSS (sampled)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = proc.stdout.read() if proc.stdout else b""
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                           f"{stderr.decode(errors='replace')[-2000:]}")
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(peak[0] / 1024, 1),
        "stdout": stdout.decode(errors="replace"),
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# ---------------------------------------------------------------------------------------------
# Ours and the baseline
# ---------------------------------------------------------------------------------------------


def score_once(export: Path, jobs: int, out: Path, engine: str = "local") -> dict[str, Any]:
    """`expertise score EXPORT --jobs N [--engine dask]` in a subprocess, measured (with Dask:
    a local cluster of N workers, and the output a folder of Parquet parts)."""
    if engine == "dask":
        out = out.with_suffix(".parquet")
    cmd = [sys.executable, "-m", "expertise", "score", str(export), "--out", str(out),
           "--jobs", str(jobs), "--engine", engine, "--json"]
    result = measure(cmd, env=_env())
    report = json.loads(result.pop("stdout"))
    rows = int(report["rows_scored"])
    result.update(rows=rows, jobs=jobs, rows_per_s=round(rows / result["seconds"]),
                  rows_per_cpu_s=round(rows / max(result["cpu_seconds"], 1e-9)),
                  levels=report["levels"])
    return result


_BASELINE = """
import sys, joblib, numpy as np, pandas as pd
model = joblib.load(sys.argv[1])
frame = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
text = (frame["subject"] + ". " + frame["body"]).tolist()
parts = [model.predict_proba(text[i:i + 100_000]) for i in range(0, len(text), 100_000)]
proba = np.vstack(parts)
frame["expertise_level"] = model.classes_[proba.argmax(axis=1)]
frame["expertise_confidence"] = proba.max(axis=1).round(4)
for k, name in enumerate(model.classes_):
    frame["p_" + name] = proba[:, k].round(4)
frame.to_csv(sys.argv[3], index=False)
print(len(frame))
"""


def train_baseline(path: Path) -> float:
    """Fit the naive model on the bundled training split; save it with joblib; return seconds."""
    import joblib
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    train = pd.read_csv(DATA / "tickets_train.csv", dtype=str, keep_default_na=False)
    text = (train["subject"] + ". " + train["body"]).tolist()
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                        dtype=__import__("numpy").float32),
        LogisticRegression(max_iter=1000),
    )
    model.fit(text, train["expertise_level"])
    joblib.dump(model, path)
    return time.perf_counter() - started


def baseline_once(export: Path, model_path: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-c", _BASELINE, str(model_path), str(export), str(out)]
    result = measure(cmd, env=_env())
    rows = int(result.pop("stdout").strip().splitlines()[-1])
    result.update(rows=rows, rows_per_s=round(rows / result["seconds"]),
                  rows_per_cpu_s=round(rows / max(result["cpu_seconds"], 1e-9)))
    return result


def run(rows: int, jobs: int, *, baseline: bool = False, workdir: Path | None = None,
        keep: bool = False, engine: str = "local") -> dict[str, Any]:
    """Score a generated export of `rows` tickets with `jobs` workers; optionally the baseline.

    Returns a dict with ``ours`` (seconds, cpu_seconds, rows_per_s, rows_per_cpu_s,
    peak_rss_mb, peak_tree_rss_mb, ...) and, with ``baseline``, ``baseline`` and ``ratio``.
    """
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="batch-bench-")) if own else Path(workdir)
    try:
        export = folder / f"tickets_{rows}.csv"
        if not export.exists():
            make_export(export, rows)
        result: dict[str, Any] = {"rows": rows, "jobs": jobs, "engine": engine,
                                  "export_mb": round(export.stat().st_size / 2**20, 1)}
        result["ours"] = score_once(export, jobs, folder / f"scored_{rows}_{jobs}.csv", engine)
        if baseline:
            model = folder / "baseline.joblib"
            if not model.exists():
                result["baseline_train_seconds"] = round(train_baseline(model), 1)
            result["baseline"] = baseline_once(export, model, folder / f"naive_{rows}.csv")
            result["ratio"] = _ratios(result["ours"], result["baseline"])
        return result
    finally:
        if own and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    return {
        "speed": round(ours["rows_per_s"] / max(base["rows_per_s"], 1), 2),
        "cpu_efficiency": round(ours["rows_per_cpu_s"] / max(base["rows_per_cpu_s"], 1), 2),
        "peak_tree_memory": round(ours["peak_tree_rss_mb"] / max(base["peak_tree_rss_mb"], 1), 2),
    }


def run_all(rows: tuple[int, ...] = DEFAULT_ROWS, jobs: tuple[int, ...] = DEFAULT_JOBS,
            *, baseline: bool = True, engine: str = "local") -> dict[str, Any]:
    """Every size with every job count, the baseline once per size; targets checked."""
    folder = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    results: list[dict[str, Any]] = []
    try:
        for n in rows:
            for k, j in enumerate(jobs):
                results.append(run(n, j, baseline=baseline and k == 0, workdir=folder,
                                   engine=engine))
            for name in folder.glob(f"*_{n}*.csv"):
                name.unlink()
            for name in folder.glob(f"*_{n}*.parquet"):
                shutil.rmtree(name, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"results": results, "checks": _checks(results)}


def _checks(results: list[dict[str, Any]]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    two = [r for r in results if r["jobs"] == 2]
    if two:
        biggest = max(two, key=lambda r: r["rows"])
        checks["rows_per_s_jobs2"] = biggest["ours"]["rows_per_s"]
        checks["meets_20000_per_s"] = biggest["ours"]["rows_per_s"] >= TARGET_ROWS_PER_S
    peaks = {(r["rows"], r["jobs"]): r["ours"]["peak_tree_rss_mb"] for r in results}
    checks["peak_under_1_gib"] = all(v < TARGET_PEAK_MB for v in peaks.values())
    for j in sorted({r["jobs"] for r in results}):
        sizes = sorted(n for n, jj in peaks if jj == j)
        if len(sizes) >= 2:
            small, big = peaks[(sizes[0], j)], peaks[(sizes[-1], j)]
            checks[f"memory_growth_jobs{j}"] = round(big / small - 1, 3)
            checks[f"memory_flat_jobs{j}"] = big <= small * 1.2
    return checks


def _print(summary: dict[str, Any]) -> None:
    print(f"{'rows':>10} {'jobs':>4} {'rows/s':>8} {'rows/cpu-s':>10} {'peak MB':>8} "
          f"{'tree MB':>8}  baseline rows/s, tree MB -> ratio (speed, memory)")
    for r in summary["results"]:
        o = r["ours"]
        line = (f"{r['rows']:>10,} {r['jobs']:>4} {o['rows_per_s']:>8,} {o['rows_per_cpu_s']:>10,} "
                f"{o['peak_rss_mb']:>8} {o['peak_tree_rss_mb']:>8}")
        if "baseline" in r:
            b, q = r["baseline"], r["ratio"]
            line += (f"  {b['rows_per_s']:,} rows/s, {b['peak_tree_rss_mb']} MB -> "
                     f"x{q['speed']} speed, x{q['peak_tree_memory']} memory")
        print(line)
    print("checks:", json.dumps(summary["checks"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--jobs", type=int, nargs="+", default=list(DEFAULT_JOBS))
    parser.add_argument("--no-baseline", action="store_true", help="Skip the naive baseline.")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="dask: a local cluster of --jobs workers, Parquet output folder")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    summary = run_all(tuple(args.rows), tuple(args.jobs), baseline=not args.no_baseline,
                      engine=args.engine)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
