"""Metrics for level estimates and topic choice, and the two baselines."""

from __future__ import annotations

from typing import Any

import numpy as np

from expertise.config import LEVELS

THRESHOLDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def level_metrics(y_true: list[str], proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, per-level precision/recall, ordinal MAE, severe misses, ECE,
    confusion matrix and precision against coverage at several confidence thresholds."""
    truth = np.array([LEVELS.index(v) for v in y_true])
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    n = len(truth)
    per_level: dict[str, dict[str, float]] = {}
    f1s = []
    for k, name in enumerate(LEVELS):
        tp = int(np.sum((pred == k) & (truth == k)))
        precision = tp / max(1, int(np.sum(pred == k)))
        recall = tp / max(1, int(np.sum(truth == k)))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_level[name] = {"precision": round(precision, 4), "recall": round(recall, 4),
                           "f1": round(f1, 4), "support": int(np.sum(truth == k))}
    confusion = np.zeros((3, 3), dtype=int)
    for t, p in zip(truth, pred, strict=True):
        confusion[t, p] += 1
    coverage = []
    for th in THRESHOLDS:
        keep = conf >= th
        coverage.append({
            "threshold": th, "coverage": round(float(keep.mean()) if n else 0.0, 4),
            "accuracy": round(float((pred[keep] == truth[keep]).mean()) if keep.any() else 0.0, 4),
        })
    return {
        "n": n,
        "accuracy": round(float(np.mean(pred == truth)), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "ordinal_mae": round(float(np.mean(np.abs(pred - truth))), 4),
        "severe_miss_rate": round(float(np.mean(np.abs(pred - truth) == 2)), 4),
        "ece": round(expected_calibration_error(truth, proba), 4),
        "per_level": per_level,
        "confusion": confusion.tolist(),
        "coverage": coverage,
    }


def expected_calibration_error(truth: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE with equal-width confidence bins."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(ece)


def reliability(truth: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            out.append({"confidence": float(conf[mask].mean()), "accuracy": float(correct[mask].mean()),
                        "count": int(mask.sum())})
    return out


def topic_metrics(y_true: list[str], ranked: list[list[str]]) -> dict[str, Any]:
    n = len(y_true)
    top1 = sum(r[:1] == [t] for t, r in zip(y_true, ranked, strict=True))
    top3 = sum(t in r[:3] for t, r in zip(y_true, ranked, strict=True))
    return {"n": n, "top1": round(top1 / max(1, n), 4), "top3": round(top3 / max(1, n), 4)}


def serving_metrics(y_level: list[str], served: list[str]) -> dict[str, Any]:
    truth = np.array([LEVELS.index(v) for v in y_level])
    got = np.array([LEVELS.index(v) for v in served])
    novice = truth == 0
    return {
        "served_level_match": round(float(np.mean(truth == got)), 4),
        "novice_served_expert": round(float(np.mean(got[novice] == 2)) if novice.any() else 0.0, 4),
    }
