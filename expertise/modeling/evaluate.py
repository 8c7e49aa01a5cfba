"""Metrics for level estimates and topic choice, and the two baselines."""

from __future__ import annotations

from typing import Any

import numpy as np

from expertise.config import LEVELS, NO_TOPIC, UNCLEAR
from expertise.scoring.text import redacted_ticket

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
    texts = [redacted_ticket(s, b) for s, b in zip(frame["subject"], frame["body"], strict=True)]
    customers = list(frame["customer_id"]) if with_history else [None] * len(frame)
    optional = {key: [str(v) if v else None for v in frame[column].tolist()]
                for key, column in (("conversations", "conversation_id"),
                                    ("products", "product")) if column in frame}
    if not with_history:
        optional.pop("conversations", None)
    return engine.score(texts, customer_ids=[c or None for c in customers],
                        created_at=list(frame["created_at"]), top=3, explain=False,
                        redacted=True, **optional)


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
    with earlier tickets, how their history is read (`history_report`, `swap_test`); where
    the file marks messages too thin to judge (level ``unclear``) or with no fitting article
    (topic ``none``), the open-set figures (`open_report`).

    Rows without a level, or with ``role`` = history, are earlier tickets only: scored as
    history of their customer, not judged. Level figures are on rows of a clear level.
    """
    scored = _frame_scored(engine, frame)
    columns = scored.columns()
    levels = frame["expertise_level"].to_numpy(dtype=object)
    roles = (frame["role"].to_numpy(dtype=object) if "role" in frame
             else np.full(len(frame), "", dtype=object))
    judged = (levels != "") & (roles != "history")
    clear = judged & np.isin(levels, LEVELS)
    usable = np.flatnonzero(clear & scored.estimate).tolist()
    y = [levels[i] for i in usable]
    proba = np.array([[columns[f"p_{lv}"][i] for lv in LEVELS] for i in usable])
    out: dict[str, Any] = {"n": int(judged.sum()),
                           "not_estimated": int((clear & ~scored.estimate).sum()),
                           "level": level_metrics(y, proba) if usable else {}}
    if usable:
        out["reliability"] = reliability(np.array([LEVELS.index(v) for v in y]), proba)
    topics_given = (frame["topic"].to_numpy(dtype=object) if "topic" in frame
                    else np.full(len(frame), "", dtype=object))
    known = set(scored.catalogue.topics)
    in_scope = judged & np.isin(topics_given, list(known))
    if in_scope.any():
        topics = scored.catalogue.topics
        at = np.flatnonzero(in_scope)
        ranked = [[topics[t] for t in scored.ranked[i, :3].tolist()] for i in at.tolist()]
        truth = [topics_given[i] for i in at.tolist()]
        out["topic"] = topic_metrics(truth, ranked)
        out["topic_by_level"] = {
            lv: topic_metrics([t for t, i in zip(truth, at, strict=True) if levels[i] == lv],
                              [r for r, i in zip(ranked, at, strict=True) if levels[i] == lv])
            for lv in LEVELS}
    if clear.any():
        at = np.flatnonzero(clear)
        chosen = scored.choice.chosen  # the level served, also where no article fits
        out["serving"] = serving_metrics([levels[i] for i in at],
                                         [LEVELS[int(chosen[i])] for i in at])
    if train is not None and clear.any():
        out["baselines"] = _baselines(train, frame.iloc[np.flatnonzero(clear)])
    if ((levels == UNCLEAR) | (topics_given == NO_TOPIC)).any():
        out["open"] = open_report(frame, scored, judged, clear, in_scope)
    if frame["customer_id"].astype(bool).any():
        out["history"] = history_report(engine, frame, scored)
        if "register" in frame:
            out["swap"] = swap_test(engine, frame)
            out["agreeing"] = _agreeing(engine, frame, scored)
    return out


#: A wrong answer at or above this confidence counts as confidently wrong (open-set figures).
CONFIDENT_OPEN = 0.8


def open_report(frame: Any, scored: Any, judged: np.ndarray, clear: np.ndarray,
                in_scope: np.ndarray) -> dict[str, Any]:
    """Figures for real-world files: out-of-scope messages flagged "no good match", in-scope
    ones wrongly flagged, level accuracy on clear messages against always answering their
    most frequent level, confidently wrong answers, and messages too thin to judge that were
    answered confidently."""
    levels = frame["expertise_level"].to_numpy(dtype=object)
    topics = frame["topic"].to_numpy(dtype=object) if "topic" in frame else None
    out_scope = judged & (topics == NO_TOPIC) if topics is not None else judged & False
    confidence = scored.level_p.max(axis=1)
    answered = scored.estimate
    pred = scored.level_p.argmax(axis=1)
    truth = np.array([LEVELS.index(v) if v in LEVELS else -1 for v in levels])
    thin = judged & (levels == UNCLEAR)
    rep: dict[str, Any] = {
        "messages": int(judged.sum()),
        "in_scope": int(in_scope.sum()), "out_of_scope": int(out_scope.sum()),
        "out_of_scope_flagged": _share(scored.no_match, out_scope),
        "in_scope_flagged": _share(scored.no_match, in_scope),
        "clear": int(clear.sum()), "unclear": int(thin.sum()),
    }
    if clear.any():
        at = np.flatnonzero(clear)
        counts = np.bincount(truth[at], minlength=3)
        right = answered[at] & (pred[at] == truth[at])
        wrong_sure = answered[at] & (pred[at] != truth[at]) & (confidence[at] >= CONFIDENT_OPEN)
        rep.update({
            "level_accuracy": round(float(right.mean()), 4),
            "majority_baseline": round(float(counts.max() / len(at)), 4),
            "majority_level": LEVELS[int(counts.argmax())],
            "confidently_wrong": round(float(wrong_sure.mean()), 4),
            "not_estimated_clear": round(float((~answered[at]).mean()), 4),
        })
        est = at[answered[at]]
        if len(est):
            rep["ece"] = round(expected_calibration_error(truth[est], scored.level_p[est]), 4)
    if thin.any():
        at = np.flatnonzero(thin)
        rep["unclear_answered_confidently"] = round(float(
            (answered[at] & (confidence[at] >= CONFIDENT_OPEN)).mean()), 4)
        rep["unclear_not_estimated"] = round(float((~answered[at]).mean()), 4)
    return rep


def _share(flag: np.ndarray, rows: np.ndarray) -> float | None:
    return round(float(flag[rows].mean()), 4) if rows.any() else None


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
    rows = [i for i in _current_rows(frame) if frame["expertise_level"].iloc[i] in LEVELS]
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
        frame = read_labelled(path, evaluation=True)
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
                    trust: bool = False, baselines: bool = True, mapping: Any = None,
                    encoding: str = "auto") -> dict[str, Any]:
    """Evaluate a saved bundle on `data` (or the default evaluation sets), and compare with the
    figures the bundle recorded when it was trained (drift).

    `data` is read as exports are (`mapping` as ``--map``, `encoding` as ``--encoding``).
    Each set's rows left out (unreadable, duplicate, unknown level or topic...) are in its
    ``left_out`` (`tickets.labelled.LabelledFile.left_out`) and listed in
    ``<file>.rejects.csv`` next to it; the figures are on the other rows.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small solvers: threads only cost
        return _evaluate_bundle(model_dir=model_dir, data=data, kb_root=kb_root, trust=trust,
                                baselines=baselines, mapping=mapping, encoding=encoding)


def _evaluate_bundle(*, model_dir: Any, data: Any, kb_root: Any, trust: bool,
                     baselines: bool, mapping: Any, encoding: str) -> dict[str, Any]:
    from pathlib import Path

    from expertise import config
    from expertise.engine import Engine
    from expertise.store.db import default_rejects_path
    from expertise.tickets.labelled import default_eval_sets, read_labelled, read_labelled_file
    from expertise.tickets.readers import check_reading_options

    check_reading_options(data, encoding=encoding, mapping=mapping)
    engine = Engine(model_dir=model_dir, kb_root=kb_root, trust=trust)
    sets = {Path(data).stem: Path(data)} if data else default_eval_sets()
    labelled = {name: read_labelled_file(path, mapping=mapping, encoding=encoding,
                                         evaluation=True, topics=engine.catalogue.topics,
                                         rejects_path=default_rejects_path(path))
                for name, path in sets.items()}
    train_path = config.data_dir() / "tickets_train.csv"
    train = read_labelled(train_path) if baselines and train_path.exists() else None
    report: dict[str, Any] = {"model": engine.version, "sets": {}}
    for name, read in labelled.items():
        report["sets"][name] = {**evaluate_frame(engine, read.frame, train=train),
                                "left_out": read.left_out()}
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
