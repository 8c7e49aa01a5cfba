"""`expertise retrain` before any training: the labelled exports it reads, the inbox's
feedback files (checked in a dry run exactly as ingest checks them) and the inbox folder."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.errors import InputError, StoreError
from expertise.lifecycle.retrain import check_feedback_file, ingest_feedback_file, retrain
from expertise.lifecycle.train import DataMinimum
from expertise.store.db import Store
from expertise.tickets.readers import read_tickets

runner = CliRunner()
DATA = Path(__file__).parents[1] / "data"


def test_retrain_names_the_rows_of_its_labelled_exports_left_out(models_env: Path,
                                                                 tmp_path: Path) -> None:
    base = tmp_path / "a.csv"
    base.write_text((DATA / "bad_labelled.csv").read_text(encoding="utf-8")
                    + "E5,C5,2026-01-03T10:00:00,PPPoE LCP echo timeout,expert,no-internet\n",
                    encoding="utf-8")
    args = ["retrain", "--inbox", str(tmp_path / "inbox"), "--db", str(tmp_path / "s.db"),
            "--data", str(base)]
    # a dry run refuses as the real run does (too little data), naming the rows left out,
    # but lists them in no file
    for extra in (["--dry-run", "--json"], ["--dry-run"]):
        dry = runner.invoke(app, [*args, *extra])
        assert dry.exit_code == 1, dry.output
        assert f"{base}: 4 of 6 rows left out" in " ".join(dry.stderr.split())
        assert not (tmp_path / "a.rejects.csv").exists()

    real = runner.invoke(app, args)
    assert real.exit_code == 1
    message = " ".join(real.stderr.split())
    assert message.startswith("Error: too little training data for a model that can be "
                              "trusted: 2 labelled tickets (200 needed);")
    assert f"{base}: 4 of 6 rows left out (1 duplicate ticket_id; " in message
    listed = f"; all listed in {tmp_path / 'a.rejects.csv'}"
    assert message.endswith(listed)
    assert message.replace(listed, "") == " ".join(dry.stderr.split())
    assert len((tmp_path / "a.rejects.csv").read_text().splitlines()) == 5


#: The report's feedback file, and a good row: unknown article ids, a level and flags that
#: cannot be read, a row with neither.
FEEDBACK = (
    "ticket_id,article_id,helpful,corrected_level,agent,created_at\n"
    "T1,bogus/novice,1,,a1,2026-10-23T04:33:55\n"
    "T1,wifi-dropping/novice,0,guru,a1,2026-10-23T04:33:55\n"
    "T2,wifi-dropping/wizard,yes,EXPERT,a2,2026-10-23T04:33:55\n"
    "T2,,,,a3,\n"
    "T2,wifi-dropping/novice,maybe,,a3,\n"
    "T2,no-internet/expert,yes,Expert,a4,2026-10-23T04:40:00\n"
)


def _store_with_tickets(path: Path) -> Path:
    tickets = path.parent / "t.csv"
    tickets.write_text("ticket_id,customer_id,created_at,channel,subject,body\n"
                       "T1,ALICE,2026-01-01T10:00:00,email,wifi,my wifi keeps dropping\n"
                       "T2,BOB,2026-01-01T10:00:00,email,tv,PPPoE LCP echo timeout\n",
                       encoding="utf-8")
    assert runner.invoke(app, ["ingest", str(tickets), "--db", str(path)]).exit_code == 0
    return path


def test_a_dry_run_checks_feedback_as_ingest_does_and_unknown_articles_are_rejected(
        models_env: Path, tmp_path: Path, small_train: pd.DataFrame) -> None:
    db = _store_with_tickets(tmp_path / "s.db")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fb.csv").write_text(FEEDBACK, encoding="utf-8")
    enough = tmp_path / "enough.csv"  # enough training data for the dry run to go on
    small_train.to_csv(enough, index=False)
    dry_args = ["retrain", "--inbox", str(inbox), "--db", str(db), "--data", str(enough),
                "--dry-run"]
    dry = runner.invoke(app, [*dry_args, "--json"])
    assert dry.exit_code == 0, dry.output
    would = json.loads(dry.stdout)["inbox"][0]
    assert (would["rows"], would["added"], would["rejected"], would["corrections"],
            would["helpful"]) == (6, 1, 5, 1, 1)
    text = runner.invoke(app, dry_args, env={"COLUMNS": "200"})
    assert ("fb.csv: 6 rows, 1 would be added (1 helpful, 0 not helpful, 1 level "
            "corrections), 0 already stored, 5 would be rejected") in text.stdout

    base = tmp_path / "base.csv"
    base.write_text("ticket_id,body,expertise_level\nB1,wifi,novice\n", encoding="utf-8")
    args = ["retrain", "--inbox", str(inbox), "--db", str(db), "--data", str(base)]
    real = runner.invoke(app, args)  # ingests, then refuses to train on one base ticket
    assert real.exit_code == 1 and "too little training data" in real.stderr
    with Store(db) as store:
        stored = [(r.ticket_id, r.article_id, r.helpful, r.corrected_level)
                  for r in store.feedback_rows()]
    assert stored == [("T2", "no-internet/expert", True, "expert")]
    rejects = pd.read_csv(inbox / "done" / "fb.rejects.csv", dtype=str, keep_default_na=False)
    assert len(rejects) == would["rejected"]
    assert rejects["reason"].tolist() == [
        "article_id 'bogus/novice' is not in the knowledge base (list them with "
        "`expertise kb list`)",
        "corrected_level 'guru' is not one of novice, intermediate, expert",
        "article_id 'wifi-dropping/wizard' is not in the knowledge base (list them with "
        "`expertise kb list`)",
        "neither a helpful flag nor a corrected level",
        "helpful 'maybe' is not 1/0, true/false or yes/no"]


def test_a_feedback_row_gives_every_reason_it_is_rejected_for(tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    path.write_text("ticket_id,article_id,helpful,corrected_level\n,nope/novice,maybe,guru\n",
                    encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        checked = check_feedback_file(path, store=store, articles={"wifi-dropping/novice"})
    assert checked.rejects == [(1, "", "empty ticket_id; helpful 'maybe' is not 1/0, "
                                "true/false or yes/no; corrected_level 'guru' is not one of "
                                "novice, intermediate, expert; article_id 'nope/novice' is not "
                                "in the knowledge base (list them with `expertise kb list`)")]
    assert checked.new == [] and checked.item.rejected == 1


def test_a_file_named_done_in_the_inbox_is_a_one_line_error(models_env: Path,
                                                             tmp_path: Path) -> None:
    inbox = tmp_path / "inbox2"
    inbox.mkdir()
    (inbox / "done").touch()
    (inbox / "fb.csv").write_text(FEEDBACK, encoding="utf-8")
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["retrain", "--inbox", str(inbox), "--db",
                                     str(tmp_path / "s.db"), *extra])
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: {inbox / 'done'}: is a file, but retrain moves ingested exports into a "
            "folder of that name; rename or move that file out of the inbox\n")
    assert (inbox / "fb.csv").exists() and (inbox / "done").is_file()


def test_retrain_says_how_to_fix_a_file_it_has_no_option_for(models_env: Path,
                                                             tmp_path: Path) -> None:
    """retrain has no --encoding or --map (one encoding for a folder of exports of many kinds
    would misread the others): the fix it gives is made to the file."""
    cases = {"cp.csv": b"ticket_id,body,expertise_level\nE1,caf\xe9 wifi,novice\n",
             "text.csv": b"ticket_id,text,expertise_level\nE1,wifi,novice\n"}
    for name, content in cases.items():
        inbox = tmp_path / name.split(".")[0]
        inbox.mkdir()
        (inbox / name).write_bytes(content)
        for extra in ([], ["--dry-run"]):
            result = runner.invoke(app, ["retrain", "--inbox", str(inbox), "--db",
                                         str(tmp_path / "s.db"), *extra])
            assert result.exit_code == 1
            message = result.stderr
            assert message.startswith(f"Error: inbox file {name}: {inbox / name}: ")
            assert "--encoding" not in message and "--map" not in message
            assert message.endswith(". Fix or remove it and run again\n")
            if name == "cp.csv":
                assert (f"Convert it to UTF-8 (iconv -f CP1252 -t UTF-8 {inbox / name} > "
                        f"{inbox / 'cp-utf8.csv'}) and use cp-utf8.csv instead") in message
            else:
                assert "rename yours in the file's header (subject or body)" in message
    data = runner.invoke(app, ["retrain", "--inbox", str(tmp_path / "none"), "--db",
                               str(tmp_path / "s.db"), "--data", str(tmp_path / "cp" / "cp.csv"),
                               "--dry-run"])
    assert data.exit_code == 1
    assert "Convert it to UTF-8" in data.stderr and "--encoding" not in data.stderr


def test_feedback_rows_the_feedback_command_would_refuse_are_rejects(tmp_path: Path) -> None:
    """An id that could forge a line, a vote on no article, a time that is none: refused as
    the feedback command refuses them; a level for a customer who opted out is not counted
    as a correction (the store keeps none)."""
    path = tmp_path / "fb.csv"
    path.write_text(
        "ticket_id,customer_id,article_id,helpful,corrected_level,created_at\n"
        "T\x1b[2J,,wifi-dropping/novice,1,,\n"
        "T1,,,1,,\n"
        "T1,,wifi-dropping/novice,1,,yesterday\n"
        "T2,BOB,wifi-dropping/novice,1,expert,2026-10-23T04:33:55\n", encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        store.set_consent("BOB", "opted_out")
        checked = check_feedback_file(path, store=store, articles={"wifi-dropping/novice"})
    assert [(line, reason.split(" (")[0]) for line, _, reason in checked.rejects] == [
        (1, "ticket_id contains a control character"),
        (2, "a helpful flag needs the article_id it is about"),
        (3, "created_at 'yesterday' is not a date or time")]
    assert (checked.item.added, checked.item.corrections) == (1, 0)



def test_feedback_rows_on_tickets_of_an_erased_customer_are_rejects(tmp_path: Path) -> None:
    """Feedback on a ticket of a customer erased since is a reject with a reason (the store
    refuses it), not an error that stops the inbox; other rows are stored."""
    db = _store_with_tickets(tmp_path / "s.db")
    path = tmp_path / "fb.csv"
    path.write_text("ticket_id,article_id,helpful,corrected_level\n"
                    "T1,wifi-dropping/novice,1,\n"
                    "T1,wifi-dropping/novice,,expert\n"
                    "T2,wifi-dropping/novice,0,\n", encoding="utf-8")
    with Store(db) as store:
        store.forget("ALICE")
        item = ingest_feedback_file(store, path, rejects_path=tmp_path / "rej.csv",
                                    articles={"wifi-dropping/novice"})
        assert [(r.ticket_id, r.helpful) for r in store.feedback_rows()] == [("T2", False)]
    assert (item.added, item.rejected) == (1, 2)
    rejects = pd.read_csv(tmp_path / "rej.csv", dtype=str, keep_default_na=False)
    assert rejects["ticket_id"].tolist() == ["T1", "T1"]
    assert set(rejects["reason"]) == {
        "ticket of a customer erased (right to erasure); not stored"}


def test_a_feedback_file_of_thousands_of_rows_is_checked_in_a_few_queries(
        tmp_path: Path) -> None:
    """Each row is checked against the store (erased customers and their tickets, opted-out
    customers named by the row or owning its ticket, rows stored already) as before, but the
    store is asked a few batched statements for the whole file, not several per row."""
    tickets = tmp_path / "t.csv"
    tickets.write_text(
        "ticket_id,customer_id,body\n"
        + "".join(f"T-A{k},ALICE,wifi drops\nT-B{k},BOB,no dial tone\n" for k in range(10))
        + "T-E,ERIN,my router\n", encoding="utf-8")
    article = "wifi-dropping/novice"

    def at(i: int) -> str:
        return f"2026-10-23T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"

    kinds = [  # (ticket_id, customer_id, helpful, corrected_level) of row i
        lambda i: (f"T-A{i % 10}", "", "1", ""),        # added, a vote
        lambda i: (f"T-A{i % 10}", "ALICE", "", "expert"),  # added, a correction
        lambda i: (f"T-B{i % 10}", "", "0", "novice"),  # added; BOB's ticket: no correction
        lambda i: (f"L-{i}", "BOB", "1", "expert"),     # added; BOB named: no correction
        lambda i: ("T-E", "", "1", ""),                 # ERIN's ticket: a reject
        lambda i: (f"L-{i}", "ERIN", "1", ""),          # ERIN named: a reject
    ]
    n = 3000
    rows = [(*kinds[i % 6](i), at(i)) for i in range(n)]
    path = tmp_path / "fb.csv"
    path.write_text("ticket_id,customer_id,article_id,helpful,corrected_level,created_at\n"
                    + "".join(f"{t},{c},{article},{h},{lvl},{when}\n"
                              for t, c, h, lvl, when in rows), encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        store.ingest_file(tickets)
        store.set_consent("BOB", "opted_out")
        store.forget("ERIN")
        store.add_feedback("T-A0", article_id=article, helpful=True, created_at=at(0))
        statements: list[str] = []
        store.connection.set_trace_callback(statements.append)
        checked = check_feedback_file(path, store=store, articles={article})
        store.connection.set_trace_callback(None)
    assert len(statements) <= 12, statements[:20]
    item = checked.item
    per_kind = n // 6
    assert (item.rows, item.added, item.unchanged, item.rejected) == (
        n, 4 * per_kind - 1, 1, 2 * per_kind)
    assert (item.helpful, item.not_helpful, item.corrections) == (
        2 * per_kind - 1, per_kind, per_kind)
    assert len(checked.new) == item.added
    reasons = Counter(reason for _, _, reason in checked.rejects)
    assert reasons == {"ticket of a customer erased (right to erasure); not stored": per_kind,
                       "customer erased (right to erasure); not stored": per_kind}
    assert {t for _, t, _ in checked.rejects if t != "T-E"} == {
        f"L-{i}" for i in range(5, n, 6)}


def test_feedback_rejects_are_numbered_by_data_row_as_ticket_rejects_are(
        tmp_path: Path) -> None:
    """A feedback file's rejects give the row as a ticket export's do (`readers.ROW_COLUMN`):
    CSV rows by record from 1 after the header, a quoted field's line break starting no new
    one; JSON Lines rows by line, a line that is no JSON object a reject too. They were file
    lines (one more), and a JSON Lines file whose line broke stopped the inbox."""
    note = '"first line\nsecond line"'
    tickets = tmp_path / "t.csv"
    tickets.write_text("ticket_id,body,expertise_level,note\n"
                       f"T1,wifi,novice,{note}\n"
                       "T2,wifi,guru,x\n"
                       "T3,wifi,expert,\n"
                       ",wifi,novice,x\n", encoding="utf-8")
    feedback = tmp_path / "fb.csv"
    feedback.write_text("ticket_id,article_id,helpful,note\n"
                        f"T1,wifi-dropping/novice,1,{note}\n"
                        "T2,wifi-dropping/novice,maybe,x\n"
                        "T3,wifi-dropping/novice,1,\n"
                        ",wifi-dropping/novice,1,x\n", encoding="utf-8")
    ticket_rejects = read_tickets(tickets).rejects
    assert ticket_rejects["row"].tolist() == [2, 4]
    checked = check_feedback_file(feedback, store=None, articles={"wifi-dropping/novice"})
    assert [row for row, _, _ in checked.rejects] == [2, 4]
    assert [ticket for _, ticket, _ in checked.rejects] == ["T2", ""]

    lines = tmp_path / "fb.jsonl"
    lines.write_text('{"ticket_id": "T1", "article_id": "wifi-dropping/novice", "helpful": 1}\n'
                     "\n"
                     '{"ticket_id": "T2", "article_id": "wifi-dropping/novice", '
                     '"helpful": "maybe"}\n'
                     '{"ticket_id": "T3", "article_id": \n'
                     '{"ticket_id": "T4", "article_id": "wifi-dropping/novice", '
                     '"helpful": true}\n', encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        item = ingest_feedback_file(store, lines, rejects_path=tmp_path / "rej.csv",
                                    articles={"wifi-dropping/novice"})
        assert [(r.ticket_id, r.helpful) for r in store.feedback_rows()] == [
            ("T1", True), ("T4", True)]
    assert (item.rows, item.added, item.rejected) == (4, 2, 2)
    rejects = pd.read_csv(tmp_path / "rej.csv", dtype=str, keep_default_na=False)
    assert rejects["row"].tolist() == ["3", "4"]
    assert rejects["reason"].iloc[1].startswith("invalid JSON: ")


def _labelled(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A labelled export: (ticket id, customer, level, topic) a row."""
    path.write_text("ticket_id,customer_id,created_at,body,expertise_level,topic\n" + "".join(
        f"{t},{c},2026-01-0{i % 9 + 1}T10:00:00,my wifi keeps dropping,{level},{topic}\n"
        for i, (t, c, level, topic) in enumerate(rows)), encoding="utf-8")
    return path


