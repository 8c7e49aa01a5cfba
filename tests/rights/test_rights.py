"""Consent, disclosure, erasure and audit (expertise/trust.py, disclosure.py) and their CLI
commands, plus ingest and feedback; bundle verification through `answer --model`; hostile ids.

Everything runs on real files: a small real bundle (conftest), the bundled knowledge base and
a real SQLite store under tmp_path.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.bundles.fingerprints import (
    customer_salt,
    hash_customer,
    legacy_hash_customer,
    legacy_salt_path,
    salt_id,
    salt_path,
)
from expertise.bundles.format import MANIFEST, PICKLE, open_bundle
from expertise.cli import app
from expertise.config import LEVELS
from expertise.engine import Engine
from expertise.errors import ArtifactError, StoreError, UnknownCustomerError
from expertise.rights.consent import set_consent
from expertise.rights.disclosure import PLAIN_LEVEL, disclose
from expertise.rights.erasure import ModelUse, forget_customer, models_trained_on
from expertise.scoring.features import DENSE_FEATURES
from expertise.scoring.history import EVIDENCE_INPUTS, HistoryParams
from expertise.store.db import Store, default_actor
from tests.conftest import KB

EXPERT_TEXT = ("Hub on fw 4.2.1 drops the PPPoE session, SNR margin 3 dB, DHCP lease renews fine, "
               "traceroute dies at hop 2. Please check the line.")
NOVICE_TEXT = ("my internet box has gone all orange and the tv thing doesnt work, i dont "
               "understand any of it, my son usually sorts it")
#: Words a customer statement must not contain: model internals and jargon.
JARGON = ("model", "feature", "classifier", "probabilit", "posterior", "confidence", "n-gram",
          "tf-idf", "stage", "logit", "vector", "novice", "intermediate", "expert", "history_",
          "customer_id", "ticket_id", "salt", "hash", "score")

runner = CliRunner()


def cli(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def _tickets(customer: str, level: str, n: int, *, start_month: int = 3) -> list[dict[str, str]]:
    text = EXPERT_TEXT if level == "expert" else NOVICE_TEXT
    return [{"ticket_id": f"{customer}-{i}", "customer_id": customer,
             "created_at": f"2025-{start_month + i:02d}-01T10:00:00", "channel": "email",
             "subject": "", "body": text, "expertise_level": level, "topic": "no-internet"}
            for i in range(n)]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    """A store with an expert customer (3 tickets, March to May 2025), a novice (1 ticket) and
    an anonymous ticket."""
    path = tmp_path / "x.db"
    rows = _tickets("C-EXP", "expert", 3) + _tickets("C-NOV", "novice", 1)
    rows.append({"ticket_id": "ANON-1", "customer_id": "", "created_at": "2025-03-02T09:00:00",
                 "channel": "web", "subject": "", "body": NOVICE_TEXT,
                 "expertise_level": "novice", "topic": "no-internet"})
    with Store(path) as store:
        store.ingest_frame(pd.DataFrame(rows), source="test")
    return path


def _audit(path: Path) -> list[dict]:
    result = cli("audit", "--db", path, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------
# Salt and fingerprints
# ---------------------------------------------------------------------------------------------


def test_key_lives_with_the_models_is_created_once_and_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "models"
    root.mkdir()
    os.chmod(root, 0o700)
    monkeypatch.setenv("EXPERTISE_MODELS", str(root))
    path = salt_path()
    assert path == root / "customers.key" == salt_path(root)
    assert not path.exists()
    key = customer_salt()
    assert path.exists() and customer_salt() == key == customer_salt(path) and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the same key for every user of the models folder: not under anyone's home
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "someone-else"))
    assert customer_salt() == key
    assert len(salt_id(key)) == 12 and salt_id(key) not in key
    shared = tmp_path / "shared-models"
    shared.mkdir()
    os.chmod(shared, 0o750)  # group-readable folder: the group may read the key, no one else
    customer_salt(salt_path(shared))
    assert stat.S_IMODE(salt_path(shared).stat().st_mode) == 0o640


def test_fingerprints_are_keyed_hashes() -> None:
    key, other = "k" * 64, "o" * 64
    assert hash_customer("C1", key) == hash_customer("C1", key)
    assert hash_customer("C1", key) != hash_customer("C1", other)
    assert hash_customer("C1", key) != hash_customer("C2", key)
    assert "C1" not in hash_customer("C1", key)
    # not the old salted SHA-256, which anyone holding the manifest and the salt can recompute
    assert hash_customer("C1", key) != legacy_hash_customer("C1", key)


def _manifest(root: Path, version: str, salt: str | None, customers: list[str], *,
              legacy: bool = False) -> None:
    folder = root / version
    folder.mkdir(parents=True)
    doc = {"version": version, "format_version": 1, "files": {}}
    fingerprint = legacy_hash_customer if legacy else hash_customer
    if salt is not None:
        doc["customers"] = {"salt_id": salt_id(salt),
                            "hashes": sorted(fingerprint(c, salt) for c in customers)}
    (folder / MANIFEST).write_text(json.dumps(doc))


def test_models_trained_on_reads_manifest_fingerprints(tmp_path: Path) -> None:
    root = tmp_path / "models"
    assert models_trained_on("C1", root=root).trained_on == []  # no salt, no bundles
    salt = customer_salt(salt_path(root))
    _manifest(root, "v1", salt, ["C1", "C2"])
    _manifest(root, "v2", salt, ["C2"])
    _manifest(root, "v3", "another install", ["C1"])
    _manifest(root, "v4", None, [])
    use = models_trained_on("C1", root=root)
    assert use.trained_on == ["v1"]
    assert sorted(use.unverifiable) == ["v3", "v4"]
    assert models_trained_on("C2", root=root).trained_on == ["v1", "v2"]
    assert models_trained_on("C3", root=root).trained_on == []


def test_models_trained_on_without_a_salt_creates_none(tmp_path: Path) -> None:
    root = tmp_path / "models"
    _manifest(root, "v1", "elsewhere", ["C1"])
    use = models_trained_on("C1", root=root)
    assert use.trained_on == [] and use.unverifiable == ["v1"]
    assert not salt_path(root).exists()


def test_another_user_sees_the_models_trained_on_a_customer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is the models folder's: a colleague (another home, another data folder) who
    runs `forget` on the shared store learns the same."""
    root = tmp_path / "models"
    _manifest(root, "v1", customer_salt(salt_path(root)), ["C1"])
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "colleague"))
    monkeypatch.setenv("HOME", str(tmp_path / "colleague-home"))
    assert models_trained_on("C1", root=root) == ModelUse(trained_on=["v1"])


