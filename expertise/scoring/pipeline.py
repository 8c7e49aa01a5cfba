"""The one scoring pipeline: a batch of ticket texts in, the scored columns out.

    texts -> redact, prepare -> tokens (re or RE2) -> features -> stage 1 and topics
          -> history -> level probabilities -> topic and level choice -> alternatives,
             reasons and notes

`Scorer.score` runs it over a batch; a single answer (`expertise answer`, the session) is a
batch of one, batch scoring a batch of thousands, evaluation a batch of a labelled file. Each
step is a function of arrays whose result for a row depends on that row (and its customer's
earlier tickets) alone, so a ticket gets the same answer, bit for bit, wherever it is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expertise.config import (
    CONFIDENCE_THRESHOLD,
    DEFAULT_TOP,
    LEVEL_INDEX,
    LEVELS,
    MAX_TEXT_CHARS,
    TOPIC_THRESHOLD,
)
from expertise.privacy import redact
from expertise.scoring.features import Features, featurize
from expertise.scoring.history import (
    BatchHistory,
    Profile,
    alone,
    areas,
    batch_history,
    days,
    evidence_inputs,
    from_history,
    posterior,
    terms,
)
from expertise.scoring.model import LeanModel
from expertise.scoring.ranking import (
    MIN_ALTERNATIVE_SCORE,
    Catalogue,
    FeedbackStats,
    LevelChoice,
    choose_levels,
    level_shifts,
    neighbours,
    rank_topics,
    shift_topics,
    topic_shifts,
)
from expertise.scoring.reasons import batch_reasons
from expertise.scoring.text import prepare

#: What an opted-out or non-English caller is served: the middle level, neighbours offered.
NEUTRAL = np.array([0.0, 1.0, 0.0])


@dataclass
class Scored:
    """A scored batch, as columns. Row i of every field belongs to text i."""

    texts: list[str]  # what was scored: redacted, whitespace collapsed, truncated
    truncated: np.ndarray
    estimate: np.ndarray  # a level was estimated (English, not opted out)
    level_p: np.ndarray  # (n, 3)
    topic_p: np.ndarray  # (n, T) after feedback, over the topics the knowledge base has
    ranked: np.ndarray  # (n, k) topic indices, best first
    no_match: np.ndarray
    choice: LevelChoice
    low: np.ndarray  # estimated below the confidence threshold
    alternatives: list[list[tuple[str, str]]]  # (article id, why) per row
    reasons: list[list[str]]
    notes: list[list[str]]
    states: list[dict[str, Any]]
    wording_p: np.ndarray  # (n, 3) what each ticket's wording alone says (stage 1)
    history: BatchHistory  # each row's earlier tickets; customers' profiles after the batch
    disagree: np.ndarray  # the message alone and the earlier tickets read different levels
    catalogue: Catalogue = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.texts)

    @property
    def best(self) -> np.ndarray:
        return self.ranked[:, 0]

    @property
    def best_score(self) -> np.ndarray:
        return self.topic_p[np.arange(self.n), self.best]

    @property
    def confidence(self) -> np.ndarray:
        return self.level_p.max(axis=1)

    @property
    def level_index(self) -> np.ndarray:
        return self.level_p.argmax(axis=1)

    def article_id(self, i: int) -> str:
        ids = self.catalogue.article_ids[int(self.best[i])]
        return str(ids[int(self.choice.chosen[i])])

    def columns(self) -> dict[str, list[Any]]:
        """The scored columns of batch output (see `expertise.batch.OUTPUT_COLUMNS`), and
        ``_no_match``."""
        est = self.estimate.tolist()
        level_index, confidence = self.level_index.tolist(), self.confidence.tolist()
        p_rows = self.level_p.tolist()
        cols: dict[str, list[Any]] = {
            "expertise_level": [LEVELS[k] if e else None
                                for k, e in zip(level_index, est, strict=True)],
            "expertise_confidence": [round(c, 4) if e else None
                                     for c, e in zip(confidence, est, strict=True)],
        }
        for j, level in enumerate(LEVELS):
            cols[f"p_{level}"] = [round(p[j], 4) if e else None
                                  for p, e in zip(p_rows, est, strict=True)]
        topics = self.catalogue.topics
        best, chosen = self.best.tolist(), self.choice.chosen.tolist()
        cols["topic"] = [topics[t] for t in best]
        cols["topic_score"] = [round(s, 4) for s in self.best_score.tolist()]
        cols["article_id"] = [self.catalogue.article_ids[t][c]
                              for t, c in zip(best, chosen, strict=True)]
        cols["article_level"] = [LEVELS[c] for c in chosen]
        cols["alternatives"] = [";".join(a for a, _ in alts) for alts in self.alternatives]
        # a reason may hold a semicolon of its own; the column's separator must stay unique
        cols["reasons"] = [";".join(r.replace(";", ",") for r in row) for row in self.reasons]
        cols["_no_match"] = self.no_match.tolist()
        return cols


class Scorer:
    """Scores batches for one model and knowledge base (`Catalogue`); agents' feedback, when
    given, moves topics and levels (`set_feedback`)."""

    def __init__(self, lean: LeanModel, catalogue: Catalogue, *,
                 confidence_threshold: float = CONFIDENCE_THRESHOLD,
                 topic_threshold: float = TOPIC_THRESHOLD, backend: str = "auto") -> None:
        if list(catalogue.topics) != list(lean.topics):
            raise ValueError("the catalogue must list the model's topics in the model's order")
        self.lean = lean
        self.catalogue = catalogue
        self.confidence_threshold = confidence_threshold
        self.topic_threshold = topic_threshold
        self.backend = backend
        self.served = catalogue.served
        self.feedback: Mapping[str, FeedbackStats] = {}
        self._topic_shift: np.ndarray | None = None
        self._level_shift: np.ndarray | None = None

    def set_feedback(self, feedback: Mapping[str, FeedbackStats]) -> None:
        """Helpful and not-helpful counts per article id."""
        self.feedback = feedback
        if feedback:
            self._topic_shift = topic_shifts(self.catalogue, feedback)
            self._level_shift = level_shifts(self.catalogue, feedback)
        else:
            self._topic_shift = self._level_shift = None

    def score(
        self,
        texts: Sequence[str],
        *,
        customer_ids: Sequence[str | None] | None = None,
        created_at: Sequence[str | None] | None = None,
        labels: Sequence[str | None] | None = None,
        topics: Sequence[str | None] | None = None,
        profiles: Sequence[Profile | None] | None = None,
        pinned: Sequence[str | None] | None = None,
        states: Sequence[Mapping[str, Any]] | None = None,
        top: int = DEFAULT_TOP,
        explain: bool = True,
    ) -> Scored:
        """Score a batch of ticket texts (subject and body joined, `text.ticket_text`).

        Each row's history is its customer's `profiles` entry (earlier tickets summarised,
        e.g. from the store or earlier chunks) with the customer's earlier rows of the batch
        folded in (by `created_at`); `labels` and `topics`, when given, are what earlier rows
        count as. `pinned` holds a level an agent set for the row's customer. `states` are
        customers' consent states ({"id", "status": anonymous | unknown | known |
        opted_out}); opted-out rows neither use nor give history and get no level.
        `explain=False` skips the reasons.
        """
        n = len(texts)
        customer_ids = list(customer_ids) if customer_ids is not None else [None] * n
        created_at = list(created_at) if created_at is not None else [None] * n
        row_states = ([dict(s) for s in states] if states else
                      [{"id": c, "status": "known" if c else "anonymous"} for c in customer_ids])
        prepared = [prepare(redact(t)) for t in texts]
        clean = [t for t, _ in prepared]
        truncated = np.array([cut for _, cut in prepared], dtype=bool)
        f = featurize(clean, self.lean.words, self.lean.idf, backend=self.backend)
        wording = self.lean.wording(f)
        topic_p = wording.topic_proba * self.served
        topic_p = topic_p / np.maximum(topic_p.sum(axis=1, keepdims=True), 1e-12)
        model_topic = topic_p.argmax(axis=1)

        opted = np.array([s.get("status") == "opted_out" for s in row_states], dtype=bool)
        params = self.lean.history
        area = areas([self.lean.topic_domains[t] for t in model_topic.tolist()], topics or None)
        level_labels = (np.array([LEVEL_INDEX.get(str(v), -1) for v in labels])
                        if labels is not None else None)
        inputs = evidence_inputs(wording.proba, f.n_tokens, f.evidence.signals())
        hist = batch_history(wording.proba, inputs, area, days(created_at),
                             customers=customer_ids, labels=level_labels, external=profiles,
                             opted_out=opted, params=params)
        pins = (np.array([LEVEL_INDEX.get(str(v), -1) if v else -1 for v in pinned])
                if pinned is not None else None)
        current = terms(wording.proba, inputs, params, current=True)
        level_p = posterior(wording.proba, inputs, hist.evidence, pins, params, current=current)
        alone_p = alone(wording.proba, inputs, params, current=current)
        disagree = self._disagreement(alone_p, hist, params)

        if self._topic_shift is not None:
            topic_p = shift_topics(topic_p, self._topic_shift)
        ranked = rank_topics(topic_p, self.served, max(top, 1) + 1)
        best = ranked[:, 0]
        best_score = topic_p[np.arange(n), best]
        no_match = best_score < self.topic_threshold

        estimate = f.english & ~opted
        served_p = np.where(estimate[:, None], level_p, NEUTRAL)
        choice = choose_levels(served_p, self.catalogue.levels_present[best],
                               None if self._level_shift is None else self._level_shift[best])
        confidence = level_p.max(axis=1)
        low = estimate & (confidence < self.confidence_threshold)
        reasons = (batch_reasons(self.lean, f, level_p, hist, area, np.flatnonzero(estimate))
                   if explain else [[] for _ in range(n)])
        alone_level = alone_p.argmax(axis=1)
        alternatives = self._alternatives(ranked, topic_p, choice.chosen, low | ~estimate, top,
                                          np.where(disagree & estimate, alone_level, -1))
        notes = self._notes(truncated, f, opted, row_states, choice, best, best_score, no_match,
                            confidence, low, disagree & estimate, alone_level, hist, area, pins)
        return Scored(clean, truncated, estimate, level_p, topic_p, ranked, no_match, choice,
                      low, alternatives, reasons, notes, row_states, wording.proba, hist,
                      disagree, self.catalogue)

    @staticmethod
    def _disagreement(now: np.ndarray, hist: BatchHistory, params: Any) -> np.ndarray:
        """Rows whose message alone and whose earlier tickets each read a level plainly
        (probability 0.6 or more), and not the same one."""
        before = from_history(hist.evidence, params)
        return ((hist.n_before > 0) & (now.max(axis=1) >= 0.6) & (before.max(axis=1) >= 0.6)
                & (now.argmax(axis=1) != before.argmax(axis=1)))

    def _alternatives(self, ranked: np.ndarray, topic_p: np.ndarray, chosen: np.ndarray,
                      with_levels: np.ndarray, top: int, also: np.ndarray
                      ) -> list[list[tuple[str, str]]]:
        """The level the message alone suggests, where it differs from the served one
        (`also`, -1 for none); the same topic one level down and up; then the next topics (at
        the served level where they have it), until `top` (+1 when the level is uncertain)
        are listed."""
        cat = self.catalogue
        out = []
        scores = np.take_along_axis(topic_p, ranked, axis=1).tolist()
        for row, sc, level, extra, other in zip(ranked.tolist(), scores, chosen.tolist(),
                                                with_levels.tolist(), also.tolist(),
                                                strict=True):
            t = row[0]
            present = cat.levels_present[t].tolist()
            alts = []
            if other >= 0 and other != level and present[other]:
                alts.append((str(cat.article_ids[t][other]), "what this message alone suggests"))
            alts += [(str(cat.article_ids[t][lv]),
                      "simpler version" if lv < level else "more technical")
                     for lv in neighbours(level, present) if lv != other]
            limit = top + (2 if extra or other >= 0 else 1)
            for t2, s in zip(row[1:], sc[1:], strict=True):
                if len(alts) >= limit or s < MIN_ALTERNATIVE_SCORE:
                    break
                here = cat.levels_present[t2]
                lv = level if here[level] else int(np.argmax(here))
                alts.append((str(cat.article_ids[t2][lv]), f"next topic ({s:.0%})"))
            out.append(alts)
        return out

    def _notes(self, truncated: np.ndarray, f: Features, opted: np.ndarray,
               states: list[dict[str, Any]], choice: LevelChoice, best: np.ndarray,
               best_score: np.ndarray, no_match: np.ndarray, confidence: np.ndarray,
               low: np.ndarray, disagree: np.ndarray, alone_level: np.ndarray,
               hist: BatchHistory, area: np.ndarray, pins: np.ndarray | None
               ) -> list[list[str]]:
        topics = self.catalogue.topics
        fallback = choice.fallback
        unknown = np.array([s.get("status") == "unknown" and bool(s.get("id")) for s in states],
                           dtype=bool)
        pinned = pins >= 0 if pins is not None else np.zeros(len(states), dtype=bool)
        any_note = (truncated | unknown | ~f.english | opted | fallback | low | no_match
                    | disagree | pinned)
        out: list[list[str]] = [[] for _ in states]
        for i in np.flatnonzero(any_note).tolist():
            notes = out[i]
            if truncated[i]:
                notes.append(f"the text was cut to its first {MAX_TEXT_CHARS} characters")
            if unknown[i]:
                notes.append(f"customer {states[i]['id']} is not in the store; answered as "
                             "anonymous")
            if not f.english[i]:
                notes.append("the text does not look like English; the level was not estimated")
            if opted[i]:
                notes.append("the caller opted out of personalisation: neutral answer, "
                             "no profile used")
            if pins is not None and pinned[i] and not opted[i]:
                notes.append(f"an agent set this caller's level to {LEVELS[int(pins[i])]}"
                             "; that decides the answer")
            if disagree[i]:
                notes.append(f"this message alone reads {LEVELS[int(alone_level[i])]}; "
                             f"{hist.text(i, int(area[i]))}: both articles "
                             "are offered")
            if fallback[i]:
                notes.append(f"{topics[best[i]]} has no {LEVELS[choice.preferred[i]]} article; "
                             f"serving the nearest level, {LEVELS[choice.chosen[i]]}")
            if low[i]:
                notes.append(f"low confidence ({confidence[i]:.0%}): check the neighbouring "
                             "level too")
            if no_match[i]:
                notes.append(f"no good topic match (best {topics[best[i]]}, score "
                             f"{best_score[i]:.2f}); ask the caller for more detail")
        return out
