"""Measure every speed and memory figure the project promises, each against a baseline.

Run from the repository root (``make bench`` / ``make bench-quick``)::

    .venv/bin/python bench/run.py            # the full run (about 20 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a smaller version, under 2 minutes
    .venv/bin/python bench/run.py --only startup,session
    .venv/bin/python bench/run.py --only training --merge   # redo one section in results.json

Sections: ``startup`` (``expertise --help`` and a one-shot ``expertise answer``, wall time),
``session`` (in-session answer latency, bundled knowledge base and a generated 10,002-article
one), ``batch`` (``expertise score`` rows per second and peak memory; bench/batch_bench.py),
``store`` (customer history look-up at 1,000,000 tickets; bench/store_bench.py) and
``training`` (``expertise train --no-eval`` on the bundled data).

Every figure is measured together with a baseline in the same invocation, so that on a noisy
machine the ratio holds even when the absolute figure drifts: wall times of subprocesses are
the median of several interleaved runs (7; quick: 3). Results go to ``bench/results.json`` and a
Markdown table ``bench/results.md`` (quick: ``results-quick.json`` / ``.md``); each section also
prints its figures as it finishes. Exit status: 1 if a section failed to run (or, with
``--strict``, if a target was missed), else 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))  # the sibling bench modules
try:
    import expertise  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(ROOT))

SECTIONS = ("startup", "session", "batch", "store", "training")
ANSWER_TEXT = ("Hub on fw 4.2.1 shows WAN down: PPPoE auth fails, no IP on the WAN interface. "
               "ONT link light is fine, VLAN 101 and MTU 1492 unchanged.")


@dataclass
class Figure:
    """One measured figure with its baseline; `ratio` is figure / baseline."""

    section: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    target: str = ""
    passed: bool | None = None  # None: no target for this figure (or not checked in this mode)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def line(self) -> str:
        base = (f"{_fmt(self.baseline_value)} {self.unit} ({self.baseline})"
                if self.baseline_value is not None else f"({self.baseline or 'no baseline'})")
        ratio = f"x{self.ratio:.2f}" if self.ratio is not None else "-"
        verdict = {True: "PASS", False: "FAIL", None: ""}[self.passed]
        target = f"target {self.target} {verdict}" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        return (f"  {self.name:<42} {_fmt(self.value):>10} {self.unit:<6} vs {base:<48} "
                f"ratio {ratio:<7} {target}{note}")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


# ---- helpers -----------------------------------------------------------------------------------

def _cli() -> list[str]:
    script = Path(sys.executable).parent / "expertise"
    return [str(script)] if script.exists() else [sys.executable, "-m", "expertise"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of measured subprocesses: the committed model and knowledge base, a
    throw-away data home (salt, default database), nothing else of the developer's."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("EXPERTISE_DB", "EXPERTISE_MODELS", "EXPERTISE_KB")}
    env["XDG_DATA_HOME"] = str(home)
    env.update(extra)
    return env


# Measured commands run under this small launcher, which times them and reads their resource
# usage with wait4. Spawning them straight from this process would be wrong for memory: Linux
# carries the parent's peak RSS into a child's ru_maxrss across exec, and after the session and
# batch sections this process holds a gigabyte or more.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"wall": time.perf_counter() - started,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "code": os.waitstatus_to_exitcode(status),
                  "err": err.decode(errors="replace")[-2000:]}))
"""


def run_measured(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run `cmd` to completion: wall seconds, CPU seconds and peak RSS (MB) from wait4."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], env=env, check=True,
                          capture_output=True, text=True)
    result = json.loads(done.stdout)
    if result["code"] != 0:
        tail = result["err"].strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {result['code']}: {' | '.join(tail)}")
    return {k: result[k] for k in ("wall", "cpu", "peak_mb")}


