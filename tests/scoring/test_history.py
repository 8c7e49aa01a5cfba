"""History as evidence about a lasting trait, on a real fitted model: accumulation, bounds,
pins, consent and erasure, the disagreement note, and the store's running summary."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from expertise.config import DOMAINS, LEVELS
from expertise.engine import Engine
from expertise.rights.erasure import forget_customer
from expertise.scoring.features import featurize
from expertise.scoring.history import (
    HistoryParams,
    Profile,
    alone,
    areas,
    evidence_inputs,
    fold,
    from_history,
    history_terms,
    posterior,
)
from expertise.store.db import Store
from tests.conftest import KB

EXPERT_NOTES = [
    "Hub on fw 4.2.1 drops the PPPoE session every night, SNR margin 3 dB, DHCP lease renews "
    "fine and traceroute dies at hop 2. Please check the line from the exchange side.",
    "5 GHz radio keeps hopping DFS channels (radar events in the log), clients drop for 60 s "
    "each time. Can you pin channel 36 and disable band steering on the hub?",
    "Behind CGNAT since the migration: WAN IP is 100.64.x.x so my port forwards for the VPN "
    "never reach me. Need a public IPv4 or at least IPv6 with a delegated /56 prefix.",
]
NOVICE_NOTES = [
    "i cant find the settings on my new phone, my grandson set it up and i dont know what any "
    "of the buttons do, sorry im no good with these things",
    "the tv box has a red light and the telly says no signal, i havent touched anything, "
    "please help me i dont understand it",
    "my internet box has gone all orange and the tv thing doesnt work, i dont understand any "
    "of it, my son usually sorts it",
]
CASUAL = "wifi keeps cutting out again, any ideas?"


def _rows(customer: str, texts: list[str], *, start: int = 1, label: str = "") -> list[dict]:
    return [{"ticket_id": f"{customer}-{start + k}", "customer_id": customer,
             "created_at": f"2026-0{start + k}-01T10:00:00", "channel": "email", "subject": "",
             "body": t, "expertise_level": label, "topic": "no-internet"}
            for k, t in enumerate(texts)]


def _terms(engine: Engine, texts: list[str]) -> np.ndarray:
    f = featurize(texts, engine.lean.words, engine.lean.idf)
    w = engine.lean.wording(f)
    inputs = evidence_inputs(w.proba, f.n_tokens, f.evidence.signals(), w.none_proba,
                             known_share=f.known_share)
    return history_terms(w.proba, inputs, None, engine.lean.history)


def test_sureness_counts_only_over_words_the_model_knows() -> None:
    """The same sure wording counts in full when the model knows 80% of the words or more,
    in part from 50%, not at all below; off-topic text with no signal counts nothing."""
    p = np.array([[0.05, 0.9, 0.05]] * 4)
    n = np.full(4, 30)
    none = np.array([0.0, 0.0, 0.0, 0.99])
    share = np.array([1.0, 0.8, 0.65, 1.0])
    sure = evidence_inputs(p, n, np.zeros(4), none, known_share=share)[:, 0]
    full = 0.9 - 1.0 / 3.0
    np.testing.assert_allclose(sure, [full, full, full / 2, 0.0])
    assert evidence_inputs(p, n, np.zeros(4), None, known_share=np.full(4, 0.4))[:, 0].max() == 0
    # a signal of a level keeps an off-topic message's sureness
    assert evidence_inputs(p[:1], n[:1], np.ones(1), none[3:])[0, 0] == full


def test_order_of_earlier_tickets_does_not_matter_without_decay(engine: Engine) -> None:
    """Without times there is no decay: every order of the same tickets gives the same
    evidence (to rounding), and their sum."""
    texts = EXPERT_NOTES + NOVICE_NOTES[:1]
    results = []
    for order in itertools.permutations(range(len(texts))):
        rows = [{"body": texts[k]} for k in order]
        results.append(engine.profile_from_rows(rows).sums)
    for sums in results[1:]:
        np.testing.assert_allclose(sums, results[0], rtol=0, atol=1e-12)
    expected = _terms(engine, texts).sum(axis=0)
    np.testing.assert_allclose(results[0].sum(axis=0), expected, rtol=0, atol=1e-12)


def test_with_times_only_age_matters(engine: Engine) -> None:
    """Tickets dated the same day count the same in any order; an older ticket counts less
    by exactly its decay factor."""
    params = engine.lean.history
    same_day = [{"body": t, "created_at": "2026-03-01T10:00:00"} for t in EXPERT_NOTES]
    a = engine.profile_from_rows(same_day)
    b = engine.profile_from_rows(same_day[::-1])
    np.testing.assert_allclose(a.sums, b.sums, rtol=0, atol=1e-12)
    days = 200.0
    old = engine.profile_from_rows([{"body": EXPERT_NOTES[0], "created_at": "2025-08-13"}])
    new = engine.profile_from_rows([{"body": EXPERT_NOTES[0], "created_at": "2026-03-01"}])
    later = engine.score([CASUAL], created_at=["2026-03-01"], profiles=[old])
    now = engine.score([CASUAL], created_at=["2026-03-01"], profiles=[new])
    factor = 2.0 ** (-days / params.half_life_days)
    np.testing.assert_allclose(later.history.evidence[0], factor * now.history.evidence[0],
                               rtol=1e-9)


def test_one_ticket_can_move_the_answer_only_so_far(engine: Engine) -> None:
    """However sure its wording, one ticket's terms are bounded by the register matrix and
    the priors; a ticket that says nothing adds almost nothing."""
    params = engine.lean.history
    register = np.asarray(params.register)
    bound = np.log((register / np.asarray(params.wording_prior)).max(axis=1))
    sure = np.eye(3)
    inputs = np.tile([1.0, 20.0], (3, 1))  # as sure and rich in signals as it gets
    for current in (True, False):
        from expertise.scoring.history import terms

        t = terms(sure, inputs, params, current=current)
        assert (t <= bound[None, :] + 1e-12).all()
    thin = _terms(engine, ["ok"])
    assert np.abs(thin).max() < 0.5
    # one expert ticket of history never outweighs a long novice message on its own
    one = engine.profile_from_rows([{"body": EXPERT_NOTES[0]}])
    ans = engine.score([NOVICE_NOTES[2]], profiles=[one])
    assert LEVELS[int(ans.level_p[0].argmax())] == "novice"


def test_three_agreeing_tickets_outweigh_a_casual_message(engine: Engine) -> None:
    """Evidence accumulates: each expert ticket moves a casual note further towards expert."""
    p_expert = []
    for n in range(len(EXPERT_NOTES) + 1):
        profile = engine.profile_from_rows([{"body": t} for t in EXPERT_NOTES[:n]])
        p_expert.append(float(engine.score([CASUAL], profiles=[profile]).level_p[0, 2]))
    assert p_expert == sorted(p_expert) and p_expert[-1] > p_expert[0] + 0.3
    assert p_expert[-1] > 0.5


def test_a_pinned_level_wins(engine: Engine) -> None:
    novice = engine.profile_from_rows([{"body": t} for t in NOVICE_NOTES])
    scored = engine.score([EXPERT_NOTES[0]], profiles=[novice], pinned=["intermediate"])
    assert LEVELS[int(scored.level_p[0].argmax())] == "intermediate"
    assert scored.level_p[0, 1] >= 0.95
    assert any("set this caller's level to intermediate" in n for n in scored.notes[0])


def test_disagreement_is_said_and_both_articles_offered(engine: Engine) -> None:
    history = engine.profile_from_rows([{"body": t} for t in EXPERT_NOTES])
    text = ("my internet keeps going off and on, i dont understand why, the lights on the box "
            "flash orange sometimes and i have turned it off and on again, not good with this")
    scored = engine.score([text], profiles=[history])
    now = LEVELS[int(alone(scored.wording_p, _inputs(engine, text), engine.lean.history)[0]
                     .argmax())]
    before = LEVELS[int(from_history(scored.history.evidence, engine.lean.history)[0].argmax())]
    assert (now, before) == ("novice", "expert")
    note = next(n for n in scored.notes[0] if "this message alone reads" in n)
    assert note.startswith("this message alone reads novice; 3 earlier tickets, 3 read as expert")
    served = LEVELS[int(scored.choice.chosen[0])]
    offered = {engine.kb.article(a).level for a, _ in scored.alternatives[0]}
    assert {served} | offered >= {"novice", "expert"}
    # and the confidence shows the disagreement: less sure than with a message that agrees
    agreeing = engine.score([EXPERT_NOTES[0]], profiles=[history])
    assert scored.level_p[0].max() < agreeing.level_p[0].max()


def _inputs(engine: Engine, text: str) -> np.ndarray:
    f = featurize([text], engine.lean.words, engine.lean.idf)
    w = engine.lean.wording(f)
    return evidence_inputs(w.proba, f.n_tokens, f.evidence.signals())


def test_the_posterior_is_prior_and_evidence() -> None:
    """The formula itself: without evidence or pin, the current ticket alone; a pin takes its
    weight whatever the rest says."""
    from expertise.scoring.history import PIN_WEIGHT, HistoryParams

    params = HistoryParams(prior=(0.3, 0.4, 0.3), slopes=(1.0, 1.0))
    p = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    inputs = np.array([[0.4, 1.0], [0.2, 0.0]])
    np.testing.assert_array_equal(posterior(p, inputs, np.zeros((2, 3)), None, params),
                                  alone(p, inputs, params))
    pinned = posterior(p, inputs, np.full((2, 3), 5.0) * [1, -1, 0], np.array([2, -1]), params)
    assert pinned[0, 2] >= PIN_WEIGHT and pinned[1].argmax() == 0
    np.testing.assert_allclose(pinned.sum(axis=1), 1.0)


# ---------------------------------------------------------------------------------------------
# The store's running summary, consent and erasure
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def store_engine(models_env: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "s.db"
    with Store(db) as store:
        store.ingest_frame(pd.DataFrame(_rows("C-EXP", EXPERT_NOTES[:2], label="expert")
                                        + _rows("C-NOV", NOVICE_NOTES)), source="test")
    eng = Engine(kb_root=KB, db_path=db)
    yield eng
    eng.close()


def _same(a: Profile, b: Profile) -> None:
    np.testing.assert_allclose(a.sums, b.sums, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.n == b.n and (a.as_of == b.as_of or (np.isnan(a.as_of) and np.isnan(b.as_of)))


def test_store_summary_equals_a_full_recomputation(store_engine: Engine) -> None:
    eng = store_engine
    store = eng.store
    assert store is not None
    first = eng.customer_profile("C-EXP")
    saved = store.profile("C-EXP", eng.version)
    assert saved is not None and saved.tickets == 2
    _same(first, eng.profile_from_rows(eng.rows_of(store.history("C-EXP"))))
    # a newer ticket: the saved summary is extended, and equals recomputing from scratch
    store.ingest_frame(pd.DataFrame(_rows("C-EXP", EXPERT_NOTES[2:], start=3)), source="test")
    extended = eng.customer_profile("C-EXP")
    assert store.profile("C-EXP", eng.version).tickets == 3  # type: ignore[union-attr]
    _same(extended, eng.profile_from_rows(eng.rows_of(store.history("C-EXP"))))
    # an older ticket ingested late: rebuilt in time order, still equal
    late = _rows("C-EXP", [CASUAL], start=0)
    late[0]["created_at"] = "2025-12-01T10:00:00"
    store.ingest_frame(pd.DataFrame(late), source="test")
    rebuilt = eng.customer_profile("C-EXP")
    assert rebuilt.n == 4
    _same(rebuilt, eng.profile_from_rows(eng.rows_of(store.history("C-EXP"))))
    # and the answer uses it
    ans = eng.answer(CASUAL, customer_id="C-EXP")
    assert ans.customer["history_tickets"] == 4


def test_opted_out_and_erased_customers_have_no_history(store_engine: Engine) -> None:
    eng = store_engine
    store = eng.store
    assert store is not None
    eng.customer_profile("C-NOV")
    assert store.profile("C-NOV", eng.version) is not None
    store.pin_level("C-NOV", "novice")
    store.set_consent("C-NOV", "opted_out")
    assert store.profile("C-NOV", eng.version) is None  # the summary went with the consent
    assert store.customer("C-NOV").pinned_level is None  # type: ignore[union-attr]
    out = eng.answer(CASUAL, customer_id="C-NOV")
    assert out.customer["history_tickets"] == 0 and out.level is None
    anonymous = eng.answer(EXPERT_NOTES[0])
    forget_customer(store, "C-EXP")
    gone = eng.answer(EXPERT_NOTES[0], customer_id="C-EXP")
    assert gone.customer["status"] == "unknown" and gone.customer.get("history_tickets", 0) == 0
    assert gone.probabilities == anonymous.probabilities
    assert store.profile("C-EXP", eng.version) is None


def test_a_batch_does_not_use_an_opted_out_customers_rows(engine: Engine) -> None:
    texts = EXPERT_NOTES + [CASUAL]
    ids = ["C"] * 4
    states = [{"id": "C", "status": "opted_out"}] * 4
    scored = engine.score(texts, customer_ids=ids, states=states)
    assert (scored.history.n_before == 0).all() and not scored.estimate.any()
    assert "C" not in scored.history.after


def test_a_ticket_torn_between_two_areas_counts_in_both() -> None:
    """An earlier ticket that reads half mobile data, half home internet counts half in each
    area, so a knife-edge between two topics cannot swing a customer's history; a labelled
    topic counts wholly in its own area."""
    network, mobile, tv = (DOMAINS.index(d) for d in ("network", "mobile", "tv"))
    p = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    w = areas(p, ["network", "mobile", "tv"])
    np.testing.assert_allclose(w[0, [network, mobile, tv]], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    labelled = areas(p, ["network", "mobile", "tv"], ["no-internet", None])
    assert labelled[0, network] == 1.0 and labelled[0].sum() == 1.0
    np.testing.assert_allclose(labelled[1], w[1])
    term = np.array([[2.0, -1.0, -1.0]])
    profile = fold(None, term, w[:1], np.array([np.nan]), HistoryParams())
    np.testing.assert_allclose(profile.sums[network], term[0] / 2)
    np.testing.assert_allclose(profile.sums[mobile], term[0] / 2)
    assert not profile.sums[tv].any()
