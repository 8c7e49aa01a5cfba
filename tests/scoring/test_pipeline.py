"""The pipeline's invariants: a text scores the same, bit for bit, alone or in any batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertise.engine import Engine
from expertise.scoring.model import _SCIPY_MIN_ROWS
from expertise.scoring.pipeline import Scored
from expertise.scoring.tokens import RE2_MIN_BATCH

#: Texts where two tokenizers, two product paths or the rounding of a threshold could part.
ADVERSARIAL = [
    "", " ", "???", "!!!", "a", "0", "<ip>", "<EMAIL> <PHONE>", "ok\tok\nok\x0bok\x1cok",
    "Hub fw 4.2.1 says E-1043; PPPoE auth fails, MTU 1492, SNR 6 dB, 192.168.1.254:8080",
    "the box with the lights has gone orange and I'm not good with technology",
    "£35 charge — what's this? “engineer visit” … again", "café résumé naïve façade",
    "ルーターのランプが赤く点滅しています", "Привет, интернет не работает",
    "İstanbul KELVIN \u212a",
    "dotless \u0131 long \u017f", "wifi " * 300, "restarted rebooted power-cycled " * 20,
    "x" * 6000, "\x01marker\x01 text", "C'EST LA VIE!!! ... ---- ::: '''",
]


def _row(scored: Scored, i: int) -> tuple[object, ...]:
    """Everything a row of a scored batch says, as comparable values (floats by their bits)."""
    return (scored.texts[i], scored.level_p[i].tobytes(), scored.topic_p[i].tobytes(),
            scored.ranked[i].tolist(), bool(scored.no_match[i]), bool(scored.estimate[i]),
            int(scored.choice.chosen[i]), scored.choice.fits[i].tobytes(), bool(scored.low[i]),
            scored.alternatives[i], scored.reasons[i], scored.notes[i])


def _assert_alone_equals_batch(engine: Engine, texts: list[str]) -> None:
    together = engine.score(texts)
    for i, text in enumerate(texts):
        assert _row(engine.score([text]), 0) == _row(together, i), text[:80]


text = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .,:;!?'-/_#*+<>\n")
                             + ["é", "£", "—", "’", "€", "ß", "İ", "\u212a", "日", "\x01", "\t"]),
    max_size=160)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(text, min_size=max(_SCIPY_MIN_ROWS, RE2_MIN_BATCH), max_size=90))
def test_any_text_scores_the_same_alone_and_in_a_large_batch(engine: Engine,
                                                             texts: list[str]) -> None:
    """Large batches take RE2 and scipy's products, a batch of one re and numpy's."""
    _assert_alone_equals_batch(engine, texts)


def test_adversarial_texts_score_the_same_alone_and_in_a_batch(engine: Engine) -> None:
    texts = (ADVERSARIAL * 4)[:max(_SCIPY_MIN_ROWS, RE2_MIN_BATCH) + 6]
    _assert_alone_equals_batch(engine, texts)
    _assert_alone_equals_batch(engine, ADVERSARIAL)  # a small batch: the numpy paths only


def test_history_scores_the_same_given_the_same_earlier_tickets(engine: Engine) -> None:
    """A customer's earlier rows in a batch count exactly as the same tickets passed as
    history to an answer of one."""
    rows = [("C1", f"2026-01-0{k + 1}", t) for k, t in enumerate(ADVERSARIAL[9:14])]
    rows += [("C2", "2026-02-01", "internet down again"), ("", "2026-02-02", "still broken"),
             ("C1", "2026-03-01", "internet down again")]
    rows = rows * 9  # large enough for the batch paths; repeats are later tickets
    texts = [t for _, _, t in rows]
    stamps = [f"{d}T00:{k // 60:02d}:{k % 60:02d}" for k, (_, d, _) in enumerate(rows)]
    together = engine.score(texts, customer_ids=[c or None for c, _, _ in rows],
                            created_at=stamps)
    for i, (cid, _, text) in enumerate(rows):
        earlier = sorted((stamps[j], texts[j]) for j, (c, _, _) in enumerate(rows)
                         if cid and c == cid and stamps[j] < stamps[i])
        profile = engine.profile_from_rows([{"created_at": s, "body": t} for s, t in earlier])
        alone = engine.score([text], created_at=[stamps[i]], profiles=[profile])
        assert _row(alone, 0) == _row(together, i)
        assert np.array_equal(alone.history.evidence[0], together.history.evidence[i])
        assert together.history.n_before[i] == len(earlier)


def test_scores_are_distributions_and_choices_are_valid(engine: Engine) -> None:
    scored = engine.score(ADVERSARIAL)
    assert np.allclose(scored.level_p.sum(axis=1), 1.0)
    assert np.allclose(scored.topic_p.sum(axis=1), 1.0)
    assert set(scored.choice.chosen.tolist()) <= {0, 1, 2}
    columns = scored.columns()
    assert all(len(v) == len(ADVERSARIAL) for v in columns.values())


@pytest.mark.parametrize("n", [1, 3, 200])
def test_sparse_products_follow_their_definition(n: int) -> None:
    """Each row's products added one by one in entry order, whichever path computes them."""
    from expertise.scoring.features import Features
    from expertise.scoring.model import _postings, _sequential, sparse_dot

    rng = np.random.default_rng(n)
    lengths = rng.integers(0, 40, n)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = rng.integers(0, 300, int(indptr[-1]))
    data = rng.random(int(indptr[-1])) * np.exp(rng.normal(0, 5, int(indptr[-1])))
    f = Features(indptr, indices, data, np.zeros((n, 0)), None,  # type: ignore[arg-type]
                 np.ones(n, bool), lengths)
    weights = rng.normal(size=(300, 5)).astype(np.float32)
    expected = np.zeros((n, 5))
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            expected[i] = expected[i] + data[e] * weights[indices[e]].astype(np.float64)
    assert np.array_equal(sparse_dot(f, weights), expected)
    assert np.array_equal(_sequential(f, weights), expected)
    dense = (rng.random((300, 4)) < 0.2) * rng.random((300, 4))
    csr = [np.concatenate([[0], np.cumsum((dense != 0).sum(axis=1))]),
           np.nonzero(dense)[1], dense[dense != 0]]
    by_posting = np.zeros((n, 4))
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            for t in np.flatnonzero(dense[indices[e]]):
                by_posting[i, t] = by_posting[i, t] + data[e] * dense[indices[e], t]
    assert np.array_equal(_postings(f, *csr, 4), by_posting)
