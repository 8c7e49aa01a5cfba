"""Fit the expertise and topic models from labelled tickets and export the lean model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from expertise.config import (
    LEVEL_INDEX,
    LEVELS,
    NO_TOPIC,
    OUT_OF_SCOPE_SHARE,
    TOPICS,
)
from expertise.knowledge_base import KnowledgeBase
from expertise.modeling.estimators import (
    ExpertiseModel,
    NgramFeatures,
    OrdinalClassifier,
    WordingFeatures,
    learn_lexicon,
)
from expertise.scoring.features import featurize
from expertise.scoring.history import (
    AREA,
    HistoryParams,
    days,
    evidence_inputs,
    label_terms,
    terms,
)
from expertise.scoring.model import LeanModel, cumulative_to_proba, fuse_topics, quotable_masks
from expertise.scoring.ranking import flag_no_match
from expertise.scoring.text import scoring_text, scoring_ticket
from expertise.tickets.labelled import check_training_frame

DEFAULTS: dict[str, Any] = {
    "stage1_C": 8.0, "topic_C": 0.5, "folds": 5, "seed": 20261129,
    "label_keep": 0.5, "kb_examples": True, "voice_weight": 3.0,
}


@dataclass
class TrainResult:
    """The fitted model, its lean export, and facts about the training run."""

    model: ExpertiseModel
    topic_model: Any
    lean: LeanModel
    params: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


def training_texts(frame: pd.DataFrame) -> list[str]:
    """The texts a labelled frame is trained on: subject and body joined, then redacted and
    prepared, exactly as a ticket is when it is scored (`scoring.text.scoring_text`)."""
    subjects = frame["subject"].tolist() if "subject" in frame else [""] * len(frame)
    return [scoring_ticket(s, b)
            for s, b in zip(subjects, frame["body"].tolist(), strict=True)]


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


def fit(frame: pd.DataFrame, kb: KnowledgeBase, *, messages: pd.DataFrame | None = None,
        **overrides: Any) -> TrainResult:
    """Fit both stages and the topic model on a labelled ticket frame.

    `messages` (columns ``text``, ``topic``, ``level``; `tickets.labelled.read_messages`) are
    single messages in customers' own voice: each teaches the topic model its topic, or that
    it fits no article (``none``: the out-of-scope class), and, where it shows a level, the
    wording model that level. They join no customer's history.

    BLAS runs single-threaded here: the solvers' many small matrix-vector products lose far
    more to thread hand-offs than they gain on a small machine (measured 7x slower with
    OpenBLAS's default threads on 2 cores).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(frame, kb, messages, **overrides)


def _fit(frame: pd.DataFrame, kb: KnowledgeBase, messages: pd.DataFrame | None,
         **overrides: Any) -> TrainResult:
    params = {**DEFAULTS, **overrides}
    started = time.perf_counter()
    frame = check_training_frame(frame)
    texts = training_texts(frame)
    y = frame["expertise_level"].to_numpy(dtype=object)
    # The wording model learns what each text's wording shows; the evidence model, the
    # customer's lasting level. Without a wording label the customer's level stands in.
    wording = (frame["wording_level"].to_numpy(dtype=object) if "wording_level" in frame
               else y.copy())
    readable = np.isin(wording, LEVELS)
    groups = np.where(frame["customer_id"] != "", frame["customer_id"], frame["ticket_id"])

    slugs, docs = topic_documents(kb)
    lexicon = learn_lexicon(
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "expert"],
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "novice"],
        [a.body + " " + " ".join(a.symptoms) for a in kb.articles if a.level == "intermediate"],
    )
    if messages is None:
        messages = pd.DataFrame({"text": [], "topic": [], "level": []}, dtype=object)
    msg_texts = [scoring_text(t)[0] for t in messages["text"].tolist()]
    features = build_text_features(lexicon)
    features.fit(texts + msg_texts + docs)
    X = features.transform(texts).tocsr()
    X_msg = features.transform(msg_texts).tocsr() if msg_texts else None
    ngrams: NgramFeatures = features.transformer_list[0][1]
    n_vocab = len(ngrams.vocabulary_)
    doc_matrix = ngrams.transform(docs)

    # Stage 1 out of fold for every ticket, so the evidence model learns from wording scores
    # like those of unseen tickets.
    folds = GroupKFold(n_splits=min(params["folds"], len(set(groups))))
    oof = np.zeros((len(frame), 2))
    for tr, te in folds.split(X, y, groups):
        tr = tr[readable[tr]]
        fold_model = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(
            X[tr], wording[tr])
        oof[te] = fold_model.cumulative_decision(X[te])
    X1, y1 = X[readable], wording[readable]
    w1 = np.ones(len(y1))
    msg_levels = messages["level"].to_numpy(dtype=object)
    if X_msg is not None and np.isin(msg_levels, LEVELS).any():
        # messages in customers' own voice whose wording shows a level: style is not level,
        # and a version or a spec list is what an intermediate quotes; they weigh as much as
        # in the topic model, or the simulated tickets (ten times as many) drown them
        shown = np.isin(msg_levels, LEVELS)
        X1 = sparse.vstack([X1, X_msg[shown]]).tocsr()
        y1 = np.concatenate([y1, msg_levels[shown]])
        w1 = np.concatenate([w1, np.full(int(shown.sum()), params["voice_weight"])])
    if params.get("kb_examples"):
        # Articles' symptoms are written in the words of a caller of that level.
        extra = [(s, a.level) for a in kb.articles for s in a.symptoms]
        X1 = sparse.vstack([X1, features.transform([t for t, _ in extra]).tocsr()]).tocsr()
        y1 = np.concatenate([y1, [lv for _, lv in extra]])
        w1 = np.concatenate([w1, np.ones(len(extra))])
    stage1 = OrdinalClassifier(C=params["stage1_C"], classes=LEVELS).fit(X1, y1,
                                                                        sample_weight=w1)

    X_topic, topic_groups = X[:, :n_vocab], groups
    topic_labels = frame["topic"].to_numpy(dtype=object)
    if X_msg is not None:
        X_topic = sparse.vstack([X_topic, X_msg[:, :n_vocab]]).tocsr()
        topic_labels = np.concatenate([topic_labels, messages["topic"].to_numpy(dtype=object)])
        topic_groups = np.concatenate([groups, [f"message:{k}" for k in range(len(messages))]])
    voice = np.ones(len(topic_labels))
    voice[len(frame):] = params["voice_weight"]
    topic_model, fusion, topic_facts = _fit_topics(X_topic, topic_labels, topic_groups, slugs,
                                                   doc_matrix, params, voice)
    lean = export_lean(features, stage1, topic_model, fusion, slugs, doc_matrix)
    served = featurize(texts, lean.words, lean.idf)
    p_oof = cumulative_to_proba(oof)
    none_p = lean.wording(served).none_proba  # off-topic tickets count as when served
    history, history_facts = fit_history(
        p_oof, evidence_inputs(p_oof, served.n_tokens, served.evidence.signals(), none_p,
                               known_share=served.known_share),
        np.array([LEVEL_INDEX[v] for v in y]), groups, days(frame["created_at"].tolist()),
        np.array([AREA.get(_domain(t), -1) for t in frame["topic"]]),
        wording_prior=_shares(wording[readable]),
        label_keep=params["label_keep"], seed=params["seed"])
    lean.meta["history"] = history.to_dict()
    model = ExpertiseModel(features, stage1, history, lexicon)
    facts = {
        "train_tickets": len(frame), "train_customers": int(frame["customer_id"].nunique()),
        "wording_tickets": int(readable.sum()), "vocabulary": n_vocab,
        "lexicon_learned": len(lexicon), "history": history_facts,
        "messages": len(messages),
        "fit_seconds": round(time.perf_counter() - started, 2), **topic_facts,
    }
    return TrainResult(model, topic_model, lean, params, facts)