def median_runs(commands: dict[str, list[str]], env: dict[str, str], n: int
                ) -> dict[str, dict[str, float]]:
    """Run the commands round-robin n times (after one unrecorded warm-up round), so that a
    change of machine load hits every command alike; medians of wall and CPU time."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for i in range(n + 1):
        for name, cmd in commands.items():
            result = run_measured(cmd, env)
            if i:
                runs[name].append(result)
    return {
        name: {"runs": len(rs),
               "wall_median_s": round(statistics.median(r["wall"] for r in rs), 4),
               "wall_min_s": round(min(r["wall"] for r in rs), 4),
               "cpu_median_s": round(statistics.median(r["cpu"] for r in rs), 4),
               "peak_mb": round(max(r["peak_mb"] for r in rs), 1)}
        for name, rs in runs.items()
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- sections ----------------------------------------------------------------------------------

def bench_startup(ctx: Context) -> tuple[dict[str, Any], list[Figure]]:
    """`expertise --help` and one-shot `expertise answer`, against `python -c "import numpy"`."""
    cli = _cli()
    commands = {
        "import numpy": [sys.executable, "-c", "import numpy"],
        "expertise --help": [*cli, "--help"],
        "expertise answer": [*cli, "answer", ANSWER_TEXT],
    }
    # As an installed package runs: from compiled bytecode (numpy and rich have theirs). An
    # environment with PYTHONDONTWRITEBYTECODE would recompile our ~15,000 lines on every
    # start; the unrecorded warm-up round of median_runs fills a private cache instead.
    env = _env(ctx.home, PYTHONPYCACHEPREFIX=str(ctx.home / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    raw = median_runs(commands, env, ctx.runs)
    base = raw["import numpy"]["wall_median_s"]
    note = f"median of {ctx.runs}; CPU {{cpu:.3g}} s"
    figures = [
        Figure("startup", "expertise --help, wall", raw["expertise --help"]["wall_median_s"], "s",
               'python -c "import numpy"', base, "< 0.3 s",
               raw["expertise --help"]["wall_median_s"] < 0.3,
               note.format(cpu=raw["expertise --help"]["cpu_median_s"])),
        Figure("startup", "expertise answer (one-shot), wall",
               raw["expertise answer"]["wall_median_s"], "s", 'python -c "import numpy"', base,
               "< 0.5 s", raw["expertise answer"]["wall_median_s"] < 0.5,
               note.format(cpu=raw["expertise answer"]["cpu_median_s"])),
    ]
    return raw, figures


def bench_session(ctx: Context) -> tuple[dict[str, Any], list[Figure]]:
    """Session.handle(line) latency: bundled KB and a generated large KB; naive sklearn base."""
    import session_bench

    calls = session_bench.call_scripts(15 if ctx.quick else 40)
    topics = 1000 if ctx.quick else 3334
    raw: dict[str, Any] = {"bundled": session_bench.bench_bundled(calls)}
    raw["large"] = session_bench.bench_large(
        calls, topics, train_rows=1600 if ctx.quick else None, workdir=ctx.tmp)
    raw["baseline"] = session_bench.naive_baseline(calls, train_csv=ctx.train_csv)
    base = raw["baseline"]["median_ms"]
    base_name = "naive sklearn level+topic predict_proba"
    b, g = raw["bundled"], raw["large"]
    large = f"{g['articles']:,} articles"
    figures = [
        Figure("session", f"answer latency median, bundled ({b['articles']} articles)",
               b["median_ms"], "ms", base_name, base, "< 10 ms", b["median_ms"] < 10,
               f"{b['lines']} lines, with feedback"),
        Figure("session", "answer latency p95, bundled", b["p95_ms"], "ms", base_name,
               raw["baseline"]["p95_ms"]),
        Figure("session", f"answer latency median, {large}", g["median_ms"], "ms", base_name,
               base, "< 20 ms" if g["articles"] >= 10_000 else "(< 20 ms at 10,000)",
               g["median_ms"] < 20 if g["articles"] >= 10_000 else None,
               f"model fitted in {g['fit_seconds']} s on {g['train_tickets']} tickets"),
        Figure("session", f"answer latency p95, {large}", g["p95_ms"], "ms", base_name,
               raw["baseline"]["p95_ms"]),
    ]
    return raw, figures


def bench_batch(ctx: Context) -> tuple[dict[str, Any], list[Figure]]:
    """`expertise score` rows/s and peak memory, jobs 1 and 2, against the naive baseline."""
    import batch_bench

    sizes = (20_000,) if ctx.quick else (100_000, 1_000_000)
    jobs = (1, 2)
    results: list[dict[str, Any]] = []
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix="batch-", dir=ctx.tmp))
        try:
            results += [batch_bench.run(n, j, baseline=k == 0, workdir=folder)
                        for k, j in enumerate(jobs)]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return {"results": results}, batch_figures(results)


#: The issue's throughput target is for an export of this many rows (smaller runs include the
#: workers' start-up, about 2.5 s, and are reported without a target).
RATE_TARGET_ROWS = 1_000_000


def batch_figures(results: list[dict[str, Any]]) -> list[Figure]:
    """The batch section's figures from its measurements (also used by --rerender)."""
    import batch_bench

    target_rate = getattr(batch_bench, "TARGET_ROWS_PER_S", None)
    target_mb = getattr(batch_bench, "TARGET_PEAK_MB", None)
    figures: list[Figure] = []
    sizes = sorted({r["rows"] for r in results})
    for n in sizes:
        size_results = [r for r in results if r["rows"] == n]
        base = next(r["baseline"] for r in size_results if "baseline" in r)
        for r in size_results:
            ours = r["ours"]
            checked = bool(target_rate) and r["jobs"] == 2 and n >= RATE_TARGET_ROWS
            figures.append(Figure(
                "batch", f"score {n:,} rows, --jobs {r['jobs']}", ours["rows_per_s"], "rows/s",
                "naive sklearn, pandas", base["rows_per_s"],
                f">= {target_rate:,} rows/s" if checked else "",
                ours["rows_per_s"] >= target_rate if checked and target_rate else None,
                f"{ours['rows_per_cpu_s']:,} rows per CPU-s"
                + ("" if checked or n >= RATE_TARGET_ROWS else "; start-up included")))
            figures.append(Figure(
                "batch", f"peak memory {n:,} rows, --jobs {r['jobs']}",
                ours["peak_tree_rss_mb"], "MB", "naive sklearn, pandas",
                base["peak_tree_rss_mb"], f"< {target_mb:,} MB" if target_mb else "",
                ours["peak_tree_rss_mb"] < target_mb if target_mb else None,
                "summed RSS of the process tree"))
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        for j in sorted({r["jobs"] for r in results}):
            peak = {r["rows"]: r["ours"]["peak_tree_rss_mb"] for r in results if r["jobs"] == j}
            if small in peak and big in peak:
                growth = peak[big] / peak[small] - 1
                figures.append(Figure(
                    "batch", f"peak memory growth {small:,} -> {big:,} rows, --jobs {j}",
                    round(100 * growth, 1), "%", "", None, "<= 20%", growth <= 0.2,
                    f"{peak[small]:,} -> {peak[big]:,} MB"))
    return figures


