"""History features in plain Python: what a caller's earlier tickets say about their expertise.

Only tickets created before the current one count (never the future). Each earlier ticket
contributes a level score in [0, 2]: its agent label when known, else the wording model's
expected level. Weights fall with age (half-life about four months).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

HALF_LIFE_DAYS = 120.0

#: Names and plain-language labels of the history features, in order.
HISTORY_FEATURES: tuple[tuple[str, str], ...] = (
    ("has_history", "has earlier tickets"),
    ("n_prior", "number of earlier tickets"),
    ("level_mean", "level of earlier tickets"),
    ("has_domain", "has earlier tickets in the same area"),
    ("domain_level_mean", "level of earlier tickets in the same area"),
    ("tech_density", "technical wording in earlier tickets"),
    ("level_mean_terse", "level of earlier tickets, when this ticket says little"),
)


@dataclass(frozen=True)
class PriorTicket:
    """One earlier ticket as the history features see it."""

    created_at: str
    level_score: float
    labelled: bool
    domain: str | None
    tech_density: float = 0.0


def _parse(ts: str) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def terseness(n_tokens: int) -> float:
    """1 for a ticket of a few words, falling towards 0 for a long one."""
    return math.exp(-n_tokens / 12.0)


def history_features(
    prior: list[PriorTicket], *, now: str | None, domain: str | None, n_tokens: int
) -> list[float]:
    """The features of HISTORY_FEATURES; all zero for an anonymous caller or a first ticket."""
    if not prior:
        return [0.0] * len(HISTORY_FEATURES)
    now_dt = _parse(now or "") or max((d for p in prior if (d := _parse(p.created_at))),
                                      default=None)
    total = weight_sum = dom_sum = dom_weight = dens = 0.0
    for p in prior:
        when = _parse(p.created_at)
        age = max(0.0, (now_dt - when).days) if (now_dt and when) else 0.0
        w = 0.5 ** (age / HALF_LIFE_DAYS) * (1.5 if p.labelled else 1.0)
        total += w * p.level_score
        weight_sum += w
        dens += w * p.tech_density
        if domain and p.domain == domain:
            dom_sum += w * p.level_score
            dom_weight += w
    level_mean = total / weight_sum - 1.0  # centred: -1 novice, 0 intermediate, +1 expert
    has_domain = 1.0 if dom_weight > 0 else 0.0
    dom_mean = dom_sum / dom_weight - 1.0 if dom_weight else 0.0
    return [
        1.0,
        math.log1p(len(prior)),
        level_mean,
        has_domain,
        dom_mean,
        dens / weight_sum,
        level_mean * terseness(n_tokens),
    ]


def batch_history(
    level_scores: list[float], densities: list[float], domains: list[str | None], *,
    customer_ids: Sequence[str | None], created_at: Sequence[str | None],
    labels: Sequence[str | None] | None, label_domains: list[str | None] | None,
    external_priors: Sequence[Sequence[PriorTicket]] | None, opted_out: Sequence[bool],
    row_domains: list[str | None], n_tokens: list[int], now: str,
) -> tuple[list[PriorTicket], list[list[PriorTicket]], list[list[float]]]:
    """Each row as an earlier ticket (for later rows), each row's earlier tickets, and the
    history features of every row.

    A row's earlier tickets are its `external_priors` (e.g. from the store) plus the earlier
    rows of the same customer in this batch (by `created_at`, never later ones). An earlier
    row counts with its label when `labels` gives one, else with the wording estimate. Rows of
    customers who opted out neither use nor give history.
    """
    from expertise.config import LEVEL_INDEX

    n = len(customer_ids)
    own = []
    for i in range(n):
        label = labels[i] if labels else None
        if label in LEVEL_INDEX:
            level_score, labelled = float(LEVEL_INDEX[str(label)]), True
        else:
            level_score, labelled = level_scores[i], False
        domain = (label_domains[i] if label_domains else None) or domains[i]
        own.append(PriorTicket(str(created_at[i] or ""), level_score, labelled, domain,
                               densities[i]))
    order = sorted(range(n), key=lambda i: str(created_at[i] or ""))
    seen: dict[str, list[PriorTicket]] = {}
    priors: list[list[PriorTicket]] = [[] for _ in range(n)]
    features = [[0.0] * len(HISTORY_FEATURES) for _ in range(n)]
    for i in order:
        if opted_out[i]:
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
            features[i] = history_features(prior, now=before or now, domain=row_domains[i],
                                           n_tokens=n_tokens[i])
    return own, priors, features