def fit_history(p: np.ndarray, inputs: np.ndarray, y: np.ndarray, customers: np.ndarray,
                when: np.ndarray, area: np.ndarray, *, wording_prior: np.ndarray,
                label_keep: float, seed: int) -> tuple[HistoryParams, dict[str, Any]]:
    """The evidence model's parameters (`scoring.history`), by log loss on customers' levels.

    Every ticket is a customer's current ticket once, with the customer's earlier tickets as
    its history (never later ones). `p` are out-of-fold wording probabilities, `inputs` each
    ticket's evidence inputs and `wording_prior` the wording levels' shares the wording model
    was trained on; a random `label_keep` of earlier tickets count as agent-labelled, as some
    are in a store.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_softmax

    n = len(y)
    prior = (np.bincount(y, minlength=3) + 1.0) / (n + 3.0)
    rng = np.random.default_rng(seed)
    labelled = rng.random(n) < label_keep
    # every (current, earlier) pair of one customer, the earlier strictly before in time order
    order = np.lexsort((np.arange(n), np.nan_to_num(when, nan=-np.inf), customers))
    later, earlier = [], []
    ranked = customers[order]
    edges = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1], True])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi - lo > 1:
            a, b = np.triu_indices(hi - lo, k=1)  # a before b
            earlier.append(order[lo:hi][a])
            later.append(order[lo:hi][b])
    cur = np.concatenate(later) if later else np.zeros(0, np.int64)
    old = np.concatenate(earlier) if earlier else np.zeros(0, np.int64)
    age = np.nan_to_num(when[cur] - when[old], nan=0.0).clip(min=0.0)
    same = (area[cur] == area[old]) & (area[cur] >= 0)
    lab = np.flatnonzero(labelled[old])
    k = inputs.shape[1]
    off = ~np.eye(3, dtype=bool)

    def unpack(x: np.ndarray) -> HistoryParams:
        logits = np.zeros((3, 3))
        logits[off] = x[k + 6:k + 12]
        register = np.exp(log_softmax(logits, axis=1))
        return HistoryParams(
            prior=tuple(prior.tolist()),
            wording_prior=tuple(float(v) for v in wording_prior),  # type: ignore[arg-type]
            register=tuple(tuple(row) for row in register.tolist()),
            slopes=tuple(x[:k].tolist()), current_bias=float(x[k]), history_bias=float(x[k + 1]),
            weight=float(np.exp(np.clip(x[k + 2], -10.0, 5.0))),
            other_area=float(expit(x[k + 3])),
            half_life_days=float(np.exp(np.clip(x[k + 4], np.log(7.0), np.log(3650.0)))),
            label_p=float(0.34 + 0.659 * expit(x[k + 5])))

    def loss(x: np.ndarray, *, with_history: bool = True) -> float:
        h = unpack(x)
        evidence = np.zeros((n, 3))
        if with_history and len(cur):
            e = terms(p[old], inputs[old], h, current=False)
            e[lab] = label_terms(y[old][lab], h)
            w = h.weight * np.exp2(-age / h.half_life_days) * np.where(same, 1.0, h.other_area)
            for j in range(3):
                evidence[:, j] = np.bincount(cur, weights=w * e[:, j], minlength=n)
        logits = np.log(prior) + terms(p, inputs, h, current=True) + evidence
        log_post = log_softmax(logits, axis=1)
        return float(-np.mean(log_post[np.arange(n), y]))

    start = np.r_[np.zeros(k), 1.0, 0.0, 0.0, 0.0, np.log(180.0), 1.5, np.full(6, -3.0)]
    # More words, a surer wording model and more signals of a level never make a ticket say
    # less: the slopes are kept at zero or above.
    bounds = [(0.0, None)] * k + [(None, None)] * (len(start) - k)
    with np.errstate(over="ignore"):
        fitted = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
    params = unpack(fitted.x)
    facts = {"log_loss": round(float(fitted.fun), 4), "pairs": int(len(cur)),
             "log_loss_without_history": round(loss(fitted.x, with_history=False), 4),
             **{name: np.round(np.asarray(v, dtype=float), 4).tolist()
                for name, v in params.to_dict().items()}}
    return params, facts


def _shares(levels: np.ndarray) -> np.ndarray:
    """Each level's share of these labels (one added to each count)."""
    counts = np.array([(levels == lv).sum() for lv in LEVELS], dtype=np.float64) + 1.0
    return counts / counts.sum()


