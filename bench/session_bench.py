"""In-session answer latency, with the bundled knowledge base and with a generated large one.

Run from the repository root::

    python bench/session_bench.py                    # bundled model, then a 10,002-article KB
    python bench/session_bench.py --topics 1000 --calls 10

Latency is the time of ``Session.handle(line)`` (redaction, scoring the accumulated call text,
ranking topics, choosing the article, reasons), excluding terminal drawing. The baseline is a
naive scikit-learn answer to the same accumulated text: a TF-IDF + logistic regression pipeline
for the level and another for the topic, ``predict_proba`` on one text each.

The large knowledge base keeps the 36 real topics and adds generated ones built from the real
articles' sentences, symptoms and words (each generated topic mixes a "base" topic with a second
one and names a generated device), so retrieval works on real vocabulary. A model is then fitted
against it with ``training.fit`` on the bundled training tickets.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import expertise  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expertise.config import LEVELS, PROJECT_DIR

TRAIN_CSV = PROJECT_DIR / "data" / "tickets_train.csv"
EVAL_CSV = PROJECT_DIR / "data" / "tickets_eval.csv"
KB_ROOT = PROJECT_DIR / "knowledge_base"

_DEVICES = (
    "smart camera", "video doorbell", "tablet", "soundbar", "smartwatch", "thermostat",
    "Wi-Fi extender", "games console", "smart speaker", "e-reader", "baby monitor", "smart plug",
    "laptop dock", "mesh disc", "set-top box", "streaming stick", "landline handset",
    "home hub", "security alarm", "smart bulb", "powerline adapter", "portable hotspot",
    "car kit", "hearing aid streamer", "fitness tracker", "desk phone", "NAS drive",
    "label printer", "projector", "smart lock",
)
_MAKERS = (
    "Lumen", "Aster", "Brio", "Corvo", "Delta", "Elm", "Fenwick", "Greyline", "Halo", "Iris",
    "Juno", "Kestrel", "Lark", "Mira", "Nova", "Orbit", "Pike", "Quill", "Rook", "Sable",
)


def _lines(body: str) -> list[str]:
    """The non-empty Markdown lines of a body (a step, a bullet, a paragraph)."""
    return [line.rstrip() for line in body.splitlines() if line.strip()]


def _join_lines(lines: list[str]) -> str:
    """Lines back into Markdown: list items stay together, other lines become paragraphs."""
    out = lines[:1]
    for line in lines[1:]:
        item = bool(re.match(r"\s*(?:\d+\.|[-*])\s", line))
        out.append(("\n" if item else "\n\n") + line)
    return "".join(out)


def _yaml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted strings


def _article_text(slug: str, level: str, title: str, summary: str, symptoms: list[str],
                  body: str) -> str:
    return (
        "---\n"
        f"id: {slug}/{level}\n"
        f"topic: {slug}\n"
        f"level: {level}\n"
        f"title: {_yaml_str(title)}\n"
        f"summary: {_yaml_str(summary)}\n"
        f"symptoms: [{', '.join(_yaml_str(s) for s in symptoms)}]\n"
        "products: [generated]\n"
        "updated: 2026-11-20\n"
        "---\n"
        f"{body}\n"
    )


def generate_kb(root: Path, n_topics: int, *, seed: int = 0, source: Path = KB_ROOT) -> Path:
    """Write a knowledge base of `n_topics` topics x 3 levels under `root`; return `root`.

    The real topics are copied first (so labelled training tickets keep their topics); the rest
    are generated from them.
    """
    from expertise.knowledge_base import load_knowledge_base

    rng = random.Random(seed)
    real = load_knowledge_base(source)
    root.mkdir(parents=True, exist_ok=True)
    slugs = list(real.topics)[:n_topics]
    for slug in slugs:
        shutil.copytree(source / slug, root / slug)
    pieces = {
        (slug, level): (article, _lines(article.body))
        for slug, topic in real.topics.items() for level, article in topic.articles.items()
    }
    real_slugs = list(real.topics)
    for j in range(max(0, n_topics - len(slugs))):
        base = real_slugs[j % len(real_slugs)]
        other = real_slugs[(j * 7 + 3 + rng.randrange(len(real_slugs) - 1)) % len(real_slugs)]
        if other == base:
            other = real_slugs[(real_slugs.index(base) + 1) % len(real_slugs)]
        device = rng.choice(_DEVICES)
        maker = rng.choice(_MAKERS)
        product = f"{maker} {device}"
        slug = f"{base}-{re.sub(r'[^a-z0-9]+', '-', product.lower())}-{j:04d}"
        folder = root / slug
        folder.mkdir()
        for level in LEVELS:
            a, a_sent = pieces.get((base, level)) or next(
                v for (s, _), v in pieces.items() if s == base)
            b, b_sent = pieces.get((other, level)) or next(
                v for (s, _), v in pieces.items() if s == other)
            keep = sorted(rng.sample(range(len(a_sent)), k=max(1, int(len(a_sent) * 0.7))))
            extra = sorted(rng.sample(range(len(b_sent)), k=max(1, len(b_sent) // 4)))
            body_lines = [f"This article covers the {product}."]
            body_lines += [a_sent[i] for i in keep]
            at = rng.randrange(1, len(body_lines) + 1)
            body_lines[at:at] = [b_sent[i] for i in extra]
            body_lines.append(f"If the {device} still has the problem, contact {maker} support "
                              "or call us with what you have tried.")
            symptoms = rng.sample(list(a.symptoms), k=min(4, len(a.symptoms)))
            symptoms += [f"{s} on my {device}"
                         for s in rng.sample(list(b.symptoms), k=min(2, len(b.symptoms)))]
            (folder / f"{level}.md").write_text(
                _article_text(slug, level, f"{a.title}: {product}", f"{a.summary} ({product})",
                              symptoms, _join_lines(body_lines)),
                encoding="utf-8")
    return root


# ---- timing ------------------------------------------------------------------------------------

def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread, for set-up fits only (never around a timed
    figure): scipy >= 1.15's L-BFGS-B calls BLAS on tiny vectors, and with a threaded BLAS on
    a small machine a fit takes about ten times longer. (`training.fit` now does this itself;
    the naive baseline's fit needs it here.)"""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def call_scripts(n_calls: int, *, seed: int = 0, max_lines: int = 6) -> list[list[str]]:
    """Simulated calls: eval tickets cut into sentences, typed a line at a time."""
    import pandas as pd

    frame = pd.read_csv(EVAL_CSV, dtype=str, keep_default_na=False)
    rng = random.Random(seed)
    rows = rng.sample(range(len(frame)), k=min(n_calls * 3, len(frame)))
    calls: list[list[str]] = []
    for r in rows:
        text = f"{frame['subject'].iloc[r]}. {frame['body'].iloc[r]}"
        lines = [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()][:max_lines]
        if len(lines) >= 2:
            calls.append(lines)
        if len(calls) == n_calls:
            break
    return calls


