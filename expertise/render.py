"""Rich rendering for the CLI. Only the CLI imports this module."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from expertise.config import LEVELS
from expertise.knowledge_base import Article, KnowledgeBase

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


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
    table = Table(title=f"Knowledge base: {len(base.topics)} topics, {len(base.articles)} articles")
    table.add_column("topic")
    table.add_column("category")
    table.add_column("levels")
    table.add_column("novice title")
    for t in base.topics.values():
        levels = " ".join(lv[0].upper() if lv in t.articles else "-" for lv in LEVELS)
        first = t.articles.get("novice") or next(iter(t.articles.values()))
        table.add_row(t.slug, t.category, levels, first.title)
    console.print(table)
    console.print("levels: N = novice, I = intermediate, E = expert; - = missing")


def article_data(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "topic": article.topic,
        "level": article.level,
        "title": article.title,
        "summary": article.summary,
        "symptoms": list(article.symptoms),
        "products": list(article.products),
        "updated": article.updated,
        "body": article.body,
    }


def article(article: Article) -> None:
    console.print(
        Panel(
            Markdown(article.body),
            title=f"[bold]{article.title}[/]  ({article.id})",
            subtitle=article.summary,
            expand=False,
        )
    )


def kb_lint(base: KnowledgeBase) -> None:
    for problem in base.problems:
        style = "red" if problem.severity == "error" else "yellow"
        err_console.print(str(problem), style=style, markup=False, soft_wrap=True)
    n_err, n_warn = len(base.errors), len(base.warnings)
    verdict = "FAILED" if n_err else "OK"
    console.print(
        f"kb lint {verdict}: {len(base.articles)} articles in {len(base.topics)} topics, "
        f"{n_err} errors, {n_warn} warnings"
    )


def _bar(value: float, width: int = 20) -> str:
    filled = int(round(value * width))
    return "█" * filled + "░" * (width - filled)


LEVEL_STYLE = {"novice": "green", "intermediate": "yellow", "expert": "magenta"}


def answer(ans: Any, *, show_body: bool = True) -> None:
    """The agent's panel: level, confidence bar and reasons; the article; the alternatives."""
    from rich.console import Group
    from rich.text import Text

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
    parts: list[Any] = [Text(art.summary, style="italic"), Text("")]
    if show_body:
        parts.append(Markdown(ans.body))
    console.print(Panel(Group(*parts), title=f"[bold]{art.title}[/]  {art.id}  "
                        f"(written for {art.level})", expand=True))
    if ans.alternatives:
        table = Table(title="Alternatives (`:show N` in a session)", show_edge=False)
        table.add_column("#")
        table.add_column("article")
        table.add_column("why")
        table.add_column("title")
        for k, alt in enumerate(ans.alternatives, 1):
            table.add_row(str(k), alt.id, alt.why, alt.title)
        console.print(table)


def evaluation(report: dict[str, Any]) -> None:
    """Rich tables of an evaluation report."""
    for name, res in report.get("sets", {}).items():
        lvl = res.get("level") or {}
        if not lvl:
            continue
        t = Table(title=f"{name}: {res['n']} tickets")
        t.add_column("model")
        for col in ("accuracy", "macro-F1", "ordinal MAE", "severe miss", "ECE"):
            t.add_column(col, justify="right")
        rows = [("expertise", lvl)] + [(k, v) for k, v in (res.get("baselines") or {}).items()]
        for label, m in rows:
            t.add_row(label, f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                      f"{m['ordinal_mae']:.3f}", f"{m['severe_miss_rate']:.1%}", f"{m['ece']:.3f}")
        console.print(t)
        per = Table(title="per level", show_edge=False)
        for col in ("level", "precision", "recall", "support", "confusion (pred N / I / E)"):
            per.add_column(col)
        for k, lv in enumerate(LEVELS):
            m = lvl["per_level"][lv]
            per.add_row(lv, f"{m['precision']:.3f}", f"{m['recall']:.3f}", str(m["support"]),
                        " / ".join(str(v) for v in lvl["confusion"][k]))
        console.print(per)
        cov = Table(title="trust only confident predictions", show_edge=False)
        for col in ("threshold", "coverage", "accuracy"):
            cov.add_column(col, justify="right")
        for row in lvl["coverage"]:
            cov.add_row(f"{row['threshold']:.1f}", f"{row['coverage']:.1%}", f"{row['accuracy']:.3f}")
        console.print(cov)
        extra = []
        if "topic" in res:
            extra.append(f"topic top-1 {res['topic']['top1']:.3f}, top-3 {res['topic']['top3']:.3f}")
        if "serving" in res:
            s = res["serving"]
            extra.append(f"served level = labelled level {s['served_level_match']:.3f}, "
                         f"novice served expert {s['novice_served_expert']:.1%}")
        terse = res.get("terse") or {}
        if terse.get("n"):
            extra.append(f"terse tickets with earlier tickets (n={terse['n']}): accuracy "
                         f"{terse['with_history']:.3f} with history, "
                         f"{terse['without_history']:.3f} without")
        for line in extra:
            console.print(f"  {line}")
        console.print()