def test_a_dry_run_with_too_little_data_fails_as_the_real_run_does(models_env: Path,
                                                                   tmp_path: Path) -> None:
    """Too little training data (here 5 labelled tickets, 200 needed): a dry run said so in
    a line of its report, then that it would train a candidate, and exited 0; with exports
    in the inbox it said nothing of it. Now it fails with the real run's error, word for
    word, counting what the inbox adds as the real run does, and still changes nothing."""
    base = _labelled(tmp_path / "base.csv", [("B1", "ZZ-1", "novice", "no-internet"),
                                             ("B2", "ZZ-2", "expert", "wifi-dropping")])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _labelled(inbox / "more.csv", [("N1", "ZZ-3", "intermediate", "no-internet"),
                                   ("N2", "ZZ-4", "novice", "no-internet"),
                                   ("N3", "ZZ-5", "", "no-internet")])
    (inbox / "fb.csv").write_text("ticket_id,article_id,helpful,corrected_level\n"
                                  "N3,,,expert\n", encoding="utf-8")  # a label for N3
    db = tmp_path / "s.db"
    args = ["retrain", "--inbox", str(inbox), "--db", str(db), "--data", str(base)]
    dry = runner.invoke(app, [*args, "--dry-run"])
    dry_json = runner.invoke(app, [*args, "--dry-run", "--json"])
    assert not db.exists() and sorted(p.name for p in inbox.iterdir()) == ["fb.csv", "more.csv"]
    real = runner.invoke(app, args)
    assert (inbox / "done" / "more.csv").exists()  # the real run ingested, then refused
    assert dry.exit_code == dry_json.exit_code == real.exit_code == 1
    assert dry.stderr == dry_json.stderr == real.stderr
    assert " ".join(real.stderr.split()).startswith(
        "Error: too little training data for a model that can be trusted: 5 labelled tickets "
        "(200 needed);")
    # the inbox now in the store: a dry run on it alone says the same again
    again = runner.invoke(app, [*args, "--dry-run", "--inbox", str(tmp_path / "empty")])
    assert (again.exit_code, again.stderr) == (1, real.stderr)


