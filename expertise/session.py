"""The live-call session: the agent types a line at a time; the answer follows the whole call.

The session is library code: `handle(line)` returns an Event for the CLI to render; nothing
here prints or reads the terminal.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from expertise.config import LEVELS, SESSION_HISTORY_LINES
from expertise.engine import Answer, Engine
from expertise.errors import ExpertiseError, InputError
from expertise.privacy import compile_patterns, redact
from expertise.store.db import check_label, default_actor

HELP = """Type what the caller says, a line at a time; the estimate updates after each line
(a line of theirs that starts with a colon and a word: type another colon first, ::D).
  :customer ID    look up a customer (history, consent)
  :show [N]       open the suggested article, or alternative N
  :helpful        the suggested article helped (again, or :not-helpful, changes the vote)
  :not-helpful    it did not help
  :level LEVEL    pin the caller's level (novice, intermediate, expert; clear undoes)
  :why            what we use about this caller, to read out
  :new            next call
  :help           this text
  :quit           end the session"""


class CommandHistory:
    """The lines the agent can recall in later sessions (arrow up): commands, never what
    callers said.

    What callers say is personal data (names, addresses, account numbers); the store keeps it
    only redacted, and a history file would keep it verbatim, outside the store's erasure and
    audit. So only `:commands` are kept across sessions, without what would name a customer
    (``:customer C00042`` is kept as ``:customer``), in a file only its owner can read (mode
    0600; `config.session_history_path`), the last :data:`SESSION_HISTORY_LINES` of them.
    Within one session every line can be recalled: that history lives in memory only.
    """

    def __init__(self, path: Path, *, limit: int = SESSION_HISTORY_LINES) -> None:
        self.path = Path(path)
        self.limit = limit

    @staticmethod
    def keepable(line: str) -> str | None:
        """The form of `line` that may be kept across sessions, or None."""
        cmd, _, arg = line.strip().partition(" ")
        if not cmd.startswith(":"):
            return None  # caller text
        name, arg = cmd[1:].lower(), arg.strip()
        if name == "customer":
            return ":customer"
        if name == "level":
            return f":level {arg.lower()}" if arg.lower() in (*LEVELS, "clear") else ":level"
        if name == "show":
            return f":show {arg}" if arg.isdigit() else ":show"
        if name in _COMMANDS:
            return f":{name}"
        return None  # not a command: perhaps caller text typed after a colon

    def load(self) -> list[str]:
        """The kept lines, oldest first (none when there is no readable file)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [kept for line in text.splitlines() if (kept := self.keepable(line))]

    def save(self, lines: Iterable[str]) -> None:
        """Keep the keepable `lines` (earlier sessions' and this one's, oldest first): written
        whole, readable by its owner only."""
        import secrets

        kept: list[str] = []
        for line in lines:
            form = self.keepable(line)
            if form and (not kept or kept[-1] != form):
                kept.append(form)
        text = "".join(f"{line}\n" for line in kept[-self.limit:])
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


