"""How well the level model carries over to text unlike its training text.

    .venv/bin/python bench/generalisation.py [--folds 6] [--no-ablation] [--out FILE]

Issue 4 asks for a classifier clearly better than both baselines (majority class; plain TF-IDF +
logistic regression) on real tickets written by people outside the team. The hand-written
evaluation file is small and written by the team, so a +0.5 point lead there says little. This
script measures generalisation on the training split alone:

* Leave-topic-out (the main figure). The 36 topics are sorted by slug and dealt round-robin into
  K groups; each fold trains on the tickets of the other topics and scores the held-out topics'
  tickets, whose subject words the models never saw in a ticket. In every fold, on the same
  rows:
  - ``ours``: `expertise.modeling.fit` on the fold's training tickets (stage 1, stage 2 and the
    topic model, exactly as `expertise train` does), scored through the real `Engine` with no
    customer ids (anonymous: no history, so the comparison with the text-only baseline is
    fair);
  - ``ours_stage1``: the same fit's stage-1 wording model alone (`ExpertiseModel.stage1` over
    `text_features`), i.e. before the stage-2 recalibration;
  - ``ours_no_kb_examples`` (ablation, skip with ``--no-ablation``): the same fit with
    ``kb_examples=False``. The knowledge base's symptom lines, which cover the held-out topics
    too, are otherwise added to stage 1's training rows; this row shows how much of any lead
    comes from them rather than from the ticket-trained wording model;
  - ``tfidf_lr`` and ``majority``: the baselines of `expertise evaluate`
    (`expertise.modeling.evaluate.baseline_proba`).
  Per fold and pooled: accuracy, macro-F1, severe-miss rate (novice <-> expert) and expected
  calibration error, all from `expertise.modeling.evaluate.level_metrics`.
* Paired comparison of the pooled predictions: a paired bootstrap (1,000 resamples of tickets,
  fixed seed) of the accuracy difference ours - TF-IDF+LR with its 95% percentile interval,
  McNemar's exact test (b = ours right and baseline wrong, c = the reverse), and the same
  bootstrap for the severe-miss rate.
* Slices of the pooled leave-topic-out predictions: by channel, and short tickets (subject and
  body under 12 words).
* The hand-written file, reported only (nothing here is chosen on it): the current default
  bundle (`models/current`) scored through `Engine()` as `expertise evaluate` does, against the
  TF-IDF+LR baseline trained on the training split, with the same paired statistics.

Nothing is tuned: every model uses the project's defaults. Results go to
``bench/generalisation.json``; the tables are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from threadpoolctl import threadpool_limits

from expertise.config import LEVELS, PROJECT_DIR
from expertise.engine import Engine, _join
from expertise.modeling.evaluate import _frame_answers, baseline_proba, level_metrics
from expertise.knowledge_base import KnowledgeBase, load_knowledge_base
from expertise.privacy import redact
from expertise.scoring.text import prepare
from expertise.modeling.fit import TrainResult, fit, read_labelled, redact_frame, ticket_texts

SEED = 20261129
N_BOOT = 1000
SHORT_WORDS = 12
HEADLINE = ("accuracy", "macro_f1", "severe_miss_rate", "ece")
LABELS = {
    "ours": "ours (engine, anonymous)",
    "ours_stage1": "ours, stage 1 only (wording)",
    "ours_no_kb_examples": "ours without KB symptom rows",
    "tfidf_lr": "TF-IDF + LR",
    "majority": "majority class",
}


# ---- models -----------------------------------------------------------------------------------

def engine_proba(engine: Engine, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Level probabilities of the full model through the engine with no customer ids, and a
    mask of the rows it estimated (it declines text that does not look like English)."""
    answers = _frame_answers(engine, test, with_history=False)
    proba = np.full((len(test), len(LEVELS)), np.nan)
    for i, a in enumerate(answers):
        if a.probabilities is not None:
            proba[i] = [a.probabilities[lv] for lv in LEVELS]
    return proba, ~np.isnan(proba[:, 0])


def stage1_proba(result: TrainResult, test: pd.DataFrame) -> np.ndarray:
    """The fitted stage-1 wording model alone, on the texts as training prepares them."""
    model = result.model
    X = model.text_features.transform(ticket_texts(test))
    return model.stage1.predict_proba(X)


