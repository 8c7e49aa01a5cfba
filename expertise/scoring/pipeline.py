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
    DOMAINS,
    LEVEL_INDEX,
    LEVELS,
    MAX_TEXT_CHARS,
    NONE_THRESHOLD,
    THIN_HISTORY,
    THIN_TRUST,
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
    top_area,
)
from expertise.scoring.model import LeanModel
from expertise.scoring.ranking import (
    MIN_ALTERNATIVE_SCORE,
    Catalogue,
    FeedbackStats,
    LevelChoice,
    choose_levels,
    flag_no_match,
    level_shifts,
    neighbours,
    product_areas,
    rank_topics,
    shift_topics,
    tilt_topics,
    topic_shifts,
)
from expertise.scoring.reasons import batch_reasons
from expertise.scoring.text import prepare

#: The reason a row read together with its conversation's earlier messages ends with.
JOINED_REASON = "read together with the earlier messages of its conversation"
#: What an opted-out or non-English caller is served: the middle level, neighbours offered.
NEUTRAL = np.array([0.0, 1.0, 0.0])


def join_conversations(texts: list[str], conversations: Sequence[str | None] | None,
                       when: np.ndarray, earlier: Mapping[str, str] | None
                       ) -> tuple[list[str], dict[str, str]]:
    """Each row's text read together with the earlier messages of its conversation (in time
    order, then batch order; after `earlier`, the conversation's text of earlier batches),
    keeping the most recent `MAX_TEXT_CHARS`; and each conversation's text after the batch.
    Rows without a conversation keep their own text (the same object)."""
    if conversations is None or not any(conversations):
        return texts, {}
    out = list(texts)
    so_far: dict[str, str] = {}
    order = np.lexsort((np.arange(len(texts)), np.nan_to_num(when, nan=-np.inf)))
    for i in order.tolist():
        conv = conversations[i]
        if not conv:
            continue
        before = so_far.get(conv, (earlier or {}).get(conv, ""))
        if before:
            text = f"{before}\n{texts[i]}"
            if len(text) > MAX_TEXT_CHARS:
                text = text[-MAX_TEXT_CHARS:]
                text = text[text.find(" ") + 1:] if " " in text[:200] else text
            out[i] = text
        so_far[conv] = out[i]
    return out, so_far


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
    none_p: np.ndarray = field(default_factory=lambda: np.zeros(0))  # P(no article fits)
    thin: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # too little
    conversations: dict[str, str] = field(default_factory=dict)  # id -> text so far

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
        """The article served to row i ("" when no topic fits)."""
        if self.no_match[i]:
            return ""
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
        none = self.no_match.tolist()
        cols["topic"] = ["" if x else topics[t] for t, x in zip(best, none, strict=True)]
        cols["topic_score"] = [round(s, 4) for s in self.best_score.tolist()]
        cols["no_match"] = none
        cols["article_id"] = ["" if x else self.catalogue.article_ids[t][c]
                              for t, c, x in zip(best, chosen, none, strict=True)]
        cols["article_level"] = ["" if x else LEVELS[c]
                                 for c, x in zip(chosen, none, strict=True)]
        cols["alternatives"] = [";".join(a for a, _ in alts) for alts in self.alternatives]
        # a reason may hold a semicolon of its own; the column's separator must stay unique
        cols["reasons"] = [";".join(r.replace(";", ",") for r in row) for row in self.reasons]
        cols["_no_match"] = none
        return cols


