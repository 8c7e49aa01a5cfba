"""What we tell a customer: the data used, what was inferred, what they gain, their choices.

The statement is written to be read aloud or sent as it is: plain words, no internal names,
and nothing personal beyond what the customer gave us (it does not even repeat their id).
It describes exactly what an answer for this customer would use: the same earlier tickets, the
same model and the same history profile, read for no area in particular, so the level stated
is the one the tool starts from; a level an adviser pinned is said as such.

>>> d = disclose(engine, "C00042", actor="agent-7")                  # doctest: +SKIP
>>> print(d.statement)                                               # doctest: +SKIP
What we used: the 3 messages you sent us between March 2025 and June 2025. ...
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from expertise.config import LEVELS
from expertise.errors import StoreError, UnknownCustomerError
from expertise.rights.erasure import models_trained_on
from expertise.scoring.history import days, overall

__all__ = ["HOW_SURE", "PLAIN_LEVEL", "Disclosure", "disclose"]

#: What each level means to a customer: the kind of guide they get.
PLAIN_LEVEL: dict[str, str] = {
    "novice": "step-by-step guides that explain each button and light",
    "intermediate": "short guides with the menu steps, for someone at ease with everyday "
                    "technology",
    "expert": "guides that give the exact technical settings and skip the basics",
}
#: Confidence in words, highest bound first.
HOW_SURE: tuple[tuple[float, str], ...] = (
    (0.8, "quite sure"), (0.6, "fairly sure"), (0.0, "not very sure"),
)
SECTIONS: tuple[str, ...] = ("used", "inferred", "gain", "choices")


@dataclass
class Disclosure:
    """The statement and the facts behind it (the JSON of ``expertise explain --json``).

    ``tickets_held`` counts the customer's tickets in the store; ``tickets_used`` those that
    personalise answers (none after an opt-out). ``first`` and ``last`` are the dates of the
    tickets used. ``sections`` holds the four paragraphs of ``statement`` by name.
    ``audit_entries`` counts the audit log's entries about the customer from before this
    request (which adds one), ``audit_first`` and ``audit_last`` their times: a customer the
    store holds no tickets or record of may still be named there. ``models_trained_on``
    lists the model versions whose training data held the customer's messages (from an
    export, perhaps), checked by their keyed fingerprints. ``erased`` is the day (ISO date)
    the customer was erased here, if they were: the statement then says so.
    """

    customer_id: str
    opted_out: bool
    tickets_held: int
    tickets_used: int
    first: str | None
    last: str | None
    level: str | None
    confidence: float | None
    statement: str
    sections: dict[str, str] = field(default_factory=dict)
    pinned: str | None = None
    audit_entries: int = 0
    audit_first: str | None = None
    audit_last: str | None = None
    models_trained_on: list[str] = field(default_factory=list)
    erased: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _month(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).strftime("%B %Y")
    except ValueError:
        return ts[:10]


def _period(first: str | None, last: str | None) -> str:
    if not first or not last:
        return ""
    a, b = _month(first), _month(last)
    return f" in {a}" if a == b else f" between {a} and {b}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def disclose(engine: Any, customer_id: str, *, actor: str | None = None,
             purpose: str | None = None) -> Disclosure:
    """The plain-language statement for ``expertise explain`` and the session's ``:why``.

    Appends an ``explain`` row to the audit log. A customer the store has no record of, but
    whom the audit log names (someone looked them up) or a model learned from (their messages
    were in an export it was trained on), gets a statement that says so and that no messages
    of theirs are held; a customer erased here, one that says they were erased and when.

    Parameters
    ----------
    engine : expertise.engine.Engine
        An engine with a store (``db_path``).
    customer_id : str
    actor, purpose : str, optional
        Recorded in the audit log (``actor`` defaults to the login name).

    Raises
    ------
    StoreError
        If the engine has no store.
    UnknownCustomerError
        If nothing here knows the customer: no record, no audit entry, no model, no erasure.
    """
    store = engine.store
    if store is None:
        raise StoreError("explain needs the store: pass --db PATH or set EXPERTISE_DB")
    customer = store.customer(customer_id)
    # Read before this request's own row is appended, so the count is of earlier handling.
    logged = store.audit_rows(customer_id=customer_id)
    trained = models_trained_on(customer_id).trained_on
    erased = store.erased_on(customer_id) if customer is None else None
    if customer is None and not logged and not trained and erased is None:
        shown = customer_id if len(customer_id) <= 60 else customer_id[:57] + "..."
        raise UnknownCustomerError(
            f"customer {shown!r} is not in the store {store.path}: we hold nothing about them "
            "(check the id, or ingest their tickets with `expertise ingest`)"
        )
    store.audit(actor, "explain", customer_id=customer_id, purpose=purpose)
    log = (*_log_facts(logged), trained)
    now_used = engine.version in trained
    if customer is None:
        # Named only in the audit log (looked up before any ticket of theirs was stored), or
        # known to a model from the export it was trained on, or erased here (or both).
        if erased is not None and not trained:
            sections = _erased_sections(erased)
        else:
            sections = _with_log(_sections(0, 0, None, None, None, None, False), logged, 0)
            sections = _with_training(sections, trained, now_used, erased=erased is not None)
        return Disclosure(customer_id, False, 0, 0, None, None, None, None,
                          "\n\n".join(sections[k] for k in SECTIONS), sections, None, *log,
                          erased=erased)
    held = int(customer.ticket_count)
    if customer.consent == "opted_out":
        # Not profiled: the history is neither read nor scored, only counted.
        sections = _with_log(_opted_out_sections(held), logged, held)
        sections = _with_training(sections, trained, now_used)
        return Disclosure(customer_id, True, held, 0, None, None, None, None,
                          "\n\n".join(sections[k] for k in SECTIONS), sections, None, *log)

    items = store.history(customer_id)
    dates = sorted(it.created_at for it in items if it.created_at)
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    level = confidence = None
    if items:
        # What the earlier tickets alone suggest, today: the level the tool starts from.
        profile = engine.customer_profile(customer_id)
        now = float(days([datetime.now().replace(microsecond=0).isoformat()])[0])
        p = overall(profile, now, engine.lean.history)
        level, confidence = LEVELS[int(p.argmax())], float(p.max())
    pinned = customer.pinned_level
    if pinned:
        level, confidence = pinned, None
    labelled = any(it.expertise_level for it in items)
    sections = _sections(len(items), held, first, last, level, confidence, labelled, pinned)
    sections = _with_training(_with_log(sections, logged, held), trained, now_used)
    return Disclosure(customer_id, False, held, len(items), first, last, level, confidence,
                      "\n\n".join(sections[k] for k in SECTIONS), sections, pinned, *log)


_REMOVED = ("Before anything is stored we take out names, phone numbers, email addresses, "
            "card and bank details and home addresses, so these are never used.")


def _sections(used: int, held: int, first: str | None, last: str | None, level: str | None,
              confidence: float | None, labelled: bool, pinned: str | None = None
              ) -> dict[str, str]:
    if used:
        which = (f"the {_count(used, 'message')} you sent us" if used >= held else
                 f"the {used} most recent of the {held} messages you sent us")
        adviser = (" Where an adviser noted which kind of guide suited you, we used that too."
                   if labelled else "")
        data = (f"What we used: {which}{_period(first, last)}. From each one we looked at how "
                "you described the problem (for example whether you used technical terms, "
                "quoted an error message or said what you had already tried), what the "
                "problem was about, and when you sent it; recent messages count for more."
                f"{adviser} {_REMOVED}")
    else:
        data = "What we used: nothing so far; we have no earlier messages from you."
    if pinned:
        inferred = (f"What we worked out: an adviser noted that {PLAIN_LEVEL[pinned]} suit you "
                    "best, and that note decides the guides you get. You can ask us at any "
                    "time to remove it.")
    elif level is None or confidence is None:
        inferred = ("What we worked out: nothing yet. Until we have earlier messages from you, "
                    "each answer is based only on how you describe the problem at the time.")
    else:
        sure = next(word for bound, word in HOW_SURE if confidence >= bound)
        inferred = (f"What we worked out: {PLAIN_LEVEL[level]} probably suit you best. We are "
                    f"{sure} about this ({confidence:.0%}), and an adviser can change it at any "
                    "time.")
    gain = ("What you get: answers pitched at the right level for you, so the adviser can skip "
            "what you already know or take you through every step, and calls are shorter.")
    choices = ("Your choices: you can ask us at any time to stop tailoring answers to you. You "
               "will still get the same help, written for a general audience, and your "
               "messages will no longer be used to improve our service. You can also ask us "
               "to delete your message history and everything we worked out from it.")
    return {"used": data, "inferred": inferred, "gain": gain, "choices": choices}


def _opted_out_sections(held: int) -> dict[str, str]:
    kept = (f"We keep your {_count(held, 'message')} only to deal with your requests"
            if held else "We keep your messages only to deal with your requests")
    return {
        "used": ("What we used: nothing. You asked us not to tailor answers to you, so we do "
                 "not look at your past messages to decide how to help you."),
        "inferred": "What we worked out: nothing about you, and we keep no estimate about you.",
        "gain": (f"What you get: the same help as everyone, written for a general audience. "
                 f"{kept}, and we do not use them to improve our service."),
        "choices": ("Your choices: you can ask us at any time to tailor answers to you again. "
                    "You can also ask us to delete your message history completely."),
    }


def _erased_sections(day: str) -> dict[str, str]:
    """The statement for a customer erased here (``day``: the ISO date, or words)."""
    try:
        when = datetime.fromisoformat(day)
        on = f" on {when.day} {when:%B %Y}"
    except ValueError:
        on = ""
    return {
        "used": (f"What we used: nothing. You asked us to delete your details, and we "
                 f"did{on}: we hold no messages from you, and we do not keep new ones."),
        "inferred": ("What we worked out: nothing about you; what we had worked out was "
                     "deleted with your messages."),
        "gain": "What you get: the same help as everyone, written for a general audience.",
        "choices": ("Your choices: nothing is held about you to change or delete. The log of "
                    "each time our staff looked up or changed your details keeps its entries "
                    "without anything that identifies you."),
    }


#: What each kind of audit entry about a customer means to them, in plain words.
_LOGGED: dict[str, str] = {
    "answer": "to help with a question",
    "session_lookup": "to help with a question",
    "score_lookup": "to help with a question",
    "explain": "to tell you what we hold",
    "consent": "to record your choice about tailored answers",
    "pin": "to note which kind of guide suits you",
    "unpin": "to note which kind of guide suits you",
}


def _log_facts(logged: list[Any]) -> tuple[int, str | None, str | None]:
    """(entries, first time, last time) of the audit rows about a customer."""
    times = sorted(r.at for r in logged if r.at)
    return len(logged), (times[0] if times else None), (times[-1] if times else None)


def _with_log(sections: dict[str, str], logged: list[Any], held: int) -> dict[str, str]:
    """``sections`` with what the audit log holds about the customer said in "used" and its
    erasure in "choices"; unchanged when it names them nowhere."""
    if not logged:
        return sections
    n, first, last = _log_facts(logged)
    why = list(dict.fromkeys(_LOGGED.get(r.action, "in handling your requests")
                             for r in logged))
    whys = why[0] if len(why) == 1 else ", ".join(why[:-1]) + " and " + why[-1]
    entries = "1 entry" if n == 1 else f"{n} entries"
    keep = "We do keep" if not held else "We also keep"
    used = (f"{sections['used']} {keep} a log of each time our staff looked up or changed your "
            f"details, with when, who and why: {entries}{_period(first, last)} ({whys}). This "
            "request is logged too. The log is kept to show that your details were handled "
            "properly; it does not decide how we help you.")
    choices = (f"{sections['choices']} If we delete your details, the log keeps its entries "
               "without anything that identifies you.")
    return {**sections, "used": used, "choices": choices}


_NOTHING_USED = "What we used: nothing so far; we have no earlier messages from you."


def _with_training(sections: dict[str, str], trained: list[str], now_used: bool, *,
                   erased: bool = False) -> dict[str, str]:
    """``sections`` with a model's learning from the customer's messages said in "used" and
    what deletion does to it in "choices"; unchanged when no model learned from them."""
    if not trained:
        return sections
    which = ("the system that tailors our answers today" if now_used else
             "an earlier version of the system that tailors our answers")
    used = sections["used"]
    if used.startswith(_NOTHING_USED):
        used = ("What we used: we hold no messages from you, so none of them shape our "
                "answers to you." + used[len(_NOTHING_USED):])
    used = (f"{used} Messages of yours did help teach {which}, which learned from many "
            "customers' messages at once how people describe problems; it keeps no copy of "
            "them, only a coded fingerprint that shows it learned from you.")
    choices = (f"{sections['choices']} If we delete your details, we teach that system again "
               "without your messages.")
    if erased:
        used += (" You asked us to delete your details, and we did: the next time we teach "
                 "that system, it is without your messages.")
        choices = sections["choices"]
    return {**sections, "used": used, "choices": choices}