def topic_folds(topics: pd.Series, k: int) -> list[list[str]]:
    """The topics sorted by slug and dealt round-robin into k groups."""
    slugs = sorted(set(topics))
    if not 2 <= k <= len(slugs):
        raise SystemExit(f"--folds must be between 2 and {len(slugs)} (the number of topics)")
    return [slugs[i::k] for i in range(k)]


# ---- paired statistics ------------------------------------------------------------------------

def paired_bootstrap(truth: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *,
                     metric: str = "accuracy", n_boot: int = N_BOOT, seed: int = SEED
                     ) -> dict[str, Any]:
    """Difference a - b of a per-ticket rate ("accuracy", or "severe": novice <-> expert
    misses) with a 95% percentile interval over resampled tickets (the same resample for both
    models, so the interval reflects their paired disagreement)."""
    if metric == "accuracy":
        value_a, value_b = pred_a == truth, pred_b == truth
    elif metric == "severe":
        value_a, value_b = np.abs(pred_a - truth) == 2, np.abs(pred_b - truth) == 2
    else:
        raise ValueError(f"unknown metric {metric!r}")
    diff = value_a.astype(np.float64) - value_b.astype(np.float64)
    rng = np.random.default_rng(seed)
    n = len(truth)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, 100):  # in blocks, to bound memory on large sets
        idx = rng.integers(0, n, size=(min(100, n_boot - start), n))
        stats[start:start + len(idx)] = diff[idx].mean(axis=1)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return {"metric": metric, "n": n, "a": round(float(value_a.mean()), 4),
            "b": round(float(value_b.mean()), 4), "difference": round(float(diff.mean()), 4),
            "ci95": [round(float(lo), 4), round(float(hi), 4)],
            "share_of_resamples_above_0": round(float(np.mean(stats > 0)), 4),
            "resamples": n_boot, "seed": seed}


def mcnemar_exact(truth: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test: b = a right and b wrong, c = the reverse; two-sided binomial p."""
    right_a, right_b = pred_a == truth, pred_b == truth
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    p = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    return {"b_a_right_b_wrong": b, "c_a_wrong_b_right": c, "p_value": float(f"{p:.4g}")}


def compare(truth: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    return {"bootstrap": paired_bootstrap(truth, pred_a, pred_b),
            "mcnemar": mcnemar_exact(truth, pred_a, pred_b),
            "severe_bootstrap": paired_bootstrap(truth, pred_a, pred_b, metric="severe")}


# ---- runs -------------------------------------------------------------------------------------

def leave_topic_out(train: pd.DataFrame, kb: KnowledgeBase, k: int, *, ablation: bool
                    ) -> tuple[dict[str, np.ndarray], pd.DataFrame, list[dict[str, Any]]]:
    """Pooled held-out probabilities per model, the pooled rows, and per-fold results."""
    pooled: dict[str, list[np.ndarray]] = {}
    rows: list[pd.DataFrame] = []
    folds: list[dict[str, Any]] = []
    for f, held in enumerate(topic_folds(train["topic"], k)):
        started = time.perf_counter()
        is_test = train["topic"].isin(held).to_numpy()
        fold_train = train[~is_test].reset_index(drop=True)
        fold_test = train[is_test].reset_index(drop=True)
        result = fit(fold_train, kb)
        engine = Engine(lean=result.lean, kb=kb)
        p_ours, estimated = engine_proba(engine, fold_test)
        probas = {"ours": p_ours, "ours_stage1": stage1_proba(result, fold_test)}
        if ablation:
            no_kb = fit(fold_train, kb, kb_examples=False)
            probas["ours_no_kb_examples"], est2 = engine_proba(Engine(lean=no_kb.lean, kb=kb),
                                                               fold_test)
            estimated &= est2
        base = baseline_proba(fold_train, fold_test)
        probas.update(base)
        # Every model is scored on the same rows: those the engine gave an estimate for.
        fold_test = fold_test[estimated].reset_index(drop=True)
        probas = {name: p[estimated] for name, p in probas.items()}
        y = fold_test["expertise_level"].tolist()
        folds.append({
            "fold": f, "held_out_topics": held, "train_tickets": len(fold_train),
            "test_tickets": int(is_test.sum()), "not_estimated": int((~estimated).sum()),
            "seconds": round(time.perf_counter() - started, 1),
            "metrics": {name: _headline(level_metrics(y, p)) for name, p in probas.items()},
        })
        for name, p in probas.items():
            pooled.setdefault(name, []).append(p)
        rows.append(fold_test)
    return ({name: np.vstack(ps) for name, ps in pooled.items()},
            pd.concat(rows, ignore_index=True), folds)


def handwritten(train: pd.DataFrame) -> dict[str, Any]:
    """The current default bundle on data/eval_handwritten.csv, as `expertise evaluate` scores
    it, with the baselines trained on the training split. Reported only, never tuned on."""
    path = PROJECT_DIR / "data" / "eval_handwritten.csv"
    frame = read_labelled(path)
    engine = Engine()
    p_ours, estimated = engine_proba(engine, frame)
    clean = [prepare(redact(_join(s, b)))[0]
             for s, b in zip(frame["subject"], frame["body"], strict=True)]
    probas = {"ours": p_ours, "ours_stage1": engine.lean.score_texts(clean).proba}
    base = baseline_proba(train, frame)
    probas.update(base)
    frame = frame[estimated].reset_index(drop=True)
    probas = {name: p[estimated] for name, p in probas.items()}
    y = frame["expertise_level"].tolist()
    truth = _truth(frame)
    preds = {name: p.argmax(axis=1) for name, p in probas.items()}
    return {
        "model": engine.version, "n": len(frame), "not_estimated": int((~estimated).sum()),
        "metrics": {name: _headline(level_metrics(y, p)) for name, p in probas.items()},
        "ours_vs_tfidf_lr": compare(truth, preds["ours"], preds["tfidf_lr"]),
    }


def slices(rows: pd.DataFrame, pooled: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy of each model, and ours - TF-IDF+LR, on channel and short-text slices."""
    truth = _truth(rows)
    preds = {name: p.argmax(axis=1) for name, p in pooled.items()}
    words = np.array([len(t.split()) for t in ticket_texts(rows)])
    masks = {f"channel={c}": (rows["channel"] == c).to_numpy()
             for c in sorted(rows["channel"].unique())}
    masks[f"short (< {SHORT_WORDS} words)"] = words < SHORT_WORDS
    masks[f"not short (>= {SHORT_WORDS} words)"] = words >= SHORT_WORDS
    out = {}
    for name, mask in masks.items():
        if not mask.any():
            continue
        out[name] = {
            "n": int(mask.sum()),
            "accuracy": {m: round(float(np.mean(p[mask] == truth[mask])), 4)
                         for m, p in preds.items()},
            "ours_vs_tfidf_lr": paired_bootstrap(truth[mask], preds["ours"][mask],
                                                 preds["tfidf_lr"][mask]),
        }
    return out


def _truth(frame: pd.DataFrame) -> np.ndarray:
    return np.array([LEVELS.index(v) for v in frame["expertise_level"]])


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: metrics[key] for key in ("n", *HEADLINE)}


