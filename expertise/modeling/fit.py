"""Fit the expertise and topic models from labelled tickets and export the lean model."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from expertise.modeling.estimators import ExpertiseModel, OrdinalClassifier
from expertise.config import LEVEL_INDEX, LEVELS, TOPICS
from expertise.errors import InputError
from expertise.modeling.features import build_text_features, history_matrix, learn_lexicon
from expertise.knowledge_base import KnowledgeBase
from expertise.scoring.model import LeanModel, fuse_topics
from expertise.scoring.text import prepare

DEFAULTS: dict[str, Any] = {
    "stage1_C": 8.0, "stage2_C": 1.0, "topic_C": 0.5, "folds": 5, "seed": 20261129,
    "label_keep": 0.5, "min_label_p": 0.05, "kb_examples": True,
}


@dataclass
class TrainResult:
    """The fitted model, its lean export, and facts about the training run."""

    model: ExpertiseModel
    topic_model: Any
    lean: LeanModel
    params: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


def ticket_texts(frame: pd.DataFrame) -> list[str]:
    """Subject and body as one text, whitespace-collapsed and truncated."""
    subjects = frame["subject"].fillna("").astype(str).tolist() if "subject" in frame else []
    bodies = frame["body"].fillna("").astype(str).tolist()
    out = []
    for i, body in enumerate(bodies):
        subject = subjects[i].strip() if subjects else ""
        out.append(prepare(f"{subject}. {body}" if subject else body)[0])
    return out


def topic_documents(kb: KnowledgeBase) -> tuple[list[str], list[str]]:
    """One retrieval document per topic: every level's title, summary, symptoms and body,
    with symptoms and synonyms repeated because they are written in callers' words."""
    slugs, docs = [], []
    for slug, topic in kb.topics.items():
        parts = [topic.title, " . ".join(topic.synonyms), " . ".join(topic.synonyms)]
        for article in topic.articles.values():
            symptoms = " . ".join(article.symptoms)
            parts += [article.title, article.summary, symptoms, symptoms, article.body]
        slugs.append(slug)
        docs.append(" . ".join(parts))
    return slugs, docs


def _domain(topic: str) -> str:
    return TOPICS.get(topic, ("", ""))[0]


def check_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
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


