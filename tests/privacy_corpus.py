"""Scoring :func:`expertise.privacy.redact` on hand-labelled corpora (test tooling).

A corpus is ``input<TAB>expected`` lines; :func:`corpus_report` counts, per kind of personal
data, the planted values removed, leaked and over-redacted. It lives with the tests because
only they (and a maintainer comparing two redactors) use it: the product never does.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from expertise.privacy import KINDS, PLACEHOLDERS, redact


def redact_counts(text: str) -> tuple[str, dict[str, int]]:
    """Like :func:`redact`, and also count the placeholders added, by kind.

    >>> redact_counts("mail a@b.example or b@c.example")
    ('mail <EMAIL> or <EMAIL>', {'EMAIL': 2})
    """
    out = redact(text)
    counts: dict[str, int] = {}
    if out == text:
        return out, counts
    for kind in KINDS:
        placeholder = PLACEHOLDERS[kind]
        added = out.count(placeholder) - text.count(placeholder)
        if added > 0:
            counts[kind] = added
    return out, counts


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    return re.sub(r"\\([\\nt])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], field)


def parse_corpus(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """Parse a TSV corpus into ``(section, input, expected)`` triples.

    Each line is ``input<TAB>expected`` with ``\\n``, ``\\t`` and ``\\\\`` escapes. Blank lines
    and lines starting with ``#`` are skipped; ``# section: NAME`` names the lines that follow.
    """
    section = ""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.lower().startswith("section:"):
                section = body.split(":", 1)[1].strip()
            continue
        if "\t" not in line:
            raise ValueError(f"corpus line without a tab: {line[:60]!r}")
        given, expected = line.split("\t", 1)
        yield section, _unescape(given), _unescape(expected)


_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]{1,15})>")
_FRAGMENT = re.compile(r"[^\W_]+")


def _planted_values(given: str, expected: str) -> list[tuple[str, str]] | None:
    """The ``(kind, value)`` pairs that ``expected`` replaced in ``given``, found by placing
    the text between placeholders leftmost in order (None if ``expected`` does not fit)."""
    pieces = _PLACEHOLDER.split(expected)
    literals, kinds = pieces[0::2], pieces[1::2]
    if not kinds:
        return []
    if not given.startswith(literals[0]) or not given.endswith(literals[-1]):
        return None
    stop = len(given) - len(literals[-1])
    pos = len(literals[0])
    values: list[tuple[str, str]] = []
    pending: list[str] = []  # placeholders side by side share one value
    last = len(kinds) - 1
    for i, (kind, literal) in enumerate(zip(kinds, literals[1:], strict=True)):
        pending.append(kind)
        if not literal and i < last:
            continue
        end = stop if i == last else given.find(literal, pos + 1)
        if end == -1 or end > stop or end <= pos:
            return None
        values += [(k, given[pos:end]) for k in pending]
        pending = []
        pos = end + len(literal)
    return values


def _fragments(text: str) -> list[str]:
    return _FRAGMENT.findall(_PLACEHOLDER.sub(" ", text).lower())


def _runs(seq: list[str], frags: list[str]) -> int:
    """How many times ``seq`` occurs as a run of ``frags``."""
    n = len(seq)
    return sum(frags[i : i + n] == seq for i in range(len(frags) - n + 1)) if n else 0


def _leaks(values: list[str], got: list[str], want: list[str]) -> list[bool]:
    """Which values are left in ``got`` (the output's fragments; ``want``: the expected's).

    A value is left whole if its fragments occur as a run more often in the output than in
    the expected text; else it is left in part if one of its words or digit groups of two
    characters or more (all of them if none is that long) is in the output more often than in
    the expected text and not explained by a value left whole.
    """
    extra = Counter(got)
    extra.subtract(want)
    frags = [_fragments(v) for v in values]
    leaked = [bool(f) and _runs(f, got) > _runs(f, want) for f in frags]
    for f, whole in zip(frags, leaked, strict=True):
        if whole:
            extra.subtract(f)
    for i, f in enumerate(frags):
        if not leaked[i]:
            significant = [x for x in f if len(x) >= 2] or f
            leaked[i] = any(extra[x] > 0 for x in significant)
    return leaked


def corpus_report(
    lines: str | os.PathLike[str] | Iterable[str | tuple[str, str]],
    *,
    redactor: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Score :func:`redact` on a hand-labelled corpus.

    Parameters
    ----------
    lines : path, or iterable of str or (input, expected) pairs
        A corpus file (``input<TAB>expected`` lines, see :func:`parse_corpus`), its lines, or
        pairs already split. Placeholders are any ``<KIND>`` in upper case, so a corpus may use
        kinds this module does not emit.
    redactor : callable, optional
        The redaction to score (default :func:`redact`), e.g. an older version to compare.

    Returns
    -------
    dict
        ``lines``, ``exact`` (outputs equal to the expected text), ``kinds`` (per placeholder
        kind: ``values`` planted, ``removed`` (values none of whose words or digit groups is
        left in the output), ``recall`` = removed / values, ``leaks`` (the values left), and
        the placeholder counts ``expected``, ``found``, ``false_positives``), ``kept`` (the
        share of the expected text's other words that survived: over-redaction lowers it),
        ``sections`` (per section: ``lines``, ``exact``, ``changed_negatives``: lines that
        expected no change but were changed), ``unaligned`` (lines whose expected text does
        not fit their input; their values are not counted) and ``failures`` (a list of
        ``{section, input, expected, got}``).

    Examples
    --------
    >>> r = corpus_report([("call Tom on 07700 900123", "call <NAME> on <PHONE>")])
    >>> r["kinds"]["PHONE"]["recall"], r["kinds"]["NAME"]["recall"], r["kinds"]["NAME"]["leaks"]
    (1.0, 0.0, ['Tom'])
    """
    run = redactor or redact
    triples: list[tuple[str, str, str]] = []
    if isinstance(lines, (str, os.PathLike)):
        with open(lines, encoding="utf-8") as handle:
            triples.extend(parse_corpus(handle))
    else:
        text_lines: list[str] = []
        for item in lines:
            if isinstance(item, tuple):
                triples.append(("", item[0], item[1]))
            else:
                text_lines.append(item)
        triples.extend(parse_corpus(text_lines))

    counts: dict[str, dict[str, Any]] = {}

    def kind_counts(kind: str) -> dict[str, Any]:
        return counts.setdefault(kind, {"values": 0, "removed": 0, "leaks": [], "expected": 0,
                                        "found": 0, "false_positives": 0})

    for kind in KINDS:
        kind_counts(kind)
    sections: dict[str, dict[str, int]] = {}
    failures: list[dict[str, str]] = []
    unaligned: list[str] = []
    exact = kept = literal_words = 0
    for section, given, expected in triples:
        got = run(given)
        sec = sections.setdefault(section, {"lines": 0, "exact": 0, "changed_negatives": 0})
        sec["lines"] += 1
        if got == expected:
            exact += 1
            sec["exact"] += 1
        else:
            failures.append({"section": section, "input": given, "expected": expected, "got": got})
            if expected == given:
                sec["changed_negatives"] += 1
        got_frags, want_frags = Counter(_fragments(got)), Counter(_fragments(expected))
        literal_words += sum(want_frags.values())
        kept += sum(min(n, got_frags[f]) for f, n in want_frags.items())
        values = _planted_values(given, expected)
        if values is None:
            unaligned.append(given)
            values = []
        got_list, want_list = _fragments(got), _fragments(expected)
        leaks = _leaks([v for _, v in values], got_list, want_list)
        for (kind, value), leaked in zip(values, leaks, strict=True):
            c = kind_counts(kind)
            c["values"] += 1
            if leaked:
                c["leaks"].append(value)
            else:
                c["removed"] += 1
        for kind in {*_PLACEHOLDER.findall(expected), *_PLACEHOLDER.findall(got)}:
            c = kind_counts(kind)
            placeholder = f"<{kind}>"
            want = expected.count(placeholder)
            have = got.count(placeholder)
            c["expected"] += want
            c["found"] += min(want, have)
            c["false_positives"] += max(0, have - want)
    for c in counts.values():
        c["recall"] = c["removed"] / c["values"] if c["values"] else 1.0
    return {
        "lines": len(triples),
        "exact": exact,
        "kinds": counts,
        "kept": kept / literal_words if literal_words else 1.0,
        "sections": sections,
        "unaligned": unaligned,
        "failures": failures,
    }
