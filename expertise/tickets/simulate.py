"""Build the bundled sample ticket history from the hand-written phrase bank (`make data`).

Deterministic for a given seed. Expertise is a lasting trait of the customer: a level overall,
and for specialists an expert area and a novice one; a few customers learn, one level up from
a day on. Every ticket is labelled with the
customer's level in the ticket's area, which is not always what its wording shows:

- most tickets are written at the customer's level (`register` "on"), drawn from the phrase bank
  and varied (sentences recombined within a topic and level, openers and closers, channel style,
  spelling, typos);
- about 15% are off-level, from hand-written registers (`data/phrases/off_level/`): experts
  writing casually ("casual"), novices pasting error codes or settings someone gave them
  ("relayed"), intermediates writing vaguely ("vague") or precisely ("precise");
- some say too little to judge ("thin"): a follow-up of the same fault, or a short message in a
  real customer's voice that shows no level (`data/messages/in_scope.csv`).

`wording_level` is the level the text reads as (empty for thin tickets): the wording model
learns from it, the evidence model from the customer's level. About 3% of labels are flipped to
a neighbouring level, as agent labels are noisy.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from expertise.config import DOMAINS, LEVELS, TOPICS
from expertise.errors import InputError

START = datetime(2025, 5, 1)
DAYS = 548  # about 18 months
_AGENT_NOTE = re.compile(r"^\s*(caller|cust\b|customer (rang|called|says|states|reports)|cx\b|"
                         r"c/o|call notes|agent)", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Za-z0-9\"'(])")

# Topic popularity (relative), roughly as call centres see it.
POPULARITY = {
    "no-internet": 9, "slow-broadband": 8, "wifi-dropping": 8, "bill-explained": 7,
    "tv-no-signal": 5, "streaming-buffering": 5, "mobile-data-not-working": 5,
    "password-reset": 5, "wifi-coverage": 4, "no-signal-calls": 4, "email-setup": 3,
    "roaming": 3, "phishing-suspected": 3, "data-usage-high": 3, "sim-activation": 3,
    "wifi-password-change": 3, "router-setup": 3, "tv-remote-pairing": 3,
}
CHANNEL_MIX = {"email": 0.3, "chat": 0.28, "web": 0.2, "phone": 0.22}
UK_US = [("colour", "color"), ("cancelled", "canceled"), ("favourite", "favorite"),
         ("centre", "center"), ("realise", "realize"), ("organise", "organize"),
         ("mobile", "cell"), ("programme", "program"), ("licence", "license")]
FIRST_NAMES = ["Margaret", "Tom", "Priya", "Dave", "Sarah", "Olu", "Ewan", "Mei", "Raj", "Ann"]
SURNAMES = ["Jones", "Okafor", "Patel", "Smith", "Nowak", "Campbell", "Chen", "Hughes"]


#: Off-level registers: (key in data/phrases/off_level/<topic>.yaml, register name, the level
#: whose customers write it, the level its wording reads as).
OFF_LEVEL: tuple[tuple[str, str, str, str], ...] = (
    ("expert_casual", "casual", "expert", "intermediate"),
    ("novice_technical", "relayed", "novice", "expert"),
    ("intermediate_vague", "vague", "intermediate", "novice"),
    ("intermediate_technical", "precise", "intermediate", "expert"),
)


@dataclass
class PhraseBank:
    subjects: dict[tuple[str, str], list[str]]
    tickets: dict[tuple[str, str], list[str]]
    generic: dict[str, Any]
    #: (topic, register) -> texts of that off-level register
    off_level: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: topic -> short real-voice messages that show no level
    thin: dict[str, list[str]] = field(default_factory=dict)


def load_phrase_bank(folder: Path) -> PhraseBank:
    """Read `phrases/<topic>.yaml`, `phrases/off_level/<topic>.yaml`, `generic_phrases.yaml`
    and the level-less messages of `messages/in_scope.csv` under `folder`."""
    import yaml

    subjects: dict[tuple[str, str], list[str]] = {}
    tickets: dict[tuple[str, str], list[str]] = {}
    off_level: dict[tuple[str, str], list[str]] = {}
    files = sorted((folder / "phrases").glob("*.yaml"))
    if not files:
        raise InputError(f"no phrase files in {folder / 'phrases'}; expected <topic>.yaml files")
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        topic = doc.get("topic") or path.stem
        if topic not in TOPICS:
            raise InputError(f"{path}: topic {topic!r} is not a knowledge-base topic")
        for level in LEVELS:
            subs = [s for s in (doc.get("subjects") or {}).get(level) or [] if s]
            texts = [t.strip() for t in (doc.get("tickets") or {}).get(level) or [] if t]
            if not texts:
                raise InputError(f"{path}: no tickets for level {level!r}")
            subjects[(topic, level)] = subs
            tickets[(topic, level)] = texts
        off = folder / "phrases" / "off_level" / path.name
        if not off.exists():
            raise InputError(f"{off}: missing; every topic needs its off-level registers")
        off_doc = yaml.safe_load(off.read_text(encoding="utf-8")) or {}
        for key, register, _, _ in OFF_LEVEL:
            texts = [t.strip() for t in off_doc.get(key) or [] if t and t.strip()]
            if not texts:
                raise InputError(f"{off}: no texts under {key!r}")
            off_level[(topic, register)] = texts
    generic = yaml.safe_load((folder / "generic_phrases.yaml").read_text(encoding="utf-8"))
    thin: dict[str, list[str]] = {}
    messages = folder / "messages" / "in_scope.csv"
    if messages.exists():
        with messages.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["level"] == "unclear" and row["topic"] in TOPICS:
                    thin.setdefault(row["topic"], []).append(row["text"])
    return PhraseBank(subjects, tickets, generic, off_level, thin)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _typos(rng: random.Random, text: str, rate: float) -> str:
    chars = list(text)
    for i in range(len(chars) - 1):
        if chars[i].isalpha() and chars[i + 1].isalpha() and rng.random() < rate:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _pii(rng: random.Random) -> tuple[str, str]:
    """A synthetic personal detail (reserved numbers and example domains only)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    kind = rng.choice(["name", "phone", "email", "postcode"])
    if kind == "phone":
        return kind, f"You can reach me on 07700 900{rng.randint(100, 999)}."
    if kind == "email":
        return kind, f"Reply to {first.lower()}.{last.lower()}@example.com please."
    if kind == "postcode":
        return kind, f"Address is {rng.randint(2, 99)} Mill Lane, SW1A {rng.randint(1, 9)}AA."
    return kind, f"Thanks, {first}"