def test_a_key_that_cannot_be_read_is_said_not_taken_for_no(tmp_path: Path) -> None:
    root = tmp_path / "models"
    _manifest(root, "v1", "some key", ["C1"])
    salt_path(root).mkdir()  # unreadable as a file (a test as root cannot use permissions)
    use = models_trained_on("C1", root=root)
    assert use.trained_on == [] and use.unverifiable == ["v1"]
    assert use.note and "cannot read the fingerprint key" in use.note
    salt_path(root).rmdir()
    salt_path(root).write_bytes(b"\xff\xfe")  # damaged: not text
    damaged = models_trained_on("C1", root=root)
    assert damaged.unverifiable == ["v1"] and "damaged" in (damaged.note or "")


def test_bundles_of_earlier_versions_are_still_checked_with_the_users_salt(
        tmp_path: Path) -> None:
    root = tmp_path / "models"
    legacy = "0123456789abcdef" * 2
    legacy_salt_path().parent.mkdir(parents=True, exist_ok=True)
    legacy_salt_path().write_text(legacy + "\n")
    _manifest(root, "old", legacy, ["C1"], legacy=True)
    _manifest(root, "new", customer_salt(salt_path(root)), ["C2"])
    assert models_trained_on("C1", root=root) == ModelUse(trained_on=["old"])
    assert models_trained_on("C2", root=root) == ModelUse(trained_on=["new"])


# ---------------------------------------------------------------------------------------------
# Consent, exclusion, erasure (library)
# ---------------------------------------------------------------------------------------------


def test_set_consent_audits_and_clears_what_was_inferred(db: Path) -> None:
    with Store(db) as store:
        store.record_prediction("C-EXP-0", "expert", 0.9)
        change = set_consent(store, "C-EXP", opted_out=True, actor="agent-1", purpose="asked")
        assert (change.previous, change.consent, change.changed) == ("granted", "opted_out", True)
        assert [h.predicted_level for h in store.history("C-EXP")] == [None, None, None]
        assert len(store.history("C-EXP")) == 3  # the tickets themselves stay
        again = set_consent(store, "C-EXP", opted_out=True, actor="agent-1")
        assert not again.changed
        new = set_consent(store, "C-NEW", opted_out=True)
        assert new.previous is None and store.customer("C-NEW").consent == "opted_out"
        rows = store.audit_rows()
    assert [(r.actor, r.action, r.customer_id, r.purpose, r.detail) for r in rows[:2]] == [
        ("agent-1", "consent", "C-EXP", "asked", "granted -> opted_out"),
        ("agent-1", "consent", "C-EXP", None, "opted_out -> opted_out"),
    ]
    assert rows[2].actor == default_actor() and rows[2].detail == "new customer -> opted_out"


def test_opted_out_and_erased_customers_are_excluded_from_training(db: Path) -> None:
    with Store(db) as store:
        set_consent(store, "C-NOV", opted_out=True)
        assert store.training_exclusions(["C-NOV", "C-EXP", ""]) == {"C-NOV"}
        frame = store.training_frame()
        assert set(frame["customer_id"]) == {"C-EXP", ""}
        forget_customer(store, "C-EXP")
        assert set(store.training_frame()["customer_id"]) == {""}
        # an external export is judged by the same rule: the erased id by its erasure record
        excluded = store.training_exclusions(["C-EXP", "C-NOV", "C-OTHER", ""])
    assert excluded == {"C-EXP", "C-NOV"}