def time_session(engine: Any, calls: list[list[str]], *, feedback: bool = True
                 ) -> dict[str, Any]:
    """Median and p95 of Session.handle(line) over every line of every call (ms).

    With `feedback` (the engine needs a store), the agent marks the suggestion helpful or not
    at the end of each call, so later answers also pay for the feedback adjustment of topics.
    """
    from expertise.session import Session

    session = Session(engine, agent="bench")
    session.warm_up()  # as `expertise session` does
    session.handle(calls[0][0])  # warm up (lazy imports, page cache)
    session.handle(":new")
    timings: list[float] = []
    for n, lines in enumerate(calls):
        for line in lines:
            started = time.perf_counter()
            event = session.handle(line)
            timings.append((time.perf_counter() - started) * 1000)
            if event.kind != "answer":
                raise RuntimeError(f"session answered {event.kind}: {event.message}")
        if feedback:
            session.handle(":helpful" if n % 3 else ":not-helpful")
        session.handle(":new")
    return {
        "lines": len(timings), "calls": len(calls), "feedback_articles": len(engine.feedback),
        "median_ms": round(statistics.median(timings), 3),
        "p95_ms": round(_percentile(timings, 0.95), 3),
        "max_ms": round(max(timings), 3),
    }


def naive_baseline(calls: list[list[str]], *, train_csv: Path = TRAIN_CSV) -> dict[str, Any]:
    """The naive scikit-learn answer (level and topic) to the same accumulated texts."""
    import pandas as pd

    frame = pd.read_csv(train_csv, dtype=str, keep_default_na=False)
    texts = (frame["subject"] + ". " + frame["body"]).tolist()
    started = time.perf_counter()
    with one_blas_thread():
        level, topic = _naive_models(texts, frame)
    fit_seconds = time.perf_counter() - started
    level.predict_proba([calls[0][0]])
    timings: list[float] = []
    for lines in calls:
        for k in range(1, len(lines) + 1):
            text = " ".join(lines[:k])
            started = time.perf_counter()
            level.predict_proba([text])
            topic.predict_proba([text])
            timings.append((time.perf_counter() - started) * 1000)
    return {
        "lines": len(timings), "fit_seconds": round(fit_seconds, 2),
        "median_ms": round(statistics.median(timings), 3),
        "p95_ms": round(_percentile(timings, 0.95), 3),
    }


