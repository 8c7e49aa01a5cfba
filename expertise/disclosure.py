"""What we tell a customer: the data used, what was inferred, what they gain, their choices."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from expertise.errors import StoreError, UnknownCustomerError

PLAIN_LEVEL = {
    "novice": "step-by-step guides that explain each button and light",
    "intermediate": "short guides with the menu steps, for someone comfortable with everyday "
                    "technology",
    "expert": "the exact technical settings, without the basics",
}
HOW_SURE = ((0.8, "quite sure"), (0.6, "fairly sure"), (0.0, "not very sure"))


@dataclass
class Disclosure:
    customer_id: str
    opted_out: bool
    tickets_used: int
    first: str | None
    last: str | None
    level: str | None
    confidence: float | None
    statement: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _month(ts: str | None) -> str:
    if not ts:
        return "an unknown date"
    try:
        return datetime.fromisoformat(ts).strftime("%B %Y")
    except ValueError:
        return ts[:10]


def disclose(engine: Any, customer_id: str, *, actor: str | None = None,
             purpose: str | None = None) -> Disclosure:
    """The plain-language statement for `expertise explain` and the session's `:why`."""
    from expertise.engine import current_actor

    store = engine.store
    if store is None:
        raise StoreError("explain needs the store: pass --db PATH or set EXPERTISE_DB")
    customer = store.customer(customer_id)
    if customer is None:
        raise UnknownCustomerError(f"customer {customer_id!r} is not in the store {store.path}")
    store.audit(actor or current_actor(), "explain", customer_id=customer_id, purpose=purpose)
    opted_out = getattr(customer, "consent", "granted") == "opted_out"
    history = store.history(customer_id, limit=100_000)
    dates = sorted(h.created_at for h in history if h.created_at)
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    n = len(history)
    choices = ("Your choices: you can ask us at any time to stop tailoring answers to you; you "
               "will get the same help, written for a general audience. You can also ask us to "
               "delete your ticket history and this profile completely.")
    if opted_out:
        statement = (
            "You asked us not to tailor answers to you, so we do not look at your past messages "
            "and we have not worked out anything about you. We keep your messages only to "
            "handle your requests. " + choices.replace("stop tailoring", "start tailoring again")
            .replace("; you will get the same help, written for a general audience", ""))
        return Disclosure(customer_id, True, 0, first, last, None, None, statement)
    level = confidence = None
    if n:
        prior = engine.prior_tickets(customer_id, before=None)
        ans = engine.score_rows([""], customer_ids=[None], created_at=[None],
                                external_priors=[prior], explain=False)[0]
        level, confidence = ans.level, ans.confidence
    if not n or level is None:
        inferred = ("What we worked out: nothing yet. With no earlier messages we give "
                    "everyone the same general answers.")
    else:
        sure = next(word for bound, word in HOW_SURE if (confidence or 0) >= bound)
        inferred = (f"What we worked out: that {PLAIN_LEVEL[level]} probably suit you best. "
                    f"We are {sure} about this ({confidence:.0%}), and an adviser can always "
                    "change it.")
    plural = "message" if n == 1 else "messages"
    used = (f"What we used: the {n} {plural} you sent us between {_month(first)} and "
            f"{_month(last)}: the words you used to describe each problem (for example whether "
            "you mentioned settings, error messages or what you had already tried) and what "
            "each problem was about. Names, phone numbers, email addresses, card details and "
            "addresses are removed before anything is stored, and are never used."
            if n else "What we used: nothing; we have no earlier messages from you.")
    gain = ("What you get: answers pitched to you, so the adviser can skip what you already "
            "know or take you through each step, and calls are shorter.")
    return Disclosure(customer_id, False, n, first, last, level, confidence,
                      "\n\n".join([used, inferred, gain, choices]))