def _fit_topics(X: Any, topics: np.ndarray, groups: np.ndarray, slugs: list[str],
                doc_matrix: Any, params: dict[str, Any], voice: np.ndarray | None = None
                ) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The supervised topic model and the fusion weights (fitted on out-of-fold scores).

    Rows whose topic is ``none`` teach an out-of-scope class; the fusion then also fits how
    likely "no article fits" is (`scoring.model.fuse_topics`), with those rows weighted to
    `config.OUT_OF_SCOPE_SHARE` of the total. `voice` weighs each row in the supervised model
    (messages in customers' own voice count more than the simulated tickets, which outnumber
    them, so that informal writing is not learned as "out of scope").
    """
    voice = np.ones(len(topics)) if voice is None else voice
    classes = [*slugs, NO_TOPIC]
    known = np.isin(topics, classes)
    retrieval = np.asarray((X @ doc_matrix.T).todense())
    in_scope = np.isin(topics, slugs)
    if in_scope.sum() < 50 or len(set(topics[in_scope])) < 2:
        return None, np.array([20.0, 0.0]), {"topic_model": "retrieval only"}
    open_set = int((topics == NO_TOPIC).sum()) >= 20
    if not open_set:
        known = in_scope
    idx = np.flatnonzero(known)
    y = topics[idx]
    width = len(slugs) + open_set
    folds = GroupKFold(n_splits=3)
    oof_logits = np.full((len(idx), width), -30.0)
    for tr, te in folds.split(idx, y, groups[idx]):
        m = _topic_estimator(params).fit(X[idx[tr]], y[tr], sample_weight=voice[idx[tr]])
        cols = [classes.index(c) for c in m.classes_]
        oof_logits[np.ix_(te, cols)] = m.decision_function(X[idx[te]])
    truth = np.array([classes.index(t) for t in y])
    rows = np.arange(len(idx))
    weight = np.ones(len(idx))
    if open_set:
        none = truth == len(slugs)
        share = OUT_OF_SCOPE_SHARE
        weight[none] = share * (~none).sum() / ((1.0 - share) * none.sum())
    weight /= weight.sum()

    def loss(x: np.ndarray) -> float:
        p = fuse_topics(retrieval[idx], oof_logits, _fusion(x))
        return float(-np.sum(weight * np.log(p[rows, truth] + 1e-12)))

    from scipy.optimize import minimize

    grid: list[tuple[float, ...]] = [(a, b) for a in (5.0, 20.0, 60.0) for b in (0.0, 1.0, 3.0)]
    if open_set:
        grid = [(*ab, c, d) for ab in grid for c in (-2.0, 0.0, 2.0) for d in (0.0, 20.0)]
    start = min(grid, key=lambda x: loss(np.array(x)))
    fitted = minimize(loss, np.array(start), method="Nelder-Mead",
                      options={"xatol": 0.05, "fatol": 1e-6, "maxiter": 600})
    fusion = _fusion(fitted.x)
    model = _topic_estimator(params).fit(X[idx], y, sample_weight=voice[idx])
    p = fuse_topics(retrieval[idx], oof_logits, fusion)
    facts: dict[str, Any] = {
        "topic_model": "retrieval + supervised" + (" + out of scope" if open_set else ""),
        "fusion": np.round(fusion, 4).tolist(),
        "topic_oof_top1": round(float(np.mean(p[~(truth == len(slugs))][:, :len(slugs)]
                                              .argmax(1) == truth[truth < len(slugs)])), 4)}
    if open_set:
        none = truth == len(slugs)
        in_topic = p[:, :len(slugs)]
        best = (in_topic / np.maximum(in_topic.sum(axis=1, keepdims=True), 1e-12)).max(axis=1)
        flagged = flag_no_match(p[:, len(slugs)], best)
        facts["out_of_scope_oof_flagged"] = round(float(flagged[none].mean()), 4)
        facts["in_scope_oof_flagged"] = round(float(flagged[~none].mean()), 4)
    return model, fusion, facts


def _fusion(x: np.ndarray) -> np.ndarray:
    """Fusion weights from the optimiser's free values: the retrieval and supervised weights
    are kept positive; the out-of-scope bias and its retrieval weight are free."""
    out = np.asarray(x, dtype=float).copy()
    out[:2] = np.abs(out[:2])
    return out


def _topic_estimator(params: dict[str, Any]) -> Any:
    """One-vs-rest linear SVMs: as accurate as multinomial logistic regression on this task and
    many times faster to fit; their scores become probabilities through the fitted fusion.
    A fixed seed for liblinear's coordinate order: the same data and code give the same
    bundle, byte for byte."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=params["topic_C"], max_iter=5000, random_state=0)


