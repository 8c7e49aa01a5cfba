"""Real customers' language, on a real fitted model: honest uncertainty, no article when no
topic fits, other languages and scripts, junk and repetition, fragments read with their
conversation, and the product a message is addressed to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.batch.run import score_file
from expertise.cli import app
from expertise.config import TOPICS
from expertise.engine import Engine
from expertise.scoring.pipeline import JOINED_REASON
from expertise.scoring.text import looks_english, normalise, prepare

runner = CliRunner()


@pytest.mark.parametrize("text", ["???", "!!!!!!!!", "...", "0", "12345 678", ":) :) :)"])
def test_junk_gets_no_level(engine: Engine, text: str) -> None:
    ans = engine.answer(text)
    assert ans.level is None and ans.confidence is None
    assert any("too few English words we know to judge the level" in n for n in ans.notes)


@pytest.mark.parametrize("text", [
    "我的网络从昨天开始就断了，路由器一直闪红灯",  # Chinese
    "インターネットが昨日から繋がりません",  # Japanese
    "मेरा इंटरनेट कल से काम नहीं कर रहा है",  # Hindi, Devanagari
    "الإنترنت لا يعمل منذ أمس",  # Arabic
    "интернет не работает со вчерашнего дня",  # Russian
    "no tengo internet desde ayer",  # short Spanish
    "mera net nahi chal raha since morning kya karu",  # code-mixed Hindi and English
])
def test_other_languages_and_scripts_get_no_level(engine: Engine, text: str) -> None:
    assert not looks_english(text)
    ans = engine.answer(text)
    assert ans.level is None and ans.probabilities is None
    assert ans.article is None or ans.article.level == "intermediate"  # the neutral middle


def test_english_with_jargon_or_a_foreign_name_is_still_english() -> None:
    for text in ("PPPoE LCP echo timeouts, MTU 1492", "macos el capitan wont boot",
                 "wifi down again", "my router says DNS_PROBE_FINISHED_NXDOMAIN"):
        assert looks_english(text), text


def test_repetition_buys_no_certainty(engine: Engine) -> None:
    once = "my internet is not working."
    many = " ".join([once] * 30)
    assert prepare(many)[0] == prepare(once)[0]
    a, b = engine.answer(once), engine.answer(many)
    assert a.probabilities == b.probabilities and a.topics == b.topics


@pytest.mark.parametrize("once, many", [
    ("DNS", " ".join(["DNS"] * 30)),
    ("router,", ", ".join(["router"] * 30)),
    ("my router is broken", " ".join(["my router is broken"] * 10)),  # no full stops
    ("wifi down", "wifi down " * 12),
])
def test_a_run_of_the_same_words_buys_no_certainty(engine: Engine, once: str, many: str) -> None:
    # a word or phrase said over and over, without sentence marks, reads as said once: it
    # cannot turn a thin message into a confident expert, nor be called "long, detailed"
    a, b = engine.answer(once), engine.answer(many)
    assert a.probabilities == b.probabilities
    assert not any("long, detailed" in r for r in b.reasons)
    assert b.confidence is None or b.confidence < 0.8


def test_style_is_not_level(engine: Engine) -> None:
    calm = engine.answer("my wifi keeps dropping. please fix it.")
    angry = engine.answer("MY WIFI KEEPS DROPPING!!!!! PLEASE FIX IT!!!")
    assert calm.probabilities == angry.probabilities


def test_social_media_trimmings_are_read_past(engine: Engine) -> None:
    plain = "my wifi keeps dropping every evening & the router light goes orange"
    noisy = ("@LumenHelp my #wifi keeps dropping every evening &amp; the router light goes "
             "orange 😡😡 https://t.co/AbC123xyz")
    assert normalise(noisy).split() == [*normalise(plain).split(), "<link>"]
    a, b = engine.answer(plain), engine.answer(noisy)
    assert a.topics[0]["topic"] == b.topics[0]["topic"]
    assert a.level == b.level


@pytest.mark.parametrize("text", ["help", "still broken", "any update?",
                                  "this is ridiculous, third time this week"])
def test_a_thin_message_says_so_and_serves_the_middle(engine: Engine, text: str) -> None:
    ans = engine.answer(text)
    assert ans.confidence is not None and ans.confidence < 0.8
    if ans.article is not None:
        assert any(n.startswith("not enough to judge the level") for n in ans.notes)
        assert ans.level_served == "intermediate"
        same_topic = {a.level for a in ans.alternatives if a.topic == ans.article.topic}
        assert same_topic == {"novice", "expert"}
        assert any("ask what they have already tried" in n for n in ans.notes)


def test_one_acronym_does_not_make_an_expert(engine: Engine) -> None:
    for text in ("my DNS", "APN?", "is my IP ok"):
        ans = engine.answer(text)
        assert ans.confidence is None or ans.confidence < 0.8, text


@pytest.mark.parametrize("text, word", [
    ("my service is like two cans tied to a string", "string"),
    ("what state is my order in", "state"),
    ("I forgot my pin", "pin"),
    ("need some info about my bill", "info"),
    ("the update will fail again, I bet", "fail"),
])
def test_everyday_words_are_no_technical_terms(engine: Engine, text: str, word: str) -> None:
    ans = engine.answer(text)
    named = [r for r in ans.reasons if "technical term" in r]
    assert not any(word in r.split(":", 1)[-1] for r in named if ":" in r), named
    assert word not in engine.scorer.lean.lexicon


OUT_OF_SCOPE = [
    "where is my order?? it said out for delivery 3 days ago and still nothing",
    "your store staff were so rude to my mum today, absolutely disgraceful",
    "does the new phone come in blue or only black",
]


#: Long, plain messages about no problem we cover, with no signal of a level in them.
LONG_OFF_TOPIC = [
    "I ordered the new phone case three weeks ago from your online shop and it still has not "
    "arrived, the tracking page has said the same thing since last Monday and nobody answers",
    "the lady in your high street shop was lovely today, she spent ages helping my dad pick a "
    "new phone and was really patient with him, please pass on our thanks to her",
    "can you tell me what time the shop in the town centre opens on Sunday, I want to come in "
    "and look at the new tablets before I decide which one to buy for my daughter",
]


def test_a_long_message_outside_every_topic_does_not_judge_the_level(engine: Engine) -> None:
    """Length is not evidence: off-topic text with no signal of a level stays thin, however
    sure the wording model is of its everyday words."""
    scored = engine.score(LONG_OFF_TOPIC)
    assert scored.no_match.all() and scored.estimate.all()
    assert scored.thin.all()
    assert scored.level_p.max(axis=1).max() < 0.6


@pytest.mark.parametrize("text", OUT_OF_SCOPE)
def test_out_of_scope_gets_no_article_but_candidates(engine: Engine, text: str) -> None:
    ans = engine.answer(text)
    assert ans.no_match and ans.article is None and ans.body == ""
    assert ans.level_served is None
    assert ans.reasons[0].startswith("no topic we cover fits this message")
    assert any(n.startswith("no good match") and "ask what the problem is" in n
               for n in ans.notes)
    assert ans.alternatives and all(a.why.startswith("nearest topic") for a in ans.alternatives)


def test_in_scope_messages_in_real_voice_get_a_topic(engine: Engine) -> None:
    for text, topic in (("ugh internet is out AGAIN, whole street is down apparently",
                         "no-internet"),
                        ("forgot my password and the reset email never comes", "password-reset")):
        ans = engine.answer(text)
        assert not ans.no_match and ans.topics[0]["topic"] == topic, text


def test_no_match_needs_a_placeable_problem_not_only_the_out_of_scope_class(engine: Engine
                                                                            ) -> None:
    """Two signals: a message naming no problem we can place is no match even where the
    out-of-scope class is unsure of it; the same words naming a problem get their topic."""
    from expertise.config import MIN_TOPIC_SCORE, NONE_THRESHOLD

    vague = engine.score(["still not working"])
    assert vague.no_match[0] and vague.none_p[0] < NONE_THRESHOLD
    assert vague.best_score[0] < MIN_TOPIC_SCORE
    named = engine.answer("my broadband is still not working")
    assert not named.no_match and named.topics[0]["topic"] == "no-internet"


def test_no_match_in_the_cli_shows_candidates_and_a_question(models_env: Path) -> None:
    result = runner.invoke(app, ["answer", OUT_OF_SCOPE[0]])
    assert result.exit_code == 0, result.output
    assert "No good match" in result.output and "Nearest topics" in result.output
    assert "Ask the caller what the problem is" in " ".join(result.output.split())


def test_the_product_tilts_topics_to_its_area(engine: Engine) -> None:
    """'No service' is a phone's status bar or a home line's outage: the text alone leaves it
    open, and the product addressed decides."""
    text = "no service since this morning, nothing works"
    mobile = engine.answer(text, product="Lumen Mobile")
    home = engine.answer(text, product="Lumen Broadband")
    plain = engine.answer(text)
    areas = {t: d for t, (d, _) in TOPICS.items()}
    assert areas[mobile.topics[0]["topic"]] == "mobile"
    assert areas[home.topics[0]["topic"]] == "network"
    assert mobile.topics != plain.topics or home.topics != plain.topics


def test_a_fragment_is_read_with_its_conversation(engine: Engine) -> None:
    first = "the update on my console is stuck at 50% and will not install, tried twice"
    alone = engine.score(["PS4"])
    together = engine.score([first, "PS4"], customer_ids=["C1", "C1"],
                            created_at=["2026-01-01T10:00:00", "2026-01-01T10:05:00"],
                            conversations=["T1", "T1"])
    topics = together.catalogue.topics
    assert topics[int(together.best[1])] == topics[int(together.best[0])] == "firmware-update"
    assert topics[int(alone.best[0])] != "firmware-update" or alone.no_match[0]
    assert together.texts[1].startswith("the update on my console")
    # the agent is told that what the reasons quote may come from the earlier messages
    assert together.reasons[1][-1] == JOINED_REASON
    assert JOINED_REASON not in together.reasons[0] and JOINED_REASON not in alone.reasons[0]
    # the first message is read with the fragment, not counted again as its history
    assert together.history.evidence[1].tolist() == [0.0, 0.0, 0.0]
    # in a later conversation, it is history like any other message
    later = engine.score([first, "PS4", "my wifi keeps dropping"],
                         customer_ids=["C1"] * 3,
                         created_at=["2026-01-01T10:00:00", "2026-01-01T10:05:00",
                                     "2026-02-01T10:00:00"],
                         conversations=["T1", "T1", "T2"])
    assert np.abs(later.history.evidence[2]).sum() > 0
    assert later.conversations == {"T1": together.texts[1] and later.conversations["T1"],
                                   "T2": "my wifi keeps dropping"}


def test_batch_conversations_span_chunks(models_env: Path, tmp_path: Path) -> None:
    rows = []
    for c in range(6):
        rows += [{"ticket_id": f"T{c}-1", "customer_id": f"C{c}", "conversation_id": f"V{c}",
                  "created_at": f"2026-01-0{c + 1}T10:00:00",
                  "body": "the update on my console is stuck at 50% and will not install"},
                 {"ticket_id": f"T{c}-2", "customer_id": f"C{c}", "conversation_id": f"V{c}",
                  "created_at": f"2026-01-0{c + 1}T10:05:00", "body": "PS4"}]
    src = tmp_path / "conv.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    whole = score_file(src, out=tmp_path / "one.csv", chunk_rows=1000)
    split = score_file(src, out=tmp_path / "many.csv", chunk_rows=3)
    assert whole.rows_scored == split.rows_scored == 12
    one = pd.read_csv(tmp_path / "one.csv", dtype=str, keep_default_na=False)
    many = pd.read_csv(tmp_path / "many.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(one, many)
    assert set(one.loc[one["body"] == "PS4", "topic"]) == {"firmware-update"}
    assert {"conversation_id", "no_match"} <= set(one.columns)


def test_batch_output_has_no_article_where_nothing_fits(models_env: Path, tmp_path: Path
                                                        ) -> None:
    src = tmp_path / "oos.csv"
    pd.DataFrame({"ticket_id": ["A", "B"], "body": [OUT_OF_SCOPE[0],
                                                    "my wifi keeps dropping every evening"]}
                 ).to_csv(src, index=False)
    score_file(src, out=tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False).set_index(
        "ticket_id")
    assert out.loc["A", "no_match"] == "true" and out.loc["A", "topic"] == ""
    assert out.loc["A", "article_id"] == "" and out.loc["A", "alternatives"]
    assert out.loc["A", "reasons"].startswith("no topic we cover fits this message")
    assert out.loc["B", "no_match"] == "false" and out.loc["B", "article_id"]


def test_evaluate_reads_unclear_levels_and_none_topics(models_env: Path, tmp_path: Path
                                                       ) -> None:
    rows = [
        {"ticket_id": "1", "body": OUT_OF_SCOPE[0], "expertise_level": "unclear",
         "topic": "none"},
        {"ticket_id": "2", "body": "help", "expertise_level": "unclear", "topic": "none"},
        {"ticket_id": "3", "body": "restarted the router twice and checked the cables, still "
                                   "no internet, the light is orange",
         "expertise_level": "intermediate", "topic": "no-internet"},
        {"ticket_id": "4", "body": "PPPoE auth fails on the hub (fw 4.2.1), no WAN IP; MTU "
                                   "1492, ran traceroute", "expertise_level": "expert",
         "topic": "no-internet"},
        {"ticket_id": "5", "customer_id": "C9", "body": "wifi keeps dropping",
         "expertise_level": "", "topic": ""},  # history only
    ]
    path = tmp_path / "real.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = runner.invoke(app, ["evaluate", "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)["sets"]["real"]
    open_ = res["open"]
    assert (open_["messages"], open_["in_scope"], open_["out_of_scope"]) == (4, 2, 2)
    assert (open_["clear"], open_["unclear"]) == (2, 2)
    assert 0.0 <= open_["out_of_scope_flagged"] <= 1.0
    assert open_["majority_baseline"] == 0.5
    assert "level_accuracy" in open_ and "unclear_answered_confidently" in open_
    text = runner.invoke(app, ["evaluate", "--data", str(path)]).output
    assert "out of scope flagged" in text


def test_the_other_languages_file_gets_no_level(engine: Engine) -> None:
    """Hand-written messages in other languages and scripts, code-mixed ones and junk."""
    from expertise.config import PROJECT_DIR

    frame = pd.read_csv(PROJECT_DIR / "data" / "messages" / "other_languages.csv", dtype=str,
                        keep_default_na=False)
    scored = engine.score(frame["text"].tolist())
    other_script = frame["language"].isin(["ja", "zh", "ko", "ar", "ru", "hi", "uk"]).to_numpy()
    assert other_script.sum() >= 25 and not scored.estimate[other_script].any()
    assert (~scored.estimate).mean() >= 0.75
    assert scored.level_p[scored.estimate].max(axis=1).max() < 0.8  # the rest: not confident


def test_the_conversations_file_reads_fragments_with_their_conversation(engine: Engine
                                                                        ) -> None:
    from expertise.config import PROJECT_DIR

    frame = pd.read_csv(PROJECT_DIR / "data" / "messages" / "conversations.csv", dtype=str,
                        keep_default_na=False)
    when = [f"2026-01-01T10:{int(t):02d}:00" for t in frame["turn"]]
    together = engine.score(frame["text"].tolist(), customer_ids=frame["conversation_id"].tolist(),
                            created_at=when, conversations=frame["conversation_id"].tolist())
    alone = engine.score(frame["text"].tolist())
    later = ((frame["turn"] != "1") & (frame["topic"] != "none")).to_numpy()
    topics = np.array(together.catalogue.topics)
    truth = frame["topic"].to_numpy()[later]
    with_conv = (topics[together.best][later] == truth).mean()
    without = (topics[alone.best][later] == truth).mean()
    assert with_conv >= 0.9 and with_conv >= without + 0.2


def test_most_messages_from_other_domains_get_no_article(engine: Engine) -> None:
    """Messages about appliances, cars, utilities, code, health, shopping and junk, written
    apart from the training data (tests/data/out_of_scope_domains.csv): most are flagged.
    The committed model flags 56 of 90, the small test model 51; this holds that line (see
    docs/decisions.md: training on such messages flagged more of them but also more real
    in-scope ones)."""
    frame = pd.read_csv(Path(__file__).parent.parent / "data" / "out_of_scope_domains.csv",
                        dtype=str, keep_default_na=False)
    scored = engine.score(frame["text"].tolist())
    assert len(frame) == 90
    assert scored.no_match.mean() >= 0.55
    by_domain = pd.Series(scored.no_match).groupby(frame["domain"]).mean()
    assert by_domain[["personal_admin", "shopping_pets_garden", "junk"]].min() >= 0.7


@pytest.mark.xfail(strict=True, reason="known failure: an appliance fault that names a room "
                   "or a part reads as an in-scope fault (docs/decisions.md); the mark must go "
                   "the day this passes")
@pytest.mark.parametrize("text", [
    "my dishwasher is leaking water on the kitchen floor",
    "the garage door remote stopped working after I changed its battery",
])
def test_an_appliance_fault_is_not_answered_with_an_article(engine: Engine, text: str) -> None:
    assert engine.answer(text).no_match