def test_a_dry_run_judges_the_training_data_the_inbox_would_make(models_env: Path,
                                                                  tmp_path: Path) -> None:
    """The training data a dry run judges is the real run's: the store as it is, with the
    inbox's tickets and level corrections ingested (into a temporary copy of the store,
    which stays as it was)."""
    base = _labelled(tmp_path / "base.csv", [("B1", "ZZ-1", "novice", "no-internet"),
                                             ("B2", "ZZ-2", "expert", "wifi-dropping")])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _labelled(inbox / "more.csv", [("N1", "ZZ-3", "intermediate", "no-internet"),
                                   ("N2", "ZZ-4", "novice", "no-internet"),
                                   ("ZZ-GONE-1", "ZZ-GONE", "expert", "no-internet")])
    (inbox / "fb.csv").write_text("ticket_id,article_id,helpful,corrected_level\n"
                                  "S1,,,expert\n", encoding="utf-8")  # labels a stored ticket
    db = tmp_path / "s.db"
    with Store(db) as store:
        store.ingest_frame(pd.DataFrame([
            {"ticket_id": "S1", "customer_id": "ZZ-6", "body": "my wifi keeps dropping",
             "topic": "wifi-dropping"},
            {"ticket_id": "G1", "customer_id": "ZZ-GONE", "body": "no internet"}]))
        store.forget("ZZ-GONE")
    before = db.read_bytes()
    kwargs: dict[str, Any] = {"inbox": inbox, "db_path": db, "base_data": [base],
                              "dry_run": True, "force": True}
    report = retrain(minimum=DataMinimum(tickets=5, topics=2, per_level=1), **kwargs)
    # B1, B2, N1, N2 and S1 (corrected); the erased customer's ticket is refused
    assert report.decision == "dry run" and report.training["total"] == 5
    assert any(r.startswith("training data with the inbox: 5 labelled tickets from 5 "
                            "customers") and r.endswith("(2 before it)")
               for r in report.reasons)
    with pytest.raises(InputError, match=r"^too little training data for a model that can be "
                                         r"trusted: 5 labelled tickets \(6 needed\)\. Add"):
        retrain(minimum=DataMinimum(tickets=6, topics=2, per_level=1), **kwargs)
    assert db.read_bytes() == before
    assert sorted(p.name for p in inbox.iterdir()) == ["fb.csv", "more.csv"]


