"""Expertise as a lasting trait: every ticket is bounded evidence about the customer's level.

A ticket's wording (stage 1) gives p(W | ticket), how it reads (novice, intermediate or expert
wording). Customers do not always write at their level: experts send casual notes, novices
paste an error message someone gave them. `HistoryParams.register` is how often a customer of
each level writes in each register, C[L, W], so a ticket's likelihood of each customer level
is ``sum over W of p(W) / wording_prior(W) * C[L, W]``. Its evidence is the bounded log ratio

    term(L) = log(r * sum_W p(W) / wording_prior(W) * C[L, W] + 1 - r)

where r in (0, 1) is how far the ticket's wording can be trusted at all:
``r = sigmoid(bias + slopes . evidence inputs)`` (how sure the wording model is, how many
signals of a level it holds; `EVIDENCE_INPUTS`). A ticket that says nothing adds nothing,
and no single ticket can add more than ``log(max_W C[L, W] / prior(W))``
however sure its wording. The customer's level is then

    log P(L) = log prior(L) + term(current ticket, current bias)
               + weight * sum over earlier tickets t of decay(age) * area(t) * term(t, history bias)

with a weight for earlier tickets, a half-life for their age and a weight for tickets about
another area (a network engineer can be lost with the TV box). A ticket counts in each area by
its topic probabilities (`areas`), so one torn between two topics of different areas counts
partly in each, and a knife-edge between them cannot swing the answer. An earlier ticket an agent
labelled counts as reading its label with probability `label_p`: ``log(q(L) / prior(L))``.
All of it is fitted on customers' levels by log loss (`expertise.modeling.fit`).

The sum over earlier tickets is linear, so a customer's history is summarised in a
:class:`Profile`: per area and level, the decayed sum of the terms as of the latest ticket,
updated one ticket at a time in time order (`fold`). The store keeps one per customer and model
version; batch scoring carries them between chunks; a batch folds its own rows in time order
per customer, so a row's history is exactly what the same earlier tickets give an answer of one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from expertise.config import DOMAINS, LEVELS, NONE_THRESHOLD, TOPICS

#: Areas of a profile, in order (config.DOMAINS); a ticket of no known area counts in none.
AREA = {d: k for k, d in enumerate(DOMAINS)}
#: A ticket "reads as" a level when that level's term exceeds this (else it reads unclear).
READS_AS_MIN = 0.3
#: How sure a pinned level makes the answer: the rest is the evidence's posterior.
PIN_WEIGHT = 0.95
_EPOCH = np.datetime64("1970-01-01T00:00:00", "s")


#: What says how far a ticket's wording shows its writer's lasting level, in order.
EVIDENCE_INPUTS: tuple[tuple[str, str], ...] = (
    ("sure", "how sure the wording model is (top probability above a third), counted in full "
             "from `SURE_WORDS` words on (a model's sureness about a few words means little) "
             "and where the model knows most of the words"),
    ("signals", "log(1 + signals of a level: terms, details, diagnostics, self-descriptions, "
                "checks done; each kind counting at most two or three)"),
)


@dataclass(frozen=True)
class HistoryParams:
    """The fitted parameters of the evidence model (a bundle keeps them in its meta)."""

    prior: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    wording_prior: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    register: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                                                        (0.0, 0.0, 1.0))
    slopes: tuple[float, ...] = (0.0,) * len(EVIDENCE_INPUTS)
    current_bias: float = 2.0
    history_bias: float = 1.0
    weight: float = 1.0
    other_area: float = 0.5
    half_life_days: float = 180.0
    label_p: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryParams:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for name in ("prior", "wording_prior", "slopes"):
            if name in known:
                known[name] = tuple(float(v) for v in known[name])
        if "register" in known:
            known["register"] = tuple(tuple(float(v) for v in row) for row in known["register"])
        return cls(**known)

    @cached_property
    def log_prior(self) -> np.ndarray:
        return np.log(np.asarray(self.prior, dtype=np.float64))

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The tuples as float64 arrays (made once)."""
        return {name: np.asarray(getattr(self, name), dtype=np.float64)
                for name in ("prior", "wording_prior", "register", "slopes")}

    def trust(self, inputs: np.ndarray, *, current: bool) -> np.ndarray:
        """How far each ticket's wording shows its writer's lasting level, in (0, 1)."""
        z = self.current_bias if current else self.history_bias
        z = z + np.einsum("ij,j->i", inputs, self.arrays["slopes"])
        return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(z, -500.0), 500.0)))


