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