def fit(frame: pd.DataFrame, kb: KnowledgeBase, **overrides: Any) -> TrainResult:
    """Fit both stages and the topic model on a labelled ticket frame (text already redacted).

    BLAS runs single-threaded here: the solvers' many small matrix-vector products lose far
    more to thread hand-offs than they gain on a small machine (measured 7x slower with
    OpenBLAS's default threads on 2 cores).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(frame, kb, **overrides)


def _fit(frame: pd.DataFrame, kb: KnowledgeBase, **overrides: Any) -> TrainResult:
    params = {**DEFAULTS, **overrides}
    started = time.perf_counter()
    frame = check_training_frame(frame)
    rng = np.random.default_rng(params["seed"])
    texts = ticket_texts(frame)
    y = frame["expertise_level"].to_numpy(dtype=object)
    groups = np.where(frame["customer_id"] != "", frame["customer_id"], frame["ticket_id"])

    slugs, docs = topic_documents(kb)
    lexicon = learn_lexicon(
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "expert"],
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "novice"],
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "intermediate"],
    )
    features = build_text_features(lexicon)
    features.fit(texts + docs)
    X = features.transform(texts).tocsr()
    n_vocab = len(features.transformer_list[0][1].vocabulary_)

    # Stage 1 out of fold, so stage 2 learns from scores like those of unseen tickets.
    folds = GroupKFold(n_splits=min(params["folds"], len(set(groups))))
    oof = np.zeros((len(frame), 2))
    for tr, te in folds.split(X, y, groups):
        fold_model = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(X[tr], y[tr])
        oof[te] = fold_model.cumulative_decision(X[te])
    if params.get("kb_examples"):
        # Articles' symptoms are written in the words of a caller of that level.
        extra = [(s, a.level) for a in kb.articles for s in a.symptoms]
        X_extra = features.transform([t for t, _ in extra]).tocsr()
        from scipy import sparse as _sp

        stage1 = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(
            _sp.vstack([X, X_extra]).tocsr(), np.concatenate([y, [lv for _, lv in extra]]))
    else:
        stage1 = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(X, y)

    from expertise.scoring.ordinal import cumulative_to_proba

    p_oof = cumulative_to_proba(oof)
    dense = features.transformer_list[1][1].named_steps["signals"].transform(texts)
    n_tokens = np.expm1(dense[:, 8]).round().astype(int)
    labelled = rng.random(len(frame)) < params["label_keep"]
    label_rank = np.array([LEVEL_INDEX[v] for v in y], dtype=float)
    hist_frame = pd.DataFrame({
        "customer_id": frame["customer_id"], "created_at": frame["created_at"],
        "domain": [_domain(t) for t in frame["topic"]],
        "level_score": np.where(labelled, label_rank, p_oof[:, 1] + 2 * p_oof[:, 2]),
        "labelled": labelled, "tech_density": dense[:, 1], "n_tokens": n_tokens,
    })
    history = history_matrix(hist_frame)

    topic_model, fusion, topic_facts = _fit_topics(
        X[:, :n_vocab], frame["topic"].to_numpy(dtype=object), groups, slugs,
        features.transformer_list[0][1].transform(docs), params)

    # Export first so stage 2 is fitted on exactly the inputs the lean path computes.
    lean = _export(features, stage1, topic_model, fusion, slugs, lexicon, n_vocab,
                   features.transformer_list[0][1].transform(docs))
    s2_inputs = lean.stage2_inputs(oof, history, n_tokens)
    # Calibrate against likely-correct labels: agent labels are noisy, and a model calibrated
    # to the noise is underconfident on clean tickets. Drop the rows whose label the held-out
    # wording model finds implausible (confident learning, Northcutt et al. 2021).
    plausible = p_oof[np.arange(len(y)), [LEVEL_INDEX[v] for v in y]] >= params["min_label_p"]
    scaler = StandardScaler().fit(s2_inputs)
    stage2 = OrdinalClassifier(C=params["stage2_C"], classes=LEVELS).fit(
        scaler.transform(s2_inputs)[plausible], y[plausible])
    lean.arrays.update({
        "s2_mean": scaler.mean_, "s2_scale": scaler.scale_,
        "s2_coef": stage2.coef_, "s2_intercept": stage2.intercept_,
    })
    model = ExpertiseModel(features, stage1, scaler, stage2, lexicon)
    facts = {
        "train_tickets": len(frame), "train_customers": int(frame["customer_id"].nunique()),
        "vocabulary": n_vocab, "lexicon_learned": len(lexicon),
        "stage2_rows_dropped_as_implausible": int((~plausible).sum()),
        "fit_seconds": round(time.perf_counter() - started, 2), **topic_facts,
    }
    return TrainResult(model, topic_model, lean, params, facts)


def _fit_topics(X: Any, topics: np.ndarray, groups: np.ndarray, slugs: list[str],
                doc_matrix: Any, params: dict[str, Any]
                ) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The supervised topic model and the fusion weights (fitted on out-of-fold scores)."""
    known = np.isin(topics, slugs)
    retrieval = np.asarray((X @ doc_matrix.T).todense())
    if known.sum() < 50 or len(set(topics[known])) < 2:
        return None, np.array([20.0, 0.0]), {"topic_model": "retrieval only"}
    idx = np.flatnonzero(known)
    y = topics[idx]
    folds = GroupKFold(n_splits=3)
    oof_logits = np.full((len(idx), len(slugs)), -30.0)
    for tr, te in folds.split(idx, y, groups[idx]):
        m = _topic_estimator(params).fit(X[idx[tr]], y[tr])
        cols = [slugs.index(c) for c in m.classes_]
        oof_logits[np.ix_(te, cols)] = m.decision_function(X[idx[te]])
    truth = np.array([slugs.index(t) for t in y])
    rows = np.arange(len(idx))

    def loss(ab: np.ndarray) -> float:
        p = fuse_topics(retrieval[idx], oof_logits, np.abs(ab))
        return float(-np.mean(np.log(p[rows, truth] + 1e-12)))

    from scipy.optimize import minimize

    start = min(((a, b) for a in (5.0, 20.0, 60.0) for b in (0.0, 1.0, 3.0)),
                key=lambda ab: loss(np.array(ab)))
    fitted = minimize(loss, np.array(start), method="Nelder-Mead",
                      options={"xatol": 0.05, "fatol": 1e-5, "maxiter": 300})
    best = (float(fitted.fun), *np.abs(fitted.x).round(4).tolist())
    model = _topic_estimator(params).fit(X[idx], y)
    p = fuse_topics(retrieval[idx], oof_logits, np.array(best[1:]))
    facts = {"topic_model": "retrieval + supervised", "fusion": [best[1], best[2]],
             "topic_oof_top1": round(float(np.mean(p.argmax(1) == truth)), 4)}
    return model, np.array(best[1:]), facts