_ARTICLE = "wifi-dropping/novice"


def _feedback_store(path: Path) -> Store:
    """A store with ALICE's, BOB's (opted out), ERIN's (erased) and an anonymous ticket, and
    one feedback row stored already."""
    tickets = path.with_suffix(".tickets.csv")
    tickets.write_text("ticket_id,customer_id,body\n"
                       + "".join(f"T-A{k},ALICE,wifi drops\nT-B{k},BOB,no dial tone\n"
                                 for k in range(3))
                       + "T-E,ERIN,my router\nT-N,,no name given\n", encoding="utf-8")
    store = Store(path)
    store.ingest_file(tickets)
    store.set_consent("BOB", "opted_out")
    store.forget("ERIN", purge_wait=0)
    store.add_feedback("T-A0", article_id=_ARTICLE, helpful=True, created_at="2026-10-23T01:00")
    return store


def _stored(store: Store) -> tuple[list[Any], list[Any]]:
    """The store's feedback rows and customers, row for row (rowids included)."""
    return (store.feedback_rows(),
            store.connection.execute("SELECT rowid, customer_id, consent, first_seen, "
                                     "pinned_level FROM customers ORDER BY rowid").fetchall())


def test_a_feedback_file_is_stored_in_one_transaction_as_row_by_row(tmp_path: Path) -> None:
    """A feedback file's rows go into the store in one transaction, stored exactly as adding
    them one by one stores them (a second store, same file): a customer taken from the
    ticket, a level dropped for a customer who opted out (and a row holding only that not
    written), a customer named for the first time made, anonymous and unknown tickets kept,
    erased customers and their tickets rejects, rows stored already unchanged."""
    path = tmp_path / "fb.csv"
    path.write_text(
        "ticket_id,customer_id,article_id,helpful,corrected_level,agent,created_at\n"
        f"T-A1,,{_ARTICLE},1,,ana,2026-10-23T02:00\n"
        f"T-A2,ALICE,{_ARTICLE},,expert,ben,2026-10-23T02:01\n"
        f"T-B1,,{_ARTICLE},0,novice,ana,2026-10-23T02:02\n"
        f"T-B2,,{_ARTICLE},,expert,ana,2026-10-23T02:03\n"
        f"L-1,BOB,{_ARTICLE},,intermediate,,2026-10-23T02:04\n"
        f"L-2,DAN,{_ARTICLE},1,novice,cal,2026-10-23T02:05\n"
        f"T-N,,{_ARTICLE},0,,,2026-10-23T02:06\n"
        f"L-3,,{_ARTICLE},1,expert,,2026-10-23T02:07\n"
        f"T-E,,{_ARTICLE},1,,,2026-10-23T02:08\n"
        f"L-4,ERIN,{_ARTICLE},1,,,2026-10-23T02:09\n"
        f"T-A0,,{_ARTICLE},1,,,2026-10-23T01:00\n"
        f"L-5,CAROL,{_ARTICLE},1,,,\n"
        f"T-A1,,{_ARTICLE},1,,ana,2026-10-23T02:00\n", encoding="utf-8")
    with _feedback_store(tmp_path / "batch.db") as batch, \
            _feedback_store(tmp_path / "rows.db") as one_by_one:
        statements: list[str] = []
        batch.connection.set_trace_callback(statements.append)
        item = ingest_feedback_file(batch, path, rejects_path=tmp_path / "rej.csv",
                                    articles={_ARTICLE})
        batch.connection.set_trace_callback(None)
        checked = check_feedback_file(path, store=one_by_one, articles={_ARTICLE})
        for row in checked.new:
            one_by_one.add_feedback(**row)
        (feedback, customers), (expected, expected_customers) = (
            _stored(batch), _stored(one_by_one))
    assert sum(s.startswith("BEGIN") for s in statements) == 1, statements
    assert (item.added, item.unchanged, item.rejected, item.corrections) == (9, 2, 2, 3)
    assert (item.added, item.unchanged, item.rejected) == (
        checked.item.added, checked.item.unchanged, checked.item.rejected)
    # row for row as one by one; the time of a row given none is the time it was stored
    untimed = [r for r in feedback if r.ticket_id == "L-5"]
    assert len(untimed) == 1 and untimed[0].created_at
    assert [replace(r, created_at=None) if r.ticket_id == "L-5" else r for r in feedback] == [
        replace(r, created_at=None) if r.ticket_id == "L-5" else r for r in expected]
    assert [c[:3] + c[4:] for c in customers] == [c[:3] + c[4:] for c in expected_customers]
    assert [(r.ticket_id, r.customer_id, r.helpful, r.corrected_level) for r in feedback] == [
        ("T-A0", "ALICE", True, None),
        ("T-A1", "ALICE", True, None), ("T-A2", "ALICE", None, "expert"),
        ("T-B1", "BOB", False, None), ("L-2", "DAN", True, "novice"),
        ("T-N", None, False, None), ("L-3", None, True, "expert"),
        ("L-5", "CAROL", True, None)]
    assert [c[1] for c in customers][-2:] == ["DAN", "CAROL"]


