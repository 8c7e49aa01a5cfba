"""Load and validate knowledge-base articles (`knowledge_base/<topic>/<level>.md`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from expertise.config import ARTICLE_WORDS, LEVELS, cache_dir
from expertise.errors import KnowledgeBaseError
from expertise.io import atomic_write_text

REQUIRED_FIELDS = ("id", "topic", "level", "title", "summary", "symptoms")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’./:+-]*")


@dataclass(frozen=True)
class Article:
    """One article: the front matter fields and the Markdown body."""

    id: str
    topic: str
    level: str
    title: str
    summary: str
    symptoms: tuple[str, ...]
    body: str
    products: tuple[str, ...] = ()
    updated: str = ""
    path: str = ""


@dataclass(frozen=True)
class Topic:
    """A topic: its articles by level, plus optional title, category and synonyms."""

    slug: str
    title: str
    category: str
    synonyms: tuple[str, ...]
    articles: dict[str, Article] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One lint finding: `severity` is "error" or "warning"."""

    severity: str
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class KnowledgeBase:
    """All topics of a knowledge base, and the problems found while loading it."""

    root: Path
    topics: dict[str, Topic]
    problems: list[Problem]

    @property
    def articles(self) -> list[Article]:
        return [a for t in self.topics.values() for lv in LEVELS if (a := t.articles.get(lv))]

    def article(self, article_id: str) -> Article:
        """The article `article_id`. When its file is there but broken (loading left it out),
        the error names the file and lint's finding, not "no article"."""
        topic, _, level = article_id.partition("/")
        try:
            return self.topics[topic].articles[level]
        except KeyError:
            file = Path(topic, f"{level}.md")
            found = [f"{p.field}: {p.message}" if p.field else p.message
                     for p in self.errors if Path(p.path) == file]
            if found:
                raise KnowledgeBaseError(
                    f"{self.root / file}: the file of article {article_id!r} is broken: "
                    f"{'; '.join(found)}; fix it (`expertise kb lint --kb {self.root}` checks it)"
                ) from None
            raise KnowledgeBaseError(
                f"no article {article_id!r} in {self.root}; list them with `expertise kb list`"
            ) from None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def split_front_matter(text: str) -> tuple[str, str]:
    """Return (front matter, body); raises ValueError when there is no front matter block."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.startswith("---"):
        raise ValueError("no front matter: the file must start with a '---' line")
    end = text.find("\n---", 3)
    if end < 0:
        raise ValueError("front matter is not closed by a '---' line")
    body_start = text.find("\n", end + 4)
    body = "" if body_start < 0 else text[body_start + 1 :]
    return text[3:end], body.strip()


def _yaml_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _phrases(meta: dict[str, Any], name: str, rel: str, problems: list[Problem]
             ) -> tuple[str, ...]:
    """A field that holds phrases: one phrase, or a list of them; anything else (a number, a
    mapping, a list holding one) is an error of that file and field, not a crash."""
    value = meta.get(name)
    if value is None or isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return _as_tuple(value)
    problems.append(Problem("error", rel, name, f"must be a phrase or a list of phrases, not "
                                                f"{value!r:.40}; put each in quotes"))
    return ()


def parse_article(path: Path, *, root: Path) -> tuple[Article | None, list[Problem]]:
    """Parse one article file; return it (or None when unusable) and the problems found."""
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    problems: list[Problem] = []
    try:
        meta_text, body = split_front_matter(path.read_text(encoding="utf-8"))
        meta = _yaml_load(meta_text)
    except UnicodeDecodeError:
        return None, [Problem("error", rel, "", "not UTF-8 text; save the file as UTF-8")]
    except Exception as exc:  # yaml errors and ValueError from split_front_matter
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, [Problem("error", rel, "front matter", f"does not parse: {first}")]
    if not isinstance(meta, dict):
        return None, [Problem("error", rel, "front matter", "must be a YAML mapping")]
    for name in REQUIRED_FIELDS:
        if meta.get(name) in (None, "", []):
            problems.append(Problem("error", rel, name, "required field is missing or empty"))
    topic_dir, level_file = path.parent.name, path.stem
    level = str(meta.get("level", ""))
    if level and level not in LEVELS:
        problems.append(
            Problem("error", rel, "level", f"{level!r} is not one of {', '.join(LEVELS)}")
        )
    if level and level != level_file:
        problems.append(Problem("error", rel, "level", f"{level!r} but the file is {path.name}"))
    if meta.get("topic") and meta["topic"] != topic_dir:
        problems.append(
            Problem("error", rel, "topic", f"{meta['topic']!r} but the folder is {topic_dir!r}")
        )
    expected_id = f"{topic_dir}/{level_file}"
    if meta.get("id") and meta["id"] != expected_id:
        problems.append(Problem("error", rel, "id", f"{meta['id']!r}; expected {expected_id!r}"))
    if not body.strip():
        problems.append(Problem("error", rel, "body", "the article has no text"))
    if level_file in ARTICLE_WORDS and body.strip():
        lo, hi = ARTICLE_WORDS[level_file]
        n = count_words(body)
        if not lo <= n <= hi:
            problems.append(
                Problem("warning", rel, "body", f"{n} words; {level_file} articles want {lo}-{hi}")
            )
    symptoms = _phrases(meta, "symptoms", rel, problems)
    products = _phrases(meta, "products", rel, problems)
    if symptoms and len(symptoms) < 4:
        problems.append(
            Problem("warning", rel, "symptoms", f"{len(symptoms)} phrasings; write at least 4")
        )
    if any(p.severity == "error" for p in problems):
        return None, problems
    updated = meta.get("updated", "")
    article = Article(
        id=expected_id,
        topic=topic_dir,
        level=level_file,
        title=str(meta["title"]),
        summary=str(meta["summary"]),
        symptoms=symptoms,
        body=body,
        products=products,
        updated=updated.isoformat() if isinstance(updated, date) else str(updated or ""),
        path=str(path),
    )
    return article, problems


def load_knowledge_base(root: Path | str) -> KnowledgeBase:
    """Load every article under `root`; problems are collected, not raised.

    A parsed knowledge base is cached (JSON in the user's cache folder) under a key made of
    every file's path, size and modification time and this module's own, so a one-shot
    answer need not parse 144 YAML headers; any change to a file reads it afresh.

    Raises KnowledgeBaseError only when the folder does not exist or holds no articles.
    """
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise KnowledgeBaseError(
            f"knowledge base folder {root} {what}; set EXPERTISE_KB or pass --kb"
        )
    cache = _cache_path(root)
    if cache is not None and cache.exists():
        try:
            return _from_json(root, json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache: parse afresh and write it again
    kb = _parse(root)
    if cache is not None:
        with contextlib.suppress(OSError):
            atomic_write_text(cache, json.dumps(_to_json(kb)))
    return kb


def _cache_path(root: Path) -> Path | None:
    try:
        # os.walk and plain strings: a third of the time of Path.rglob and sorted Paths
        files = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                       for name in names if name.endswith((".md", ".yaml", ".yml")))
        digest = hashlib.sha256(str(root.resolve()).encode())
        for path in [*files, __file__]:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return cache_dir() / f"kb-{digest.hexdigest()[:32]}.json"


def _to_json(kb: KnowledgeBase) -> dict[str, Any]:
    return {"topics": [{**asdict(t), "articles": [asdict(a) for a in t.articles.values()]}
                       for t in kb.topics.values()],
            "problems": [asdict(p) for p in kb.problems]}


def _from_json(root: Path, doc: dict[str, Any]) -> KnowledgeBase:
    topics = {}
    for t in doc["topics"]:
        articles = {a["level"]: Article(**{**a, "symptoms": tuple(a["symptoms"]),
                                           "products": tuple(a["products"])})
                    for a in t["articles"]}
        topics[t["slug"]] = Topic(t["slug"], t["title"], t["category"], tuple(t["synonyms"]),
                                  articles)
    return KnowledgeBase(root=root, topics=topics,
                         problems=[Problem(**p) for p in doc["problems"]])


def _parse(root: Path) -> KnowledgeBase:
    topics: dict[str, Topic] = {}
    problems: list[Problem] = []
    seen_ids: dict[str, str] = {}
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta: dict[str, Any] = {}
        topic_yaml = topic_dir / "topic.yaml"
        if topic_yaml.exists():
            try:
                loaded = _yaml_load(topic_yaml.read_text(encoding="utf-8"))
                meta = loaded if isinstance(loaded, dict) else {}
            except Exception as exc:
                first = str(exc).splitlines()[0]
                problems.append(Problem("error", f"{topic_dir.name}/topic.yaml", "", first))
        articles: dict[str, Article] = {}
        for path in sorted(topic_dir.glob("*.md")):
            if path.stem not in LEVELS:
                problems.append(
                    Problem("error", str(path.relative_to(root)), "level",
                            f"file name must be one of {', '.join(lv + '.md' for lv in LEVELS)}")
                )
                continue
            article, found = parse_article(path, root=root)
            problems.extend(found)
            if article is None:
                continue
            if article.id in seen_ids:
                problems.append(
                    Problem("error", str(path.relative_to(root)), "id",
                            f"duplicate id {article.id!r} (also in {seen_ids[article.id]})")
                )
                continue
            seen_ids[article.id] = str(path.relative_to(root))
            articles[article.level] = article
        if not articles:
            continue
        missing = [lv for lv in LEVELS if lv not in articles]
        if missing:
            problems.append(
                Problem("warning", topic_dir.name, "levels", f"missing {', '.join(missing)}")
            )
        first_article = next(iter(articles.values()))
        topics[topic_dir.name] = Topic(
            slug=topic_dir.name,
            title=str(meta.get("title") or first_article.title),
            category=str(meta.get("category") or ""),
            synonyms=_phrases(meta, "synonyms", f"{topic_dir.name}/topic.yaml", problems),
            articles=articles,
        )
    if not topics:
        raise KnowledgeBaseError(f"no articles found under {root}; expected <topic>/<level>.md")
    return KnowledgeBase(root=root, topics=topics, problems=problems)


def fingerprint_knowledge_base(root: Path | str) -> str:
    """SHA-256 over every article and topic file (path and content), in a stable order."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".yaml", ".yml"):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def level_stats(kb: KnowledgeBase) -> dict[str, Any]:
    """How the levels differ: mean words per sentence and the share of technical terms per
    level, and in how many topics the technical share rises novice < intermediate < expert."""
    from expertise.scoring.text import CURATED_TERMS
    from expertise.scoring.tokens import token_strings

    per_level: dict[str, dict[str, list[float]]] = {lv: {"wps": [], "tech": []} for lv in LEVELS}
    rising = 0
    complete = 0
    for topic in kb.topics.values():
        shares = []
        for lv in LEVELS:
            article = topic.articles.get(lv)
            if article is None:
                continue
            sentences = [s for s in re.split(r"[.!?]+\s|\n+", article.body) if count_words(s)]
            toks = token_strings(article.body)[1]
            share = sum(t in CURATED_TERMS for t in toks) / max(1, len(toks))
            per_level[lv]["wps"].append(count_words(article.body) / max(1, len(sentences)))
            per_level[lv]["tech"].append(share)
            shares.append(share)
        if len(shares) == len(LEVELS):
            complete += 1
            rising += shares[0] < shares[1] < shares[2]
    return {
        "levels": {
            lv: {
                "articles": len(v["wps"]),
                "words_per_sentence": round(sum(v["wps"]) / max(1, len(v["wps"])), 2),
                "technical_share": round(sum(v["tech"]) / max(1, len(v["tech"])), 4),
            }
            for lv, v in per_level.items()
        },
        "topics_rising": rising,
        "topics_with_all_levels": complete,
    }