def _topic_estimator(params: dict[str, Any]) -> Any:
    """One-vs-rest linear SVMs: as accurate as multinomial logistic regression on this task and
    many times faster to fit; their scores become probabilities through the fitted fusion."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=params["topic_C"], max_iter=5000)


def _export(features: Any, stage1: OrdinalClassifier, topic_model: Any,
            fusion: np.ndarray, slugs: list[str], lexicon: list[str], n_vocab: int,
            doc_matrix: Any) -> LeanModel:
    vectorizer = features.transformer_list[0][1]
    scaler = features.transformer_list[1][1].named_steps["scale"]
    signals = features.transformer_list[1][1].named_steps["signals"]
    vocabulary = [""] * n_vocab
    for term, col in vectorizer.vocabulary_.items():
        vocabulary[col] = term
    if topic_model is not None:
        sup_index = np.array([slugs.index(c) for c in topic_model.classes_], dtype=np.int64)
        topic_w, topic_b = topic_model.coef_.T, topic_model.intercept_
    else:
        sup_index = np.zeros(0, dtype=np.int64)
        topic_w, topic_b = np.zeros((n_vocab, 0)), np.zeros(0)
    W = np.hstack([stage1.coef_[:, :n_vocab].T, topic_w])
    b = np.concatenate([stage1.intercept_, topic_b])
    from scipy import sparse

    retrieval = sparse.csr_matrix(doc_matrix.T)  # vocabulary x topics
    retrieval.sort_indices()
    arrays = {
        "idf": vectorizer.idf_, "W": W, "b": b,
        "dense_mean": scaler.mean_, "dense_scale": scaler.scale_,
        "W_dense": stage1.coef_[:, n_vocab:].T, "fusion": np.asarray(fusion, dtype=float),
        "sup_index": sup_index, "R_data": retrieval.data.astype(np.float32),
        "R_indices": retrieval.indices.astype(np.int32),
        "R_indptr": retrieval.indptr.astype(np.int64),
    }
    return LeanModel(
        levels=list(LEVELS), topics=slugs, topic_domains=[_domain(s) for s in slugs],
        vocabulary=vocabulary, lexicon=signals.lexicon_, arrays=arrays, meta={},
    )


# ---- whole runs: read, fit, evaluate, save -----------------------------------------------------

def read_labelled(path: Path, *, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a labelled export with the ticket readers (any supported layout); rejects dropped."""
    from expertise.tickets.readers import iter_tickets

    frames = [chunk.frame for chunk in iter_tickets(path, mapping=mapping, require_labels=True)]
    if not frames or not sum(len(f) for f in frames):
        raise InputError(f"{path}: no usable labelled tickets; check expertise_level and body")
    return pd.concat(frames, ignore_index=True)


