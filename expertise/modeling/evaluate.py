"""Metrics for level estimates and topic choice, and the two baselines."""

from __future__ import annotations

from typing import Any

import numpy as np

from expertise.config import LEVELS
from expertise.scoring.text import ticket_text

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
            out.append({"confidence": float(conf[mask].mean()),
                        "accuracy": float(correct[mask].mean()),
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


def _frame_scored(engine: Any, frame: Any, *, with_history: bool = True) -> Any:
    """Score a labelled frame through the engine's pipeline; earlier tickets' labels are NOT
    used as history (only the model's own estimates), so history gets no help from the
    answer key."""
    texts = [ticket_text(s, b) for s, b in zip(frame["subject"], frame["body"], strict=True)]
    customers = list(frame["customer_id"]) if with_history else [None] * len(frame)
    return engine.score(texts, customer_ids=[c or None for c in customers],
                        created_at=list(frame["created_at"]), top=3, explain=False)


def baseline_proba(train: Any, test: Any) -> dict[str, np.ndarray]:
    """Level probabilities (columns in LEVELS order) of the two baselines, fitted on `train`:
    the majority class, and plain TF-IDF + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from expertise.modeling.fit import training_texts

    y_train = train["expertise_level"].tolist()
    majority = max(LEVELS, key=y_train.count)
    p_major = np.tile(np.array([float(lv == majority) for lv in LEVELS]), (len(test), 1))
    plain = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=2000))
    plain.fit(training_texts(train), y_train)
    p_plain = plain.predict_proba(training_texts(test))
    p_plain = p_plain[:, [list(plain.classes_).index(lv) for lv in LEVELS]]
    return {"majority": p_major, "tfidf_lr": p_plain}


def _baselines(train: Any, test: Any) -> dict[str, Any]:
    proba = baseline_proba(train, test)
    y = test["expertise_level"].tolist()
    return {name: level_metrics(y, p) for name, p in proba.items()}


def evaluate_frame(engine: Any, frame: Any, *, train: Any = None) -> dict[str, Any]:
    """Level, topic and serving metrics of one labelled frame, plus baselines; for customers
    with earlier tickets, how their history is read (`history_report`, `swap_test`)."""
    scored = _frame_scored(engine, frame)
    columns = scored.columns()
    usable = np.flatnonzero(scored.estimate).tolist()
    y = [frame["expertise_level"].iloc[i] for i in usable]
    proba = np.array([[columns[f"p_{lv}"][i] for lv in LEVELS] for i in usable])
    out: dict[str, Any] = {"n": len(frame), "not_estimated": len(frame) - len(usable),
                           "level": level_metrics(y, proba) if usable else {}}
    if usable:
        out["reliability"] = reliability(np.array([LEVELS.index(v) for v in y]), proba)
    if "topic" in frame and frame["topic"].astype(bool).any():
        topics = scored.catalogue.topics
        ranked = [[topics[t] for t in row] for row in scored.ranked[:, :3].tolist()]
        out["topic"] = topic_metrics(list(frame["topic"]), ranked)
        out["topic_by_level"] = {
            lv: topic_metrics([frame["topic"].iloc[i] for i in range(len(frame))
                               if frame["expertise_level"].iloc[i] == lv],
                              [ranked[i] for i in range(len(frame))
                               if frame["expertise_level"].iloc[i] == lv])
            for lv in LEVELS}
    out["serving"] = serving_metrics(list(frame["expertise_level"]),
                                     columns["article_level"])
    if train is not None:
        out["baselines"] = _baselines(train, frame)
    if frame["customer_id"].astype(bool).any():
        out["history"] = history_report(engine, frame, scored)
        if "register" in frame:
            out["swap"] = swap_test(engine, frame)
            out["agreeing"] = _agreeing(engine, frame, scored)
    return out


def _agreeing(engine: Any, frame: Any, scored: Any) -> dict[str, Any]:
    """Tickets written at their customer's level (the simulator's register "on"), where
    every definition of the level agrees: with history and the message alone."""
    at = np.flatnonzero(frame["register"].to_numpy() == "on")
    if not len(at):
        return {"n": 0}
    truth = np.array([LEVELS.index(v) for v in frame["expertise_level"].iloc[at]])
    alone = _frame_scored(engine, frame.iloc[at], with_history=False)
    return _judged(truth, scored.level_p[at], alone.level_p)


#: Registers of the simulator whose wording misleads about the customer's level.
MISLEADING_REGISTERS = frozenset({"casual", "relayed", "vague", "precise"})
#: Confidence at or above which a wrong answer counts as confidently wrong.
CONFIDENT = 0.9


def history_report(engine: Any, frame: Any, scored: Any) -> dict[str, Any]:
    """Customers with earlier tickets, judged on their current ticket: all, those whose
    current ticket misleads, the others; with and without their history.

    The current ticket is the `role` = current row where the file marks one, else each
    customer's latest. Misleading: the file's `case` column says so, or the simulator's
    `register` is an off-level one.
    """
    rows = _current_rows(frame)
    if not rows:
        return {"customers": 0}
    alone = _frame_scored(engine, frame.iloc[rows], with_history=False)
    group = _groups(frame, rows)
    truth = np.array([LEVELS.index(frame["expertise_level"].iloc[i]) for i in rows])
    with_p = scored.level_p[rows]
    alone_p = alone.level_p
    out: dict[str, Any] = {"customers": len(rows)}
    for name in ("all", "misleading", "normal", "specialist", "thin"):
        at = np.arange(len(rows)) if name == "all" else np.flatnonzero(group == name)
        if not len(at):
            continue
        out[name] = _judged(truth[at], with_p[at], alone_p[at])
    return out


def _judged(truth: np.ndarray, with_p: np.ndarray, alone_p: np.ndarray) -> dict[str, Any]:
    right = with_p.argmax(axis=1) == truth
    confident_wrong = (~right) & (with_p.max(axis=1) >= CONFIDENT)
    return {"n": int(len(truth)), "accuracy": round(float(right.mean()), 4),
            "accuracy_without_history": round(float(
                (alone_p.argmax(axis=1) == truth).mean()), 4),
            "wrong_at_0_9": int(confident_wrong.sum()),
            "ece": round(expected_calibration_error(truth, with_p), 4)}


def _current_rows(frame: Any) -> list[int]:
    """Each customer's current ticket, for customers with at least one earlier ticket."""
    if "role" in frame:
        current = [i for i, r in enumerate(frame["role"].tolist()) if r == "current"]
        counts = frame["customer_id"].value_counts()
        return [i for i in current if counts.get(frame["customer_id"].iloc[i], 0) > 1]
    latest: dict[str, tuple[str, int]] = {}
    counts_by: dict[str, int] = {}
    for i, (cid, when) in enumerate(zip(frame["customer_id"], frame["created_at"],
                                        strict=True)):
        if not cid:
            continue
        counts_by[cid] = counts_by.get(cid, 0) + 1
        if cid not in latest or (when, i) >= latest[cid]:
            latest[cid] = (when, i)
    return sorted(i for cid, (_, i) in latest.items() if counts_by[cid] > 1)


def _groups(frame: Any, rows: list[int]) -> np.ndarray:
    if "case" in frame:
        return np.array([frame["case"].iloc[i] or "normal" for i in rows])
    if "register" in frame:
        # a customer whose tickets carry different levels is a specialist (or learned)
        levels = frame.groupby("customer_id")["expertise_level"].nunique()
        out = []
        for i in rows:
            reg = frame["register"].iloc[i]
            out.append("misleading" if reg in MISLEADING_REGISTERS else
                       "thin" if reg == "thin" else
                       "specialist" if levels.get(frame["customer_id"].iloc[i], 1) > 1
                       else "normal")
        return np.array(out)
    return np.array(["normal"] * len(rows))


def swap_test(engine: Any, frame: Any, *, seed: int = 20261202) -> dict[str, Any]:
    """Customers whose earlier tickets agree get another customer's off-level ticket as their
    current one: is the lasting level still read?

    From the simulator's evaluation split: a customer with two or more earlier tickets written
    at their level (one level throughout) is given, after them, a ticket that another
    customer of the same level wrote off-level (an expert's casual note, a novice's pasted
    error, an intermediate's vague or precise one).
    """
    import pandas as pd

    if "register" not in frame or not frame["customer_id"].astype(bool).any():
        return {"customers": 0}
    rng = np.random.default_rng(seed)
    off = frame[frame["register"].isin(MISLEADING_REGISTERS)]
    pools = {lv: off[off["expertise_level"] == lv] for lv in LEVELS}
    rows = []
    for cid, mine in frame[frame["customer_id"] != ""].groupby("customer_id", sort=True):
        mine = mine.sort_values("created_at", kind="stable")
        levels = set(mine["expertise_level"])
        if len(levels) != 1 or (mine["register"] != "on").any() or len(mine) < 2:
            continue
        level = levels.pop()
        pool = pools[level][pools[level]["customer_id"] != cid]
        if not len(pool):
            continue
        swapped = pool.iloc[int(rng.integers(len(pool)))]
        history = mine.assign(role="history")
        after = (pd.Timestamp(mine["created_at"].iloc[-1]) + pd.Timedelta(days=7)).isoformat()
        current = pd.DataFrame([{**dict.fromkeys(mine.columns, ""), "ticket_id": f"{cid}-swap",
                                 "customer_id": cid, "created_at": after,
                                 "subject": swapped["subject"], "body": swapped["body"],
                                 "expertise_level": level, "topic": swapped["topic"],
                                 "register": swapped["register"], "role": "current"}])
        rows.append(pd.concat([history, current], ignore_index=True))
    if not rows:
        return {"customers": 0}
    swap = pd.concat(rows, ignore_index=True)
    scored = _frame_scored(engine, swap)
    at = np.flatnonzero(swap["role"].to_numpy() == "current")
    truth = np.array([LEVELS.index(v) for v in swap["expertise_level"].iloc[at]])
    alone = _frame_scored(engine, swap.iloc[at], with_history=False)
    return {"customers": int(len(at)), **_judged(truth, scored.level_p[at], alone.level_p)}


def evaluate_lean(lean: Any, *, kb_root: Any, train: Any, sets: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a freshly fitted lean model on labelled files (through the real engine)."""
    from expertise.engine import Engine
    from expertise.tickets.labelled import read_labelled

    engine = Engine(lean=lean, kb_root=kb_root)
    report: dict[str, Any] = {"sets": {}}
    for name, path in sets.items():
        frame = read_labelled(path)
        report["sets"][name] = evaluate_frame(engine, frame, train=train)
    report["summary"] = summarise(report)
    return report


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, res in report.get("sets", {}).items():
        lvl = res.get("level", {})
        summary[name] = {
            "accuracy": lvl.get("accuracy"), "macro_f1": lvl.get("macro_f1"),
            "severe_miss_rate": lvl.get("severe_miss_rate"), "ece": lvl.get("ece"),
            "topic_top1": res.get("topic", {}).get("top1"),
            "topic_top3": res.get("topic", {}).get("top3"),
            "served_level_match": res.get("serving", {}).get("served_level_match"),
            "novice_served_expert": res.get("serving", {}).get("novice_served_expert"),
        }
    return summary


def plots(report: dict[str, Any]) -> dict[str, bytes]:
    """Confusion-matrix and reliability-diagram PNGs for each evaluation set."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, bytes] = {}
    for name, res in report.get("sets", {}).items():
        level = res.get("level")
        if not level:
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
        cm = np.array(level["confusion"])
        ax1.imshow(cm, cmap="Blues")
        for (r, c), v in np.ndenumerate(cm):
            ax1.text(c, r, str(v), ha="center", va="center")
        ax1.set_xticks(range(3), LEVELS)
        ax1.set_yticks(range(3), LEVELS)
        ax1.set_xlabel("predicted")
        ax1.set_ylabel("labelled")
        ax1.set_title(f"{name}: confusion")
        bins = res.get("reliability") or []
        ax2.plot([0, 1], [0, 1], "--", color="grey")
        if bins:
            ax2.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-")
        ax2.set_xlabel("confidence")
        ax2.set_ylabel("accuracy")
        ax2.set_title(f"{name}: reliability (ECE {level['ece']:.3f})")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        files[f"{name}.png"] = buf.getvalue()
    return files


def evaluate_bundle(*, model_dir: Any = None, data: Any = None, kb_root: Any = None,
                    trust: bool = False, baselines: bool = True) -> dict[str, Any]:
    """Evaluate a saved bundle on `data` (or the default evaluation sets), and compare with the
    figures the bundle recorded when it was trained (drift)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small solvers: threads only cost
        return _evaluate_bundle(model_dir=model_dir, data=data, kb_root=kb_root, trust=trust,
                                baselines=baselines)


def _evaluate_bundle(*, model_dir: Any, data: Any, kb_root: Any, trust: bool,
                     baselines: bool) -> dict[str, Any]:
    from pathlib import Path

    from expertise import config
    from expertise.engine import Engine
    from expertise.tickets.labelled import default_eval_sets, read_labelled

    engine = Engine(model_dir=model_dir, kb_root=kb_root, trust=trust)
    sets = {Path(data).stem: Path(data)} if data else default_eval_sets()
    train_path = config.data_dir() / "tickets_train.csv"
    train = read_labelled(train_path) if baselines and train_path.exists() else None
    report: dict[str, Any] = {"model": engine.version, "sets": {}}
    for name, path in sets.items():
        report["sets"][name] = evaluate_frame(engine, read_labelled(path), train=train)
    report["summary"] = summarise(report)
    if data:
        report["drift"] = drift(engine, report)
    return report


def drift(engine: Any, report: dict[str, Any]) -> dict[str, Any]:
    """Compare accuracy on new data with the bundle's own evaluation figures."""
    own: dict[str, Any] = engine.manifest.get("metrics") or {}
    reference = (own.get("eval_split") or {}).get("accuracy")
    first: dict[str, Any] = next(iter(report["summary"].values()), {})
    new = first.get("accuracy")
    if reference is None or new is None:
        return {"reference_accuracy": reference, "new_accuracy": new,
                "recommendation": "no reference figures in the bundle; retrain to record them"}
    drop = reference - new
    advice = ("retrain: accuracy on these tickets is more than 5 points below the model's own "
              "evaluation (`make retrain`)" if drop > 0.05 else
              "no retraining needed: accuracy is within 5 points of the model's own evaluation")
    return {"reference_accuracy": reference, "new_accuracy": new, "drop": round(drop, 4),
            "recommendation": advice}