def _naive_models(texts: list[str], frame: Any) -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    level = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                          LogisticRegression(max_iter=1000)).fit(texts, frame["expertise_level"])
    topic = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                          LogisticRegression(max_iter=1000)).fit(texts, frame["topic"])
    return level, topic


def bench_bundled(calls: list[list[str]]) -> dict[str, Any]:
    """Latency with the committed model (models/current) and the bundled knowledge base."""
    from expertise.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        engine = Engine(db_path=Path(tmp) / "bench.db")
        load = time.perf_counter() - started
        try:
            out = time_session(engine, calls)
        finally:
            engine.close()
    return {"articles": len(engine.kb.articles), "topics": len(engine.kb.topics),
            "engine_load_seconds": round(load, 3), **out}


def bench_large(calls: list[list[str]], n_topics: int, *, train_rows: int | None = None,
                workdir: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Generate a knowledge base of `n_topics` x 3 articles, fit a model against it (the
    bundled training tickets, 2 folds) and time the session on it."""
    import pandas as pd

    from expertise.engine import Engine
    from expertise.knowledge_base import load_knowledge_base
    from expertise.modeling.fit import fit

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        started = time.perf_counter()
        root = generate_kb(Path(tmp) / "kb", n_topics, seed=seed)
        generate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        kb = load_knowledge_base(root)
        load_seconds = time.perf_counter() - started
        errors = kb.errors
        frame = pd.read_csv(TRAIN_CSV, dtype=str, keep_default_na=False)
        if train_rows and train_rows < len(frame):
            customers = sorted(frame["customer_id"].unique())
            keep = set(random.Random(seed).sample(customers, k=max(2, len(customers) * train_rows
                                                                   // len(frame))))
            frame = frame[frame["customer_id"].isin(keep)].reset_index(drop=True)
        started = time.perf_counter()
        with one_blas_thread():
            result = fit(frame, kb, folds=2)
        fit_seconds = time.perf_counter() - started
        engine = Engine(lean=result.lean, kb=kb, db_path=Path(tmp) / "bench.db")
        try:
            out = time_session(engine, calls)
        finally:
            engine.close()
    return {
        "articles": len(kb.articles), "topics": len(kb.topics), "kb_errors": len(errors),
        "vocabulary": len(result.lean.vocabulary),
        "retrieval_nnz": int(result.lean.arrays["R_data"].size),
        "train_tickets": len(frame), "generate_seconds": round(generate_seconds, 1),
        "kb_load_seconds": round(load_seconds, 1), "fit_seconds": round(fit_seconds, 1), **out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=3334, help="topics in the large KB")
    parser.add_argument("--calls", type=int, default=40, help="simulated calls")
    parser.add_argument("--train-rows", type=int, default=None,
                        help="fit the large-KB model on about this many tickets")
    args = parser.parse_args(argv)
    calls = call_scripts(args.calls)
    results = {
        "bundled": bench_bundled(calls),
        "large": bench_large(calls, args.topics, train_rows=args.train_rows),
        "baseline": naive_baseline(calls),
    }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
