"""Fit the expertise and topic models from labelled tickets and export the lean model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from expertise.classifier import ExpertiseModel, OrdinalClassifier
from expertise.config import LEVEL_INDEX, LEVELS, TOPICS
from expertise.errors import InputError
from expertise.features import build_text_features, history_matrix, learn_lexicon
from expertise.knowledge_base import KnowledgeBase
from expertise.lean import LeanModel, fuse_topics
from expertise.text import prepare

DEFAULTS: dict[str, Any] = {
    "stage1_C": 4.0, "stage2_C": 1.0, "topic_C": 20.0, "folds": 5, "seed": 20261129,
    "label_keep": 0.5,
}


@dataclass
class TrainResult:
    """The fitted model, its lean export, and facts about the training run."""

    model: ExpertiseModel
    topic_model: LogisticRegression | None
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
    """Fit both stages and the topic model on a labelled ticket frame (text already redacted)."""
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
        oof[te] = fold_model.decision_function(X[te]).reshape(len(te), -1)
    stage1 = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(X, y)

    from expertise.classifier_math import cumulative_to_proba

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
    scaler = StandardScaler().fit(s2_inputs)
    stage2 = OrdinalClassifier(C=params["stage2_C"], classes=LEVELS).fit(
        scaler.transform(s2_inputs), y)
    lean.arrays.update({
        "s2_mean": scaler.mean_, "s2_scale": scaler.scale_,
        "s2_coef": stage2.coef_, "s2_intercept": stage2.intercept_,
    })
    model = ExpertiseModel(features, stage1, scaler, stage2, lexicon)
    facts = {
        "train_tickets": len(frame), "train_customers": int(frame["customer_id"].nunique()),
        "vocabulary": n_vocab, "lexicon_learned": len(lexicon),
        "fit_seconds": round(time.perf_counter() - started, 2), **topic_facts,
    }
    return TrainResult(model, topic_model, lean, params, facts)


def _fit_topics(X: Any, topics: np.ndarray, groups: np.ndarray, slugs: list[str],
                doc_matrix: Any, params: dict[str, Any]
                ) -> tuple[LogisticRegression | None, np.ndarray, dict[str, Any]]:
    """The supervised topic model and the fusion weights (fitted on out-of-fold scores)."""
    known = np.isin(topics, slugs)
    retrieval = np.asarray((X @ doc_matrix.T).todense()) if hasattr(X, "todense") else X @ doc_matrix.T
    retrieval = np.asarray(retrieval)
    if known.sum() < 50 or len(set(topics[known])) < 2:
        return None, np.array([20.0, 0.0]), {"topic_model": "retrieval only"}
    idx = np.flatnonzero(known)
    y = topics[idx]
    folds = GroupKFold(n_splits=3)
    oof_logits = np.full((len(idx), len(slugs)), -30.0)
    for tr, te in folds.split(idx, y, groups[idx]):
        m = LogisticRegression(C=params["topic_C"], max_iter=3000).fit(X[idx[tr]], y[tr])
        cols = [slugs.index(c) for c in m.classes_]
        oof_logits[np.ix_(te, cols)] = m.decision_function(X[idx[te]])
    truth = np.array([slugs.index(t) for t in y])
    best = (np.inf, 20.0, 0.0)
    for a in (0.0, 5.0, 10.0, 20.0, 30.0, 45.0):
        for b in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5):
            if a == 0 and b == 0:
                continue
            p = fuse_topics(retrieval[idx], oof_logits, np.array([a, b]))
            loss = -np.mean(np.log(p[np.arange(len(idx)), truth] + 1e-12))
            if loss < best[0]:
                best = (loss, a, b)
    model = LogisticRegression(C=params["topic_C"], max_iter=3000).fit(X[idx], y)
    p = fuse_topics(retrieval[idx], oof_logits, np.array(best[1:]))
    facts = {"topic_model": "retrieval + supervised", "fusion": [best[1], best[2]],
             "topic_oof_top1": round(float(np.mean(p.argmax(1) == truth)), 4)}
    return model, np.array(best[1:]), facts


def _export(features: Any, stage1: OrdinalClassifier, topic_model: LogisticRegression | None,
            fusion: np.ndarray, slugs: list[str], lexicon: list[str], n_vocab: int,
            doc_matrix: Any) -> LeanModel:
    vectorizer = features.transformer_list[0][1]
    scaler = features.transformer_list[1][1].named_steps["scale"]
    signals = features.transformer_list[1][1].named_steps["signals"]
    vocabulary = [""] * n_vocab
    for term, col in vectorizer.vocabulary_.items():
        vocabulary[col] = term
    n_topics = len(slugs)
    topic_w = np.zeros((n_vocab, n_topics))
    topic_b = np.zeros(n_topics)
    if topic_model is not None:
        cols = [slugs.index(c) for c in topic_model.classes_]
        topic_w[:, cols] = topic_model.coef_.T
        topic_b[:] = -30.0
        topic_b[cols] = topic_model.intercept_
    W = np.hstack([stage1.coef_[:, :n_vocab].T, topic_w, np.asarray(doc_matrix.todense()).T])
    b = np.concatenate([stage1.intercept_, topic_b, np.zeros(n_topics)])
    arrays = {
        "idf": vectorizer.idf_, "W": W, "b": b,
        "dense_mean": scaler.mean_, "dense_scale": scaler.scale_,
        "W_dense": stage1.coef_[:, n_vocab:].T, "fusion": np.asarray(fusion, dtype=float),
    }
    return LeanModel(
        levels=list(LEVELS), topics=slugs, topic_domains=[_domain(s) for s in slugs],
        vocabulary=vocabulary, lexicon=signals.lexicon_, arrays=arrays, meta={},
    )
