"""The answer engine: a model bundle, the knowledge base and the store, loaded once.

`Engine.score` runs the scoring pipeline (`expertise.scoring.pipeline`) over a batch and
returns its columns; `Engine.answer` is a batch of one turned into an `Answer` with the
article to read out. The engine owns what the pipeline does not: reading the bundle, the
knowledge base and agents' feedback, customers' consent and earlier tickets from the store,
and the audit row of each look-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expertise import config
from expertise.config import LEVEL_INDEX, LEVELS
from expertise.errors import InputError
from expertise.scoring.features import featurize
from expertise.scoring.history import (
    Profile,
    areas,
    days,
    evidence_inputs,
    fold,
    history_terms,
)
from expertise.scoring.pipeline import Scored, Scorer
from expertise.scoring.ranking import Catalogue, FeedbackStats
from expertise.scoring.text import scoring_ticket


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
    article: ArticleRef | None  # None when no topic fits (`no_match`): see the alternatives
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
    lean, kb : optional
        A model fresh from training (not saved) and an already loaded knowledge base.
    looked_for_store : path or None
        With no store: the file that was looked for and is not there yet, named when a
        customer is answered as anonymous.
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
        looked_for_store: Path | None = None,
    ) -> None:
        from expertise.bundles.format import open_bundle
        from expertise.bundles.registry import load_current
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
        available = {slug: [lv for lv in LEVELS if lv in t.articles]
                     for slug, t in self.kb.topics.items()}
        ids = {(slug, lv): a.id for slug, t in self.kb.topics.items()
               for lv, a in t.articles.items()}
        self.catalogue = Catalogue.build(self.lean.topics, available, ids)
        self.scorer = Scorer(self.lean, self.catalogue, confidence_threshold=confidence_threshold,
                             topic_threshold=topic_threshold)
        self.store = None
        self._no_store = (f"no store at {looked_for_store}" if looked_for_store is not None
                          else "no store given (--db)")
        if db_path is not None:
            from expertise.store.db import Store

            self.store = Store(db_path)
        self.refresh_feedback()

    # ---- store-backed pieces -------------------------------------------------------------
    @property
    def feedback(self) -> Mapping[str, FeedbackStats]:
        return self.scorer.feedback

    def refresh_feedback(self) -> None:
        """Re-read agents' helpful / not-helpful votes from the store."""
        stats: dict[str, list[int]] = {}
        if self.store is not None:
            for row in self.store.feedback_rows():
                if row.helpful is None or not row.article_id:
                    continue
                counts = stats.setdefault(row.article_id, [0, 0])
                counts[0 if row.helpful else 1] += 1
        self.scorer.set_feedback({k: FeedbackStats(h, n) for k, (h, n) in stats.items()})

    def customer_state(self, customer_id: str | None) -> dict[str, Any]:
        """anonymous, unknown (not in the store), known, or opted_out."""
        if not customer_id:
            return {"id": None, "status": "anonymous"}
        if self.store is None:
            return {"id": customer_id, "status": "unknown", "why": self._no_store}
        customer = self.store.customer(customer_id)
        if customer is None:
            return {"id": customer_id, "status": "unknown"}
        if customer.consent == "opted_out":
            return {"id": customer_id, "status": "opted_out"}
        return {"id": customer_id, "status": "known"}

    def customer_profile(self, customer_id: str, *, before: str | None = None) -> Profile:
        """A customer's earlier tickets in the store, summarised as history (`Profile`).

        The store keeps one per customer and model version: it is used while it covers every
        ticket the customer has, extended with newer tickets one by one, and rebuilt from all
        the tickets otherwise (another model version, an older ticket ingested late). Answering
        as of an earlier time (`before`) reads the tickets before it afresh.
        """
        if self.store is None:
            return Profile()
        if before is not None:
            return self.profile_from_rows(self.rows_of(self.store.history(customer_id,
                                                                      before=before)))
        count, last = self.store.coverage(customer_id)
        saved = self.store.profile(customer_id, self.version)
        if saved is not None and (saved.tickets, saved.last_rowid) == (count, last):
            return Profile.from_dict(saved.profile)
        profile: Profile | None = None
        if saved is not None and saved.tickets < count:
            newer = self.store.history(customer_id, after_rowid=saved.last_rowid)
            base = Profile.from_dict(saved.profile)
            stamps = days([it.created_at for it in newer])
            if (len(newer) == count - saved.tickets and not np.isnan(stamps).any()
                    and (np.isnan(base.as_of) or (stamps >= base.as_of).all())):
                profile = self.profile_from_rows(self.rows_of(newer), start=base)
        if profile is None:
            profile = self.profile_from_rows(self.rows_of(self.store.history(customer_id)))
        self.store.save_profile(customer_id, self.version, profile.to_dict(), tickets=count,
                                last_rowid=last)
        return profile

    @staticmethod
    def rows_of(items: Sequence[Any]) -> list[dict[str, Any]]:
        """Stored tickets as the rows `profile_from_rows` reads."""
        return [{"created_at": it.created_at, "subject": it.subject, "body": it.body,
                 "expertise_level": it.expertise_level, "topic": it.topic} for it in items]

    def profile_from_rows(self, rows: Sequence[Mapping[str, Any]], *,
                          start: Profile | None = None) -> Profile:
        """Earlier tickets (in time order) folded into a profile: each counts with its agent
        label when it has one, else with its wording, in the area of its topic (or the
        model's). Prepared exactly as a current ticket is, so a ticket read back from the
        store counts as it does as an earlier row of an export."""
        if not rows:
            return start or Profile()
        texts = [scoring_ticket(r.get("subject"), r.get("body")) for r in rows]
        f = featurize(texts, self.lean.words, self.lean.idf)
        wording = self.lean.wording(f)
        params = self.lean.history
        inputs = evidence_inputs(wording.proba, f.n_tokens, f.evidence.signals(),
                                 wording.none_proba, none_threshold=self.scorer.none_threshold,
                                 known_share=f.known_share)
        labels = np.array([LEVEL_INDEX.get(str(r.get("expertise_level") or ""), -1)
                           for r in rows])
        area = areas(wording.topic_proba, self.lean.topic_domains,
                     [r.get("topic") for r in rows])
        term = history_terms(wording.proba, inputs, labels, params)
        return fold(start, term, area, days([r.get("created_at") for r in rows]), params)

    # ---- answering ---------------------------------------------------------------------------
    def score(self, texts: Sequence[str], **kwargs: Any) -> Scored:
        """The pipeline over a batch (`Scorer.score`)."""
        return self.scorer.score(texts, **kwargs)

    def answer(
        self,
        text: str,
        *,
        customer_id: str | None = None,
        top: int = config.DEFAULT_TOP,
        created_at: str | None = None,
        product: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        audit: bool = True,
    ) -> Answer:
        """Estimate the caller's level and choose the article for one ticket text (`product`:
        the product or account it is addressed to, which tilts topics to its area)."""
        if not text or not text.strip():
            raise InputError("the ticket text is empty; type what the caller said")
        state = self.customer_state(customer_id)
        profile, pinned = self.customer_history(customer_id, state, before=created_at)
        answer = self.answer_with([text], profile=profile, pinned=pinned, state=state,
                                  created_at=created_at, top=top, product=product)
        if audit and self.store is not None and customer_id:
            # nothing inferred about an opted-out customer is written down, not even here
            detail = (None if state["status"] == "opted_out"
                      else f"level={answer.level_served}")
            self.store.audit(actor, "answer", customer_id=customer_id, purpose=purpose,
                             detail=detail)
        return answer

    def customer_history(self, customer_id: str | None, state: dict[str, Any], *,
                         before: str | None = None) -> tuple[Profile | None, str | None]:
        """A consenting customer's profile and pinned level (and their count in `state`)."""
        profile, pinned = None, None
        if state["status"] == "known" and customer_id and self.store is not None:
            profile = self.customer_profile(customer_id, before=before)
            customer = self.store.customer(customer_id)
            pinned = customer.pinned_level if customer else None
        state["history_tickets"] = profile.n if profile else 0
        if pinned:
            state["pinned_level"] = pinned
        return profile, pinned

    def answer_with(self, texts: Sequence[str], *, profile: Profile | None = None,
                    pinned: str | None = None, state: Mapping[str, Any],
                    created_at: str | None = None, top: int = config.DEFAULT_TOP,
                    explain: bool = True, product: str | None = None) -> Answer:
        """The answer for one ticket (its text, or a call's lines joined) given the caller's
        history profile, pinned level and consent state; nothing is looked up or audited."""
        scored = self.score([" ".join(texts)], customer_ids=[None], created_at=[created_at],
                            profiles=[profile], pinned=[pinned], states=[dict(state)],
                            products=[product] if product else None, top=top,
                            explain=explain)
        return self.answer_from(scored, 0, top=top)

    def answer_from(self, scored: Scored, i: int, *, top: int = config.DEFAULT_TOP) -> Answer:
        """Row i of a scored batch as an `Answer`, with the articles it names."""
        estimate = bool(scored.estimate[i])
        p = scored.level_p[i].tolist()
        topics = scored.catalogue.topics
        best = int(scored.best[i])
        ranked = scored.ranked[i, :top].tolist()
        chosen = LEVELS[int(scored.choice.chosen[i])]
        none = bool(scored.no_match[i])
        article = None if none else self.kb.topics[topics[best]].articles[chosen]
        alternatives = []
        for article_id, why in scored.alternatives[i]:
            alt = self.kb.article(article_id)
            alternatives.append(ArticleRef(alt.id, alt.topic, alt.level, alt.title, alt.summary,
                                           why))
        return Answer(
            level=LEVELS[p.index(max(p))] if estimate else None,
            confidence=round(max(p), 4) if estimate else None,
            probabilities=({lv: round(v, 4) for lv, v in zip(LEVELS, p, strict=True)}
                           if estimate else None),
            reasons=scored.reasons[i], notes=scored.notes[i],
            topics=[{"topic": topics[t], "title": self.kb.topics[topics[t]].title,
                     "score": round(score, 4)}
                    for t, score in zip(ranked, scored.topic_p[i, ranked].tolist(),
                                        strict=True)],
            article=None if article is None else ArticleRef(
                article.id, article.topic, article.level, article.title, article.summary),
            body="" if article is None else article.body, alternatives=alternatives,
            no_match=none, customer=scored.states[i], model_version=self.version,
            level_served=None if none else chosen,
            low_confidence=bool(scored.low[i]),
            expected_fit={lv: round(v, 4)
                          for lv, v in zip(LEVELS, scored.choice.fits[i].tolist(), strict=True)},
        )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