def areas(topic_p: np.ndarray, topic_domains: Sequence[str],
          topics: Sequence[str | None] | None = None) -> np.ndarray:
    """(n, len(DOMAINS)): how far each ticket is about each area: its labelled topic's area
    where it has a known one, else its topic probabilities summed per area, so that a ticket
    torn between mobile data and home internet counts half in each instead of wholly in
    whichever edges ahead. Rows of no area are zero."""
    to_area = np.zeros((len(topic_domains), len(DOMAINS)))
    for t, d in enumerate(topic_domains):
        if d in AREA:
            to_area[t, AREA[d]] = 1.0
    out = np.einsum("it,ta->ia", topic_p, to_area)
    if topics is not None:
        given = np.array([AREA.get(TOPICS.get(t or "", ("", ""))[0], -1) for t in topics],
                         dtype=np.int64)
        labelled = np.flatnonzero(given >= 0)
        out[labelled] = 0.0
        out[labelled, given[labelled]] = 1.0
    return out


def top_area(weights: np.ndarray) -> np.ndarray:
    """Each row's main area (index in DOMAINS), -1 for a row of no area."""
    return np.where(weights.sum(axis=1) > 0, weights.argmax(axis=1), -1)


#: From this many words on, the wording model's sureness counts in full.
SURE_WORDS = 12


def evidence_inputs(p: np.ndarray, n_tokens: np.ndarray, signals: np.ndarray,
                    none_p: np.ndarray | None = None, *,
                    none_threshold: float = NONE_THRESHOLD,
                    known_share: np.ndarray | None = None) -> np.ndarray:
    """(n, len(EVIDENCE_INPUTS)): the inputs of `HistoryParams.trust` for each ticket. Length
    adds nothing beyond `SURE_WORDS`: a long message without signals of a level says no more
    than a short one. A message the out-of-scope class is sure of (`none_p` >= the threshold
    of "no good match": junk, small talk, an order, a shop visit) that shows no signal of a
    level says nothing about its writer's level, however sure the wording model is of its
    everyday words: its sureness counts 0. Nor do words the model has never seen: sureness
    counts in full where at least 80% of a message's words are known (`known_share`), in
    part from 50% (below that the text is not read as English at all), so that a recipe or a
    weather report is not judged on the few support words it happens to hold."""
    out = np.empty((len(p), len(EVIDENCE_INPUTS)))
    out[:, 0] = (p.max(axis=1) - 1.0 / 3.0) * (np.minimum(n_tokens, SURE_WORDS) / SURE_WORDS)
    if none_p is not None:
        out[(none_p >= none_threshold) & (signals == 0), 0] = 0.0
    if known_share is not None:
        out[:, 0] *= np.clip((known_share - 0.5) / 0.3, 0.0, 1.0)
    out[:, 1] = np.log1p(signals)
    return out


def terms(p: np.ndarray, inputs: np.ndarray, params: HistoryParams, *, current: bool,
          trust: np.ndarray | None = None) -> np.ndarray:
    """Each row's bounded log-likelihood ratios from its wording p(W) (module docstring);
    `trust`, when given, is `params.trust(inputs, current=current)`."""
    ratio = p / params.arrays["wording_prior"]
    likelihood = np.einsum("iw,lw->il", ratio, params.arrays["register"])
    r = (params.trust(inputs, current=current) if trust is None else trust)[:, None]
    return np.log(r * likelihood + (1.0 - r))


