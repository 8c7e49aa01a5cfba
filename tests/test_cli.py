"""The agent's CLI: `answer` and `session` through the real CLI, piped and in a real terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise import __version__
from expertise.cli import app
from expertise.store.db import Store

runner = CliRunner()
EXE = Path(sys.executable).parent / "expertise"


def _db_with_customer(path: Path) -> Path:
    store = Store(path)
    store.ingest_frame(pd.DataFrame([
        {"ticket_id": f"K{i}", "customer_id": "C-1", "created_at": f"2026-0{i + 1}-02T09:00:00",
         "channel": "chat", "subject": "", "expertise_level": "expert", "topic": "no-internet",
         "body": "PPPoE session drops, hub fw 4.2.1, DHCP lease fine, SNR 6 dB"}
        for i in range(3)]), source="test")
    store.close()
    return path


def test_answer_json_has_the_full_answer(models_env: Path) -> None:
    result = runner.invoke(app, ["answer", "my wifi keeps dropping every few minutes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["level"] in ("novice", "intermediate", "expert")
    assert set(data["probabilities"]) == {"novice", "intermediate", "expert"}
    assert data["article"]["id"].startswith(data["topics"][0]["topic"])
    assert data["reasons"] and data["body"] and data["alternatives"]
    assert data["model_version"] == "test-small"


def test_answer_panel_shows_level_article_and_alternatives(models_env: Path) -> None:
    result = runner.invoke(app, ["answer", "PPPoE auth fails on the hub (fw 4.2.1), no WAN IP; "
                                 "MTU 1492, ran traceroute, DHCP lease ok"])
    assert result.exit_code == 0, result.output
    assert "Caller level: EXPERT" in result.output
    assert "no-internet/expert" in result.output
    assert "Alternatives" in result.output


def test_answer_refuses_a_time_it_cannot_read_with_or_without_a_store(models_env: Path,
                                                                     tmp_path: Path) -> None:
    for extra in ([], ["--customer", "C1", "--db", str(tmp_path / "none.db")]):
        result = runner.invoke(app, ["answer", "wifi down", "--created-at", "yesterday", *extra])
        assert result.exit_code == 2
        assert result.output.strip() == ("Error: --created-at 'yesterday': not a date or time; "
                                         "use ISO-8601, e.g. 2026-03-01T10:30 (see --help)")
    assert runner.invoke(app, ["answer", "wifi down", "--created-at", "2026-03-01"]
                         ).exit_code == 0


def test_answer_with_customer_writes_an_audit_record(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    result = runner.invoke(app, ["answer", "still not working", "--customer", "C-1", "--db",
                                 str(db), "--agent", "ann", "--purpose", "call", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["customer"]["history_tickets"] == 3
    store = Store(db)
    rows = store.audit_rows(customer_id="C-1")
    store.close()
    assert [(r.actor, r.action, r.purpose) for r in rows] == [("ann", "answer", "call")]


def test_unknown_customer_is_said_plainly(models_env: Path, tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()  # an empty store: a missing one is refused
    result = runner.invoke(app, ["answer", "internet down", "--customer", "X9", "--db",
                                 str(tmp_path / "s.db")])
    assert result.exit_code == 0
    assert "customer X9 is not in the store; answered as anonymous" in result.output


def test_bad_input_is_one_line_and_exit_1(models_env: Path, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["answer", "  "])
    assert empty.exit_code == 1 and empty.output.strip().count("\n") == 0
    assert "Error: the ticket text is empty" in empty.output
    missing = runner.invoke(app, ["answer", "hi", "--model", str(tmp_path / "nope"), "--trust"])
    assert missing.exit_code == 1 and "make train" in missing.output


def test_no_model_says_how_to_build_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPERTISE_MODELS", str(tmp_path))
    result = runner.invoke(app, ["answer", "internet down"])
    assert result.exit_code == 1
    assert "no current model" in result.output and "make train" in result.output


def test_session_piped_updates_and_records_feedback(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    script = "\n".join([
        ":customer C-1",
        "hub is on fw 4.2.1",
        "PPPoE auth keeps failing and there is no WAN IP",
        ":show 1",
        ":helpful",
        ":level expert",
        ":show 99",
        ":new",
        "the little box has a red light",
        ":quit",
    ]) + "\n"
    result = runner.invoke(app, ["session", "--db", str(db), "--agent", "bob"], input=script)
    # piped, a line that failed (":show 99") makes the exit status say so
    assert result.exit_code == 1, result.output
    assert "Error: the session had 1 error (shown above)" in result.output
    out = result.output
    assert "customer C-1: 3 earlier tickets" in out
    # one update per caller line, and one when the level is pinned
    assert out.count("Caller level:") == 4
    assert "thanks: noted as helpful" in out
    assert "noted: caller is expert; pinned for this customer" in out
    assert "an agent set this caller's level to expert" in " ".join(out.split())
    assert ":show takes 1" in out  # "1 to N", or "1" when there is one
    assert "new call" in out
    store = Store(db)
    feedback = store.feedback_rows()
    history = store.history("C-1")
    audit = store.audit_rows(customer_id="C-1")
    store.close()
    # the level label at once; the call's vote when the call ends
    assert [(f.helpful, f.corrected_level, f.agent) for f in feedback] == [
        (None, "expert", "bob"), (True, None, "bob")]
    assert len(history) == 4  # the call was kept as a (redacted) ticket
    assert Store(db).customer("C-1").pinned_level == "expert"  # type: ignore[union-attr]
    assert any(r.action == "session_lookup" for r in audit)


def test_session_never_gives_an_erased_callers_words_to_the_next_caller(
        models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    with Store(db) as store:
        store.ingest_frame(pd.DataFrame([{"ticket_id": "A1", "customer_id": "ALICE",
                                          "body": "my wifi keeps dropping"}]), source="test")
        store.forget("ALICE")
    script = "\n".join([
        ":customer ALICE", "Alice says her router lights are orange", ":new",
        ":customer C-1", "PPPoE auth fails on fw 4.2.1", ":quit"]) + "\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 0, result.output
    assert "customer ALICE was erased here" in " ".join(result.output.split())
    with Store(db) as store:
        calls = [t.body for t in store.history("C-1") if t.ticket_id.startswith("call-")]
        audit = store.audit_rows()
    assert calls == ["PPPoE auth fails on fw 4.2.1"]
    assert "ALICE" not in json.dumps([r.customer_id for r in audit])


def test_session_says_when_a_call_cannot_be_kept_and_starts_the_next_one(
        models_env: Path, tmp_path: Path) -> None:
    from expertise.engine import Engine
    from expertise.session import Session

    db = _db_with_customer(tmp_path / "s.db")
    import contextlib

    with contextlib.closing(Engine(db_path=db)) as engine:
        live = Session(engine, customer_id="C-1")
        live.handle("PPPoE auth fails on fw 4.2.1")
        with Store(db) as other:  # erased from another terminal during the call
            other.forget("C-1")
        ended = live.handle(":new")
        assert ended.kind == "message" and "not kept" in ended.warning
        assert live.customer_id is None and live.lines == []
        live.handle("the little box has a red light")
        assert live.handle(":quit").warning == ""
    with Store(db) as store:
        assert store.ticket_count() == 0


def test_session_counts_one_vote_per_article_a_call(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    held = ["my internet is slow and the tv keeps buffering", *[":not-helpful"] * 50,
            ":helpful", ":quit"]
    result = runner.invoke(app, ["session", "--db", str(db)], input="\n".join(held) + "\n")
    assert result.exit_code == 0, result.output
    assert "changed: now noted as helpful" in result.output
    with Store(db) as store:
        assert [f.helpful for f in store.feedback_rows()] == [True]


def test_session_notes_no_level_for_a_caller_who_opted_out(
        models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    assert runner.invoke(app, ["consent", "--customer", "C-1", "--opt-out", "--db",
                               str(db)]).exit_code == 0
    script = ":customer C-1\nPPPoE auth fails on fw 4.2.1\n:level expert\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 0, result.output
    assert "caller's level not noted: customer C-1 opted out" in " ".join(result.output.split())
    assert "noted: caller is expert" not in result.output
    with Store(db) as store:
        assert [f.corrected_level for f in store.feedback_rows()] == []


def test_session_refuses_a_customer_id_that_could_hide_audit_rows(
        models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    script = f":customer {'C' * 300}\n:customer C-1\x1b[2J\nhello\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1
    assert result.output.count("Error: :customer") == 2
    with Store(db) as store:
        assert [r.customer_id for r in store.audit_rows()] == []


@pytest.mark.parametrize("args", [
    ("answer", "my wifi drops", "--customer", ""),
    ("answer", "my wifi drops", "--customer", "   "),
    ("explain", "--customer", ""),
    ("answer", "my wifi drops", "--agent", ""),
])
def test_a_blank_id_is_a_usage_error(models_env: Path, args: tuple[str, ...]) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2
    option = args[args.index("") - 1] if "" in args else "--customer"
    assert f"Error: {option} is empty; give a value, or leave {option} out" in result.output


def test_help_version_and_module_entry_point() -> None:
    assert f"expertise {__version__}" in runner.invoke(app, ["--version"]).output
    helped = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, check=True)
    for command in ("answer", "session", "train", "evaluate", "kb"):
        assert command in helped.stdout
    as_module = subprocess.run([sys.executable, "-m", "expertise", "--version"],
                               capture_output=True, text=True, check=True)
    assert as_module.stdout.strip() == f"expertise {__version__}"


def test_every_command_has_help_with_an_example() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        for sub in (subs.values() if subs else [command]):
            assert sub.help and "Example:" in sub.help, f"{name} {sub.name} lacks an example"


def test_session_in_a_real_terminal(models_env: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    child = pexpect.spawn(str(EXE), ["session"], env=env, encoding="utf-8", timeout=30)
    try:
        child.expect("caller> ")
        child.sendline("the box with the lights has gone orange and the internet is gone")
        child.expect("Caller level:")
        child.expect("caller> ")
        child.sendline(":quit")
        child.expect("session ended")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_session_edits_lines_and_recalls_commands_not_callers(models_env: Path,
                                                             tmp_path: Path) -> None:
    """Arrow keys edit the line (no ^[[D), arrow up recalls earlier lines, and what is kept for
    later sessions is the commands only (caller text is personal data), in a private file."""
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm", "XDG_DATA_HOME": str(tmp_path)}
    secret = "my name is Zebedee Quist and the wifi keeps dropping"
    child = pexpect.spawn(str(EXE), ["session"], env=env, encoding="utf-8", timeout=30)
    try:
        child.expect("caller> ")
        child.send(secret.replace("Quist", "Qst"))
        child.send("\x1b[D" * len(" and the wifi keeps dropping") + "\x1b[D\x1b[D" + "ui")
        child.send("\r")
        child.expect("Caller level:")
        child.expect("caller> ")
        child.sendline(":customer C-SECRET-9")
        child.expect("caller> ")
        child.sendline(":hlp")  # a typo: corrected from the history, with the arrow keys
        child.expect("caller> ")
        child.send("\x1b[A\x1b[D\x1b[De\r")
        child.expect("look up a customer")  # the help text
        child.expect("caller> ")
        child.sendline(":quit")
        child.expect(pexpect.EOF)
        output = child.before or ""
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "^[[" not in output
    history = tmp_path / "expertise" / "session_history"
    assert history.read_text().splitlines() == [":customer", ":help", ":quit"]
    assert (history.stat().st_mode & 0o777) == 0o600
    assert "Zebedee" not in history.read_text() and "C-SECRET" not in history.read_text()
    # the next session recalls the commands
    child = pexpect.spawn(str(EXE), ["session"], env=env, encoding="utf-8", timeout=30)
    try:
        child.expect("caller> ")
        child.send("\x1b[A\x1b[A\r")  # :quit, then :help
        child.expect("look up a customer")
        child.expect("caller> ")
        child.send("\x1b[A\x1b[A\r")  # the :help just typed, then the :quit before it
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_session_history_keeps_commands_without_what_names_anyone(tmp_path: Path) -> None:
    from expertise.session import CommandHistory

    history = CommandHistory(tmp_path / "h", limit=4)
    typed = ["the router is orange", ":customer C00042", ":level expert", ":level Bob",
             ":show 2", ":show me", ":why", ":why", ":the box: broken", "  :HELP  "]
    assert [CommandHistory.keepable(t) for t in typed] == [
        None, ":customer", ":level expert", ":level", ":show 2", ":show", ":why", ":why", None,
        ":help"]
    history.save(typed)
    assert history.load() == [":level", ":show 2", ":show", ":why", ":help"][-4:]
    assert (tmp_path / "h").stat().st_mode & 0o777 == 0o600


def test_session_in_a_pipe_keeps_no_history(models_env: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(EXE), "session"], input=":help\nhello there\n:quit\n",
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "expertise" / "session_history").exists()


# ---------------------------------------------------------------------------------------------
# Exact output of the stable commands
# ---------------------------------------------------------------------------------------------

KB_TINY = Path(__file__).parent / "data" / "kb_tiny"


def _exact(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "100", **(env or {})})
    return result.exit_code, result.output


def test_version_exactly() -> None:
    assert _exact("--version") == (0, f"expertise {__version__}\n")


def test_kb_list_exactly() -> None:
    assert _exact("kb", "list", "--kb", str(KB_TINY)) == (0, (
        "              Knowledge base: 2 topics, 5 articles               \n"
        "┏━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ topic        ┃ category ┃ levels ┃ novice title               ┃\n"
        "┡━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ no-internet  │          │ N I E  │ Internet down (novice)     │\n"
        "│ tv-no-signal │ tv       │ N - E  │ TV says no signal (novice) │\n"
        "└──────────────┴──────────┴────────┴────────────────────────────┘\n"
        "levels: N = novice, I = intermediate, E = expert; - = missing\n"))


def test_kb_lint_exactly() -> None:
    assert _exact("kb", "lint", "--kb", str(KB_TINY)) == (0, (
        "warning: tv-no-signal: levels: missing intermediate\n"
        "kb lint OK: 5 articles in 2 topics, 0 errors, 1 warning\n"))
    code, out = _exact("kb", "lint", "--kb", str(KB_TINY), "--json")
    assert code == 0 and json.loads(out) == {
        "errors": [], "warnings": ["warning: tv-no-signal: levels: missing intermediate"],
        "articles": 5, "topics": 2}


def test_errors_exactly(tmp_path: Path) -> None:
    assert _exact("kb", "show", "wifi-dropping/novice", "--kb", str(KB_TINY)) == (1, (
        f"Error: no article 'wifi-dropping/novice' in {KB_TINY}; list them with "
        "`expertise kb list`\n"))
    assert _exact("models", "list", env={"EXPERTISE_MODELS": str(tmp_path)}) == (
        0, "no model bundles; build one with `make train`\n")
    assert _exact("consent", "--customer", "C1", "--db", str(tmp_path / "x.db")) == (2, (
        "Error: give exactly one of --opt-out or --opt-in (see --help)\n"))
    assert _exact("feedback", "T1", "--article", "no-internet/novice") == (2, (
        "Error: give exactly one of --helpful or --not-helpful (see --help)\n"))


def test_pin_decides_answers_is_explained_and_clears(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    expert_text = "PPPoE session drops, hub fw 4.2.1, DHCP lease fine, SNR 6 dB"
    before = json.loads(runner.invoke(app, ["answer", expert_text, "--customer", "C-1", "--db",
                                            str(db), "--json"]).output)
    assert before["level"] == "expert"
    pinned = runner.invoke(app, ["pin", "--customer", "C-1", "--level", "novice", "--db", str(db),
                                 "--agent", "ann", "--json"])
    assert pinned.exit_code == 0, pinned.output
    assert json.loads(pinned.output) == {"customer_id": "C-1", "pinned_level": "novice",
                                         "previous": None}
    after = json.loads(runner.invoke(app, ["answer", expert_text, "--customer", "C-1", "--db",
                                           str(db), "--json"]).output)
    assert after["level"] == "novice" and after["confidence"] >= 0.95
    assert after["customer"]["pinned_level"] == "novice"
    assert any("set this caller's level to novice" in n for n in after["notes"])
    explained = runner.invoke(app, ["explain", "--customer", "C-1", "--db", str(db)])
    assert "an adviser noted that" in " ".join(explained.output.split())
    cleared = runner.invoke(app, ["pin", "--customer", "C-1", "--clear", "--db", str(db)])
    assert cleared.exit_code == 0, cleared.output
    again = json.loads(runner.invoke(app, ["answer", expert_text, "--customer", "C-1", "--db",
                                           str(db), "--json"]).output)
    assert again["probabilities"] == before["probabilities"]
    with Store(db) as store:
        audit = [(r.actor, r.action, r.detail) for r in store.audit_rows(customer_id="C-1")
                 if r.action in ("pin", "unpin")]
    assert audit[0] == ("ann", "pin", "none -> novice") and audit[1][1:] == ("unpin",
                                                                            "novice -> none")


def test_pin_refuses_what_it_cannot_do(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    both = runner.invoke(app, ["pin", "--customer", "C-1", "--level", "expert", "--clear",
                               "--db", str(db)])
    neither = runner.invoke(app, ["pin", "--customer", "C-1", "--db", str(db)])
    assert both.exit_code == neither.exit_code == 2
    assert "exactly one of --level LEVEL or --clear" in neither.output
    wrong = runner.invoke(app, ["pin", "--customer", "C-1", "--level", "guru", "--db", str(db)])
    assert wrong.exit_code != 0 and "level must be one of" in wrong.output
    unknown = runner.invoke(app, ["pin", "--customer", "X", "--level", "expert", "--db", str(db)])
    assert unknown.exit_code != 0 and "unknown customer 'X'" in unknown.output
    runner.invoke(app, ["consent", "--customer", "C-1", "--opt-out", "--db", str(db)])
    out = runner.invoke(app, ["pin", "--customer", "C-1", "--level", "expert", "--db", str(db)])
    assert out.exit_code != 0 and "opted out" in out.output


def test_feedback_with_a_level_pins_the_customer(models_env: Path, tmp_path: Path) -> None:
    db = _db_with_customer(tmp_path / "s.db")
    result = runner.invoke(app, ["feedback", "K0", "--article", "no-internet/expert",
                                 "--not-helpful", "--level", "intermediate", "--db", str(db)])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        assert store.customer("C-1").pinned_level == "intermediate"  # type: ignore[union-attr]