def test_forget_customer_reports_counts_and_models(db: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _manifest(root, "v1", customer_salt(salt_path(root)), ["C-EXP"])
    with Store(db) as store:
        store.add_feedback("C-EXP-0", article_id="no-internet/expert", helpful=True)
        store.audit("a", "answer", customer_id="C-EXP")
        erasure = forget_customer(store, "C-EXP", actor="dpo", models_root=root)
        with pytest.raises(UnknownCustomerError):
            forget_customer(store, "C-EXP", models_root=root)
        last = store.audit_rows()[-1]
    assert (erasure.tickets_deleted, erasure.feedback_deleted,
            erasure.audit_rows_anonymised) == (3, 1, 1)
    assert erasure.models.trained_on == ["v1"]
    assert "C-EXP" not in json.dumps(erasure.to_dict())
    assert (last.actor, last.action, last.customer_id) == ("dpo", "erasure", None)


def test_forget_customer_a_model_learned_from_but_the_store_never_held(
        db: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _manifest(root, "v1", customer_salt(salt_path(root)), ["C-IN-EXPORT"])
    with Store(db) as store:
        with pytest.raises(UnknownCustomerError, match="--even-if-unknown"):
            forget_customer(store, "C-TYPO", models_root=root)
        erasure = forget_customer(store, "C-IN-EXPORT", actor="dpo", models_root=root)
        assert store.training_exclusions(["C-IN-EXPORT", "C-EXP"]) == {"C-IN-EXPORT"}
        last = store.audit_rows()[-1]
    assert erasure.models.trained_on == ["v1"]
    assert (erasure.tickets_deleted, erasure.customer_deleted) == (0, False)
    assert (last.action, last.customer_id) == ("erasure", None)


# ---------------------------------------------------------------------------------------------
# Disclosure
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def eng(models_env: Path, db: Path):  # type: ignore[no-untyped-def]
    e = Engine(kb_root=KB, db_path=db)
    yield e
    e.close()


def _no_jargon(statement: str) -> None:
    lower = statement.lower()
    # internal names with an underscore; plain ones such as "tried" may be ordinary words
    internal = [n for n, _ in (*EVIDENCE_INPUTS, *DENSE_FEATURES) if "_" in n]
    internal += [n for n in HistoryParams.__dataclass_fields__ if "_" in n]
    assert len(internal) >= 10
    for word in (*JARGON, *internal):
        assert word.lower() not in lower, word


def test_disclosure_of_a_profiled_customer(eng: Engine) -> None:
    d = disclose(eng, "C-EXP", actor="agent-7", purpose="customer asked")
    assert (d.tickets_held, d.tickets_used, d.opted_out) == (3, 3, False)
    assert d.first.startswith("2025-03") and d.last.startswith("2025-05")
    assert d.level in LEVELS and 0 < d.confidence <= 1
    assert list(d.sections) == ["used", "inferred", "gain", "choices"]
    assert d.statement == "\n\n".join(d.sections.values())
    s = d.statement
    assert "the 3 messages you sent us between March 2025 and May 2025" in s
    assert PLAIN_LEVEL[d.level] in s
    assert f"({d.confidence:.0%})" in s
    assert "adviser noted" in s  # the tickets carry an adviser's label
    assert "stop tailoring" in s and "delete" in s
    assert "C-EXP" not in s and "PPPoE" not in s
    _no_jargon(s)
    rows = eng.store.audit_rows(customer_id="C-EXP")
    assert [(r.actor, r.action, r.purpose) for r in rows] == [
        ("agent-7", "explain", "customer asked")]


def test_disclosure_level_follows_the_history(eng: Engine) -> None:
    expert, novice = disclose(eng, "C-EXP"), disclose(eng, "C-NOV")
    assert LEVELS.index(expert.level) > LEVELS.index(novice.level)
    assert "the 1 message you sent us in March 2025" in novice.statement


def test_disclosure_of_an_opted_out_customer(eng: Engine) -> None:
    set_consent(eng.store, "C-EXP", opted_out=True)
    d = disclose(eng, "C-EXP")
    assert (d.opted_out, d.tickets_held, d.tickets_used, d.level, d.confidence) == (
        True, 3, 0, None, None)
    assert d.first is None and d.last is None
    assert "asked us not to tailor" in d.statement and "3 messages" in d.statement
    assert "tailor answers to you again" in d.statement
    _no_jargon(d.statement)


def test_disclosure_without_tickets_and_with_many(eng: Engine) -> None:
    set_consent(eng.store, "C-EMPTY", opted_out=False)
    empty = disclose(eng, "C-EMPTY")
    assert empty.tickets_used == 0 and empty.level is None
    assert "nothing so far" in empty.statement
    eng.store.ingest_frame(pd.DataFrame(
        [{**row, "created_at": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00"}
         for i, row in enumerate(_tickets("C-MANY", "expert", 55))]), source="test")
    many = disclose(eng, "C-MANY")
    assert (many.tickets_held, many.tickets_used) == (55, 55)  # all count; older ones less
    assert "the 55 messages you sent us" in many.statement
    assert "recent messages count for more" in many.statement


def test_disclosure_refuses_unknown_customers_and_needs_a_store(eng: Engine,
                                                               models_env: Path) -> None:
    with pytest.raises(UnknownCustomerError, match="not in the store"):
        disclose(eng, "NOBODY")
    assert eng.store.audit_rows() == []
    bare = Engine(kb_root=KB)
    try:
        with pytest.raises(StoreError, match="--db"):
            disclose(bare, "C-EXP")
    finally:
        bare.close()


# ---------------------------------------------------------------------------------------------
# CLI: ingest and feedback
# ---------------------------------------------------------------------------------------------


def test_cli_ingest_counts_and_second_run_adds_nothing(tmp_path: Path) -> None:
    src = tmp_path / "tickets.csv"
    rows = _tickets("C-1", "expert", 2) + [{"ticket_id": "", "customer_id": "C-1",
                                            "body": "no id", "created_at": ""}]
    pd.DataFrame(rows).to_csv(src, index=False)
    db = tmp_path / "x.db"
    first = cli("ingest", src, "--db", db)
    assert first.exit_code == 0, first.output
    assert "2 added, 0 updated, 0 unchanged, 1 rejected" in first.stdout
    assert "tickets.rejects.csv" in first.output and "empty ticket_id" in first.output
    assert (tmp_path / "tickets.rejects.csv").exists()
    second = cli("ingest", src, "--db", db, "--json", "--rejects", tmp_path / "r.csv")
    data = json.loads(second.stdout)
    assert (data["added"], data["unchanged"], data["rejected"]) == (0, 2, 1)
    assert data["rejects_path"] == str(tmp_path / "r.csv")
    text = cli("ingest", src, "--db", db)
    assert "nothing added" in text.stdout


def test_cli_ingest_with_a_column_map_and_errors(tmp_path: Path) -> None:
    src = tmp_path / "cases.csv"
    pd.DataFrame({"Case": ["K1"], "Who": ["C-9"], "Notes": [EXPERT_TEXT]}).to_csv(src,
                                                                                 index=False)
    db = tmp_path / "x.db"
    ok = cli("ingest", src, "--db", db, "--map", "ticket_id=Case", "--map", "customer_id=Who",
             "--map", "body=Notes")
    assert ok.exit_code == 0, ok.output
    with Store(db) as store:
        assert [h.ticket_id for h in store.history("C-9")] == ["K1"]
    unmapped = cli("ingest", src, "--db", db)
    assert unmapped.exit_code == 1 and "ticket_id" in unmapped.output
    bad_map = cli("ingest", src, "--db", db, "--map", "nonsense")
    assert bad_map.exit_code == 1 and "NEW=OLD" in bad_map.output
    missing = cli("ingest", tmp_path / "nope.csv", "--db", db)
    assert missing.exit_code == 1 and "nope.csv" in missing.output


def test_cli_feedback(db: Path) -> None:
    ok = cli("feedback", "C-EXP-0", "--article", "no-internet/expert", "--not-helpful",
             "--level", "novice", "--db", db, "--agent", "agent-2", "--json")
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ticket_in_store"] and data["helpful"] is False
    with Store(db) as store:
        (row,) = store.feedback_rows()
        assert (row.customer_id, row.agent, row.corrected_level, row.helpful) == (
            "C-EXP", "agent-2", "novice", False)
        frame = store.training_frame()
    assert frame.set_index("ticket_id").loc["C-EXP-0", "expertise_level"] == "novice"
    live = cli("feedback", "call-1", "--article", "no-internet/novice", "--helpful", "--db", db)
    assert live.exit_code == 0 and "not in the store" in live.output
    assert cli("feedback", "T", "--article", "no-internet/novice", "--db", db).exit_code == 2
    both = cli("feedback", "T", "--article", "no-internet/novice", "--helpful", "--not-helpful",
               "--db", db)
    assert both.exit_code == 2 and "exactly one" in both.output
    unknown = cli("feedback", "T", "--article", "no-such/novice", "--helpful", "--db", db)
    assert unknown.exit_code == 1 and "no article 'no-such/novice'" in unknown.output
    level = cli("feedback", "T", "--article", "no-internet/novice", "--helpful", "--level",
                "guru", "--db", db)
    assert level.exit_code == 2 and "guru" in level.output  # a usage error


def test_an_opted_out_customers_level_is_never_noted(db: Path) -> None:
    """A vote is about the article and is kept; a level is about the person: not stored after
    an opt-out, and the ones noted before go with it."""
    first = cli("feedback", "C-NOV-0", "--article", "no-internet/novice", "--helpful",
                "--level", "expert", "--db", db)
    assert first.exit_code == 0, first.output
    with Store(db) as store:
        store.add_feedback("C-NOV-0", article_id="no-internet/novice", corrected_level="expert")
    assert cli("consent", "--customer", "C-NOV", "--opt-out", "--db", db).exit_code == 0
    with Store(db) as store:
        assert [(r.helpful, r.corrected_level) for r in store.feedback_rows()] == [(True, None)]
    later = cli("feedback", "C-NOV-0", "--article", "no-internet/expert", "--not-helpful",
                "--level", "expert", "--db", db)
    assert (later.exit_code, later.stdout) == (0, (
        "feedback 2 recorded: no-internet/expert did not help; caller's level not noted: "
        "customer C-NOV opted out of personalisation\n"))
    js = cli("feedback", "C-NOV-0", "--article", "no-internet/expert", "--helpful", "--level",
             "novice", "--db", db, "--json")
    data = json.loads(js.stdout)
    assert (data["corrected_level"], data["level_not_noted_for"], data["pinned_for"]) == (
        None, "C-NOV", None)
    with Store(db) as store:
        # a live call's level alone (the session's :level) leaves nothing to keep
        assert store.add_feedback("call-1", article_id="no-internet/novice",
                                  customer_id="C-NOV", corrected_level="novice") == 0
        rows = store.feedback_rows()
        assert [(r.helpful, r.corrected_level) for r in rows] == [
            (True, None), (False, None), (True, None)]
        training = store.training_frame(exclude=False).set_index("ticket_id")
        assert training.loc["C-NOV-0", "label_source"] == "import"  # the export's, not ours
        assert store.customer("C-NOV").pinned_level is None  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# CLI: consent, explain, forget, audit
# ---------------------------------------------------------------------------------------------


def _answer(db: Path, customer: str, *extra: str) -> dict:
    # a message that names a problem but not a level: the article shown depends on consent only
    result = cli("answer", "my broadband is still not working", "--customer", customer,
                 "--db", db, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_consent_controls_personalisation(models_env: Path, db: Path) -> None:
    before = _answer(db, "C-EXP")
    assert before["customer"]["status"] == "known"
    assert before["customer"]["history_tickets"] == 3 and before["level"] in LEVELS
    out = cli("consent", "--customer", "C-EXP", "--opt-out", "--db", db, "--agent", "a1",
              "--purpose", "caller asked")
    assert out.exit_code == 0 and "opted out" in out.stdout
    neutral = _answer(db, "C-EXP")
    assert neutral["customer"]["status"] == "opted_out"
    assert neutral["customer"]["history_tickets"] == 0
    assert neutral["level"] is None and neutral["probabilities"] is None
    assert neutral["reasons"] == []
    assert neutral["article"]["level"] == "intermediate"
    topic = neutral["article"]["topic"]
    assert {a["level"] for a in neutral["alternatives"] if a["topic"] == topic} == {
        "novice", "expert"}
    assert any("opted out" in n for n in neutral["notes"])
    panel = cli("answer", "still not working", "--customer", "C-EXP", "--db", db)
    assert "opted out" in panel.stdout
    back = cli("consent", "--customer", "C-EXP", "--opt-in", "--db", db, "--json")
    assert json.loads(back.stdout) == {"customer_id": "C-EXP", "consent": "granted",
                                       "previous": "opted_out", "changed": True}
    after = _answer(db, "C-EXP")
    assert after["customer"]["history_tickets"] == 3
    assert after["probabilities"] == before["probabilities"]
    new = cli("consent", "--customer", "C-LATER", "--opt-out", "--db", db)
    assert "new to the store" in new.stdout


@pytest.mark.parametrize("flags", [[], ["--opt-out", "--opt-in"]])
def test_cli_consent_needs_exactly_one_choice(db: Path, flags: list[str]) -> None:
    result = cli("consent", "--customer", "C-EXP", *flags, "--db", db)
    assert result.exit_code == 2 and "exactly one of --opt-out or --opt-in" in result.output
    with Store(db) as store:
        assert store.audit_rows() == []


def test_cli_explain(models_env: Path, db: Path) -> None:
    text = cli("explain", "--customer", "C-EXP", "--db", db, "--agent", "a9")
    assert text.exit_code == 0, text.output
    flat = " ".join(text.stdout.replace("│", " ").split())
    assert "What we used: the 3 messages you sent us between March 2025 and May 2025" in flat
    assert "Your choices:" in flat
    js = json.loads(cli("explain", "--customer", "C-EXP", "--db", db, "--json").stdout)
    assert js["tickets_used"] == 3 and js["level"] in LEVELS
    assert set(js["sections"]) == {"used", "inferred", "gain", "choices"}
    unknown = cli("explain", "--customer", "NOBODY", "--db", db)
    assert unknown.exit_code == 1 and "not in the store" in unknown.output
    assert [(r["actor"], r["action"]) for r in _audit(db)] == [
        ("a9", "explain"), (default_actor(), "explain")]


def test_cli_explain_a_customer_known_only_from_the_audit_log(models_env: Path,
                                                              db: Path) -> None:
    """Looked up before any ticket of theirs was stored, a customer is named in the audit log
    only: the disclosure says that log is held, and that no messages are, not "we hold
    nothing"."""
    _answer(db, "C-CALLER", "--agent", "a1", "--purpose", "billing call")
    with Store(db) as store:
        assert store.customer("C-CALLER") is None
        (looked_up,) = store.audit_rows(customer_id="C-CALLER")
    month = datetime.fromisoformat(looked_up.at).strftime("%B %Y")
    text = cli("explain", "--customer", "C-CALLER", "--db", db, "--agent", "dpo")
    assert text.exit_code == 0, text.output
    flat = " ".join(text.stdout.replace("│", " ").split())
    assert "we have no earlier messages from you" in flat
    assert (f"We do keep a log of each time our staff looked up or changed your details, with "
            f"when, who and why: 1 entry in {month} (to help with a question)") in flat
    assert "no tickets held; no level yet; 1 earlier audit entry" in flat
    js = json.loads(cli("explain", "--customer", "C-CALLER", "--db", db, "--json").stdout)
    assert (js["tickets_held"], js["tickets_used"], js["level"]) == (0, 0, None)
    assert js["audit_entries"] == 2 and js["audit_first"] == looked_up.at  # answer, explain
    assert "2 entries" in js["sections"]["used"] and "to tell you what we hold" in js["statement"]
    assert "without anything that identifies you" in js["sections"]["choices"]
    _no_jargon(js["statement"])
    assert [(r["actor"], r["action"], r["customer_id"]) for r in _audit(db)] == [
        ("a1", "answer", "C-CALLER"), ("dpo", "explain", "C-CALLER"),
        (default_actor(), "explain", "C-CALLER")]
    # a customer with tickets hears of the log too, after what was used
    _answer(db, "C-EXP")
    known = json.loads(cli("explain", "--customer", "C-EXP", "--db", db, "--json").stdout)
    assert known["tickets_used"] == 3 and known["audit_entries"] == 1
    assert "the 3 messages you sent us" in known["sections"]["used"]
    assert "We also keep a log" in known["sections"]["used"]
    # erased, the customer's audit rows name nobody: nothing is held under the id any more,
    # and the statement says they were erased
    assert cli("forget", "--customer", "C-CALLER", "--db", db).exit_code == 0
    gone = cli("explain", "--customer", "C-CALLER", "--db", db, "--json")
    assert gone.exit_code == 0, gone.output
    assert "You asked us to delete your details, and we did" in json.loads(gone.stdout)[
        "sections"]["used"]


def test_cli_explain_and_forget_a_customer_only_a_model_learned_from(
        models_env: Path, db: Path, small_train: pd.DataFrame) -> None:
    """The conftest bundle learned from every customer of ``small_train``; the store holds
    none of them. Such a customer is told that a model learned from their messages, and can
    be erased: the erasure keeps them out of the next retraining."""
    customer = sorted(small_train["customer_id"].unique())[0]
    cli("consent", "--customer", "C-OTHER", "--opt-in", "--db", db)  # the store exists
    told = json.loads(cli("explain", "--customer", customer, "--db", db, "--json").stdout)
    assert told["models_trained_on"] == ["test-small"] and told["tickets_held"] == 0
    assert told["sections"]["used"].startswith(
        "What we used: we hold no messages from you, so none of them shape our answers to you. "
        "Messages of yours did help teach the system that tailors our answers today")
    assert "we teach that system again without your messages" in told["sections"]["choices"]
    _no_jargon(told["statement"])
    shown = cli("explain", "--customer", customer, "--db", db)
    assert "model versions trained on this customer: test-small" in shown.stdout
    # no option needed: a model learned from them
    gone = cli("forget", "--customer", customer, "--db", db)
    assert gone.exit_code == 0, gone.output
    said = " ".join(gone.stdout.split())
    assert "model versions trained on this customer: test-small" in said
    with Store(db) as store:
        assert store.training_exclusions([customer]) == {customer}
    after = json.loads(cli("explain", "--customer", customer, "--db", db, "--json").stdout)
    assert "You asked us to delete your details, and we did" in after["sections"]["used"]
    assert customer not in json.dumps([r for r in _audit(db) if r["action"] != "consent"])


def test_cli_forget(models_env: Path, db: Path) -> None:
    _answer(db, "C-EXP", "--agent", "a1")
    unknown = cli("forget", "--customer", "NOBODY", "--db", db)
    assert unknown.exit_code == 1
    assert "unknown customer 'NOBODY': nothing stored to erase" in unknown.output
    done = cli("forget", "--customer", "C-EXP", "--db", db, "--agent", "dpo")
    assert done.exit_code == 0, done.output
    assert "erased: 3 tickets" in done.stdout and "1 audit row" in done.stdout
    # the conftest bundle's key lives with its models folder: it can be checked, and it
    # never saw this customer
    assert "no model version on this install was trained on this customer" in done.stdout
    assert ("Not erased: copies outside the store, in files written earlier (score outputs, "
            "rejects files) and in exports; find and delete them separately.") in " ".join(
        done.stdout.split())
    again = cli("forget", "--customer", "C-EXP", "--db", db, "--json")
    assert again.exit_code == 1 and "erased here before" in again.output
    rows = _audit(db)
    assert [(r["action"], r["customer_id"]) for r in rows] == [
        ("answer", None), ("erasure", None)]
    assert rows[1]["actor"] == "dpo" and "C-EXP" not in json.dumps(rows)
    erased = cli("explain", "--customer", "C-EXP", "--db", db)
    assert erased.exit_code == 0 and "erased here on" in erased.stdout


def test_cli_forget_even_if_unknown_keeps_an_export_only_customer_out(
        models_env: Path, db: Path, tmp_path: Path) -> None:
    _answer(db, "C-EXP")
    done = cli("forget", "--customer", "C-LATER", "--db", db, "--even-if-unknown")
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())
    assert "erased: the store held nothing about them. The erasure is recorded" in said
    assert "Not erased: copies outside the store" in said
    export = tmp_path / "export.csv"
    export.write_text("ticket_id,customer_id,body\nT9,C-LATER,wifi keeps dropping\n",
                      encoding="utf-8")
    ingested = cli("ingest", export, "--db", db)
    assert ingested.exit_code == 0, ingested.output
    assert "0 added" in ingested.stdout and "1 rejected" in ingested.stdout
    assert cli("forget", "--customer", "C-LATER", "--db", db,
               "--even-if-unknown").exit_code == 1


def test_an_erased_customer_is_not_stored_again_by_consent_pin_or_feedback(db: Path) -> None:
    """Erased means erased: no command brings the id back, in a record or in the audit log."""
    assert cli("forget", "--customer", "C-NOV", "--db", db).exit_code == 0
    (erasure,) = [r for r in _audit(db) if r["action"] == "erasure"]
    day = erasure["at"][:10]
    refusal = f"Error: customer 'C-NOV' was erased here on {day}; nothing is stored about them\n"
    for args in (("consent", "--customer", "C-NOV", "--opt-in"),
                 ("consent", "--customer", "C-NOV", "--opt-out"),
                 ("pin", "--customer", "C-NOV", "--level", "expert"),
                 ("pin", "--customer", "C-NOV", "--clear")):
        result = cli(*args, "--db", db)
        assert (result.exit_code, result.output) == (1, refusal), args
    with Store(db) as store:
        # a live call's vote is about the article: kept, without the id; a level is not
        with pytest.raises(UnknownCustomerError, match="erased here on"):
            store.add_feedback("call-9", article_id="no-internet/novice", customer_id="C-NOV",
                               corrected_level="novice")
        store.add_feedback("call-9", article_id="no-internet/novice", customer_id="C-NOV",
                           helpful=True)
        assert [(r.customer_id, r.helpful) for r in store.feedback_rows()] == [(None, True)]
        assert store.customer("C-NOV") is None
        tables = [r[0] for r in store.connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows = store.connection.execute(f'SELECT * FROM "{table}"').fetchall()
            assert "C-NOV" not in repr(rows), table
        # a record left by an earlier version's hole: still refused, and the audit log spared
        store.connection.execute("INSERT INTO customers(customer_id) VALUES ('C-NOV')")
        with pytest.raises(UnknownCustomerError, match="erased here on"):
            store.pin_level("C-NOV", "expert")
        assert store.audit_rows(customer_id="C-NOV") == []


def test_cli_audit_filters(models_env: Path, db: Path) -> None:
    _answer(db, "C-EXP", "--agent", "a1", "--purpose", "billing call")
    _answer(db, "C-NOV")
    cli("consent", "--customer", "C-NOV", "--opt-out", "--db", db, "--agent", "a2")
    rows = _audit(db)
    assert [(r["actor"], r["action"], r["customer_id"], r["purpose"]) for r in rows] == [
        ("a1", "answer", "C-EXP", "billing call"),
        (default_actor(), "answer", "C-NOV", None),
        ("a2", "consent", "C-NOV", None),
    ]
    only = json.loads(cli("audit", "--customer", "C-NOV", "--db", db, "--json").stdout)
    assert [r["action"] for r in only] == ["answer", "consent"]
    assert json.loads(cli("audit", "--since", "2999-01-01", "--db", db, "--json").stdout) == []
    assert len(json.loads(cli("audit", "--since", "2000-01-01", "--db", db,
                              "--json").stdout)) == 3
    table = cli("audit", "--db", db)
    assert table.exit_code == 0 and "billing call" in table.stdout
    assert "no audit entries match" in cli("audit", "--customer", "X", "--db", db).stdout
    bad = cli("audit", "--since", "last tuesday", "--db", db)
    assert bad.exit_code == 1 and "last tuesday" in bad.output


def test_audit_log_is_append_only_except_erasure(db: Path) -> None:
    with Store(db) as store:
        store.audit("a", "answer", customer_id="C-EXP")
    conn = sqlite3.connect(db)
    try:
        for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit",
                    "UPDATE audit SET customer_id = 'someone else'"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        conn.execute("UPDATE audit SET customer_id = NULL")  # what erasure does
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Hostile ids through every command
# ---------------------------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE tickets; --",
    'Robert"); DELETE FROM customers; --',
    "a;b;c' OR '1'='1",
    "[bold]rich[/bold] [/] %s {0} \\x00",
    "Zoë Ünïcødé 客户 🙂 \u202eevil",
    "C" * 198,  # its tickets, "<id>#0", are 200 characters: the longest id accepted
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=["drop", "delete", "or", "markup", "unicode",
                                                  "longest"])
def test_hostile_ids_through_the_cli(models_env: Path, tmp_path: Path, hostile: str) -> None:
    db = tmp_path / "x.db"
    src = tmp_path / "hostile.jsonl"
    rows = [{"ticket_id": f"{hostile}#{i}", "customer_id": hostile, "body": EXPERT_TEXT,
             "created_at": f"2025-0{i + 1}-01T10:00:00", "expertise_level": "expert"}
            for i in range(2)]
    rows.append({"ticket_id": "plain", "customer_id": "C-PLAIN", "body": NOVICE_TEXT})
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    def ok(*args: str | Path) -> object:
        result = cli(*args)
        assert result.exit_code == 0, result.output[-500:]
        return result

    assert "3 added" in ok("ingest", src, "--db", db).stdout
    answer = json.loads(ok("answer", "still down", "--customer", hostile, "--db", db,
                           "--agent", hostile, "--purpose", hostile, "--json").stdout)
    assert answer["customer"] == {"id": hostile, "status": "known", "history_tickets": 2}
    ok("answer", "still down", "--customer", hostile, "--db", db)  # the rich panel
    ok("consent", "--customer", hostile, "--opt-out", "--db", db)
    ok("consent", "--customer", hostile, "--opt-in", "--db", db, "--agent", hostile)
    explained = json.loads(ok("explain", "--customer", hostile, "--db", db, "--json").stdout)
    assert explained["customer_id"] == hostile and explained["tickets_used"] == 2
    ok("explain", "--customer", hostile, "--db", db)
    ok("feedback", f"{hostile}#0", "--article", "no-internet/expert", "--helpful", "--db", db,
       "--agent", hostile)
    rows_json = json.loads(ok("audit", "--customer", hostile, "--db", db, "--json").stdout)
    assert [r["action"] for r in rows_json] == ["answer", "answer", "consent", "consent",
                                                 "explain", "explain"]
    # the purpose is free text: stored redacted, as ticket text is (a name in it goes), and
    # the customer id in it as a placeholder (erasure clears only the row's customer id)
    assert rows_json[0]["actor"] == hostile and rows_json[0]["purpose"] == "<CUSTOMER>"
    assert all(r["customer_id"] == hostile for r in rows_json)
    ok("audit", "--db", db)
    with Store(db) as store:
        assert store.customer(hostile).ticket_count == 2
        assert store.feedback_rows()[0].ticket_id == f"{hostile}#0"
    assert "erased: 2 tickets, 1 feedback entry" in ok("forget", "--customer", hostile,
                                                        "--db", db).stdout
    with Store(db) as store:
        assert store.customer(hostile) is None
        assert store.customer("C-PLAIN").ticket_count == 1  # nothing else was touched
        assert store.ticket_count() == 1 and store.audit_rows(customer_id=hostile) == []
        tables = {r[0] for r in store.connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"customers", "tickets", "feedback", "audit", "erasures"} <= tables
    missing = cli("forget", "--customer", hostile, "--db", db)
    assert missing.exit_code == 1
    assert "erased here before: nothing is left to erase" in missing.output


#: Values that could forge or hide rows on a terminal, or are too long to be ids.
ESCAPES = {
    "clear": "C-1\x1b[2J\x1b[H",
    "title": "ann\x1b]0;hidden\x07",
    "newline": "ann\n2026-01-01T00:00:00  root  erasure",
    "c1": "C-1\x9b2J",
    "long": "C" * 201,
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_options_that_could_hide_audit_rows_are_refused(models_env: Path, db: Path,
                                                        name: str) -> None:
    bad = ESCAPES[name]
    attempts = [
        ("answer", "still down", "--customer", bad, "--db", db),
        ("answer", "still down", "--customer", "C-EXP", "--agent", bad, "--db", db),
        ("answer", "still down", "--customer", "C-EXP", "--purpose", bad, "--db", db),
        ("session", "--customer", bad, "--db", db),
        ("consent", "--customer", bad, "--opt-out", "--db", db),
        ("consent", "--customer", "C-EXP", "--opt-out", "--agent", bad, "--db", db),
        ("explain", "--customer", "C-EXP", "--purpose", bad, "--db", db),
        ("pin", "--customer", bad, "--level", "expert", "--db", db),
        ("audit", "--customer", bad, "--db", db),
        ("forget", "--customer", "C-EXP", "--agent", bad, "--db", db),
        ("feedback", "C-EXP-0", "--article", "no-internet/expert", "--helpful", "--agent", bad,
         "--db", db),
    ]
    for args in attempts:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("Error: --"), args
        assert "\x1b" not in result.output and "\x9b" not in result.output
    with Store(db) as store:
        assert store.audit_rows() == [] and store.customer("C-EXP").consent == "granted"


@pytest.mark.parametrize("ticket", ["", "   ", "T1\nT2", "T\x1b[2J", "T" * 201])
def test_feedback_refuses_a_ticket_id_that_is_not_an_id(db: Path, ticket: str) -> None:
    result = cli("feedback", ticket, "--article", "no-internet/expert", "--helpful", "--db", db)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: TICKET "), \
        result.output
    assert "\x1b" not in result.output
    with Store(db) as store:
        assert store.feedback_rows() == []


def test_forget_takes_any_id_the_store_holds(db: Path) -> None:
    """A customer stored before ids were checked can still be erased."""
    odd = "C-OLD\n" + "x" * 300
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO customers(customer_id) VALUES (?)", (odd,))
    conn.commit()
    conn.close()
    done = cli("forget", "--customer", odd, "--db", db, "--json")
    assert done.exit_code == 0, done.output
    with Store(db) as store:
        assert store.customer(odd) is None and store.is_erased(odd)


def test_ingest_refuses_ids_that_could_hide_rows_and_carries_on(tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    rows = [{"ticket_id": f"T{i}", "customer_id": bad, "body": EXPERT_TEXT}
            for i, bad in enumerate(ESCAPES.values())]
    rows.append({"ticket_id": "T-ok", "customer_id": "C-OK", "body": EXPERT_TEXT})
    rows.append({"ticket_id": "T\x1b[2J", "customer_id": "C-OK", "body": EXPERT_TEXT})
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = cli("ingest", src, "--db", tmp_path / "x.db", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["added"], data["rejected"]) == (1, 6)
    assert sum(n for r, n in data["reject_reasons"].items() if r.startswith("customer_id")) == 5
    assert sum(n for r, n in data["reject_reasons"].items() if r.startswith("ticket_id")) == 1
    rejects = (tmp_path / "t.rejects.csv").read_text(encoding="utf-8")
    assert "control character" in rejects and "longer than 200 characters" in rejects


def _plant(db: Path, customer: str, actor: str, purpose: str) -> None:
    """Hostile values stored by an earlier version, which did not check them."""
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO customers(customer_id) VALUES (?)", (customer,))
    conn.execute("INSERT INTO audit(at, actor, action, customer_id, purpose, detail) VALUES "
                 "('2026-01-01T00:00:00', ?, 'answer', ?, ?, 'level=expert')",
                 (actor, customer, purpose))
    conn.commit()
    conn.close()


def test_stored_control_characters_never_reach_the_terminal(models_env: Path, db: Path) -> None:
    hostile = "C-9\x1b[2J\x1b[H\x9b1;1H\u202e"
    _plant(db, hostile, "ann\x1b]0;title\x07", "call\nforged row\x7f")
    table = runner.invoke(app, ["audit", "--db", str(db)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    out = table.stdout
    assert not [c for c in out if ord(c) < 32 and c != "\n" or 0x7f <= ord(c) < 0xa0
                or c == "\u202e"]
    (row,) = [line for line in out.splitlines() if "2026-01-01" in line]  # no forged row
    assert "C-9␛[2J␛[H\ufffd1;1H\ufffd" in row and "ann␛]0;title␇" in row
    assert "call␊forged row␡" in row
    plain = cli("audit", "--db", db, "--json")
    assert not [c for c in plain.stdout if ord(c) < 32 and c != "\n" or 0x7f <= ord(c) < 0xa0
                or c == "\u202e"]
    assert json.loads(plain.stdout)[0]["customer_id"] == hostile  # the value, escaped
    # the other output paths: a session refuses such an id, as --customer does, and says so
    # without acting on it
    session = runner.invoke(app, ["session", "--db", str(db), "--agent", "ann"],
                            input=f":customer {hostile}\n:quit\n")
    assert session.exit_code == 1, session.output
    assert "\x1b[2J" not in session.output
    assert "Error: :customer contains a control character" in session.output
    forgotten = cli("forget", "--customer", hostile, "--db", db)
    assert forgotten.exit_code == 0 and "\x1b" not in forgotten.output


def test_read_only_commands_refuse_a_missing_store(models_env: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "typo.db"
    src = tmp_path / "t.csv"
    pd.DataFrame(_tickets("C-1", "expert", 1)).to_csv(src, index=False)
    for args in (("audit",), ("explain", "--customer", "C-1"), ("forget", "--customer", "C-1"),
                 ("consent", "--customer", "C-1", "--opt-out"),
                 ("pin", "--customer", "C-1", "--level", "expert"),
                 ("answer", "still down", "--customer", "C-1"), ("session",),
                 ("score", src, "--out", tmp_path / "o.csv")):
        result = cli(*args, "--db", missing)
        assert result.exit_code == 1, (args, result.output)
        assert result.output == (f"Error: {missing}: no store there; check --db (or "
                                 f"$EXPERTISE_DB), or create it by loading tickets: expertise "
                                 f"ingest EXPORT --db {missing}\n"), args
        assert not missing.exists(), args
    monkeypatch.setenv("EXPERTISE_DB", str(missing))
    assert cli("audit").exit_code == 1 and not missing.exists()
    # what brings data in makes the store
    assert cli("ingest", src).exit_code == 0 and missing.exists()
    other = tmp_path / "feedback.db"
    made = cli("feedback", "call-1", "--article", "no-internet/novice", "--helpful", "--db", other)
    assert made.exit_code == 0 and other.exists()


def test_commands_never_write_our_tables_into_another_file(models_env: Path,
                                                         tmp_path: Path) -> None:
    """Another program's SQLite file is refused by every command, and left as it was; an
    empty file is made a store only by what brings data in."""
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE foo(x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    empty = tmp_path / "empty.db"
    empty.touch()
    src = tmp_path / "t.csv"
    pd.DataFrame(_tickets("C-1", "expert", 1)).to_csv(src, index=False)
    (tmp_path / "inbox").mkdir()
    read_only = (("audit",), ("explain", "--customer", "C-1"), ("forget", "--customer", "C-1"),
                 ("consent", "--customer", "C-1", "--opt-out"),
                 ("pin", "--customer", "C-1", "--level", "expert"),
                 ("answer", "still down", "--customer", "C-1"), ("session",),
                 ("score", src, "--out", tmp_path / "o.csv"),
                 ("retrain", "--dry-run", "--inbox", tmp_path / "inbox"))
    bringing_in = (("ingest", src),
                   ("feedback", "call-1", "--article", "no-internet/novice", "--helpful"))
    for args in read_only + bringing_in:
        result = cli(*args, "--db", other)
        assert (result.exit_code, result.output) == (1, (
            f"Error: {other}: a SQLite database but not an expertise store (its tables: foo); "
            "check --db\n")), args
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("other.db*")) == ["other.db"]
    for args in read_only:
        result = cli(*args, "--db", empty)
        assert (result.exit_code, result.output) == (1, (
            f"Error: {empty}: empty, not an expertise store; check --db, or create the store by "
            f"loading tickets: expertise ingest EXPORT --db {empty}\n")), args
        assert empty.stat().st_size == 0, args
    assert cli("ingest", src, "--db", empty).exit_code == 0
    assert cli("audit", "--db", empty).exit_code == 0


def test_forget_says_when_the_erased_bytes_stay_on_disk(db: Path) -> None:
    marker = b"traceroute dies at hop 2"  # C-EXP's tickets only
    wal = db.with_name(db.name + "-wal")
    assert marker in db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tickets").fetchone()
        result = cli("forget", "--customer", "C-EXP", "--db", db, "--wait", "0.1", "--json")
        assert result.exit_code == 1
        data = json.loads(result.stdout)
        assert data["erased"] and data["purged"] is False and data["tickets_deleted"] == 3
        assert "still in the file's bytes" in data["warning"]
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert marker in db.read_bytes()
    finally:
        reader.execute("COMMIT")
        reader.close()
    # the last connection to close checkpoints: the erased bytes are gone now, as promised
    assert marker not in db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    done = cli("forget", "--customer", "C-NOV", "--db", db, "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["purged"] is True
    assert json.loads(done.stdout)["outside_store"].startswith("Not erased: copies outside")


def test_an_opted_out_answer_is_audited_without_a_level(models_env: Path, db: Path) -> None:
    _answer(db, "C-NOV")
    cli("consent", "--customer", "C-NOV", "--opt-out", "--db", db)
    _answer(db, "C-NOV")
    rows = [r for r in _audit(db) if r["action"] == "answer"]
    assert rows[0]["detail"].startswith("level=") and rows[1]["detail"] is None


def test_a_batch_audits_each_customer_once(models_env: Path, db: Path, tmp_path: Path) -> None:
    from expertise.batch.run import score_file

    src = tmp_path / "batch.csv"
    rows = [{"ticket_id": f"B{i}", "customer_id": ("C-EXP", "C-NOV", "C-NEW", "")[i % 4],
             "created_at": f"2025-07-{1 + i:02d}T10:00:00", "body": NOVICE_TEXT}
            for i in range(12)]
    pd.DataFrame(rows).to_csv(src, index=False)
    report = score_file(src, out=tmp_path / "o.csv", db_path=db, chunk_rows=4, actor="batch-7")
    assert report.rows_scored == 12
    log = _audit(db)
    (run,) = [r for r in log if r["action"] == "score"]
    assert run["detail"] == "batch.csv: 12 tickets scored, history of 3 customers looked up"
    lookups = [r for r in log if r["action"] == "score_lookup"]
    assert sorted(r["customer_id"] for r in lookups) == ["C-EXP", "C-NEW", "C-NOV"]
    assert {(r["actor"], r["purpose"], r["detail"]) for r in lookups} == {
        ("batch-7", "batch scoring", "batch.csv")}
    mine = json.loads(cli("audit", "--customer", "C-NOV", "--db", db, "--json").stdout)
    assert [r["action"] for r in mine] == ["score_lookup"]


# ---------------------------------------------------------------------------------------------
# Bundle verification through `answer --model`
# ---------------------------------------------------------------------------------------------


def _copy_bundle(models_root: Path, dest: Path) -> Path:
    shutil.copytree(models_root / "test-small", dest)
    return dest


def test_bundle_outside_the_models_folder_needs_trust(models_env: Path, tmp_path: Path) -> None:
    outside = _copy_bundle(models_env, tmp_path / "elsewhere" / "b1")
    refused = cli("answer", "wifi keeps dropping", "--model", outside)
    assert refused.exit_code == 1
    assert "outside the models folder" in refused.output and "--trust" in refused.output
    trusted = cli("answer", "wifi keeps dropping", "--model", outside, "--trust", "--json")
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.stdout)["model_version"] == "test-small"
    inside = cli("answer", "wifi keeps dropping", "--model", models_env / "test-small")
    assert inside.exit_code == 0, inside.output


@pytest.mark.parametrize("victim", ["lean.json", "lean.W.npy"])
def test_tampered_bundle_is_refused_even_with_trust(
        models_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: str) -> None:
    root = tmp_path / "models"
    monkeypatch.setenv("EXPERTISE_MODELS", str(root))
    bundle = _copy_bundle(models_env, root / "test-small")
    with (bundle / victim).open("r+b") as fh:  # flip one byte in the middle
        fh.seek((bundle / victim).stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x01]))
    for extra in ([], ["--trust"]):
        result = cli("answer", "wifi keeps dropping", "--model", bundle, *extra)
        assert result.exit_code == 1
        assert f"{victim} does not match its SHA-256 in the manifest" in result.output
        assert "Traceback" not in result.output


class _Booby:
    """A pickle that writes a marker file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "pwned"))


def test_a_swapped_pickle_is_never_unpickled(models_env: Path, tmp_path: Path) -> None:
    bundle = _copy_bundle(models_env, tmp_path / "models" / "test-small")
    marker = tmp_path / "marker"
    (bundle / PICKLE).write_bytes(pickle.dumps(_Booby(marker)))
    opened = open_bundle(bundle, trust=True)
    with pytest.raises(ArtifactError, match="SHA-256"):
        opened.sklearn_model()
    assert not marker.exists()


def test_current_pointer_cannot_escape_the_models_folder(
        models_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "models"
    root.mkdir()
    _copy_bundle(models_env, tmp_path / "evil")
    (root / "current").write_text("../evil\n")
    monkeypatch.setenv("EXPERTISE_MODELS", str(root))
    result = cli("answer", "wifi keeps dropping")
    assert result.exit_code == 1 and "which is not the name of a bundle folder of" in result.output