def test_a_feedback_file_that_fails_midway_leaves_nothing_written(tmp_path: Path) -> None:
    """The database refusing a row of a feedback file (a trigger of SQLite's, as a full
    disk would) stores none of its rows, nor the customers they name first; the file can
    then be ingested whole. Rows were committed one at a time, those before it kept."""
    with _feedback_store(tmp_path / "s.db") as store:
        before = _stored(store)
        store.connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON feedback WHEN NEW.ticket_id = 'L-3' "
            "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END")
        path = tmp_path / "fb.csv"
        path.write_text("ticket_id,customer_id,article_id,helpful,corrected_level\n"
                        f"L-1,DAN,{_ARTICLE},1,novice\n"
                        f"T-A1,,{_ARTICLE},0,\n"
                        f"L-3,,{_ARTICLE},1,\n"
                        f"L-4,,{_ARTICLE},1,\n", encoding="utf-8")
        with pytest.raises(StoreError, match="the disk is full"):
            ingest_feedback_file(store, path, rejects_path=tmp_path / "rej.csv",
                                 articles={_ARTICLE})
        assert _stored(store) == before and store.customer("DAN") is None
        store.connection.execute("DROP TRIGGER refuse")
        item = ingest_feedback_file(store, path, rejects_path=tmp_path / "rej.csv",
                                    articles={_ARTICLE})
        assert item.added == 4
        assert [r.ticket_id for r in store.feedback_rows()] == ["T-A0", "L-1", "T-A1", "L-3",
                                                              "L-4"]