def label_terms(levels: np.ndarray, params: HistoryParams) -> np.ndarray:
    """What an agent's label counts as: the label with probability `label_p`, the rest
    shared, as log ratios to the prior."""
    q = np.full((len(levels), 3), (1.0 - params.label_p) / 2.0)
    q[np.arange(len(levels)), levels] = params.label_p
    return np.log(q / params.arrays["prior"])


def days(stamps: Sequence[str | None]) -> np.ndarray:
    """ISO-8601 times as days since 1970 (float, UTC where a time has an offset); NaN where
    there is no readable time. Readers hand over ``YYYY-MM-DDTHH:MM:SS``, read all at once;
    anything else is read one by one."""
    if not any(stamps):
        return np.full(len(stamps), np.nan)
    text = [str(s) if s else "NaT" for s in stamps]
    try:
        if any(len(t) > 19 or ("T" in t and len(t) != 19) for t in text if t != "NaT"):
            raise ValueError("not all canonical")
        parsed = np.array(text, dtype="datetime64[s]")
    except ValueError:
        parsed = np.array([_one_time(t) for t in text], dtype="datetime64[s]")
    out = (parsed - _EPOCH).astype("timedelta64[s]").astype(np.float64) / 86400.0
    out[np.isnat(parsed)] = np.nan
    return out


def _one_time(text: str) -> np.datetime64:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return np.datetime64("NaT", "s")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment.replace(microsecond=0).isoformat(), "s")


def _zeros() -> np.ndarray:
    return np.zeros((len(DOMAINS), 3))


@dataclass
class Profile:
    """A customer's earlier tickets, summarised: per area and level the decayed sum of their
    terms as of `as_of` (days since 1970, NaN if none had a time), and how many tickets of each
    area read as each level (the fourth column: unclear).

    The messages of the customer's latest conversation (`open_id`, when the messages carry
    conversation ids) are summed apart, as of `open_as_of`: a later message of the same
    conversation is read together with them and must not count them twice; a message of
    another conversation counts them as history like any other."""

    sums: np.ndarray = field(default_factory=_zeros)
    counts: np.ndarray = field(default_factory=lambda: np.zeros((len(DOMAINS), 4), np.int64))
    as_of: float = math.nan
    n: int = 0
    open_sums: np.ndarray = field(default_factory=_zeros)
    open_as_of: float = math.nan
    open_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sums": self.sums.tolist(), "counts": self.counts.tolist(),
                               "as_of": _stamp(self.as_of), "n": self.n}
        if self.open_id is not None:
            out.update(open_sums=self.open_sums.tolist(), open_as_of=_stamp(self.open_as_of),
                       open_id=self.open_id)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        profile = cls(np.asarray(data["sums"], dtype=np.float64),
                      np.asarray(data["counts"], dtype=np.int64), _unstamp(data.get("as_of")),
                      int(data["n"]))
        if data.get("open_id") is not None:
            profile.open_sums = np.asarray(data["open_sums"], dtype=np.float64)
            profile.open_as_of = _unstamp(data.get("open_as_of"))
            profile.open_id = str(data["open_id"])
        return profile


def _stamp(value: float) -> float | None:
    return None if math.isnan(value) else value


def _unstamp(value: Any) -> float:
    return math.nan if value is None else float(value)


def history_terms(p: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None,
                  params: HistoryParams) -> np.ndarray:
    """(n, 3): each ticket's evidence as an earlier ticket: its agent label where `labels`
    has one (index, -1 for none), else its wording."""
    out = terms(p, inputs, params, current=False)
    if labels is not None and (labels >= 0).any():
        have = np.flatnonzero(labels >= 0)
        out[have] = label_terms(labels[have], params)
    return out


