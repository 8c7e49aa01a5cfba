"""The engine end to end: real small model, real knowledge base, real SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertise.config import LEVELS
from expertise.engine import Engine
from expertise.errors import InputError
from expertise.store.db import Store
from tests.conftest import DATA, KB

NOVICE = ("the box with the lights has gone orange and the internet has stopped, "
          "im not good with tech")
EXPERT = ("PPPoE auth fails on the hub (fw 4.2.1), no WAN IP; MTU 1492, ran traceroute, "
          "DHCP lease ok")


def _store_with_history(path: Path, customer: str, level: str, n: int = 4) -> Store:
    texts = {"expert": "Hub on fw 4.2.1 drops the PPPoE session, SNR margin 3 dB, DHCP lease "
                       "renews fine, traceroute dies at hop 2. Please check the line.",
             "novice": "my internet box has gone all orange and the tv thing doesnt work, i "
                       "dont understand any of it, my son usually sorts it"}
    rows = [{"ticket_id": f"{customer}-{i}", "customer_id": customer,
             "created_at": f"2026-0{i + 1}-01T10:00:00", "channel": "email", "subject": "",
             "body": texts[level], "expertise_level": level, "topic": "no-internet"}
            for i in range(n)]
    store = Store(path)
    store.ingest_frame(pd.DataFrame(rows), source="test")
    return store


def test_novice_and_expert_wording_get_their_levels_and_articles(engine: Engine) -> None:
    novice = engine.answer(NOVICE)
    expert = engine.answer(EXPERT)
    assert novice.level == "novice" and novice.article.id == "no-internet/novice"
    assert expert.level == "expert" and expert.article.id == "no-internet/expert"
    assert abs(sum(novice.probabilities.values()) - 1) < 1e-3
    assert any("technical term" in r for r in expert.reasons)
    assert any("looks" in r or "not good" in r or "no technical" in r for r in novice.reasons)
    ids = [a.id for a in expert.alternatives]
    assert "no-internet/intermediate" in ids and len(ids) == len(set(ids))


def test_history_from_the_store_moves_a_terse_ticket(models_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store_with_history(db, "C-EXP", "expert").close()
    _store_with_history(db, "C-NOV", "novice").close()
    eng = Engine(kb_root=KB, db_path=db)
    try:
        alone = eng.answer("still not working")
        as_expert = eng.answer("still not working", customer_id="C-EXP")
        as_novice = eng.answer("still not working", customer_id="C-NOV")
    finally:
        eng.close()
    assert as_expert.customer["history_tickets"] == 4
    idx = LEVELS.index
    assert as_expert.probabilities["expert"] > alone.probabilities["expert"]
    assert as_novice.probabilities["novice"] > alone.probabilities["novice"]
    assert idx(as_expert.level) > idx(as_novice.level)
    assert any("earlier tickets" in r for r in as_expert.reasons)


def test_future_tickets_are_not_history(models_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store_with_history(db, "C-EXP", "expert").close()
    eng = Engine(kb_root=KB, db_path=db)
    try:
        before_all = eng.answer("still not working", customer_id="C-EXP",
                                created_at="2025-12-01T00:00:00")
        later = eng.answer("still not working", customer_id="C-EXP",
                           created_at="2026-02-15T00:00:00")
    finally:
        eng.close()
    assert before_all.customer["history_tickets"] == 0
    assert later.customer["history_tickets"] == 2


def test_unknown_customer_is_said_and_treated_as_anonymous(models_env: Path, tmp_path: Path
                                                          ) -> None:
    eng = Engine(kb_root=KB, db_path=tmp_path / "s.db")
    try:
        ans = eng.answer(NOVICE, customer_id="NOBODY")
    finally:
        eng.close()
    assert ans.customer["status"] == "unknown"
    assert any("not in the store" in n for n in ans.notes)


def test_opted_out_caller_gets_neutral_answer(models_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = _store_with_history(db, "C-OUT", "expert")
    store.set_consent("C-OUT", "opted_out")
    store.close()
    eng = Engine(kb_root=KB, db_path=db)
    try:
        ans = eng.answer(EXPERT, customer_id="C-OUT")
    finally:
        eng.close()
    assert ans.level is None and ans.probabilities is None and ans.reasons == []
    assert ans.article.level == "intermediate"
    assert {a.level for a in ans.alternatives if a.topic == ans.article.topic} == {"novice",
                                                                                   "expert"}
    assert any("opted out" in n for n in ans.notes)
    assert ans.customer["history_tickets"] == 0


def test_edge_cases(engine: Engine) -> None:
    with pytest.raises(InputError, match="empty"):
        engine.answer("   ")
    french = engine.answer("Bonjour, ma connexion internet ne fonctionne plus depuis hier soir, "
                           "pouvez-vous m'aider s'il vous plait")
    assert french.level is None and any("English" in n for n in french.notes)
    long = engine.answer(EXPERT + " " + " ".join(f"and more words {i}" for i in range(2000)))
    assert any("cut" in n for n in long.notes) and long.level is not None


def test_missing_level_falls_back_and_says_so(models_env: Path) -> None:
    eng = Engine(kb_root=DATA / "kb_tiny")
    ans = eng.answer("the tv just says no signal and the screen is black, the telly box thing "
                     "isnt working and i dont know what to press, my grandson usually does it, "
                     "i am hopeless with technology")
    assert ans.article.topic == "tv-no-signal"
    if ans.level == "intermediate":
        assert any("has no intermediate article" in n for n in ans.notes)
    assert ans.article.level in ("novice", "expert")
    # topics the knowledge base lacks are never served
    assert all(t["topic"] in ("no-internet", "tv-no-signal") for t in ans.topics)



def test_a_topic_the_knowledge_base_lacks_is_not_passed_to_another(models_env: Path) -> None:
    """A message about a topic the model knows but this knowledge base has no article for
    must not have that topic's probability spread over the topics it has: no good match, and
    a note naming the topic that is missing."""
    eng = Engine(kb_root=DATA / "kb_tiny")
    full = Engine()
    bill = ("why is my bill twenty pounds higher this month, there is a charge on it I do not "
            "recognise")
    assert full.answer(bill).article.topic == "bill-explained"
    ans = eng.answer(bill)
    assert ans.no_match and ans.article is None
    assert "the likeliest topic, bill-explained, has no article in this knowledge base" in ans.notes
    assert all(t["score"] < 0.3 for t in ans.topics)
    # a topic the small knowledge base has is answered as before, with no such note
    down = eng.answer("the hub light is red and there is no internet since this morning")
    assert down.article.topic == "no-internet" and not down.no_match
    assert not any("has no article in this knowledge base" in n for n in down.notes)

def test_gibberish_gets_no_good_match(engine: Engine) -> None:
    ans = engine.answer("zxqv plorb wibble frotz quux")
    assert ans.no_match and any(n.startswith("no good match") for n in ans.notes)
    assert ans.article is None and ans.body == "" and ans.level_served is None
    assert ans.alternatives and all(a.why.startswith("nearest topic") for a in ans.alternatives)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip()))
def test_any_text_gets_a_level_or_a_flag(engine: Engine, text: str) -> None:
    ans = engine.answer(text)
    assert ans.level in (*LEVELS, None)
    if ans.level is not None:
        assert abs(sum(ans.probabilities.values()) - 1) < 1e-3
    assert (ans.article is not None) != ans.no_match and len(ans.topics) <= 3
    assert ans.level is not None or any("not estimated" in n or "opted out" in n
                                        for n in ans.notes)


def test_store_history_is_prepared_like_export_rows(engine: Engine) -> None:
    """A ticket read back from the store counts as it would as an earlier export row."""
    messy = {"created_at": "2026-01-01T00:00:00", "subject": "",
             "body": "PPPoE   auth\n\nfails,   fw 4.2.1 " + "x " * 4000}
    clean = dict(messy, body=" ".join(messy["body"].split())[:5000])
    one, two = engine.profile_from_rows([messy]), engine.profile_from_rows([clean])
    assert np.array_equal(one.sums, two.sums) and np.array_equal(one.counts, two.counts)
    assert one.n == two.n == 1
