"""Articles' Markdown on the terminal, as rich.markdown shows it, without importing it.

Importing rich.markdown (markdown-it, pygments) and parsing with it cost about 40 ms, a tenth of a
one-shot answer. Articles use a small part of Markdown: ATX headings, paragraphs, lists ("-", "1.")
nested by indentation, with lazy continuation lines, **strong**, *em* and `code`. That part is read
here, and built into what rich.markdown builds from it (the same Text spans and styles, bullets,
numbers and blank lines), so the terminal gets the same bytes. Anything outside it, or that could
be (a table, a fence, a quote, a rule, HTML, a link, an escape, an entity, a tab, nested
emphasis...), is left to rich.markdown. tests/test_render.py renders every bundled article and
generated ones both ways and compares the output.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style


class _Unsupported(Exception):
    """Markdown that :class:`ArticleMarkdown` leaves to rich.markdown."""


#: A list item's marker: bullet or number, 1-4 spaces, then its text (more spaces would start
#: an indented code block, and no text an empty item: both left to rich.markdown).
_ITEM = re.compile(r"( *)([-+*]|([0-9]{1,9})[.)])( {1,4})(?=[^ ])")
_MARKER = re.compile(r" {0,3}(?:[-+*]|[0-9]{1,9}[.)])(?: |$)")
_HEADING = re.compile(r" {0,3}(#{1,6})(?: +(.*))?$")
#: Lines that start blocks other than those read here (quote, fence, HTML, table row, link
#: reference, thematic break or setext underline).
_OTHER_BLOCK = re.compile(
    r" {0,3}(?:>|```|~~~|<[A-Za-z/!?]|\[|([-*_=])[ ]*(?:\1[ ]*)*$|[|:-][ |:-]*$)")
#: Text that markdown-it reads as more than plain characters (outside code spans).
_OTHER_INLINE = re.compile(r"[\\\0]|~~|&#?[0-9A-Za-z]+;|<[A-Za-z/!?]|\]\(|[^\S \n]")
#: Marks a lazy continuation line (less indented than its list item's text) until the
#: paragraph it continues takes it in (the text itself holds no NUL: see `ArticleMarkdown`).
_LAZY = "\0"
_INLINE_SPECIAL = re.compile(r"[`*_\n]")
_BACKTICKS = re.compile(r"`+")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _flanking(src: str, start: int, end: int, *, split_word: bool) -> tuple[bool, bool]:
    """Whether the delimiter run src[start:end] can open and can close emphasis
    (markdown-it's ``scanDelims``)."""
    last = src[start - 1] if start > 0 else " "
    after = src[end] if end < len(src) else " "
    last_punct = unicodedata.category(last)[0] in "PS"
    next_punct = unicodedata.category(after)[0] in "PS"
    last_space, next_space = last.isspace(), after.isspace()
    left = not (next_space or (next_punct and not (last_space or last_punct)))
    right = not (last_space or (last_punct and not (next_space or next_punct)))
    return (left and (split_word or not right or last_punct),
            right and (split_word or not left or next_punct))


def _inline(src: str) -> list[tuple[str, tuple[str, ...]]]:
    """Inline text as runs of (text, style names): what markdown-it's tokens give rich."""
    runs: list[tuple[str, tuple[str, ...]]] = []
    styles: tuple[str, ...] = ()
    opened = 0  # the length of the open emphasis run (one at a time: nesting is left to rich)
    pending: list[str] = []

    def plain(text: str) -> None:
        if _OTHER_INLINE.search(text):
            raise _Unsupported
        if text:
            pending.append(text)

    def flush() -> None:
        if pending:
            runs.append(("".join(pending), styles))
            pending.clear()

    pos = 0
    for m in _INLINE_SPECIAL.finditer(src):
        start = m.start()
        if start < pos:
            continue  # inside a code span or a delimiter run already read
        plain(src[pos:start])
        char = m.group()
        end = start + 1
        while end < len(src) and src[end] == char and char != "\n":
            end += 1
        pos = end
        if char == "\n":  # a soft break: one space of its own; the next line's indent goes
            flush()
            runs.append((" ", styles))
            while src[pos : pos + 1] == " ":
                pos += 1
        elif char == "`":
            n = end - start
            close = next((r for r in _BACKTICKS.finditer(src, end) if r.end() - r.start() == n),
                         None)
            if close is None:
                pending.append(src[start:end])  # no closing run: plain backticks
            else:
                code = src[end : close.start()].replace("\n", " ")
                if code.startswith(" ") and code.endswith(" ") and code.strip(" "):
                    code = code[1:-1]
                flush()
                if code:
                    runs.append((code, (*styles, "markdown.code")))
                pos = close.end()
        else:
            can_open, can_close = _flanking(src, start, end, split_word=char == "*")
            if not (can_open or can_close):
                pending.append(src[start:end])
            elif char == "_" or end - start > 2:
                raise _Unsupported
            elif opened:
                if not can_close or end - start != opened:
                    raise _Unsupported
                flush()
                styles, opened = styles[:-1], 0
            elif can_open:
                flush()
                opened = end - start
                styles = (*styles, "markdown.strong" if opened == 2 else "markdown.em")
            else:
                raise _Unsupported
    if opened:
        raise _Unsupported
    plain(src[pos:])
    flush()
    return runs


def _blocks(lines: list[str]) -> list[tuple[Any, ...]]:
    """The blocks of `lines` (their container's indentation taken off): ("heading", tag, runs),
    ("paragraph", runs) and ("list", start or None, [each item's blocks])."""
    blocks: list[tuple[Any, ...]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if _indent(line) >= 4 or _OTHER_BLOCK.match(line) or line[0] == _LAZY:
            raise _Unsupported  # indented code, a quote, a fence...; or a lazy line that
            # follows no paragraph
        heading = _HEADING.match(line)
        if heading:
            text = heading.group(2) or ""
            if not text or text.endswith("#"):
                raise _Unsupported  # empty, or with a closing sequence
            blocks.append(("heading", f"h{len(heading.group(1))}", _inline(text)))
            i += 1
        elif _ITEM.match(line):
            i = _list(lines, i, blocks)
        elif _MARKER.match(line):
            raise _Unsupported  # an empty item, or one that starts with indented code
        else:
            start = i
            i += 1
            while i < len(lines) and lines[i] and not _interrupts(lines[i]):
                i += 1
            text = "\n".join(lines[start:i]).replace(_LAZY, "").lstrip(" ")
            blocks.append(("paragraph", _inline(text)))
    return blocks


def _interrupts(line: str) -> bool:
    """Whether `line` ends the paragraph before it (a heading, or a list item that may start
    a list there) rather than continuing it."""
    if _indent(line) >= 4:
        return False
    if _OTHER_BLOCK.match(line) or (_MARKER.match(line) and not _ITEM.match(line)):
        raise _Unsupported
    item = _ITEM.match(line)
    if item is not None and item.group(3) not in (None, "1"):
        raise _Unsupported  # a number other than 1 continues the paragraph: left to rich
    return item is not None or _HEADING.match(line) is not None


def _list(lines: list[str], i: int, blocks: list[tuple[Any, ...]]) -> int:
    """Read the list that starts at line i into `blocks`; the line after it."""
    first = _ITEM.match(lines[i])
    assert first is not None
    number, kind = first.group(3), first.group(2)[-1]
    items: list[list[tuple[Any, ...]]] = []
    while True:
        item = _ITEM.match(lines[i])
        if (item is None or _indent(lines[i]) >= 4 or item.group(2)[-1] != kind
                or (item.group(3) is None) != (number is None)):
            break  # the list ends; what follows is read as the next block
        width = item.end()
        if width > 4:
            raise _Unsupported  # markdown-it's special cases for wide markers
        body = [lines[i][width:]]
        i += 1
        while i < len(lines):
            line = lines[i]
            if not line:
                body.append(line)
            elif _indent(line) >= width:
                body.append(line[width:])
            elif body[-1] and not (_MARKER.match(line) or _HEADING.match(line)):
                # a lazy line: it continues the paragraph before it, if there is one
                if _OTHER_BLOCK.match(line):
                    raise _Unsupported
                body.append(_LAZY + line.lstrip(" "))
            else:
                break
            i += 1
        items.append(_blocks(body))
        if i == len(lines):
            break
    blocks.append(("list", None if number is None else int(number), items))
    return i


class ArticleMarkdown:
    """An article's markdown on the terminal, as rich.markdown.Markdown shows it."""

    def __init__(self, body: str) -> None:
        self.body = body
        try:
            lines = body.split("\n")
            if any(c in body for c in "\0\r\t") or any(x != x.rstrip() for x in lines):
                raise _Unsupported
            self.blocks: list[tuple[Any, ...]] | None = _blocks(lines)
        except _Unsupported:
            self.blocks = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Any]:
        if self.blocks is None:
            from rich.markdown import Markdown

            yield Markdown(self.body)
            return
        options = options.update(height=None)
        base = console.get_style("none", default="none")
        for k, block in enumerate(_renderables(console, self.blocks, base)):
            # rich.markdown puts a line before each block that follows another, and before a
            # list at the top too (its items end before it does)
            if k or isinstance(block, _List):
                yield Segment.line()
            yield from console.render(block, options)


def _renderables(console: Console, blocks: list[tuple[Any, ...]], style: Style) -> list[Any]:
    """What rich.markdown renders for each block, `style` being the styles it is inside."""
    from rich.text import Text

    out: list[Any] = []
    for block in blocks:
        if block[0] == "list":
            item_style = style + console.get_style("markdown.item", default="none")
            out.append(_List(block[1], [(_renderables(console, item, item_style), item_style)
                                        for item in block[2]]))
            continue
        if block[0] == "heading":
            tag, runs = block[1], block[2]
            outer = style + console.get_style(f"markdown.{tag}", default="none")
            text = Text(justify="center" if tag == "h1" else "left")
        else:
            runs = block[1]
            outer = style + console.get_style("markdown.paragraph", default="none")
            text = Text(justify="left")
        for chunk, names in runs:
            current = outer
            for name in names:
                current = current + console.get_style(name, default="none")
            text.append(chunk, current)
        out.append(text)
    return out


class _List:
    """A list as rich.markdown renders one: bullets or numbers, items' lines indented."""

    def __init__(self, start: int | None, items: list[tuple[list[Any], Style]]) -> None:
        self.start = start
        self.items = items

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Segment]:
        from rich.containers import Renderables

        if self.start is None:
            style = console.get_style("markdown.item.bullet", default="none")
            width = 3
            marks = [(Segment(" • ", style), Segment(" " * 3, style)) for _ in self.items]
        else:
            style = console.get_style("markdown.item.number", default="none")
            width = len(str(self.start + len(self.items))) + 2
            marks = [(Segment(f"{self.start + k}".rjust(width - 1) + " ", style),
                      Segment(" " * width, style)) for k in range(len(self.items))]
        for (elements, item_style), (first, padding) in zip(self.items, marks, strict=True):
            lines = console.render_lines(Renderables(elements),
                                         options.update(width=options.max_width - width),
                                         style=item_style)
            for k, line in enumerate(lines):
                yield padding if k else first
                yield from line
                yield Segment("\n")