def fold(profile: Profile | None, term: np.ndarray, area: np.ndarray, when: np.ndarray,
         params: HistoryParams, conversations: Sequence[str | None] | None = None) -> Profile:
    """A profile with these tickets (their `history_terms`, `areas` weights, times and
    conversations) added, in this order (time order)."""
    state = _State([profile or Profile()])
    for k in range(len(term)):
        conv = np.array([conversations[k] if conversations else None], dtype=object)
        state.add(np.array([0]), term[k:k + 1], area[k:k + 1], when[k:k + 1], conv, params)
    return state.profile(0)


class _State:
    """Profiles of several customers as arrays, updated together (one row per customer)."""

    def __init__(self, profiles: Sequence[Profile]) -> None:
        areas = len(DOMAINS)
        self.sums = np.array([p.sums for p in profiles], dtype=np.float64).reshape(-1, areas, 3)
        self.counts = np.array([p.counts for p in profiles],
                               dtype=np.int64).reshape(-1, areas, 4)
        self.as_of = np.array([p.as_of for p in profiles], dtype=np.float64)
        self.n = np.array([p.n for p in profiles], dtype=np.int64)
        self.open_sums = np.array([p.open_sums for p in profiles],
                                  dtype=np.float64).reshape(-1, areas, 3)
        self.open_as_of = np.array([p.open_as_of for p in profiles], dtype=np.float64)
        self.open_id = np.array([p.open_id for p in profiles] + [None], dtype=object)[:-1]

    def profile(self, k: int) -> Profile:
        return Profile(self.sums[k].copy(), self.counts[k].copy(), float(self.as_of[k]),
                       int(self.n[k]), self.open_sums[k].copy(), float(self.open_as_of[k]),
                       self.open_id[k])

    def _with_open(self, who: np.ndarray, conv: np.ndarray, params: HistoryParams
                   ) -> tuple[np.ndarray, np.ndarray]:
        """These customers' sums and their time, with the open conversation's messages
        counted where the row is not part of that conversation."""
        sums, as_of = self.sums[who], self.as_of[who]
        other = np.array([o is not None and o != c for o, c in
                          zip(self.open_id[who].tolist(), conv.tolist(), strict=True)],
                         dtype=bool)
        if other.any():
            at = np.flatnonzero(other)
            k = who[at]
            decay = _decay(self.open_as_of[k] - self.as_of[k], params)
            sums = sums.copy()
            sums[at] = sums[at] * decay[:, None, None] + self.open_sums[k]
            as_of = as_of.copy()
            as_of[at] = np.where(np.isnan(self.open_as_of[k]), as_of[at], self.open_as_of[k])
        return sums, as_of

    def evidence(self, who: np.ndarray, area: np.ndarray, when: np.ndarray, conv: np.ndarray,
                 params: HistoryParams) -> np.ndarray:
        """(len(who), 3): the history term of a ticket about `area` (`areas` weights) at
        `when` (of conversation `conv`, None for none) for these customers."""
        sums, as_of = self._with_open(who, conv, params)
        same = np.einsum("ia,iak->ik", area, sums)
        total = sums[:, 0].copy()
        for d in range(1, sums.shape[1]):  # in order: the same bits for any batch
            total += sums[:, d]
        other = total - same
        decay = _decay(when - as_of, params)
        return params.weight * decay[:, None] * (same + params.other_area * other)

    def add(self, who: np.ndarray, term: np.ndarray, area: np.ndarray, when: np.ndarray,
            conv: np.ndarray, params: HistoryParams) -> None:
        """Fold one ticket (its terms) into each of these customers' profiles (distinct
        customers): a message of the open conversation joins it; any other message closes it
        (its sum joins the rest) and, if it has a conversation, opens its own."""
        sums, as_of = self._with_open(who, conv, params)
        closing = np.array([o is not None and o != c for o, c in
                            zip(self.open_id[who].tolist(), conv.tolist(), strict=True)],
                           dtype=bool)
        self.sums[who], self.as_of[who] = sums, as_of
        self.open_sums[who[closing]] = 0.0
        self.open_as_of[who[closing]] = np.nan
        self.open_id[who[closing]] = None
        in_conv = np.array([c is not None for c in conv.tolist()], dtype=bool)
        share = area[:, :, None] * term[:, None, :]  # each area's part of each ticket's terms
        # messages without a conversation: into the sums
        plain = np.flatnonzero(~in_conv)
        k = who[plain]
        self.sums[k] *= _decay(when[plain] - self.as_of[k], params)[:, None, None]
        self.sums[k] += share[plain]
        self.as_of[k] = np.where(np.isnan(when[plain]), self.as_of[k], when[plain])
        # messages of a conversation: into its open sum
        joined = np.flatnonzero(in_conv)
        k = who[joined]
        self.open_sums[k] *= _decay(when[joined] - self.open_as_of[k], params)[:, None, None]
        self.open_sums[k] += share[joined]
        self.open_as_of[k] = np.where(np.isnan(when[joined]), self.open_as_of[k],
                                      when[joined])
        self.open_id[k] = conv[joined]
        reads = np.where(term.max(axis=1) > READS_AS_MIN, term.argmax(axis=1), 3)
        main = top_area(area)
        hit = np.flatnonzero(main >= 0)
        self.counts[who[hit], main[hit], reads[hit]] += 1
        self.n[who] += 1