def build_text_features(lexicon: list[str] | None, *, min_df: int = 2) -> Any:
    """Word uni- and bigram TF-IDF plus the scaled hand-made signals."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    return FeatureUnion([
        ("ngrams", NgramFeatures(min_df=min_df)),
        ("wording", Pipeline([("signals", WordingFeatures(lexicon)), ("scale", StandardScaler())])),
    ])


def export_lean(features: Any, stage1: OrdinalClassifier, topic_model: Any,
                fusion: np.ndarray, slugs: list[str], doc_matrix: Any) -> LeanModel:
    """Every linear piece of the fitted model as plain arrays (stage 2 is added by `fit`)."""
    vectorizer = features.transformer_list[0][1]
    scaler = features.transformer_list[1][1].named_steps["scale"]
    signals = features.transformer_list[1][1].named_steps["signals"]
    vocabulary = list(vectorizer.vocabulary_)
    n_vocab = len(vocabulary)
    if topic_model is not None:
        classes = [*slugs, NO_TOPIC]  # the out-of-scope class, if fitted, is column T
        sup_index = np.array([classes.index(c) for c in topic_model.classes_], dtype=np.int64)
        topic_w, topic_b = topic_model.coef_.T, topic_model.intercept_
    else:
        sup_index = np.zeros(0, dtype=np.int64)
        topic_w, topic_b = np.zeros((n_vocab, 0)), np.zeros(0)
    # float32 here already, as the bundle stores it: the model evaluated at training time is
    # the model served
    W = np.hstack([stage1.coef_[:, :n_vocab].T, topic_w]).astype(np.float32)
    b = np.concatenate([stage1.intercept_, topic_b])
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
    lean = LeanModel(
        levels=list(LEVELS), topics=slugs, topic_domains=[_domain(s) for s in slugs],
        vocabulary=vocabulary, lexicon=signals.lexicon_, arrays=arrays, meta={},
    )
    # the word table and the n-grams reasons may quote: once here, not at every start-up
    lean.arrays.update(lean.words.arrays())
    lean.meta["extra_words"] = lean.words.extra_words
    lean.arrays["quotable"] = quotable_masks(vocabulary, lean.lexicon, lean.w_direction)
    return lean