def redact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    from expertise.privacy import redact

    frame = frame.copy()
    for col in ("subject", "body"):
        if col in frame:
            frame[col] = [redact(str(v)) if v else "" for v in frame[col].fillna("")]
    return frame


def fingerprint_frame(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    cols = [c for c in ("ticket_id", "customer_id", "created_at", "subject", "body",
                        "expertise_level", "topic") if c in frame]
    for row in frame[cols].astype(str).itertuples(index=False):
        digest.update("\x1f".join(row).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


@dataclass
class TrainReport:
    version: str
    path: Path
    promoted: bool
    facts: dict[str, Any]
    metrics: dict[str, Any]


def train_bundle(
    *,
    data: Path | list[Path] | None = None,
    frame: pd.DataFrame | None = None,
    out_dir: Path | None = None,
    kb_root: Path | None = None,
    promote: bool = False,
    version: str | None = None,
    evaluate: bool = True,
    eval_sets: dict[str, Path] | None = None,
    **overrides: Any,
) -> TrainReport:
    """Fit on the bundled training split (or `data`/`frame`), evaluate, and save a bundle."""
    from expertise import config
    from expertise.bundles import format as artifacts
    from expertise.knowledge_base import fingerprint_knowledge_base, load_knowledge_base
    from expertise.rights.erasure import customer_salt, hash_customer, salt_id

    started = time.perf_counter()
    kb_root = kb_root or config.kb_dir()
    kb = load_knowledge_base(kb_root)
    if frame is None:
        paths = [data] if isinstance(data, Path) else list(data or [config.data_dir() /
                                                                   "tickets_train.csv"])
        frame = pd.concat([read_labelled(p) for p in paths], ignore_index=True)
    frame = redact_frame(check_training_frame(frame))
    result = fit(frame, kb, **overrides)
    out_dir = out_dir or config.models_dir()
    version = version or artifacts.new_version()
    salt = customer_salt()
    customers = sorted({c for c in frame["customer_id"] if c})
    metrics: dict[str, Any] = {}
    extra: dict[str, bytes] = {}
    if evaluate:
        from threadpoolctl import threadpool_limits

        from expertise.modeling.evaluate import evaluate_lean, plots

        with threadpool_limits(limits=1, user_api="blas"):  # see fit()
            metrics = evaluate_lean(result.lean, kb_root=kb_root, train=frame,
                                    sets=eval_sets if eval_sets is not None
                                    else default_eval_sets())
        extra = plots(metrics)
    result.facts["train_seconds"] = round(time.perf_counter() - started, 2)
    result.facts["code_fingerprint"] = code_fingerprint()
    bundle = artifacts.save_bundle(
        lean=result.lean,
        sklearn_objects={"model": result.model, "topic_model": result.topic_model,
                         "params": result.params},
        out_dir=out_dir, version=version, data_fingerprint=fingerprint_frame(frame),
        kb_fingerprint=fingerprint_knowledge_base(kb_root), metrics=metrics,
        facts=result.facts, customer_hashes=[hash_customer(c, salt) for c in customers],
        salt_id=salt_id(salt), extra_files=extra,
    )
    if promote:
        artifacts.set_current(version, out_dir, reason="expertise train --promote")
    return TrainReport(version, bundle.path, promote, result.facts, metrics)


def code_fingerprint() -> str:
    """SHA-256 over the package's own Python files (name and content), in a stable order:
    recorded in each bundle so that `expertise train --if-changed` sees code changes."""
    from expertise.config import PACKAGE_DIR

    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def default_eval_sets() -> dict[str, Path]:
    from expertise import config

    sets = {"eval_split": config.data_dir() / "tickets_eval.csv",
            "handwritten": config.data_dir() / "eval_handwritten.csv"}
    return {k: v for k, v in sets.items() if v.exists()}