class Profiles(Mapping[str, Profile]):
    """Customers' profiles kept as one batch's arrays: a mapping of customer to `Profile`
    (made when read), which `packed` writes all at once."""

    def __init__(self, state: _State, names: Mapping[str, int]) -> None:
        self._state = state
        self._names = names

    @classmethod
    def of(cls, profiles: Mapping[str, Profile]) -> Profiles:
        return cls(_State(list(profiles.values())), {key: k for k, key in enumerate(profiles)})

    def __getitem__(self, key: str) -> Profile:
        return self._state.profile(self._names[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def packed(self) -> list[tuple[str, bytes, str | None]]:
        """(customer, numbers, open conversation) of each profile, the numbers as float64
        bytes (`unpacked` reads them): a batch carries profiles between chunks so."""
        s, ks = self._state, np.fromiter(self._names.values(), dtype=np.int64)
        values = np.concatenate([s.sums[ks].reshape(len(ks), -1),
                                 s.open_sums[ks].reshape(len(ks), -1),
                                 s.counts[ks].reshape(len(ks), -1), s.as_of[ks, None],
                                 s.open_as_of[ks, None], s.n[ks, None]], axis=1)
        data, size = values.tobytes(), values.shape[1] * values.itemsize
        return [(key, data[j * size:(j + 1) * size], s.open_id[k])
                for j, (key, k) in enumerate(self._names.items())]

    @staticmethod
    def unpacked(rows: Sequence[tuple[str, bytes, str | None]]) -> dict[str, Profile]:
        """The profiles of `packed` rows."""
        if not rows:
            return {}
        values = np.frombuffer(b"".join(data for _, data, _ in rows), dtype=np.float64)
        values = values.reshape(len(rows), -1)
        k = len(DOMAINS) * 3
        sums = values[:, :k].reshape(len(rows), -1, 3)
        open_sums = values[:, k:2 * k].reshape(len(rows), -1, 3)
        counts = values[:, 2 * k:-3].astype(np.int64).reshape(len(rows), -1, 4)
        last = values[:, -3:].tolist()
        return {key: Profile(sums[j], counts[j], as_of, int(n), open_sums[j], open_as_of, open_id)
                for j, ((key, _, open_id), (as_of, open_as_of, n)) in
                enumerate(zip(rows, last, strict=True))}


def overall(profile: Profile, when: float, params: HistoryParams) -> np.ndarray:
    """(3,) what a customer's earlier tickets say about them in general (every area counting
    fully), at time `when`: for the statement read to the customer, not for an answer."""
    state = _State([profile])
    sums, as_of = state._with_open(np.array([0]), np.array(["\0"], dtype=object), params)
    total = sums[0, 0].copy()
    for d in range(1, sums.shape[1]):
        total += sums[0, d]
    decay = _decay(np.array([when - as_of[0]]), params)[0]
    return from_history((params.weight * decay * total)[None, :], params)[0]


def _decay(age: np.ndarray, params: HistoryParams) -> np.ndarray:
    """2 ** (-age / half-life); no decay where either time is unknown, none for negative ages
    (a ticket older than the profile counts as of the profile's time)."""
    age = np.where(np.isnan(age), 0.0, np.maximum(age, 0.0))
    return np.exp2(-age / params.half_life_days)


@dataclass
class BatchHistory:
    """The history part of a batch: each row's evidence from earlier tickets, how many earlier
    tickets it had and what they read as per area, and each customer's profile after the
    batch (for later batches)."""

    evidence: np.ndarray  # (n, 3)
    n_before: np.ndarray  # (n,) earlier tickets
    counts_before: np.ndarray  # (n, areas, 4) earlier tickets per area and level read as
    after: Profiles  # customer -> profile after the batch's rows

    def text(self, i: int, area: int) -> str:
        """Row i's earlier tickets in words (`history_text`)."""
        return history_text(int(self.n_before[i]), self.counts_before[i].tolist(), area)


def batch_history(
    p: np.ndarray, inputs: np.ndarray, area: np.ndarray, when: np.ndarray, *,
    customers: Sequence[str | None], labels: np.ndarray | None,
    external: Sequence[Profile | None] | None, opted_out: np.ndarray, params: HistoryParams,
    conversations: Sequence[str | None] | None = None,
) -> BatchHistory:
    """Each row's history: its customer's profile (from `external`, e.g. the store or earlier
    chunks) with the customer's earlier rows of this batch folded in, in time order (rows of
    the same time in batch order). An earlier row counts with its agent label when `labels`
    gives one (index, -1 for none), else with its wording. Rows of customers who opted out
    neither use nor give history; anonymous rows use only their own `external` profile. A
    row of a conversation (`conversations`) does not count the earlier messages of the same
    conversation as history: it is read together with them."""
    n = len(customers)
    keys = [c if c and not opted_out[i] else None for i, c in enumerate(customers)]
    if not any(keys) and (external is None or all(
            p is None or out for p, out in zip(external, opted_out.tolist(), strict=True))):
        # no row has a history or gives one: each starts from nothing (the weight of an
        # empty sum, decayed by nothing)
        return BatchHistory(params.weight * np.zeros((n, 3)), np.zeros(n, dtype=np.int64),
                            np.zeros((n, len(DOMAINS), 4), dtype=np.int64), Profiles.of({}))
    conv = np.array([c or None for c in conversations] if conversations is not None
                    else [None] * n, dtype=object).reshape(n)
    names: dict[str, int] = {}
    slot = np.empty(n, dtype=np.int64)
    starts: list[Profile] = []
    for i, key in enumerate(keys):
        if key is None:  # a history of its own: nothing from other rows
            slot[i] = len(starts)
            starts.append(_initial(external, i, opted_out))
            continue
        if key not in names:
            names[key] = len(starts)
            starts.append(_initial(external, i, opted_out))
        slot[i] = names[key]
    state = _State(starts)
    gives_history = np.array([k is not None for k in keys], dtype=bool)
    term = np.zeros((n, 3))
    if gives_history.any():  # only rows that can be another row's history
        at = np.flatnonzero(gives_history)
        term[at] = history_terms(p[at], inputs[at], None if labels is None else labels[at],
                                 params)
    if len(starts) == n:  # no customer has two rows: one step (an answer of one, often)
        who = slot
        evidence = state.evidence(who, area, when, conv, params)
        n_before, counts_before = state.n[who].copy(), state.counts[who].copy()
        gives = np.flatnonzero(gives_history)
        if len(gives):
            state.add(slot[gives], term[gives], area[gives], when[gives], conv[gives], params)
        return BatchHistory(evidence, n_before, counts_before, Profiles(state, names))
    # rows in time order (no time first), then by position; fold rank by rank
    order = np.lexsort((np.arange(n), np.nan_to_num(when, nan=-np.inf), slot))
    ranked = slot[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ranked[1:] != ranked[:-1]
    starts_at = np.flatnonzero(first)
    rank = np.arange(n) - np.repeat(starts_at, np.diff(np.append(starts_at, n)))
    evidence = np.zeros((n, 3))
    n_before = np.zeros(n, dtype=np.int64)
    counts_before = np.zeros((n, len(DOMAINS), 4), dtype=np.int64)
    for r in range(int(rank.max()) + 1 if n else 0):
        rows = order[rank == r]
        who = slot[rows]
        evidence[rows] = state.evidence(who, area[rows], when[rows], conv[rows], params)
        n_before[rows] = state.n[who]
        counts_before[rows] = state.counts[who]
        gives = rows[gives_history[rows]]
        if len(gives):
            state.add(slot[gives], term[gives], area[gives], when[gives], conv[gives], params)
    return BatchHistory(evidence, n_before, counts_before, Profiles(state, names))


def _initial(external: Sequence[Profile | None] | None, i: int, opted_out: np.ndarray
             ) -> Profile:
    if opted_out[i] or external is None or external[i] is None:
        return Profile()
    return external[i]  # type: ignore[return-value]


def posterior(p: np.ndarray, inputs: np.ndarray, evidence: np.ndarray,
              pinned: np.ndarray | None, params: HistoryParams, *,
              current: np.ndarray | None = None) -> np.ndarray:
    """The customer's level: prior, the current ticket's bounded term (`current`, computed
    when not given), the history's evidence; a level an agent pinned takes `PIN_WEIGHT` of
    the answer."""
    if current is None:
        current = terms(p, inputs, params, current=True)
    logits = params.log_prior + current + evidence
    out = _softmax(logits)
    if pinned is not None and (pinned >= 0).any():
        at = np.flatnonzero(pinned >= 0)
        pin = np.zeros((len(at), 3))
        pin[np.arange(len(at)), pinned[at]] = 1.0
        out[at] = PIN_WEIGHT * pin + (1.0 - PIN_WEIGHT) * out[at]
    return out


def alone(p: np.ndarray, inputs: np.ndarray, params: HistoryParams, *,
          current: np.ndarray | None = None) -> np.ndarray:
    """What the current ticket alone says about the customer (no history, no pin)."""
    return posterior(p, inputs, np.zeros_like(p), None, params, current=current)


def from_history(evidence: np.ndarray, params: HistoryParams) -> np.ndarray:
    """What the earlier tickets alone say about the customer (prior and history)."""
    return _softmax(params.log_prior + evidence)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / (out[:, :1] + out[:, 1:2] + out[:, 2:3])


def history_text(n: int, counts: Sequence[Sequence[int]], area: int) -> str:
    """"3 earlier tickets, 3 read as expert" (and the area's own majority when it differs),
    from a customer's earlier tickets per area and level read as (`Profile.counts`)."""
    read = [sum(column) for column in zip(*counts, strict=True)]
    main = max(range(3), key=read.__getitem__)
    text = f"{n} earlier {'ticket' if n == 1 else 'tickets'}"
    text += f", {read[main]} read as {LEVELS[main]}" if read[main] else ", none clear"
    if area >= 0:
        here = counts[area]
        if sum(here[:3]) and sum(here) < n:
            text += (f"; in this area ({DOMAINS[area]}) mostly "
                     f"{LEVELS[max(range(3), key=here.__getitem__)]}")
    return text