# ---- report -----------------------------------------------------------------------------------

def _metric_table(metrics: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| model | n | accuracy | macro-F1 | severe | ECE |", "|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        lines.append(f"| {LABELS.get(name, name)} | {m['n']} | {m['accuracy']:.4f} | "
                     f"{m['macro_f1']:.4f} | {m['severe_miss_rate']:.4f} | {m['ece']:.4f} |")
    return lines


def _compare_line(name: str, comp: dict[str, Any]) -> str:
    b, m = comp["bootstrap"], comp["mcnemar"]
    sv = comp["severe_bootstrap"]
    return (f"| {name} | {b['n']} | {b['a']:.4f} | {b['b']:.4f} | "
            f"{b['difference']:+.4f} | [{b['ci95'][0]:+.4f}, {b['ci95'][1]:+.4f}] | "
            f"{m['b_a_right_b_wrong']} | {m['c_a_wrong_b_right']} | {m['p_value']:.3g} | "
            f"{sv['difference']:+.4f} [{sv['ci95'][0]:+.4f}, {sv['ci95'][1]:+.4f}] |")


def tables(report: dict[str, Any]) -> str:
    lto = report["leave_topic_out"]
    names = list(lto["pooled"])
    out = [f"### Leave-topic-out, pooled ({lto['folds']} folds of topics, "
           f"{lto['pooled']['ours']['n']} held-out tickets)", ""]
    out += _metric_table(lto["pooled"])
    out += ["", "### Leave-topic-out, accuracy per fold", "",
            "| fold | held-out topics | n | " + " | ".join(LABELS[n] for n in names) + " |",
            "|---|---|---|" + "---|" * len(names)]
    for f in lto["per_fold"]:
        accs = " | ".join(f"{f['metrics'][n]['accuracy']:.4f}" for n in names)
        out.append(f"| {f['fold']} | {', '.join(f['held_out_topics'])} | "
                   f"{f['metrics']['ours']['n']} | {accs} |")
    out += ["", "### Paired comparison, ours (engine, anonymous) - TF-IDF + LR", "",
            f"Paired bootstrap over tickets ({N_BOOT} resamples, seed {SEED}), 95% percentile "
            "interval; McNemar exact: b = ours right & baseline wrong, c = the reverse.", "",
            "| set | n | acc ours | acc TF-IDF+LR | difference | 95% CI | b | c | p "
            "| severe-miss difference [95% CI] |",
            "|---|---|---|---|---|---|---|---|---|---|",
            _compare_line("leave-topic-out (pooled)", lto["ours_vs_tfidf_lr"]),
            _compare_line("hand-written (models/current)",
                          report["handwritten"]["ours_vs_tfidf_lr"])]
    if "ours_stage1_vs_tfidf_lr" in lto:
        out.append(_compare_line("leave-topic-out, stage 1 only vs TF-IDF+LR",
                                 lto["ours_stage1_vs_tfidf_lr"]))
    if "ours_no_kb_examples_vs_tfidf_lr" in lto:
        out.append(_compare_line("leave-topic-out, no KB symptom rows vs TF-IDF+LR",
                                 lto["ours_no_kb_examples_vs_tfidf_lr"]))
    out += ["", "### Slices of the pooled leave-topic-out predictions (accuracy)", "",
            "| slice | n | " + " | ".join(LABELS[n] for n in names)
            + " | ours - TF-IDF+LR [95% CI] |", "|---|---|" + "---|" * (len(names) + 1)]
    for name, s in report["slices"].items():
        accs = " | ".join(f"{s['accuracy'][n]:.4f}" for n in names)
        b = s["ours_vs_tfidf_lr"]
        out.append(f"| {name} | {s['n']} | {accs} | {b['difference']:+.4f} "
                   f"[{b['ci95'][0]:+.4f}, {b['ci95'][1]:+.4f}] |")
    hw = report["handwritten"]
    out += ["", f"### Hand-written file (reported only; bundle {hw['model']}, "
            f"{hw['n']} tickets)", ""]
    out += _metric_table(hw["metrics"])
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=6, help="groups of topics (default 6)")
    parser.add_argument("--no-ablation", action="store_true",
                        help="skip the kb_examples=False refit (halves the fitting time)")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "generalisation.json")
    args = parser.parse_args()
    started = time.perf_counter()
    kb = load_knowledge_base(PROJECT_DIR / "knowledge_base")
    # As `expertise train` reads its data; `expertise evaluate` trains its baseline on this too.
    train = redact_frame(read_labelled(PROJECT_DIR / "data" / "tickets_train.csv"))
    with threadpool_limits(limits=1, user_api="blas"):  # see expertise.modeling.fit
        pooled, rows, folds = leave_topic_out(train, kb, args.folds, ablation=not args.no_ablation)
        y = rows["expertise_level"].tolist()
        truth = _truth(rows)
        preds = {name: p.argmax(axis=1) for name, p in pooled.items()}
        lto: dict[str, Any] = {
            "folds": args.folds, "split": "topics sorted by slug, dealt round-robin",
            "per_fold": folds,
            "pooled": {name: _headline(level_metrics(y, p)) for name, p in pooled.items()},
            "pooled_full": {name: level_metrics(y, p) for name, p in pooled.items()},
            "ours_vs_tfidf_lr": compare(truth, preds["ours"], preds["tfidf_lr"]),
            "ours_stage1_vs_tfidf_lr": compare(truth, preds["ours_stage1"], preds["tfidf_lr"]),
        }
        if "ours_no_kb_examples" in preds:
            lto["ours_no_kb_examples_vs_tfidf_lr"] = compare(
                truth, preds["ours_no_kb_examples"], preds["tfidf_lr"])
        report: dict[str, Any] = {"leave_topic_out": lto, "slices": slices(rows, pooled)}
        report["handwritten"] = handwritten(train)
    load = os.getloadavg()
    report["run"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_after": [round(v, 2) for v in load],
        "command": "python bench/generalisation.py" + (f" --folds {args.folds}"
                                                         if args.folds != 6 else "")
        + (" --no-ablation" if args.no_ablation else ""),
    }
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(tables(report))
    print(f"\n{report['run']['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