class _Writer:
    """Composes one ticket text from the bank so that no two tickets share one template."""

    def __init__(self, bank: PhraseBank, rng: random.Random) -> None:
        self.bank, self.rng = bank, rng
        self.sentences: dict[tuple[str, str], list[list[str]]] = {
            key: [_SENTENCE.split(t) for t in texts] for key, texts in bank.tickets.items()
        }

    def body(self, topic: str, level: str, channel: str) -> str:
        rng, key = self.rng, (topic, level)
        texts = self.bank.tickets[key]
        notes = [t for t in texts if _AGENT_NOTE.match(t)]
        if channel == "phone" and notes and rng.random() < 0.7:
            return rng.choice(notes)
        own = [t for t in texts if not _AGENT_NOTE.match(t)] or texts
        base = rng.choice(own)
        parts = _SENTENCE.split(base)
        # Recombine: swap a tail of this ticket with sentences of another of the same kind.
        if len(parts) >= 2 and rng.random() < 0.45:
            other = rng.choice(self.sentences[key])
            if len(other) >= 2:
                cut = rng.randint(1, len(parts) - 1)
                parts = parts[:cut] + other[rng.randint(1, len(other) - 1):][:2]
        elif len(parts) >= 3 and rng.random() < 0.3:
            parts = parts[: rng.randint(2, len(parts))]
        text = " ".join(parts)
        if channel == "phone":
            prefix = rng.choice(self.bank.generic["agent_prefixes"])
            text = f"{prefix} {text[0].lower() + text[1:] if text else text}"
        return text

    def dress(self, text: str, level: str, channel: str) -> str:
        rng, g = self.rng, self.bank.generic
        if channel != "phone":
            if rng.random() < 0.45:
                opener = rng.choice(g["openers"][level])
                text = f"{opener} {text}".strip() if opener else text
            if rng.random() < 0.12:
                text = f"{text} {rng.choice(g['context'])}"
            if rng.random() < 0.4:
                closer = rng.choice(g["closers"][level])
                text = f"{text} {closer}".strip() if closer else text
        if channel == "chat" and rng.random() < 0.5:
            text = text.lower().replace(".", "").replace(",", "")
        if rng.random() < 0.3:
            us = rng.random() < 0.5
            for uk, am in UK_US:
                text = text.replace(uk, am) if us else text.replace(am, uk)
        if rng.random() < 0.25:
            text = _typos(rng, text, 0.008 if level == "novice" else 0.004)
        return text


#: Shares of a customer base at each level, of specialists, and of off-level and thin tickets.
LEVEL_MIX = (0.28, 0.46, 0.26)
SPECIALISTS = 0.12
OFF_LEVEL_SHARE = 0.15
THIN_SHARE = 0.05
LABEL_NOISE = 0.03
GROWTH = 0.06


