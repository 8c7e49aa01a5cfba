"""Knowledge-base loading and `expertise kb` on the bundled base and on fixture bases."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from expertise.cli import app
from expertise.config import LEVELS, PROJECT_DIR, TOPICS
from expertise.knowledge_base import load_knowledge_base

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_bundled_kb_has_every_topic_at_every_level_and_lints_clean() -> None:
    kb = load_knowledge_base(PROJECT_DIR / "knowledge_base")
    assert set(kb.topics) == set(TOPICS)
    assert len(kb.articles) == 108
    assert kb.errors == []
    for topic in kb.topics.values():
        assert sorted(topic.articles) == sorted(LEVELS)
        assert topic.synonyms, f"{topic.slug} has no synonyms"
        for article in topic.articles.values():
            assert len(article.symptoms) >= 4


def test_lint_reports_each_fault_with_file_and_field_and_exits_1() -> None:
    result = runner.invoke(app, ["kb", "lint", "--kb", str(DATA / "kb_faulty")])
    assert result.exit_code == 1
    out = result.output
    assert "no-internet/expert.md: id: 'wrong/expert'" in out
    assert "dns-issues/intermediate.md: front matter: does not parse" in out
    assert "dns-issues/novice.md: title: required field is missing" in out
    assert "dns-issues/novice.md: body: the article has no text" in out
    assert "roaming/guru.md: level: file name must be one of" in out
    assert "FAILED" in out


def test_lint_passes_with_warnings_for_missing_level() -> None:
    result = runner.invoke(app, ["kb", "lint", "--kb", str(DATA / "kb_tiny")])
    assert result.exit_code == 0, result.output
    assert "tv-no-signal: levels: missing intermediate" in result.output
    assert "0 errors" in result.output


def test_kb_list_json_and_show() -> None:
    result = runner.invoke(app, ["kb", "list", "--kb", str(DATA / "kb_tiny"), "--json"])
    assert result.exit_code == 0
    rows = {r["topic"]: r for r in json.loads(result.output)}
    assert rows["tv-no-signal"]["levels"] == ["novice", "expert"]
    assert rows["tv-no-signal"]["category"] == "tv"
    shown = runner.invoke(app, ["kb", "show", "no-internet/expert", "--kb", str(DATA / "kb_tiny")])
    assert shown.exit_code == 0
    assert "Internet down (expert)" in shown.output
    missing = runner.invoke(app, ["kb", "show", "no-internet/guru", "--kb", str(DATA / "kb_tiny")])
    assert missing.exit_code == 1
    assert "no article 'no-internet/guru'" in missing.output


def test_missing_kb_folder_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["kb", "list", "--kb", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "does not exist" in result.output


def test_levels_differ_in_technical_share() -> None:
    """The bundled articles get more technical from novice to expert in almost every topic."""
    result = runner.invoke(app, ["kb", "stats", "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["topics_with_all_levels"] == 36 and stats["topics_rising"] >= 33
    share = [stats["levels"][lv]["technical_share"] for lv in LEVELS]
    assert share == sorted(share) and share[0] < share[2]


def test_a_list_field_holding_a_number_is_a_lint_error_not_a_crash(tmp_path: Path) -> None:
    import shutil

    kb = tmp_path / "kb"
    shutil.copytree(DATA / "kb_tiny", kb)
    article = kb / "no-internet" / "novice.md"
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("\nproducts:", "\nold_products:").replace(
        "---\n", "---\nproducts: 12\n", 1), encoding="utf-8")
    (kb / "tv-no-signal" / "topic.yaml").write_text("synonyms: 7\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "lint", "--kb", str(kb)])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "no-internet/novice.md: products: must be a phrase or a list of phrases" in out
    assert "tv-no-signal/topic.yaml: synonyms: must be a phrase or a list of phrases" in out
    base = load_knowledge_base(kb)  # what can be served still loads
    assert "novice" not in base.topics["no-internet"].articles


def test_a_file_given_as_the_knowledge_base_is_named_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "kb.md"
    not_a_folder.write_text("# notes\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "list", "--kb", str(not_a_folder)])
    assert result.exit_code == 1
    assert f"knowledge base folder {not_a_folder} is a file, not a folder" in " ".join(
        result.output.split())