#: What a stored text cannot hold: lone surrogates (bytes that were not UTF-8, as Python reads
#: them from a pipe or a terminal) and NUL (which ends a C string: sqlite3's own tools and
#: other readers of the store would cut the call there).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """`text` with a replacement character for each byte that was not UTF-8 and a space for
    each NUL: the store refuses the first (the whole call was lost when it ended)."""
    return _UNSTORABLE.sub(lambda m: " " if m.group() == "\x00" else "\ufffd", text)


_COMMANDS = frozenset({"customer", "show", "helpful", "not-helpful", "nothelpful", "level",
                       "why", "new", "help", "quit", "q", "exit"})


@dataclass
class Event:
    """What happened after one line: `kind` tells the CLI how to render it."""

    kind: str  # answer, article, message, help, quit, disclosure, error
    answer: Answer | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    #: Something the agent must know that did not stop the line: a call that was not kept.
    warning: str = ""


class Session:
    """One agent's session: a sequence of calls."""

    def __init__(self, engine: Engine, *, customer_id: str | None = None,
                 agent: str | None = None) -> None:
        self.engine = engine
        self.agent = agent or default_actor()
        self.customer_id: str | None = None
        self.lines: list[str] = []
        self.last: Answer | None = None
        self._profile: Any = None
        self._pinned: str | None = None
        self._state: dict[str, Any] = {"id": None, "status": "anonymous"}
        #: The caller named a customer erased here (their id is not kept, not even here).
        self._erased_caller = False
        self.call_id = self._new_call_id()
        #: This call's votes, by article: the last one counts, stored when the call ends.
        self.votes: dict[str, bool] = {}
        #: The customer a level label of this call was stored for (labels are stored at once).
        self._labelled_for: str | None = None
        if customer_id:
            self.set_customer(customer_id)

    @staticmethod
    def warm_up() -> None:
        """Do now what the first lines would otherwise pay for: compiling the redaction
        patterns a line's cues call on (about 35 ms, spread over the first calls' lines)."""
        compile_patterns()

    @staticmethod
    def _new_call_id() -> str:
        return f"call-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"

    def set_customer(self, customer_id: str) -> Event:
        customer_id = check_label(customer_id, ":customer")
        if self._labelled_for is not None and customer_id != self._labelled_for:
            # the label is stored under this call's id for the first customer: the call (one
            # ticket) must stay theirs, or the store holds the call under one customer and
            # its label under another
            raise InputError(f"this call already has a level label for customer "
                             f"{self._labelled_for}; to take a call for {customer_id}, start "
                             f"it with :new, then :customer {customer_id}")
        store = self.engine.store
        if store is not None and store.is_erased(customer_id):
            # Erased means nothing is kept about them: not this call, not their id.
            store.audit(self.agent, "session_lookup", customer_id=customer_id,
                        purpose="live call")
            self.customer_id, self._profile, self._pinned = None, None, None
            self._state = {"id": None, "status": "anonymous"}
            self._erased_caller = True
            text = (f"customer {customer_id} was erased here: this call is answered as an "
                    "anonymous caller's and is not kept")
            return self._update(text) if self.lines else Event("message", message=text)
        self.customer_id, self._erased_caller = customer_id, False
        self._state = self.engine.customer_state(customer_id)
        self._profile, self._pinned = self.engine.customer_history(customer_id, self._state)
        if self.engine.store is not None:
            self.engine.store.audit(self.agent, "session_lookup", customer_id=customer_id,
                                    purpose="live call")
        status = self._state["status"]
        text = {
            "known": f"customer {customer_id}: {self._state['history_tickets']} earlier tickets"
                     + (f", level pinned to {self._pinned}" if self._pinned else ""),
            "unknown": (f"customer {customer_id}: {self._state['why']}; treating as anonymous "
                        "(give --db FILE, or load tickets: expertise ingest EXPORT)"
                        if self._state.get("why") else
                        f"customer {customer_id} is not in the store; treating as anonymous"),
            "opted_out": f"customer {customer_id} opted out of personalisation",
        }.get(status, status)
        if self.lines:
            return self._update(text)
        return Event("message", message=text)

    def _update(self, message: str = "") -> Event:
        self.last = self.engine.answer_with(self.lines, profile=self._profile,
                                            pinned=self._pinned, state=self._state, top=3)
        return Event("answer", answer=self.last, message=message)

    def _end_call(self) -> str:
        """Keep the call as a ticket (redacted) so later calls have history, and its votes;
        then start the next call, whatever happened (a call that cannot be stored never runs
        into the next one). Returns what to tell the agent about keeping it ("" if nothing)."""
        store = self.engine.store
        try:
            if store is None:
                return ""
            for article_id, helpful in self.votes.items():
                store.add_feedback(ticket_id=self.call_id, customer_id=self.customer_id,
                                   article_id=article_id, helpful=helpful, agent=self.agent)
            if self.votes:
                self.engine.refresh_feedback()
            if not (self.lines and self.customer_id):
                return ""
            import pandas as pd

            opted_out = self._state.get("status") == "opted_out"
            counts = store.ingest_frame(pd.DataFrame([{
                "ticket_id": self.call_id, "customer_id": self.customer_id,
                "created_at": datetime.now().replace(microsecond=0).isoformat(),
                "channel": "phone", "subject": "", "body": " ".join(self.lines),
            }]), source="session")
            if counts.rejected:
                return (f"this call was not kept: the store refused it for customer "
                        f"{self.customer_id} (see `expertise audit`)")
            if (not opted_out and self.last is not None and self.last.level is not None
                    and self.last.confidence is not None):
                store.record_prediction(self.call_id, self.last.level, self.last.confidence)
            return ""
        finally:
            self.lines, self.last, self.votes, self._labelled_for = [], None, {}, None
            self.call_id = self._new_call_id()

    def handle(self, line: str) -> Event:
        line = line.strip()
        if not line:
            return Event("message", message="")
        if not (line[:1] == ":" and line[1:2].isascii() and line[1:2].isalpha()):
            # What the caller said, ":) thanks" and ": -(" too: a command is a colon and a
            # word. An extra colon types a line that starts with one (":: D" as ": D").
            if line.startswith("::"):
                line = line[1:]
            # Redact each line as typed: cues such as a sign-off ("Thanks, Sam") are only
            # recognised at the end of a line, not once the lines are joined.
            self.lines.append(redact(_storable(line)))
            return self._update()
        cmd, _, arg = line[1:].replace("\t", " ").partition(" ")
        arg = arg.strip()
        try:
            return self._command(cmd.lower(), arg)
        except ExpertiseError as exc:
            return Event("error", message=str(exc))

    def _command(self, cmd: str, arg: str) -> Event:
        if cmd in ("quit", "q", "exit"):
            return Event("quit", message="session ended", warning=self._end_call())
        if cmd == "help":
            return Event("help", message=HELP)
        if cmd == "new":
            try:
                kept = self._end_call()
            finally:
                self._state = {"id": None, "status": "anonymous"}
                self._profile, self._pinned, self.customer_id = None, None, None
                self._erased_caller = False
            return Event("message", message="new call: anonymous caller until :customer ID",
                         warning=kept)
        if cmd == "customer":
            if not arg:
                raise InputError(":customer needs an id, e.g. :customer C00042")
            return self.set_customer(arg)
        if cmd == "show":
            if self.last is None:
                raise InputError("nothing to show yet: type what the caller says first")
            if not arg and self.last.article is not None:  # the suggested article in full
                return Event("article", message=self.last.article.id,
                             data={"article": self.engine.kb.article(self.last.article.id)})
            if not arg.isdigit() or not 1 <= int(arg) <= len(self.last.alternatives):
                if self.last.article is None and not arg:
                    raise InputError("no article fits this call yet: ask what the problem is, "
                                     "or :show N for one of the nearest topics")
                n_alt = len(self.last.alternatives)
                which = (f"1 to {n_alt}" if n_alt > 1 else "1" if n_alt else
                         "nothing: there are no alternatives,")
                raise InputError(f":show takes {which} (or nothing, for the suggested "
                                 "article)" if n_alt else f":show takes {which} only the "
                                 "suggested article")
            alt = self.last.alternatives[int(arg) - 1]
            article = self.engine.kb.article(alt.id)
            return Event("article", message=alt.id, data={"article": article})
        if cmd in ("helpful", "not-helpful", "nothelpful"):
            return self._feedback(helpful=cmd == "helpful")
        if cmd == "level":
            arg = arg.lower()  # as the command's name: ":LEVEL Expert" is ":level expert"
            if arg == "clear":
                return self._pin(None)
            if arg not in LEVELS:
                shown = repr(arg) if len(arg) <= 30 else f"{arg[:30]!r}…"
                what = f"{shown} is not a level" if arg else "needs a level"
                raise InputError(f":level {what}: give one of {', '.join(LEVELS)}, or clear")
            return self._pin(arg)
        if cmd == "why":
            if not self.customer_id and self._erased_caller:
                return Event("message", message="this caller was erased here: nothing is held "
                                                "about them, and this call is not kept")
            if not self.customer_id:
                raise InputError(":why needs a customer: use :customer ID first")
            from expertise.rights.disclosure import disclose

            return Event("disclosure", data={"disclosure": disclose(
                self.engine, self.customer_id, actor=self.agent)})
        shown = cmd if len(cmd) <= 30 else f"{cmd[:30]}…"  # a paste can be 100 kB
        raise InputError(f"unknown command :{shown}; type :help (for what the caller said, "
                         f"type another colon before it: ::{shown})")

    def _pin(self, level: str | None) -> Event:
        """Pin the caller's level (strong evidence from now on, stored and shown to them by
        :why) and record it as a training label; `None` clears the pin."""
        store = self.engine.store
        if store is None:
            raise InputError(":level needs a store: start the session with --db PATH")
        if not self.customer_id or self._state.get("status") != "known":
            if level is None:
                raise InputError(":level clear needs a known customer: use :customer ID first")
            return self._feedback(helpful=None, level=level)  # a label for this call only
        store.pin_level(self.customer_id, level, actor=self.agent)
        was, self._pinned = self._pinned, level
        if level is None:
            message = (f"customer {self.customer_id}: pinned level cleared" if was
                       else f"customer {self.customer_id}: no level was pinned; nothing to "
                            "clear")
        else:
            if self.last is not None and self.last.article is not None:
                store.add_feedback(ticket_id=self.call_id, customer_id=self.customer_id,
                                   article_id=self.last.article.id, helpful=None,
                                   corrected_level=level, agent=self.agent)
                self._labelled_for = self.customer_id
            message = f"noted: caller is {level}; pinned for this customer (:level clear undoes)"
        return self._update(message) if self.lines else Event("message", message=message)

    def _feedback(self, *, helpful: bool | None, level: str | None = None) -> Event:
        if self.last is None or self.last.article is None:
            # say what is missing: what the caller said, or an article (none fitted)
            what = (f":level {level}" if level else
                    f":{'helpful' if helpful else 'not-helpful'}")
            if self.last is None:
                raise InputError(f"{what} needs what the caller said first, or a customer "
                                 "in the store (:customer ID)" if level else
                                 f"{what}: nothing suggested yet; type what the caller says "
                                 "first")
            raise InputError(f"{what}: no article was suggested for this call (no good "
                             "match); ask what the problem is" + (
                                 ", or pin a customer in the store: :customer ID"
                                 if level else ""))
        store = self.engine.store
        if store is None:
            raise InputError("feedback needs a store: start the session with --db PATH")
        article_id = self.last.article.id
        if level is None and helpful is not None:
            # One vote per article a call: a second one changes it (a slip of the key), and
            # holding a key down does not count two hundred times.
            before = self.votes.get(article_id)
            self.votes[article_id] = helpful
            word = "helpful" if helpful else "not helpful"
            if before is None:
                return Event("message", message=f"thanks: noted as {word}")
            if before == helpful:
                return Event("message", message=f"already noted as {word} for this call")
            return Event("message", message=f"changed: now noted as {word}")
        stored = store.add_feedback(ticket_id=self.call_id, customer_id=self.customer_id,
                                    article_id=article_id, helpful=helpful,
                                    corrected_level=level, agent=self.agent)
        if not stored:  # the store notes nothing about a caller who opted out
            return Event("message", message=f"caller's level not noted: customer "
                                            f"{self.customer_id} opted out of personalisation")
        if self.customer_id:
            self._labelled_for = self.customer_id
        self.engine.refresh_feedback()
        return Event("message", message=f"noted: caller is {level} (a training label)")
