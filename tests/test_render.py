"""Tests for expertise.markdown: articles' markdown on the terminal, byte for byte as
rich.markdown shows it, whichever way it is read."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markdown import Markdown

from expertise.config import PROJECT_DIR
from expertise.knowledge_base import Article, parse_article
from expertise.markdown import ArticleMarkdown

KB = PROJECT_DIR / "knowledge_base"
ARTICLES = sorted(KB.glob("*/*.md"))


def _article(path: Path) -> Article:
    article, _ = parse_article(path, root=KB)
    assert article is not None, path
    return article


def _shown(renderable: object, width: int, color: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=color,
                      color_system="truecolor" if color else None, highlight=False)
    console.print(renderable)
    return re.sub(r"\x1b]8;id=[0-9]+;", "\x1b]8;id=;", out.getvalue())  # links' ids are random


def _assert_shown_alike(body: str, widths: tuple[int, ...] = (24, 80)) -> None:
    for width in widths:
        for color in (False, True):
            assert (_shown(ArticleMarkdown(body), width, color)
                    == _shown(Markdown(body), width, color)), (width, color, body)


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_bundled_article_is_shown_as_rich_markdown_shows_it(path: Path) -> None:
    _assert_shown_alike(_article(path).body)


def test_the_bundled_articles_are_read_without_rich_markdown() -> None:
    """Importing and running rich.markdown costs a one-shot answer about 40 ms: the bundled
    articles keep to what it reads itself (tables and code blocks are the exceptions)."""
    slow = [p for p in ARTICLES if ArticleMarkdown(_article(p).body).blocks is None]
    assert len(slow) <= len(ARTICLES) // 10, slow


@pytest.mark.parametrize("body", [
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "```\ncode\n```",
    "> quoted",
    "para\n---\nmore",
    "Title\n===",
    "* * *",
    "see [the guide](https://example.com) or <https://example.com>",
    "a \\*literal\\* star, a line\\\nbreak",
    "tom &amp; jerry &#169; &copy",
    "<b>bold</b> and <!-- note -->",
    "***strong em*** and **strong *em* inside**",
    "__under__ and _em_ and snake_case_name",
    "~~struck~~ and ~tilde~",
    "1. one\n2. two\n\n   more of two\n\n10. ten",
    "- a\nlazy line\n- b\n  - nested\n    deeper",
    "2. starts at two\n3. three",
    "para\n2. not a list\n1. a list",
    "-\n\n  empty item",
    "-     code in item",
    "    indented code",
    "# Heading #",
    "#",
    "line with trailing spaces  \nnext",
    "tab\there",
    "`code with  two  spaces` and `` a ` b `` and ` x ` and `unclosed",
    "**a**b**c** and **.**a and a**b**",
    "text\n# heading\n- item\n\n> quote",
    "- one\n+ two\n* three",
    "1) one\n2. two",
])
def test_markdown_outside_the_articles_subset_is_shown_alike(body: str) -> None:
    _assert_shown_alike(body, widths=(12, 60))


_PLAIN = st.sampled_from(["Hub", "light", "a", "x1", "é", "(note)", "Wi-Fi", "5", "a.b", "—",
                          "’s", "!", ":", "-", "1."])
_ODD = st.sampled_from(["snake_case", "2*3", "*", "_", "<", "> x", "&", "#", "|", "~", "[x]",
                        "\u00a0", "**", "`"])
_WORD = st.one_of(_PLAIN, _PLAIN, _PLAIN, _PLAIN.map(lambda w: f"**{w}**"),
                  _PLAIN.map(lambda w: f"*{w}*"), _PLAIN.map(lambda w: f"`{w}`"), _ODD,
                  _ODD.map(lambda w: f"**{w}**"), _ODD.map(lambda w: f"`{w}`"))
_INLINE = st.lists(st.tuples(_WORD, st.sampled_from([" ", " ", "", "\n", ", ", ". "])),
                   min_size=1, max_size=10).map(lambda ws: "".join(a + b for a, b in ws).strip())


def _list(ordered: bool, start: int, gap: int, loose: bool,
          items: list[tuple[str, str | None, bool]]) -> str:
    out = []
    for k, (text, child, lazy) in enumerate(items):
        marker = f"{start + k}." if ordered else "-"
        lines = (text + ("\n" + child if child else "")).split("\n")
        indent = " " * (len(marker) + gap)
        out.append("\n".join([marker + " " * gap + lines[0]]
                             + [line if lazy or not line else indent + line
                                for line in lines[1:]]))
    return ("\n\n" if loose else "\n").join(out)


_BLOCK = st.recursive(
    st.one_of(_INLINE, st.tuples(st.integers(1, 3), _INLINE).map(
        lambda h: "#" * h[0] + " " + h[1].replace("\n", " "))),
    lambda children: st.builds(
        _list, st.booleans(), st.sampled_from([1, 1, 2, 10]), st.sampled_from([1, 1, 2]),
        st.booleans(),
        st.lists(st.tuples(_INLINE, st.none() | children, st.sampled_from([False, False, True])),
                 min_size=1, max_size=3)),
    max_leaves=6)


@given(st.lists(st.tuples(_BLOCK, st.sampled_from(["\n", "\n\n"])), min_size=1, max_size=4))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_markdown_is_shown_as_rich_markdown_shows_it(blocks: list[tuple[str, str]]) -> None:
    body = "\n".join(line.rstrip() for line in "".join(b + s for b, s in blocks).split("\n"))
    _assert_shown_alike(body, widths=(14, 50))
