"""Rich rendering for the CLI. Only the CLI imports this module.

Nothing read from a file, the store or an option reaches the terminal raw: control characters
(terminal escape sequences that clear the screen, set the title or move the cursor) and
bidirectional overrides (which reorder what is shown) are printed as visible symbols
(:func:`neutralise`), on every console of this module, and escaped in JSON.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderHook
from rich.panel import Panel
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from expertise.config import LEVELS
from expertise.knowledge_base import Article, KnowledgeBase
from expertise.markdown import ArticleMarkdown

#: C0 controls as their Unicode control pictures (ESC -> ␛), DEL -> ␡; C1 controls and the
#: bidirectional controls -> U+FFFD. Line breaks and tabs are kept (see ``one_line``).
_SHOWN: dict[int, str] = {
    **{c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)},
    0x7F: "\u2421",
    **dict.fromkeys(range(0x80, 0xA0), "\ufffd"),
    **dict.fromkeys((0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)),
                    "\ufffd"),
}
_ONE_LINE: dict[int, str] = {**_SHOWN, 0x09: "\u2409", 0x0A: "\u240a"}
#: What JSON leaves raw but a terminal may act on: DEL, C1 and bidirectional controls.
_JSON_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in _SHOWN if c >= 0x7F}


def neutralise(text: str, *, one_line: bool = False) -> str:
    """``text`` with control characters shown as symbols instead of acted on by the terminal;
    with ``one_line``, line breaks and tabs too (a value that must stay on its row)."""
    return text.translate(_ONE_LINE if one_line else _SHOWN)


class _Neutralised:
    """A renderable whose text segments are neutralised (rich's own control codes stay)."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Segment]:
        for segment in console.render(self.renderable, options):
            text = segment.text
            if segment.control or text.isascii() and text.isprintable():
                yield segment
            else:
                yield Segment(neutralise(text), segment.style, segment.control)


class _NeutraliseHook(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [_Neutralised(r) for r in renderables]


console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
for _console in (console, err_console):
    _console.push_render_hook(_NeutraliseHook())


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text.translate(_JSON_ESCAPES) + "\n")


def kb_list_data(base: KnowledgeBase) -> list[dict[str, Any]]:
    return [
        {
            "topic": t.slug,
            "category": t.category,
            "levels": [lv for lv in LEVELS if lv in t.articles],
            "titles": {lv: a.title for lv, a in t.articles.items()},
        }
        for t in base.topics.values()
    ]


def kb_list(base: KnowledgeBase) -> None:
    table = Table("topic", "category", "levels", "novice title",
                  title=f"Knowledge base: {len(base.topics)} topics, {len(base.articles)} articles")
    for t in base.topics.values():
        levels = " ".join(lv[0].upper() if lv in t.articles else "-" for lv in LEVELS)
        first = t.articles.get("novice") or next(iter(t.articles.values()))
        table.add_row(t.slug, t.category, levels, first.title)
    console.print(table)
    console.print("levels: N = novice, I = intermediate, E = expert; - = missing")


def article_data(article: Article) -> dict[str, Any]:
    names = ("id", "topic", "level", "title", "summary", "symptoms", "products", "updated", "body")
    data = {name: getattr(article, name) for name in names}
    return data | {"symptoms": list(article.symptoms), "products": list(article.products)}


def article(article: Article) -> None:
    console.print(
        Panel(
            ArticleMarkdown(article.body),
            title=f"[bold]{article.title}[/]  ({article.id})",
            subtitle=article.summary,
            expand=False,
        )
    )


def kb_stats(stats: dict[str, Any]) -> None:
    table = Table("level", "articles", "words per sentence", "technical share",
                  title="How the levels read")
    for lv, row in stats["levels"].items():
        table.add_row(lv, str(row["articles"]), f"{row['words_per_sentence']:.1f}",
                      f"{row['technical_share']:.1%}")
    console.print(table)
    console.print(f"technical share rises novice < intermediate < expert in "
                  f"{stats['topics_rising']} of {stats['topics_with_all_levels']} topics")


def kb_lint(base: KnowledgeBase) -> None:
    for problem in base.problems:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(str(problem), style=style, markup=False, soft_wrap=True)
    verdict = "FAILED" if base.errors else "OK"
    console.print(f"kb lint {verdict}: {_count(len(base.articles), 'article')} in "
                  f"{_count(len(base.topics), 'topic')}, {_count(len(base.errors), 'error')}, "
                  f"{_count(len(base.warnings), 'warning')}")


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _bar(value: float, width: int = 20) -> str:
    filled = int(round(value * width))
    return "█" * filled + "░" * (width - filled)


LEVEL_STYLE = {"novice": "green", "intermediate": "yellow", "expert": "magenta"}


def answer(ans: Any, *, show_body: bool = True) -> None:
    """The agent's panel: level, confidence bar and reasons; the article; the alternatives."""
    head = Text()
    if ans.level is not None:
        head.append("Caller level: ", style="bold")
        head.append(ans.level.upper(), style=f"bold {LEVEL_STYLE[ans.level]}")
        head.append(f"   confidence {_bar(ans.confidence)} {ans.confidence:.0%}\n")
        probs = "  ".join(f"{lv} {p:.0%}" for lv, p in ans.probabilities.items())
        head.append(f"  {probs}\n", style="dim")
    else:
        head.append("Caller level: not estimated\n", style="bold")
    for reason in ans.reasons:
        head.append(f"  • {reason}\n")
    for note in ans.notes:
        head.append(f"  ! {note}\n", style="bold red")
    who = ans.customer
    if who.get("id"):
        head.append(f"  customer {who['id']}: {who['status']}, "
                    f"{who.get('history_tickets', 0)} earlier tickets used\n", style="dim")
    console.print(Panel(head, title="expertise", subtitle=f"model {ans.model_version}",
                        expand=True))
    art = ans.article
    if art is None:  # no topic fits: candidates and a question, not an article
        ask = Text("No article fits this message. Ask the caller what the problem is and "
                   "with which device or service; the nearest topics are below.")
        console.print(Panel(ask, title="[bold]No good match[/]", expand=True))
    else:
        parts: list[Any] = [Text(art.summary, style="italic"), Text("")]
        if show_body:
            parts.append(ArticleMarkdown(ans.body))
        console.print(Panel(Group(*parts), title=f"[bold]{art.title}[/]  {art.id}  "
                            f"(written for {art.level})", expand=True))
    if ans.alternatives:
        title = ("Nearest topics" if art is None else "Alternatives") + " (`:show N` in a session)"
        table = Table("#", "article", "why", "title", title=title, show_edge=False)
        for k, alt in enumerate(ans.alternatives, 1):
            table.add_row(str(k), alt.id, alt.why, alt.title)
        console.print(table)


def evaluation(report: dict[str, Any]) -> None:
    """Rich tables of an evaluation report, and its drift check if it has one."""
    for name, res in report.get("sets", {}).items():
        lvl = res.get("level") or {}
        left_out(res.get("left_out"))
        if res.get("open"):
            _open_figures(name, res["open"])
        if not lvl:
            continue
        t = Table("model", title=f"{name}: {res['n']} tickets")
        for col in ("accuracy", "macro-F1", "ordinal MAE", "severe miss", "ECE"):
            t.add_column(col, justify="right")
        for label, m in [("expertise", lvl), *(res.get("baselines") or {}).items()]:
            t.add_row(label, f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                      f"{m['ordinal_mae']:.3f}", f"{m['severe_miss_rate']:.1%}", f"{m['ece']:.3f}")
        console.print(t)
        per = Table("level", "precision", "recall", "support", "confusion (pred N / I / E)",
                    title="per level", show_edge=False)
        for k, lv in enumerate(LEVELS):
            m = lvl["per_level"][lv]
            per.add_row(lv, f"{m['precision']:.3f}", f"{m['recall']:.3f}", str(m["support"]),
                        " / ".join(str(v) for v in lvl["confusion"][k]))
        console.print(per)
        cov = Table(title="trust only confident predictions", show_edge=False)
        for col in ("threshold", "coverage", "accuracy"):
            cov.add_column(col, justify="right")
        for row in lvl["coverage"]:
            cov.add_row(f"{row['threshold']:.1f}", f"{row['coverage']:.1%}",
                        f"{row['accuracy']:.3f}")
        console.print(cov)
        if "topic" in res:
            topic = res["topic"]
            console.print(f"  topic top-1 {topic['top1']:.3f}, top-3 {topic['top3']:.3f}")
            by_level = res.get("topic_by_level") or {}
            if by_level:
                console.print("  topic top-1 by caller level: " + ", ".join(
                    f"{lv} {m['top1']:.3f}" for lv, m in by_level.items() if m["n"]))
        if "serving" in res:
            s = res["serving"]
            console.print(f"  served level = labelled level {s['served_level_match']:.3f}, "
                          f"novice served expert {s['novice_served_expert']:.1%}")
        _history_table(res)
        console.print()
    if "drift" in report:
        console.print(f"drift: {report['drift']['recommendation']}")


def training_exclusions(facts: dict[str, Any]) -> None:
    """On stderr, the customers left out of training (opted out or erased), if any were."""
    tickets = int(facts.get("excluded_tickets") or 0)
    if tickets:
        customers = int(facts.get("excluded_customers") or 0)
        _say(f"left out {_count(tickets, 'ticket', 'tickets')} of "
             f"{_count(customers, 'customer', 'customers')} who opted out or were erased",
             err=True)


def left_out(info: dict[str, Any] | None) -> None:
    """On stderr, the rows of a labelled file left out and why, if any were (their ticket ids
    come redacted: `LabelledFile.left_out`)."""
    from expertise.tickets.labelled import describe_left_out

    line = describe_left_out(info or {})
    if line:
        _say(line, err=True)


def _open_figures(name: str, o: dict[str, Any]) -> None:
    """The figures of a real-world file: scope, clear and unclear messages."""
    t = Table("figure", title=f"{name}: {o['messages']} messages ({o['in_scope']} a topic "
              f"covers, {o['out_of_scope']} none does; {o['clear']} of a clear level, "
              f"{o['unclear']} too thin to judge)", show_edge=False)
    t.add_column("value", justify="right")
    rows = [("out of scope flagged \"no good match\"", _pct(o.get("out_of_scope_flagged"))),
            ("in scope wrongly flagged", _pct(o.get("in_scope_flagged")))]
    if o.get("clear"):
        rows += [("level accuracy on clear messages", _pct(o.get("level_accuracy"))),
                 (f"always answering {o['majority_level']}", _pct(o.get("majority_baseline"))),
                 ("confidently wrong (>= 0.8)", _pct(o.get("confidently_wrong")))]
        if "ece" in o:
            rows.append(("calibration error (ECE)", f"{o['ece']:.3f}"))
    if o.get("unclear"):
        rows.append(("too thin to judge, answered at >= 0.8",
                     _pct(o.get("unclear_answered_confidently"))))
    for label, value in rows:
        t.add_row(label, value)
    console.print(t)


def _history_table(res: dict[str, Any]) -> None:
    """Customers with earlier tickets judged on their current ticket (and the swap test)."""
    groups = [(k, v) for k, v in (res.get("history") or {}).items() if isinstance(v, dict)]
    for name, key in (("swap test", "swap"), ("tickets at their level", "agreeing")):
        if (res.get(key) or {}).get("n"):
            groups.append((name, res[key]))
    if not groups:
        return
    t = Table(title="customers with earlier tickets, on their current ticket", show_edge=False)
    for col in ("customers", "n", "with history", "message alone", "wrong at >= 0.9", "ECE"):
        t.add_column(col, justify="left" if col == "customers" else "right")
    for name, m in groups:
        t.add_row(name, str(m["n"]), f"{m['accuracy']:.3f}",
                  f"{m['accuracy_without_history']:.3f}", str(m["wrong_at_0_9"]),
                  f"{m['ece']:.3f}")
    console.print(t)


def session_event(event: Any) -> None:
    """Render one session event (answer, article, message, help, disclosure, error).

    An error, a warning or a message is one line, however long (``soft_wrap``: a terminal
    wraps it for the eye), so that a script reading a piped session's output finds each one
    whole, as it finds a command's own error."""
    if event.warning:
        err_console.print(f"Warning: {event.warning}", style="yellow", markup=False,
                          soft_wrap=True)
    if event.kind == "answer" and event.answer is not None:
        if event.message:
            console.print(event.message, style="dim", markup=False, soft_wrap=True)
        answer(event.answer, show_body=False)
    elif event.kind == "article":
        article(event.data["article"])
    elif event.kind == "disclosure":
        disclosure(event.data["disclosure"])
    elif event.kind == "error":
        err_console.print(f"Error: {event.message}", style="red", markup=False, soft_wrap=True)
    elif event.message:
        console.print(event.message, markup=False, highlight=False, soft_wrap=True)


def disclosure(disc: Any) -> None:
    """The customer statement, ready to read aloud or send, and the facts behind it."""
    body = Text(disc.statement)
    if disc.erased:
        facts = f"erased here on {disc.erased}; nothing held"
    elif disc.opted_out:
        facts = f"opted out; {disc.tickets_held} tickets held, none used"
    elif disc.pinned:
        facts = (f"{disc.tickets_used} of {disc.tickets_held} tickets used; level pinned to "
                 f"{disc.pinned} by an agent")
    elif disc.level is not None and disc.confidence is not None:
        facts = (f"{disc.tickets_used} of {disc.tickets_held} tickets used; starts from "
                 f"{disc.level} ({disc.confidence:.0%})")
    elif disc.tickets_held:
        facts = f"{disc.tickets_used} of {disc.tickets_held} tickets used; no level yet"
    else:
        facts = "no tickets held; no level yet"
    if disc.audit_entries:
        facts += f"; {_count(disc.audit_entries, 'earlier audit entry', 'earlier audit entries')}"
    title = Text("What we use about this customer, and why", style="bold")
    console.print(Panel(body, title=title, subtitle=Text(facts), expand=False, width=88))
    console.print(Text(f"customer {disc.customer_id}; read aloud or send as it is", style="dim"))
    if disc.models_trained_on:
        _say("model versions trained on this customer: " + ", ".join(disc.models_trained_on),
             "dim")


def ingest_data(report: Any, db: Any) -> dict[str, Any]:
    return {
        "input": str(report.path), "format": report.format, "db": str(db),
        "rows_read": report.rows_read, "added": report.added, "updated": report.updated,
        "unchanged": report.unchanged, "rejected": report.rejected,
        "reject_reasons": report.reject_reasons, "personal_ids": report.personal_ids,
        "rejects_path": str(report.rejects_path) if report.rejects_path else None,
        "encoding": report.encoding, "invalid_byte_rows": report.invalid_byte_rows,
        "seconds": round(report.seconds, 3),
    }


def _say(text: str, style: str = "", *, err: bool = False) -> None:
    """``text`` as it is (no markup), a paragraph the terminal wraps."""
    (err_console if err else console).print(Text(text, style=style), soft_wrap=True)


def ingest(report: Any, db: Any) -> None:
    _say(f"{report.path.name} ({report.format}): {report.rows_read} rows read; "
         f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
         f"{report.rejected} rejected; store {db}")
    if not report.added and not report.updated:
        console.print("nothing added: every accepted row was already in the store"
                      if report.unchanged else "nothing added", markup=False)
    if report.rejects_path:
        reasons = "; ".join(f"{n} {r}" for r, n in sorted(report.reject_reasons.items(),
                                                          key=lambda kv: -kv[1]))
        _say(f"rejected rows listed in {report.rejects_path} ({reasons})", err=True)
    if report.invalid_byte_rows:
        _replaced_bytes(report)
    if report.personal_ids:
        _say(f"{_count(report.personal_ids, 'ticket')} stored under a customer id that holds "
             "personal data (an e-mail address or phone number): ids are look-up keys and are "
             "kept as written; map an opaque id instead (--map customer_id=COLUMN)", err=True)


#: The 8-bit encodings exports come in (what Excel and older systems save), suggested when a
#: file's bytes could not be decoded.
_EIGHT_BIT = ("cp1252", "latin-1")


def _replaced_bytes(report: Any) -> None:
    """The rows in which bytes the encoding in use (``report.encoding``) could not decode were
    replaced, and the encodings to name instead (not the one that was used)."""
    used = report.encoding or "UTF-8"
    try:
        same = codecs.lookup(used).name
    except LookupError:  # Dask's files in several detected encodings: "utf-8, utf-16"
        same = used
    others = [name for name in _EIGHT_BIT if codecs.lookup(name).name != same]
    fix = (f" (if the file is in another encoding, name it: --encoding {' or '.join(others)})"
           if others else "")
    _say(f"{_count(report.invalid_byte_rows, 'row')} had bytes that are not {used}; they were "
         f"replaced with \ufffd{fix}", err=True)


def feedback(data: dict[str, Any]) -> None:
    verdict = "helped" if data["helpful"] else "did not help"
    line = f"feedback {data['id']} recorded: {data['article_id']} {verdict}"
    if data["corrected_level"]:
        line += f"; caller's level noted as {data['corrected_level']} (a training label)"
    if data.get("pinned_for"):
        line += (f"; pinned for customer {data['pinned_for']} (`expertise pin --customer "
                 f"{data['pinned_for']} --clear` undoes)")
    if data.get("level_not_noted_for"):
        line += (f"; caller's level not noted: customer {data['level_not_noted_for']} opted "
                 "out of personalisation")
    _say(line)
    if not data["ticket_in_store"]:
        _say(f"note: ticket {data['ticket_id']} is not in the store; the feedback is kept "
             "without a customer", "yellow", err=True)


def pin(data: dict[str, Any]) -> None:
    now, before = data["pinned_level"], data["previous"]
    text = (f"customer {data['customer_id']}: level pinned to {now}" if now else
            f"customer {data['customer_id']}: pinned level cleared")
    _say(text + f" (was {before or 'not pinned'})")


def consent(change: Any) -> None:
    who = f"customer {change.customer_id}"
    if change.consent == "opted_out":
        text = (f"{who} opted out of personalisation: answers are neutral, their history is "
                "not used and their tickets are left out of training")
    else:
        text = f"{who} opted in: answers use their earlier tickets again"
    if change.previous is None:
        text += " (new to the store)"
    elif not change.changed:
        text += " (no change)"
    _say(text)


def erasure(report: Any) -> None:
    if report.customer_deleted:
        _say(f"erased: {_count(report.tickets_deleted, 'ticket')}, "
             f"{_count(report.feedback_deleted, 'feedback entry', 'feedback entries')} and "
             f"the customer record; their id was removed from "
             f"{_count(report.audit_rows_anonymised, 'audit row')}. The audit log keeps only "
             "that an erasure happened.")
    else:
        held = (f"their id was removed from {_count(report.audit_rows_anonymised, 'audit row')}"
                if report.audit_rows_anonymised else "the store held nothing about them")
        _say(f"erased: {held}. The erasure is recorded, so later ingests and retraining from "
             "any export leave this customer out. The audit log keeps only that an erasure "
             "happened.")
    models = report.models
    if models.trained_on:
        _say("model versions trained on this customer: " + ", ".join(models.trained_on)
             + ". Retrain (`make retrain`) to replace them: erased customers are left out.",
             "bold")
    elif models.unverifiable:
        console.print("no model version that can be checked here was trained on this customer",
                      markup=False)
    else:
        console.print("no model version on this install was trained on this customer",
                      markup=False)
    if models.unverifiable:
        why = ("its fingerprint key cannot be read" if models.note else
               "fingerprinted with another models folder's key, or before fingerprints existed")
        _say(f"cannot tell for these versions ({why}): " + ", ".join(models.unverifiable), "dim")
    if models.note:
        _say(f"note: {models.note}", "yellow", err=True)
    _say(report.outside_store, "bold")


def audit(rows: list[Any]) -> None:
    if not rows:
        console.print("no audit entries match", markup=False)
        return
    table = Table(title=f"Audit log: {_count(len(rows), 'entry', 'entries')} (times in UTC)",
                  show_edge=False)
    for col in ("time", "actor", "action"):
        table.add_column(col, no_wrap=True)
    for col in ("customer", "purpose", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(Text(neutralise(v or "", one_line=True))
                        for v in (r.at, r.actor, r.action, r.customer_id, r.purpose, r.detail)))
    console.print(table)


# ---- model lifecycle ---------------------------------------------------------------------------

def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def models_table(rows: list[dict[str, Any]]) -> None:
    """`expertise models list`: one row per bundle, oldest first, the current one marked,
    with its status (ok, or damaged: why) and the retrain gate's verdict."""
    if not rows:
        console.print("no model bundles; build one with `make train`", markup=False)
        return
    table = _models_table(rows, narrow=False)
    # Too wide for the terminal (80 columns, a pipe), rich would squeeze the gate and status
    # columns out and cut the figures: the table keeps the figures (the creation time wraps,
    # a figure that still does not fit folds, never cut), and each bundle's status, when not
    # ok, and gate verdict go below it, whole.
    below = console.measure(table, options=console.options.update_width(1 << 16)).maximum \
        > console.width
    if below:
        table = _models_table(rows, narrow=True)
    console.print("Model bundles (* = current); per set: accuracy/severe misses", markup=False)
    console.print(table)
    for r in rows if below else []:
        if r["status"] != "ok":
            console.print(Text(f"{r['version']}: {r['status']}", style="red"))
        if r["decision"]:
            console.print(Text(f"{r['version']} gate: {r['decision']}"))


def _models_table(rows: list[dict[str, Any]], *, narrow: bool) -> Table:
    sets = sorted({name for r in rows for name in r["metrics"]})
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    table.add_column("version", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=not narrow, overflow="fold")
    table.add_column("tickets", justify="right", no_wrap=True)
    for name in sets:
        table.add_column(name, justify="right", no_wrap=not narrow, overflow="fold")
    gated = not narrow and any(r["decision"] for r in rows)
    if gated:
        table.add_column("gate")
    if not narrow:
        table.add_column("status")
    for r in rows:
        tickets = r["train_tickets"]
        # Text, not markup: a folder named "[red]v4" is listed by its name
        cells: list[Any] = [Text(("* " if r["current"] else "  ") + r["version"]),
                            str(r["created"])[:16].replace("T", " "),
                            "-" if tickets is None else str(tickets)]
        for name in sets:
            m = r["metrics"].get(name) or {}
            acc = m.get("accuracy")
            cells.append(("-" if acc is None else f"{acc:.3f}") + "/"
                         + _pct(m.get("severe_miss_rate")))
        if gated:
            cells.append(Text(r["decision"] or ""))
        if not narrow:
            cells.append(Text(r["status"], style="" if r["status"] == "ok" else "red"))
        table.add_row(*cells, style="bold" if r["current"] else None)
    return table


def model_action(result: Any) -> None:
    """`models promote` / `models rollback`."""
    for note in result.notes:
        err_console.print(note, markup=False)
    if not result.changed:
        return
    verb = "promoted" if result.action == "promote" else "rolled back to"
    console.print(f"{verb} {result.version} (was {result.previous or 'none'}); "
                  "it is now current", markup=False)


def prune(result: Any) -> None:
    removed = ", ".join(result.removed) or "nothing"
    verb = "would remove" if result.dry_run else "removed"
    console.print(f"{verb}: {removed}; kept: {', '.join(result.kept) or 'nothing'}",
                  markup=False)
    for note in result.notes:
        err_console.print(note, markup=False)


def retrain(report: Any) -> None:
    """`expertise retrain`: the inbox, the training data, the comparison and the decision."""
    console.print(f"inbox: {len(report.inbox)} export(s)" if report.inbox else "inbox: empty",
                  markup=False)
    for f in report.inbox:
        name = Path(f.path).name
        if f.kind == "feedback":
            what = (f"{f.rows} rows, {f.added} added ({f.helpful} helpful, {f.not_helpful} "
                    f"not helpful, {f.corrections} level corrections), {f.unchanged} already "
                    f"stored, {f.rejected} rejected")
        else:
            what = (f"{f.rows} rows, {f.added} added, {f.updated} updated, {f.unchanged} "
                    f"unchanged, {f.rejected} rejected")
        if report.decision == "dry run" and f.kind == "feedback":
            what = (f"{f.rows} rows, {f.added} would be added ({f.helpful} helpful, "
                    f"{f.not_helpful} not helpful, {f.corrections} level corrections), "
                    f"{f.unchanged} already stored, {f.rejected} would be rejected")
        elif report.decision == "dry run":
            what = (f"{f.rows} rows, {f.labelled} labelled, {f.rejected} would be rejected, "
                    f"{f.excluded} of opted-out or erased customers")
        where = f" -> {f.moved_to}" if f.moved_to else ""
        rejects = f" (rejects: {f.rejects_path})" if f.rejects_path else ""
        console.print(Text(f"  {f.kind:8} {name}: {what}{where}{rejects}"))
    for info in report.left_out:
        left_out(info)
    c = report.training
    console.print(Text(
        f"training data: {c.get('total', 0)} tickets from {c.get('customers', 0)} customers "
        f"({c.get('base', 0)} from the training exports, {c.get('store', 0)} labelled in the "
        f"store, {c.get('corrected', 0)} labels corrected by agents; left out: "
        f"{c.get('excluded', 0)} of opted-out or erased customers, "
        f"{c.get('evaluation_overlap', 0)} in the evaluation sets)"))
    if report.checks:
        console.print(Text(f"current model {report.current} against candidate "
                           f"{report.candidate}, on the same evaluation sets:"))
        table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
        for col in ("set", "metric", "current", "candidate", "change", "rule", "result"):
            table.add_column(col, no_wrap=True, justify="right" if col in (
                "current", "candidate", "change") else "left")
        for chk in report.checks:
            acc = chk.metric == "accuracy"
            fmt = (lambda v: "-" if v is None else f"{v:.3f}") if acc else _pct
            change = ("-" if chk.current is None or chk.candidate is None else
                      f"{(chk.candidate - chk.current) * 100:+.1f} pt")
            rule = chk.rule.replace(" point", " pt")
            table.add_row(chk.set, "accuracy" if acc else "severe misses", fmt(chk.current),
                          fmt(chk.candidate), change, rule,
                          Text("ok", style="green") if chk.passed else Text("FAIL", style="red"))
        console.print(table)
    elif report.candidate_metrics:
        for name, m in report.candidate_metrics.items():
            console.print(f"  {name}: accuracy {m.get('accuracy')}, severe misses "
                          f"{_pct(m.get('severe_miss_rate'))}", markup=False)
    style = {"promoted": "bold green", "refused": "bold red"}.get(report.decision, "bold")
    head = report.decision.upper()
    if report.decision == "promoted":
        head += f": {report.candidate} is now current (was {report.current or 'none'})"
    elif report.decision == "refused":
        head += f": {report.current} stays current; candidate {report.candidate} kept, not current"
    console.print(Text(head, style=style))
    for reason in report.reasons:
        console.print(Text(f"  {reason}"))
    if report.comparison_path:
        console.print(Text(f"comparison saved to {report.comparison_path}", style="dim"))


@contextlib.contextmanager
def score_progress(
    enabled: bool | None = None,
) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress callback for `expertise score`, or None.

    A rich bar on stderr (rows done, rows per second, time left) when stderr is a terminal.
    """
    if not (err_console.is_terminal if enabled is None else enabled):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} rows/s"), TextColumn("time left"),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("score", total=None, rate="-")
        started = time.perf_counter()

        def update(done: int, expected: int | None) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            total = max(expected, done) if expected else None
            progress.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        yield update


def score_summary(report: Any) -> None:
    """One line: rows scored and rejected, the level mix, topics without a match, time."""
    scored = report.rows_scored
    mix = ", ".join(f"{level} {n / scored:.0%}" for level, n in report.levels.items()
                    if n or level in LEVELS) if scored else "-"
    rejected = f"{report.rows_rejected:,} rejected" + (
        f" ({report.rejects_path})" if report.rejects_path else "")
    line = (f"scored {scored:,} rows, {rejected}; levels: {mix}; "
            f"{report.no_match:,} without a good topic match; "
            f"{report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s) -> {report.output}")
    _say(line)
    if report.renamed:
        renamed = ", ".join(f"{old} -> {new}" for old, new in report.renamed.items())
        _say(f"input columns renamed to keep them: {renamed}", err=True)
    if report.invalid_byte_rows:
        _replaced_bytes(report)