def generate(
    bank: PhraseBank, *, customers: int = 2500, seed: int = 20261129
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Return (tickets, feedback) rows. Tickets carry a `split` value: train or eval."""
    rng = random.Random(seed)
    writer = _Writer(bank, rng)
    topic_weights = {t: float(POPULARITY.get(t, 2)) for t in TOPICS}
    by_domain: dict[str, list[str]] = {d: [t for t, (dom, _) in TOPICS.items() if dom == d]
                                       for d in DOMAINS}
    off_by_level: dict[str, list[tuple[str, str]]] = {}
    for _, register, writer_level, reads_as in OFF_LEVEL:
        off_by_level.setdefault(writer_level, []).append((register, reads_as))
    tickets: list[dict[str, str]] = []
    feedback: list[dict[str, str]] = []
    n = 0
    for c in range(customers):
        cid = f"C{c + 1:05d}"
        base = rng.choices(range(3), weights=LEVEL_MIX)[0]
        level_of = dict.fromkeys(DOMAINS, base)
        if rng.random() < SPECIALISTS:  # expert in one area, a novice in another
            strong, weak = rng.sample(list(DOMAINS), 2)
            level_of[strong], level_of[weak] = 2, 0
        # a few learn: one level up, for good, from a day in the period on
        grows_on = rng.uniform(0, DAYS) if base < 2 and rng.random() < GROWTH else DAYS + 1
        favourite = rng.choice(list(DOMAINS))
        count = min(40, 1 + int(rng.lognormvariate(0.7, 0.85)))
        first = rng.uniform(0, DAYS - 10)
        times = sorted([first] + [rng.uniform(first, DAYS) for _ in range(count - 1)])
        split = "eval" if rng.random() < 0.2 else "train"
        last_topic = None
        for k, day in enumerate(times):
            if last_topic and rng.random() < 0.15:
                topic = last_topic  # the same fault again
            elif rng.random() < 0.35:
                topic = rng.choice(by_domain[favourite])
            else:
                topic = _weighted(rng, topic_weights)
            level = LEVELS[min(2, level_of[TOPICS[topic][0]] + (day >= grows_on))]
            channel = _weighted(rng, CHANNEL_MIX)
            subjects = bank.subjects[(topic, level)]
            subject = "" if (channel in ("chat", "phone") and rng.random() < 0.6) or not subjects \
                else rng.choice(subjects)
            draw = rng.random()
            if k > 0 and topic == last_topic and rng.random() < 0.5:
                register, reads_as, subject = "thin", "", ""
                body = rng.choice(bank.generic["followups"])
            elif draw < THIN_SHARE and bank.thin.get(topic):
                register, reads_as, subject = "thin", "", ""
                body = rng.choice(bank.thin[topic])
            elif draw < THIN_SHARE + OFF_LEVEL_SHARE:
                register, reads_as = rng.choice(off_by_level[level])
                body, subject = rng.choice(bank.off_level[(topic, register)]), ""
                if rng.random() < 0.25:
                    body = _typos(rng, body, 0.004)
            else:
                register, reads_as = "on", level
                body = writer.dress(writer.body(topic, level, channel), level, channel)
            if rng.random() < 0.08:
                body = f"{body} {_pii(rng)[1]}"
            label = level
            if rng.random() < LABEL_NOISE:  # agent label noise, to a neighbour
                i = LEVELS.index(level)
                label = LEVELS[min(2, i + 1)] if (rng.random() < 0.5 or i == 0) and i < 2 \
                    else LEVELS[max(0, i - 1)]
            served = level if rng.random() < 0.9 else rng.choice(LEVELS)
            when = START + timedelta(days=day, seconds=rng.randint(8 * 3600, 21 * 3600))
            n += 1
            tid = f"T{n:06d}"
            tickets.append({
                "ticket_id": tid, "customer_id": cid,
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%S"), "channel": channel,
                "subject": subject, "body": body, "expertise_level": label, "topic": topic,
                "resolved_article_id": f"{topic}/{served}", "wording_level": reads_as,
                "register": register, "split": split,
            })
            if rng.random() < 0.2:
                fit = served == level
                helpful = rng.random() < (0.85 if fit else 0.3)
                corrected = level if (not fit and rng.random() < 0.5) else ""
                feedback.append({
                    "ticket_id": tid, "article_id": f"{topic}/{served}",
                    "helpful": "1" if helpful else "0", "corrected_level": corrected,
                    "agent": f"agent{rng.randint(1, 25):02d}",
                    "created_at": (when + timedelta(minutes=rng.randint(3, 40))).strftime(
                        "%Y-%m-%dT%H:%M:%S"),
                })
            last_topic = topic
    tickets.sort(key=lambda r: r["created_at"])
    return tickets, feedback


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def build_sample_data(
    folder: Path, *, customers: int = 2500, seed: int = 20261129
) -> dict[str, int]:
    """Write tickets_train.csv, tickets_eval.csv and feedback.csv under `folder`."""
    bank = load_phrase_bank(folder)
    tickets, feedback = generate(bank, customers=customers, seed=seed)
    columns = ["ticket_id", "customer_id", "created_at", "channel", "subject", "body",
               "expertise_level", "topic", "resolved_article_id", "wording_level", "register"]
    train = [r for r in tickets if r["split"] == "train"]
    evals = [r for r in tickets if r["split"] == "eval"]
    _write_csv(folder / "tickets_train.csv", train, columns)
    _write_csv(folder / "tickets_eval.csv", evals, columns)
    _write_csv(folder / "feedback.csv", feedback,
               ["ticket_id", "article_id", "helpful", "corrected_level", "agent", "created_at"])
    return {"tickets": len(tickets), "train": len(train), "eval": len(evals),
            "feedback": len(feedback), "customers": customers,
            "bank_texts": sum(len(v) for v in bank.tickets.values())}