class Scorer:
    """Scores batches for one model and knowledge base (`Catalogue`); agents' feedback, when
    given, moves topics and levels (`set_feedback`)."""

    def __init__(self, lean: LeanModel, catalogue: Catalogue, *,
                 confidence_threshold: float = CONFIDENCE_THRESHOLD,
                 topic_threshold: float = TOPIC_THRESHOLD, none_threshold: float = NONE_THRESHOLD,
                 backend: str = "auto") -> None:
        if list(catalogue.topics) != list(lean.topics):
            raise ValueError("the catalogue must list the model's topics in the model's order")
        self.lean = lean
        self.catalogue = catalogue
        self.confidence_threshold = confidence_threshold
        self.topic_threshold = topic_threshold
        self.none_threshold = none_threshold
        self._topic_areas = np.array([DOMAINS.index(d) if d in DOMAINS else -1
                                      for d in lean.topic_domains], dtype=np.int64)
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
        conversations: Sequence[str | None] | None = None,
        earlier: Mapping[str, str] | None = None,
        products: Sequence[str | None] | None = None,
        top: int = DEFAULT_TOP,
        explain: bool = True,
        redacted: bool = False,
    ) -> Scored:
        """Score a batch of ticket texts (subject and body joined, `text.ticket_text`).

        Each row's history is its customer's `profiles` entry (earlier tickets summarised,
        e.g. from the store or earlier chunks) with the customer's earlier rows of the batch
        folded in (by `created_at`); `labels` and `topics`, when given, are what earlier rows
        count as. `pinned` holds a level an agent set for the row's customer. `states` are
        customers' consent states ({"id", "status": anonymous | unknown | known |
        opted_out}); opted-out rows neither use nor give history and get no level.
        A row with a conversation id (`conversations`) is read together with the earlier
        messages of its conversation: those of this batch, after the conversation's text of
        earlier batches (`earlier`, conversation id -> text; `Scored.conversations` holds it
        for the next batch). `products` (the product or account a message is addressed to)
        tilt topics towards its area. `explain=False` skips the reasons; `redacted=True` says
        the texts are redacted already (`text.redacted_ticket`).
        """
        n = len(texts)
        customer_ids = list(customer_ids) if customer_ids is not None else [None] * n
        created_at = list(created_at) if created_at is not None else [None] * n
        row_states = ([dict(s) for s in states] if states else
                      [{"id": c, "status": "known" if c else "anonymous"} for c in customer_ids])
        when = days(created_at)
        own = list(texts) if redacted else [redact(t) for t in texts]
        read, threads = join_conversations(own, conversations, when, earlier)
        prepared = [prepare(t) for t in read]
        clean = [t for t, _ in prepared]
        truncated = np.array([cut for _, cut in prepared], dtype=bool)
        f = featurize(clean, self.lean.words, self.lean.idf, backend=self.backend)
        wording = self.lean.wording(f)
        # every topic the model knows keeps its share: one the knowledge base lacks is never
        # ranked or served, so a message about it finds no served topic that stands out
        topic_p = wording.topic_proba
        if products is not None:
            topic_p = tilt_topics(topic_p, product_areas(products), self._topic_areas)

        opted = np.array([s.get("status") == "opted_out" for s in row_states], dtype=bool)
        params = self.lean.history
        area_w = areas(topic_p, self.lean.topic_domains, topics or None)
        area = top_area(area_w)
        level_labels = (np.array([LEVEL_INDEX.get(str(v), -1) for v in labels])
                        if labels is not None else None)
        inputs = evidence_inputs(wording.proba, f.n_tokens, f.evidence.signals(),
                                 wording.none_proba, none_threshold=self.none_threshold,
                                 known_share=f.known_share)
        p_own, inputs_own = wording.proba, inputs
        joined = [i for i in range(n) if read[i] is not own[i]]
        if joined:  # as history, a message of a conversation counts with its own words
            f_own = featurize([prepare(own[i])[0] for i in joined], self.lean.words,
                              self.lean.idf, backend=self.backend)
            w_own = self.lean.wording(f_own)
            p_own, inputs_own = wording.proba.copy(), inputs.copy()
            p_own[joined] = w_own.proba
            inputs_own[joined] = evidence_inputs(w_own.proba, f_own.n_tokens,
                                                 f_own.evidence.signals(), w_own.none_proba,
                                                 none_threshold=self.none_threshold,
                                                 known_share=f_own.known_share)
        hist = batch_history(p_own, inputs_own, area_w, when, customers=customer_ids,
                             labels=level_labels, external=profiles, opted_out=opted,
                             params=params, conversations=conversations)
        pins = (np.array([LEVEL_INDEX.get(str(v), -1) if v else -1 for v in pinned])
                if pinned is not None else None)
        # how much this message and the customer's history say about the level
        said = params.trust(inputs, current=True)
        current = terms(wording.proba, inputs, params, current=True, trust=said)
        level_p = posterior(wording.proba, inputs, hist.evidence, pins, params, current=current)
        alone_p = alone(wording.proba, inputs, params, current=current)
        before_p = from_history(hist.evidence, params)
        disagree = self._disagreement(alone_p, before_p, hist)
        history_says = hist.evidence.max(axis=1) - hist.evidence.min(axis=1)
        thin = (said < THIN_TRUST) & (history_says < THIN_HISTORY)
        if pins is not None:
            thin &= pins < 0

        if self._topic_shift is not None:
            topic_p = shift_topics(topic_p, self._topic_shift)
        ranked = rank_topics(topic_p, self.served, max(top, 1) + 1)
        best = ranked[:, 0]
        best_score = topic_p[np.arange(n), best]
        none_p = wording.none_proba
        if none_p is not None:
            # out of scope, or a message that names no problem at all
            no_match = flag_no_match(none_p, best_score, none_threshold=self.none_threshold)
        else:
            none_p = np.zeros(n)
            no_match = best_score < self.topic_threshold

        estimate = f.english & ~opted
        thin &= estimate
        served_p = np.where((estimate & ~thin)[:, None], level_p, NEUTRAL)
        choice = choose_levels(served_p, self.catalogue.levels_present[best],
                               None if self._level_shift is None else self._level_shift[best])
        confidence = level_p.max(axis=1)
        low = estimate & (confidence < self.confidence_threshold)
        reasons = (batch_reasons(self.lean, f, wording.dense_scaled, level_p, hist, area,
                                  estimate.nonzero()[0])
                   if explain else [[] for _ in range(n)])
        if explain and no_match.any():
            for i in np.flatnonzero(no_match).tolist():
                reasons[i].insert(0, f"no topic we cover fits this message ({none_p[i]:.0%} "
                                     "sure it is outside them)"
                                  if none_p[i] >= self.none_threshold
                                  else "no topic we cover fits this message well")
        if explain:  # what the reasons quote may have been said earlier in the conversation
            for i in joined:
                reasons[i].append(JOINED_REASON)
        alone_level = alone_p.argmax(axis=1)
        before_level = before_p.argmax(axis=1)
        # on disagreement both readings' articles are offered: the one not served
        other = np.where(choice.chosen == alone_level, before_level, alone_level)
        alternatives = self._alternatives(ranked, topic_p, choice.chosen,
                                          low | ~estimate | thin, top,
                                          np.where(disagree & estimate, other, -1),
                                          np.where(other == alone_level, 0, 1), no_match)
        likeliest = topic_p.argmax(axis=1)
        lacking = np.where(self.served[likeliest], -1, likeliest)
        notes = self._notes(truncated, f, opted, row_states, choice, best, best_score, no_match,
                            confidence, low & ~thin, disagree & estimate, alone_level, hist,
                            area, pins, thin, lacking)
        return Scored(clean, truncated, estimate, level_p, topic_p, ranked, no_match, choice,
                      low, alternatives, reasons, notes, row_states, wording.proba, hist,
                      disagree, self.catalogue, none_p, thin, threads)

    @staticmethod
    def _disagreement(now: np.ndarray, before: np.ndarray, hist: BatchHistory) -> np.ndarray:
        """Rows whose message alone and whose earlier tickets (`before`) each read a level
        plainly (probability 0.6 or more), and not the same one."""
        return ((hist.n_before > 0) & (now.max(axis=1) >= 0.6) & (before.max(axis=1) >= 0.6)
                & (now.argmax(axis=1) != before.argmax(axis=1)))

    def _alternatives(self, ranked: np.ndarray, topic_p: np.ndarray, chosen: np.ndarray,
                      with_levels: np.ndarray, top: int, also: np.ndarray, also_why: np.ndarray,
                      no_match: np.ndarray) -> list[list[tuple[str, str]]]:
        """Where the message and the earlier tickets disagree, the reading not served
        (`also`, -1 for none; `also_why` 0: the message's, 1: the earlier tickets'); the same
        topic one level down and up; then the next topics (at
        the served level where they have it), until `top` (+1 when the level is uncertain)
        are listed. When no topic fits, the nearest topics are the candidates."""
        cat = self.catalogue
        ids, present, first = cat.article_ids, cat.present, cat.first_level
        out = []
        scores = topic_p[np.arange(len(ranked))[:, None], ranked].tolist()
        for row, sc, level, extra, other, why, none in zip(
                ranked.tolist(), scores, chosen.tolist(), with_levels.tolist(), also.tolist(),
                also_why.tolist(), no_match.tolist(), strict=True):
            if none:
                out.append([(str(ids[t2][level if present[t2][level] else first[t2]]),
                             f"nearest topic ({s2:.0%})")
                            for t2, s2 in zip(row[:top], sc[:top], strict=False)])
                continue
            t = row[0]
            alts = []
            if other >= 0 and other != level and present[t][other]:
                alts.append((str(ids[t][other]), "what their earlier tickets suggest" if why
                             else "what this message alone suggests"))
            alts += [(str(ids[t][lv]), "simpler version" if lv < level else "more technical")
                     for lv in neighbours(level, present[t]) if lv != other]
            limit = top + (2 if extra or other >= 0 else 1)
            for t2, s in zip(row[1:], sc[1:], strict=True):
                if len(alts) >= limit or s < MIN_ALTERNATIVE_SCORE:
                    break
                alts.append((str(ids[t2][level if present[t2][level] else first[t2]]),
                             f"next topic ({s:.0%})"))
            out.append(alts)
        return out

    def _notes(self, truncated: np.ndarray, f: Features, opted: np.ndarray,
               states: list[dict[str, Any]], choice: LevelChoice, best: np.ndarray,
               best_score: np.ndarray, no_match: np.ndarray, confidence: np.ndarray,
               low: np.ndarray, disagree: np.ndarray, alone_level: np.ndarray,
               hist: BatchHistory, area: np.ndarray, pins: np.ndarray | None,
               thin: np.ndarray, lacking: np.ndarray) -> list[list[str]]:
        topics = self.catalogue.topics
        fallback = choice.fallback
        unknown = np.array([s.get("status") == "unknown" and bool(s.get("id")) for s in states],
                           dtype=bool)
        pinned = pins >= 0 if pins is not None else np.zeros(len(states), dtype=bool)
        any_note = (truncated | unknown | ~f.english | opted | fallback | low | no_match
                    | disagree | pinned | thin | (lacking >= 0))
        out: list[list[str]] = [[] for _ in states]
        for i in np.flatnonzero(any_note).tolist():
            notes = out[i]
            if truncated[i]:
                notes.append(f"the text was cut to its first {MAX_TEXT_CHARS} characters")
            if unknown[i]:
                why = states[i].get("why")
                notes.append(f"{why}: customer {states[i]['id']} answered as anonymous (give "
                             "--db FILE, or load tickets: expertise ingest EXPORT)" if why else
                             f"customer {states[i]['id']} is not in the store; answered as "
                             "anonymous")
            if not f.english[i]:
                notes.append("too few English words we know to judge the level (another "
                             "language or script, junk, or terms we have not learned): the "
                             "level was not estimated")
            if thin[i]:
                notes.append("not enough to judge the level from this message: serving the "
                             "middle level; ask what they have already tried and what the "
                             "screen or lights show")
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
            if fallback[i] and not no_match[i]:
                notes.append(f"{topics[best[i]]} has no {LEVELS[choice.preferred[i]]} article; "
                             f"serving the nearest level, {LEVELS[choice.chosen[i]]}")
            if low[i]:
                notes.append(f"low confidence ({confidence[i]:.0%}): check the neighbouring "
                             "level too")
            if lacking[i] >= 0:
                notes.append(f"the likeliest topic, {topics[lacking[i]]}, has no article in "
                             "this knowledge base")
            if no_match[i]:
                notes.append(f"no good match: no article fits (nearest topic "
                             f"{topics[best[i]]}, {best_score[i]:.0%}); ask what the problem "
                             "is and with which device or service")
        return out