def bench_store(ctx: Context) -> tuple[dict[str, Any], list[Figure]]:
    """Store.history(customer, limit=50) on a large store, against the bare SQL query."""
    import store_bench

    tickets, customers, queries = ((100_000, 20_000, 500) if ctx.quick
                                   else (1_000_000, 200_000, 2_000))
    db = ctx.tmp / "store-bench.db"
    raw = store_bench.bench_history(db, tickets, customers, queries=queries)
    raw["baseline"] = _bare_history(db, customers, queries)
    base_name = "bare sqlite3 query, same index"
    figures = [
        Figure("store", f"history look-up median, {tickets:,} tickets", raw["median_ms"], "ms",
               base_name, raw["baseline"]["median_ms"], "< 5 ms (ours)", raw["median_ms"] < 5),
        Figure("store", f"history look-up p95, {tickets:,} tickets", raw["p95_ms"], "ms",
               base_name, raw["baseline"]["p95_ms"], "< 10 ms (ours)", raw["p95_ms"] < 10,
               f"build {raw['build_seconds']} s, {raw['database_mb']} MB"),
    ]
    return raw, figures


def _bare_history(db: Path, customers: int, queries: int) -> dict[str, Any]:
    """The floor: the same query through sqlite3 alone, no Store, no row objects."""
    rng = random.Random(1)  # the customers bench_history draws
    sql = ("SELECT ticket_id, created_at, channel, subject, body, expertise_level, topic, "
           "predicted_level FROM tickets WHERE customer_id = ? "
           "ORDER BY created_at DESC, rowid DESC LIMIT 50")
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql, ("C0000000",)).fetchall()
        timings = []
        for _ in range(queries):
            customer = f"C{rng.randrange(customers):07d}"
            started = time.perf_counter()
            conn.execute(sql, (customer,)).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return {"median_ms": round(statistics.median(timings), 3),
            "p95_ms": round(_percentile(timings, 0.95), 3)}


