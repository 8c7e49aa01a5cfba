"""The answer engine: one place that turns a ticket into an answer, for the CLI and batch alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from expertise import config
from expertise.config import LEVEL_INDEX, LEVELS, TOPICS
from expertise.errors import InputError
from expertise.scoring.history import HISTORY_FEATURES, PriorTicket, history_features
from expertise.privacy import redact
from expertise.scoring.ranking import (
    FeedbackStats,
    adjust_topics,
    choose_level,
    neighbours,
    rank_topics,
    topic_shifts,
)
from expertise.scoring.text import looks_english, prepare
from expertise.rights.erasure import current_actor

HISTORY_LIMIT = 50
#: Next topics below this probability are not worth the agent's attention.
MIN_ALTERNATIVE_SCORE = 0.02


@dataclass
class ArticleRef:
    id: str
    topic: str
    level: str
    title: str
    summary: str
    why: str = ""


@dataclass
class Answer:
    """Everything the agent sees for one ticket (also the JSON of `answer --json`)."""

    level: str | None
    confidence: float | None
    probabilities: dict[str, float] | None
    reasons: list[str]
    notes: list[str]
    topics: list[dict[str, Any]]
    article: ArticleRef | None
    body: str
    alternatives: list[ArticleRef]
    no_match: bool
    customer: dict[str, Any]
    model_version: str
    level_served: str | None = None
    low_confidence: bool = False
    expected_fit: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso_now() -> str:
    return datetime.now().replace(microsecond=0).isoformat()


class Engine:
    """Loads the model bundle, knowledge base and (optionally) the store once; answers tickets.

    Parameters
    ----------
    model_dir : path or None
        A bundle folder; None uses `models/current`.
    kb_root : path or None
        The knowledge base; None uses the bundled one ($EXPERTISE_KB).
    db_path : path or None
        The SQLite store for history, consent, feedback and audit; None means no store.
    trust : bool
        Accept a bundle outside the models folder.
    """

    def __init__(
        self,
        *,
        model_dir: Path | None = None,
        kb_root: Path | None = None,
        db_path: Path | None = None,
        trust: bool = False,
        confidence_threshold: float = config.CONFIDENCE_THRESHOLD,
        topic_threshold: float = config.TOPIC_THRESHOLD,
        lean: Any = None,
        kb: Any = None,
    ) -> None:
        from expertise.bundles.format import load_current, open_bundle
        from expertise.knowledge_base import load_knowledge_base

        if lean is not None:  # a model fresh from training, not yet saved
            self.version = "unsaved"
            self.manifest: dict[str, Any] = {}
            self.lean = lean
        else:
            bundle = open_bundle(model_dir, trust=trust) if model_dir else load_current()
            self.version = bundle.version
            self.manifest = bundle.manifest
            self.lean = bundle.lean()
        self.kb = kb if kb is not None else load_knowledge_base(kb_root or config.kb_dir())
        self.available = {slug: [lv for lv in LEVELS if lv in t.articles]
                          for slug, t in self.kb.topics.items()}
        # Topics the model knows but the knowledge base lacks are never served.
        self.topic_mask = np.array([t in self.available for t in self.lean.topics], dtype=bool)
        self.confidence_threshold = confidence_threshold
        self.topic_threshold = topic_threshold
        self.store = None
        if db_path is not None:
            from expertise.store.db import Store

            self.store = Store(db_path)
        self.feedback: dict[str, FeedbackStats] = self._load_feedback()
        # Topic shifts from feedback, recomputed only when `self.feedback` is replaced.
        self._shifts: tuple[dict[str, FeedbackStats], np.ndarray] | None = None

    # ---- store-backed pieces -------------------------------------------------------------
    def _load_feedback(self) -> dict[str, FeedbackStats]:
        if self.store is None:
            return {}
        stats: dict[str, list[int]] = {}
        for row in self.store.feedback_rows():
            if row.helpful is None or not row.article_id:
                continue
            counts = stats.setdefault(row.article_id, [0, 0])
            counts[0 if row.helpful else 1] += 1
        return {k: FeedbackStats(h, n) for k, (h, n) in stats.items()}

    def refresh_feedback(self) -> None:
        self.feedback = self._load_feedback()

    def feedback_shifts(self) -> np.ndarray | None:
        """Each topic's log-odds shift from agents' feedback (None without feedback)."""
        if not self.feedback:
            return None
        if self._shifts is None or self._shifts[0] is not self.feedback:
            self._shifts = (self.feedback, topic_shifts(self.lean.topics, self.available,
                                                        self.feedback))
        return self._shifts[1]

    def customer_state(self, customer_id: str | None) -> dict[str, Any]:
        """anonymous, unknown (not in the store), known, or opted_out."""
        if not customer_id:
            return {"id": None, "status": "anonymous"}
        if self.store is None:
            return {"id": customer_id, "status": "unknown", "why": "no store given (--db)"}
        customer = self.store.customer(customer_id)
        if customer is None:
            return {"id": customer_id, "status": "unknown"}
        if getattr(customer, "consent", "granted") == "opted_out":
            return {"id": customer_id, "status": "opted_out"}
        return {"id": customer_id, "status": "known"}

    def prior_tickets(self, customer_id: str, *, before: str | None) -> list[PriorTicket]:
        """A customer's earlier tickets from the store, as history features see them."""
        if self.store is None:
            return []
        items = self.store.history(customer_id, before=before, limit=HISTORY_LIMIT)
        return self.priors_from_rows([
            {"created_at": it.created_at, "subject": it.subject, "body": it.body,
             "expertise_level": it.expertise_level, "predicted_level": it.predicted_level,
             "topic": it.topic}
            for it in items
        ])

    def priors_from_rows(self, rows: Sequence[dict[str, Any]]) -> list[PriorTicket]:
        """Earlier tickets to PriorTicket: labels when known, else the wording model's estimate."""
        if not rows:
            return []
        # The same preparation as the current ticket's text, so a ticket read back from the
        # store counts exactly as it does as an earlier row of an export.
        texts = [prepare(redact(_join(r.get("subject"), r.get("body"))))[0] for r in rows]
        scores = self.lean.score_texts(texts)
        out = []
        for i, r in enumerate(rows):
            label = r.get("expertise_level") or ""
            if label in LEVEL_INDEX:
                level_score, labelled = float(LEVEL_INDEX[label]), True
            else:
                p = scores.proba[i]
                level_score, labelled = float(p[1] + 2 * p[2]), False
            topic = r.get("topic") or self.lean.topics[int(np.argmax(scores.topic_proba[i]))]
            out.append(PriorTicket(str(r.get("created_at") or ""), level_score, labelled,
                                   TOPICS.get(topic, ("", ""))[0] or None,
                                   float(scores.dense[i, 1])))
        return out

    # ---- answering ---------------------------------------------------------------------------
    def answer(
        self,
        text: str,
        *,
        customer_id: str | None = None,
        top: int = config.DEFAULT_TOP,
        created_at: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        audit: bool = True,
    ) -> Answer:
        """Estimate the caller's level and choose the article for one ticket text."""
        if not text or not text.strip():
            raise InputError("the ticket text is empty; type what the caller said")
        state = self.customer_state(customer_id)
        prior: list[PriorTicket] = []
        if state["status"] == "known" and customer_id:
            prior = self.prior_tickets(customer_id, before=created_at)
        state["history_tickets"] = len(prior)
        answer = self.score_rows([text], customer_ids=[None], created_at=[created_at],
                                 external_priors=[prior], states=[state], top=top)[0]
        if audit and self.store is not None and customer_id:
            self.store.audit(actor or current_actor(), "answer", customer_id=customer_id,
                             purpose=purpose, detail=f"level={answer.level_served}")
        return answer

    def score_rows(
        self,
        texts: Sequence[str],
        *,
        customer_ids: Sequence[str | None],
        created_at: Sequence[str | None],
        labels: Sequence[str | None] | None = None,
        topics: Sequence[str | None] | None = None,
        external_priors: Sequence[list[PriorTicket]] | None = None,
        states: Sequence[dict[str, Any]] | None = None,
        top: int = config.DEFAULT_TOP,
        explain: bool = True,
    ) -> list[Answer]:
        """The shared scoring path of `answer` and batch scoring.

        Each row's history is its `external_priors` (e.g. from the store) plus the earlier rows of
        the same customer in this batch (ordered by `created_at`, never later ones). An earlier
        row counts with its label when `labels` gives one, else with the wording estimate.
        Rows whose state is opted_out neither use nor give history.
        """
        return self.score_rows_and_priors(
            texts, customer_ids=customer_ids, created_at=created_at, labels=labels,
            topics=topics, external_priors=external_priors, states=states, top=top,
            explain=explain)[0]

    def score_rows_and_priors(
        self,
        texts: Sequence[str],
        *,
        customer_ids: Sequence[str | None],
        created_at: Sequence[str | None],
        labels: Sequence[str | None] | None = None,
        topics: Sequence[str | None] | None = None,
        external_priors: Sequence[list[PriorTicket]] | None = None,
        states: Sequence[dict[str, Any]] | None = None,
        top: int = config.DEFAULT_TOP,
        explain: bool = True,
    ) -> tuple[list[Answer], list[PriorTicket]]:
        """`score_rows`, also returning each row as the earlier ticket later rows see.

        Batch scoring carries these over to the customer's tickets in later chunks.
        """
        prepared = [prepare(redact(t)) for t in texts]
        clean = [t for t, _ in prepared]
        scores = self.lean.score_texts(clean, keep_rows=explain)
        topic_proba, top_topic = self.served_topics(scores.topic_proba)
        states = self.row_states(customer_ids, states)
        own, priors, history = self.histories(
            scores, top_topic, customer_ids=customer_ids, created_at=created_at, labels=labels,
            topics=topics, external_priors=external_priors, states=states)
        level_proba, s2_scaled = self.lean.level_proba(scores.decision, history, scores.n_tokens)
        return [
            self._compose(i, clean[i], prepared[i][1], scores, topic_proba[i], level_proba[i],
                          s2_scaled[i], priors[i], states[i], top, explain)
            for i in range(len(texts))
        ], own

    def served_topics(self, topic_proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Topic probabilities over the topics the knowledge base has, and each row's best."""
        topic_proba = topic_proba * self.topic_mask
        topic_proba = topic_proba / np.maximum(topic_proba.sum(axis=1, keepdims=True), 1e-12)
        return topic_proba, topic_proba.argmax(axis=1)

    @staticmethod
    def row_states(customer_ids: Sequence[str | None],
                   states: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
        if states:
            return list(states)
        return [{"id": c, "status": "known" if c else "anonymous"} for c in customer_ids]

    def histories(
        self,
        scores: Any,
        top_topic: np.ndarray,
        *,
        customer_ids: Sequence[str | None],
        created_at: Sequence[str | None],
        labels: Sequence[str | None] | None,
        topics: Sequence[str | None] | None,
        external_priors: Sequence[list[PriorTicket]] | None,
        states: Sequence[dict[str, Any]],
    ) -> tuple[list[PriorTicket], list[list[PriorTicket]], np.ndarray]:
        """Each row as an earlier ticket (for later rows), each row's earlier tickets, and the
        history features of every row (see `score_rows`)."""
        n = len(customer_ids)
        own = []
        level_scores = (scores.proba[:, 1] + 2 * scores.proba[:, 2]).tolist()
        densities = scores.dense[:, 1].tolist()
        model_topics = [self.lean.topics[k] for k in top_topic.tolist()]
        for i in range(n):
            label = labels[i] if labels else None
            if label in LEVEL_INDEX:
                level_score, labelled = float(LEVEL_INDEX[str(label)]), True
            else:
                level_score, labelled = level_scores[i], False
            topic = (topics[i] if topics else None) or model_topics[i]
            own.append(PriorTicket(str(created_at[i] or ""), level_score, labelled,
                                   TOPICS.get(topic, ("", ""))[0] or None, densities[i]))
        order = sorted(range(n), key=lambda i: str(created_at[i] or ""))
        seen: dict[str, list[PriorTicket]] = {}
        priors: list[list[PriorTicket]] = [[] for _ in range(n)]
        history = np.zeros((n, len(HISTORY_FEATURES)))
        now = _iso_now()
        for i in order:
            if states[i].get("status") == "opted_out":
                continue
            before = str(created_at[i] or "")
            prior = [p for p in (external_priors[i] if external_priors else [])
                     if not before or not p.created_at or p.created_at < before]
            cid = customer_ids[i]
            if cid:
                prior = prior + seen.get(cid, [])
                seen.setdefault(cid, []).append(own[i])
            priors[i] = prior
            if prior:
                history[i] = history_features(
                    prior, now=before or now, domain=self.lean.topic_domains[int(top_topic[i])],
                    n_tokens=int(scores.n_tokens[i]))
        return own, priors, history

    def _compose(self, i: int, text: str, truncated: bool, scores: Any, topic_p: np.ndarray,
                 level_p: np.ndarray, s2_row: np.ndarray, prior: list[PriorTicket],
                 state: dict[str, Any], top: int, explain: bool) -> Answer:
        notes: list[str] = []
        if truncated:
            notes.append(f"the text was cut to its first {config.MAX_TEXT_CHARS} characters")
        adjusted = adjust_topics(self.lean.topics, topic_p.tolist(), self.available,
                                 self.feedback, shifts=self.feedback_shifts())
        ranked = [(t, s) for t, s in rank_topics(self.lean.topics, adjusted, max(top, 1) + 1)
                  if t in self.available]
        best_topic, best_score = ranked[0]
        no_match = best_score < self.topic_threshold
        english = looks_english(text)
        opted_out = state.get("status") == "opted_out"
        if state.get("status") == "unknown" and state.get("id"):
            notes.append(f"customer {state['id']} is not in the store; answered as anonymous")
        reasons: list[str] = []
        if not english:
            notes.append("the text does not look like English; the level was not estimated")
        if opted_out:
            notes.append("the caller opted out of personalisation: neutral answer, no profile used")
        estimate = english and not opted_out
        if estimate:
            probabilities = {lv: round(float(p), 4) for lv, p in zip(LEVELS, level_p, strict=True)}
            level = LEVELS[int(np.argmax(level_p))]
            confidence = float(np.max(level_p))
        else:
            probabilities, level, confidence = None, None, None
        served_p = level_p if estimate else np.array([0.0, 1.0, 0.0])
        choice = choose_level(served_p.tolist(), self.available[best_topic], topic=best_topic,
                              feedback=self.feedback)
        if choice.fallback:
            notes.append(f"{best_topic} has no {choice.preferred} article; serving the nearest "
                         f"level, {choice.level}")
        low = bool(estimate and confidence is not None
                   and confidence < self.confidence_threshold)
        if low:
            notes.append(f"low confidence ({confidence:.0%}): check the neighbouring level too")
        if no_match:
            notes.append(f"no good topic match (best {best_topic}, score {best_score:.2f}); "
                         "ask the caller for more detail")
        if estimate and explain:
            reasons = self._reasons(i, scores, s2_row, level_p, prior, best_topic)
        article = self.kb.topics[best_topic].articles[choice.level]
        alternatives = self._alternatives(best_topic, choice.level, ranked, top,
                                          include_levels=low or not estimate)
        return Answer(
            level=level, confidence=round(confidence, 4) if confidence is not None else None,
            probabilities=probabilities, reasons=reasons, notes=notes,
            topics=[{"topic": t, "title": self.kb.topics[t].title, "score": round(s, 4)}
                    for t, s in ranked[:top]],
            article=ArticleRef(article.id, article.topic, article.level, article.title,
                               article.summary),
            body=article.body, alternatives=alternatives, no_match=no_match, customer=state,
            model_version=self.version, level_served=choice.level, low_confidence=low,
            expected_fit={k: round(v, 4) for k, v in choice.expected_fit.items()},
        )

    def _alternatives(self, topic: str, level: str, ranked: list[tuple[str, float]], top: int,
                      *, include_levels: bool) -> list[ArticleRef]:
        out: list[ArticleRef] = []
        for lv in neighbours(level, self.available[topic]):
            a = self.kb.topics[topic].articles[lv]
            why = "simpler version" if LEVEL_INDEX[lv] < LEVEL_INDEX[level] else "more technical"
            out.append(ArticleRef(a.id, a.topic, a.level, a.title, a.summary, why))
        for t, s in ranked[1:]:
            if len(out) >= top + (2 if include_levels else 1) or s < MIN_ALTERNATIVE_SCORE:
                break
            lv = level if level in self.available[t] else self.available[t][0]
            a = self.kb.topics[t].articles[lv]
            out.append(ArticleRef(a.id, a.topic, a.level, a.title, a.summary,
                                  f"next topic ({s:.0%})"))
        return out

    def _reasons(self, i: int, scores: Any, s2_row: np.ndarray, level_p: np.ndarray,
                 prior: list[PriorTicket], topic: str) -> list[str]:
        from expertise.scoring.reasons import reasons_for

        a = self.lean.arrays
        lean = self.lean
        level_index = int(np.argmax(level_p))
        w_dir, vocabulary = lean.w_direction_list, lean.vocabulary
        quoted = lean.quotable(level_index)
        row = lean.row_entries(scores, i)
        # Reasons read only technical terms and wording that pulls towards the estimate.
        ngram = [(vocabulary[j], v * w_dir[j]) for j, v in row.items() if quoted[j]]
        dense_scaled = (scores.dense[i] - a["dense_mean"]) / a["dense_scale"]
        return reasons_for(
            level_index=level_index, dense_scaled=dense_scaled, w_dense=a["W_dense"],
            ngram_contrib=ngram, lexicon=lean.lexicon, evidence=scores.evidence[i],
            s2_scaled=s2_row, s2_coef=a["s2_coef"], s2_names=lean.stage2_names,
            prior=prior, domain=TOPICS.get(topic, ("", ""))[0] or None,
            plain_terms=lean.plain_terms, s2_dir=lean.s2_direction,
            dense_dir=lean.dense_direction,
        )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _join(subject: Any, body: Any) -> str:
    subject = "" if subject is None else str(subject).strip()
    body = "" if body is None else str(body)
    return f"{subject}. {body}" if subject else body