_NAIVE_TRAIN = """
import sys
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
texts = (frame["subject"] + ". " + frame["body"]).tolist()
for label in ("expertise_level", "topic"):
    make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                  LogisticRegression(max_iter=1000)).fit(texts, frame[label])
"""


def bench_training(ctx: Context) -> tuple[dict[str, Any], list[Figure]]:
    """`expertise train --no-eval`, against a naive scikit-learn fit of level and topic."""
    data = ctx.train_csv
    models = ctx.tmp / "train-models"
    train = [*_cli(), "train", "--no-eval", "--data", str(data), "--out", str(models)]
    env = _env(ctx.home)
    raw: dict[str, Any] = {"data": str(data.relative_to(ROOT))}
    raw["ours"] = run_measured([*train, "--version-name", "bench"], env)
    raw["baseline"] = run_measured([sys.executable, "-c", _NAIVE_TRAIN, str(data)], env)
    shutil.rmtree(models, ignore_errors=True)
    with open(data, newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    base = raw["baseline"]["wall"]
    name = "naive sklearn TF-IDF+LR, level and topic"  # default BLAS threads, as written
    figures = [
        Figure("training", f"expertise train --no-eval, {rows:,} tickets", raw["ours"]["wall"],
               "s", name, base, "< 120 s", raw["ours"]["wall"] < 120,
               f"CPU {raw['ours']['cpu']:.1f} s; peak {raw['ours']['peak_mb']:.0f} MB"),
    ]
    raw["rows"] = rows
    for key in ("ours", "baseline"):
        raw[key] = {k: round(v, 3) for k, v in raw[key].items()}
    return raw, figures


BENCHES: dict[str, Callable[[Context], tuple[dict[str, Any], list[Figure]]]] = {
    "startup": bench_startup, "session": bench_session, "batch": bench_batch,
    "store": bench_store, "training": bench_training,
}


@dataclass
class Context:
    quick: bool
    runs: int
    tmp: Path
    home: Path
    train_csv: Path


# ---- report ------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import numpy
    import scipy
    import sklearn

    return {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "numpy": numpy.__version__, "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Benchmarks ({report['mode']})",
        "",
        f"{report['started']}, {report['seconds']:.0f} s; {m['cpus']} CPUs, Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, scikit-learn {m['scikit-learn']}; load "
        f"average {report['load_before']} before, {report['load_after']} after. "
        "The machine may be shared: read the ratios (figure / baseline, same run) rather than "
        "the absolute figures. Regenerate with `make bench` (`make bench-quick` for a smaller "
        "run).",
        *[f"Re-run on {r['started']}: {', '.join(r['sections'])}."
          for r in report.get("rerun", [])],
        "",
        "| section | figure | value | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in report["figures"]:
        base = (f"{_fmt(f['baseline_value'])} {f['unit']} ({f['baseline']})"
                if f["baseline_value"] is not None else f["baseline"])
        ratio = f"x{f['ratio']:.2f}" if f["ratio"] is not None else ""
        result = {True: "pass", False: "**FAIL**", None: ""}[f["passed"]]
        name = f["name"].strip() + (f" ({f['note']})" if f["note"] else "")
        lines.append(f"| {f['section']} | {name} | {_fmt(f['value'])} {f['unit']} | {base} | "
                     f"{ratio} | {f['target']} | {result} |")
    for section, error in report["errors"].items():
        lines.append(f"| {section} | did not run: {error} | | | | | **ERROR** |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, 3 runs per wall time (under 2 minutes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default bench/results.json, quick: "
                             "bench/results-quick.json); the Markdown table goes next to it")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--runs", type=int, default=None, help="runs per wall time (7; quick 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--merge", action="store_true",
                        help="replace only the sections run now in an existing results file")
    parser.add_argument("--rerender", action="store_true",
                        help="measure nothing: rebuild the batch figures and the Markdown table "
                             "from the stored results file (after a change in how they read)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in BENCHES]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    out = args.out or BENCH / ("results-quick.json" if args.quick else "results.json")
    from expertise.io import atomic_write_text

    if args.rerender:
        return _rerender(out)

    started = time.perf_counter()
    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": datetime.now().replace(microsecond=0).isoformat(),
        "machine": machine(), "load_before": [round(v, 2) for v in os.getloadavg()],
        "sections": {}, "figures": [], "errors": {},
    }
    print(f"expertise benchmarks ({report['mode']}): {', '.join(chosen)}; load average "
          f"{report['load_before']} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="expertise-bench-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        # In-process code (the session bench) must not touch the developer's data either.
        os.environ["XDG_DATA_HOME"] = str(home)
        for var in ("EXPERTISE_DB", "EXPERTISE_MODELS", "EXPERTISE_KB"):
            os.environ.pop(var, None)
        ctx = Context(quick=args.quick, runs=args.runs or (3 if args.quick else 7), tmp=tmp,
                      home=home, train_csv=ROOT / "data" / "tickets_train.csv")
        for section in chosen:
            t0 = time.perf_counter()
            print(f"\n== {section} ==", flush=True)
            try:
                raw, figures = BENCHES[section](ctx)
            except Exception as exc:  # one broken section must not lose the others
                traceback.print_exc()
                report["errors"][section] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            raw["section_seconds"] = round(time.perf_counter() - t0, 1)
            report["sections"][section] = raw
            if "skipped" in raw:
                print(f"  skipped: {raw['skipped']}", flush=True)
            for figure in figures:
                print(figure.line(), flush=True)
                report["figures"].append({**asdict(figure), "ratio": figure.ratio})
            print(f"  ({raw['section_seconds']} s)", flush=True)
    report["load_after"] = [round(v, 2) for v in os.getloadavg()]
    report["seconds"] = elapsed = round(time.perf_counter() - started, 1)
    if args.merge and out.exists():
        report = _merged(json.loads(out.read_text(encoding="utf-8")), report, chosen)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    md = out.with_suffix(".md")
    atomic_write_text(md, markdown(report))
    checked = [f for f in report["figures"] if f["passed"] is not None]
    met = sum(f["passed"] for f in checked)
    print(f"\n{met} of {len(checked)} targets met; {len(report['errors'])} section(s) failed; "
          f"{elapsed:.0f} s. Wrote {_rel(out)} and {_rel(md)}.")
    if report["errors"]:
        return 1
    return 1 if args.strict and met < len(checked) else 0


def _rerender(out: Path) -> int:
    from expertise.io import atomic_write_text

    report = json.loads(out.read_text(encoding="utf-8"))
    batch = report["sections"].get("batch", {}).get("results")
    if batch:
        figures = [{**asdict(f), "ratio": f.ratio} for f in batch_figures(batch)]
        at = next((k for k, f in enumerate(report["figures"]) if f["section"] == "batch"),
                  len(report["figures"]))
        rest = [f for f in report["figures"] if f["section"] != "batch"]
        report["figures"] = rest[:at] + figures + rest[at:]
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    print(f"Rebuilt {_rel(out)} and {_rel(out.with_suffix('.md'))} from the stored results.")
    return 0


def _merged(old: dict[str, Any], new: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
    """`old` with the sections in `chosen` replaced by those of `new` (each section's figures
    and baselines come from one run, so its ratios still hold)."""
    if old.get("mode") != new["mode"]:
        raise SystemExit(f"--merge: the results file holds a {old.get('mode')} run, not "
                         f"{new['mode']}")
    merged = dict(old)
    merged["sections"] = {**{k: v for k, v in old["sections"].items() if k not in chosen},
                          **new["sections"]}
    merged["figures"] = ([f for f in old["figures"] if f["section"] not in chosen]
                         + new["figures"])
    order = {name: i for i, name in enumerate(SECTIONS)}
    merged["figures"].sort(key=lambda f: order.get(f["section"], len(order)))
    merged["errors"] = {**{k: v for k, v in old.get("errors", {}).items() if k not in chosen},
                        **new["errors"]}
    merged["rerun"] = [*old.get("rerun", []), {"sections": chosen, "started": new["started"],
                                               "load_before": new["load_before"]}]
    return merged


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
