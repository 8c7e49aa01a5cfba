"""Edges of `expertise session` and `expertise answer` as a demanding agent meets them: odd
commands, odd bytes, interrupted calls, odd times and stores. Through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.store.db import Store

runner = CliRunner()
EXE = Path(sys.executable).parent / "expertise"
EXPERT = "PPPoE session drops, hub fw 4.2.1, DHCP lease fine, SNR 6 dB"


def _db_with_customer(path: Path) -> Path:
    with Store(path) as store:
        store.ingest_frame(pd.DataFrame([
            {"ticket_id": f"K{i}", "customer_id": "C-1",
             "created_at": f"2026-0{i + 1}-02T09:00:00", "channel": "chat", "subject": "",
             "expertise_level": "expert", "topic": "no-internet", "body": EXPERT}
            for i in range(3)]), source="test")
    return path


def _db_with_erased_alice(path: Path) -> Path:
    """The store of `_db_with_customer`, and customer ALICE, who had a ticket and was erased."""
    _db_with_customer(path)
    with Store(path) as store:
        store.ingest_frame(pd.DataFrame([{"ticket_id": "A1", "customer_id": "ALICE",
                                          "body": "my wifi keeps dropping"}]), source="test")
        store.forget("ALICE")
    return path


def _said(output: str) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(output.split())


def _calls(db: Path, customer: str) -> list[str]:
    with Store(db) as store:
        return [t.body or "" for t in store.history(customer) if t.ticket_id.startswith("call-")]


def _session_until(db: Path, script: str, marker: str) -> tuple[subprocess.Popen[str], str]:
    """A real `expertise session --db DB` fed `script` (stdin left open: it waits for the next
    line), and what it printed up to the line holding `marker`."""
    child = subprocess.Popen(
        [str(EXE), "session", "--db", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(script)
    child.stdin.flush()
    deadline = time.monotonic() + 120
    seen = ""
    while marker not in seen and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        seen += line
    assert marker in seen, seen
    return child, seen


# -- interrupted calls -------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_session_keeps_the_call_and_its_votes(
        models_env: Path, tmp_path: Path, sig: signal.Signals, code: int) -> None:
    """Ctrl-C (or SIGTERM) during a call used to drop the call and its votes while its level
    label, stored at once, stayed: a label for a call the store never held."""
    db = _db_with_customer(tmp_path / "s.db")
    child, seen = _session_until(db, f":customer C-1\n{EXPERT}\n:helpful\n:level expert\n",
                                 "pinned for this customer")
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] in ("Error: interrupted", "Error: terminated (SIGTERM)")
    assert "session ended" in seen + out
    assert _calls(db, "C-1") == [EXPERT]
    with Store(db) as store:
        feedback = store.feedback_rows()
    assert sorted((str(f.helpful), str(f.corrected_level)) for f in feedback
                  if f.customer_id == "C-1") == [("None", "expert"), ("True", "None")]


# -- what a pipe or a paste brings -------------------------------------------------------------


def test_session_reads_bytes_that_are_not_utf8_and_nul_and_keeps_the_call(
        models_env: Path, tmp_path: Path) -> None:
    """A byte that is not UTF-8 stopped the session with a traceback (UnicodeDecodeError
    where stdin decodes strictly; where it decodes with surrogateescape, the store refused
    the call when it ended and the call and its votes were lost). A NUL cut the stored call
    short for sqlite3's own tools."""
    db = _db_with_customer(tmp_path / "s.db")
    script = (b":customer C-1\r\nmy wifi \xff\xfe keeps dropping\r\n"
              b"the hub\x00 light is red\r\n:helpful\r\n:quit")  # CRLF, no newline at the end
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "thanks: noted as helpful" in result.output
    assert _calls(db, "C-1") == ["my wifi \ufffd\ufffd keeps dropping the hub  light is red"]
    with Store(db) as store:
        assert [f.helpful for f in store.feedback_rows()] == [True]


def test_an_id_with_bytes_that_are_not_utf8_is_refused_in_one_line(
        models_env: Path, tmp_path: Path) -> None:
    """`--customer`, `--agent` or `:customer` holding a byte that is not UTF-8 (Python reads
    argv and pipes with surrogateescape) was a UnicodeEncodeError traceback from SQLite."""
    db = _db_with_customer(tmp_path / "s.db")
    for option in ("--customer", "--agent", "--purpose"):
        args = ["answer", "my wifi drops", "--db", str(db), "--json", option, "C\udcff"]
        if option != "--customer":
            args += ["--customer", "C-1"]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr.strip() == (f"Error: {option} contains bytes that are not UTF-8 "
                                         "text; retype it, or convert it to UTF-8 (see --help)")
    session = runner.invoke(app, ["session", "--db", str(db)],
                            input=b":customer C-\xff1\n:customer C-1\n:quit\n")
    assert session.exit_code == 1, session.output
    assert ("Error: :customer contains bytes that are not UTF-8 text; retype it, or convert "
            "it to UTF-8") in _said(session.stderr)
    assert "customer C-1: 3 earlier tickets" in session.stdout
    with Store(db) as store:
        assert {r.customer_id for r in store.audit_rows()} == {"C-1"}


def test_a_line_of_the_callers_that_starts_with_a_colon_is_what_they_said(
        models_env: Path, tmp_path: Path) -> None:
    """":) thanks" was "unknown command :)", an error that failed a piped run, and the
    caller's words were lost; a command is a colon and a word, and '::' types one."""
    db = _db_with_customer(tmp_path / "s.db")
    script = "\n".join([":customer C-1", ":) the wifi works now", ": -( no it dropped again",
                        "::D still", ":SHOW\t1", ":nope", ":quit"]) + "\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1, result.output  # ":nope" is still a mistake, and named
    assert _said(result.stderr) == (
        "Error: unknown command :nope; type :help (for what the caller said, type another "
        "colon before it: ::nope) Error: the session had 1 error (shown above)")
    assert result.stdout.count("Caller level:") == 3
    assert _calls(db, "C-1") == [":) the wifi works now : -( no it dropped again :D still"]


# -- answer's options --------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["yesterday", "", "2026-13-01", "2026-03-01T25:00",
                                  "10000-01-01"])
def test_a_time_answer_cannot_read_is_a_usage_error_before_anything_loads(
        tmp_path: Path, when: str) -> None:
    """A bad --created-at was exit 1, found only after the model had loaded (so a missing
    model hid it); a value the parser refuses is a usage error: exit 2, stdout clean."""
    result = runner.invoke(app, ["answer", "wifi down", "--json", "--created-at", when,
                                 "--model", str(tmp_path / "no-model"), "--trust"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == (f"Error: --created-at {when!r}: not a date or time; use "
                                     "ISO-8601, e.g. 2026-03-01T10:30 (see --help)")


@pytest.mark.parametrize(("when", "earlier"), [
    ("2026-01-15", 1), ("2026-01-15T10:00:00+05:00", 1), ("2026-02-15T10:00Z", 2),
    ("2026-03-15 10:00", 3), ("1970-01-01", 0), ("2999-12-31T23:59:59", 3)])
def test_answer_as_of_odd_times_counts_the_tickets_before_them(
        models_env: Path, tmp_path: Path, when: str, earlier: int) -> None:
    db = _db_with_customer(tmp_path / "s.db")  # tickets on 2 January, February and March
    result = runner.invoke(app, ["answer", "my wifi keeps dropping", "--customer", "C-1",
                                 "--db", str(db), "--created-at", when, "--top", "10",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["customer"] == {"id": "C-1", "status": "known", "history_tickets": earlier}


@pytest.mark.parametrize(("args", "error"), [
    (["answer", "wifi down", "--top", "11", "--json"],
     "Invalid value for '--top': 11 is not in the range 1<=x<=10"),
    (["answer", "wifi down", "--top", "0", "--json"],
     "Invalid value for '--top': 0 is not in the range 1<=x<=10"),
    (["answer", "--json"], "Missing argument 'TEXT'"),
    (["answer", "wifi down", "--json", "--top"], "Option '--top' requires an argument"),
    (["session", "C-1"], "Got unexpected extra argument(s) (C-1)"),
])
def test_a_usage_error_is_one_line_on_stderr(args: list[str], error: str) -> None:
    """click's own usage errors took four lines (the usage, a hint, a blank, the error)
    where the commands' own take one."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {error} (see --help)\n"


# -- what the session says ---------------------------------------------------------------------


def test_a_piped_session_says_each_error_and_message_on_one_line(
        models_env: Path, tmp_path: Path) -> None:
    """Errors, warnings and messages were wrapped at 80 columns in a pipe, so a script
    reading the output found them cut in two."""
    db = _db_with_erased_alice(tmp_path / "s.db")
    script = ":level expret\n:customer ALICE\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: :level 'expret' is not a level: give one of novice, intermediate, expert, or "
        "clear")
    assert result.stdout.splitlines()[0] == (
        "customer ALICE was erased here: this call is answered as an anonymous caller's and "
        "is not kept")


def test_session_takes_a_level_in_any_case_as_it_takes_commands(
        models_env: Path, tmp_path: Path) -> None:
    """":LEVEL expert" pinned the caller but ":level Expert" was "not a level"."""
    db = _db_with_customer(tmp_path / "s.db")
    script = f":customer C-1\n{EXPERT}\n:level  Expert \n:LEVEL CLEAR\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 0, result.output
    said = _said(result.stdout)
    assert "noted: caller is expert; pinned for this customer" in said
    assert "customer C-1: pinned level cleared" in said
    with Store(db) as store:
        assert [f.corrected_level for f in store.feedback_rows()] == ["expert"]
        assert store.customer("C-1").pinned_level is None  # type: ignore[union-attr]


def test_session_says_what_a_vote_or_a_level_is_missing(models_env: Path, tmp_path: Path) -> None:
    """Before any text, and after a call no article fits, :helpful and :level said "no
    suggestion yet to give feedback on": about :level (a pin) it said nothing of what to do,
    and after an answer it read as if nothing had been answered."""
    db = _db_with_customer(tmp_path / "s.db")
    script = ":level expert\n:helpful\nasdf qwer zxcv\n:not-helpful\n:level novice\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        "Error: :level expert needs what the caller said first, or a customer in the store "
        "(:customer ID)",
        "Error: :helpful: nothing suggested yet; type what the caller says first",
        "Error: :not-helpful: no article was suggested for this call (no good match); ask what "
        "the problem is",
        "Error: :level novice: no article was suggested for this call (no good match); ask "
        "what the problem is, or pin a customer in the store: :customer ID"]
    with Store(db) as store:
        assert store.feedback_rows() == []


# -- stores ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["answer", "wifi down", "--customer", "C-1", "--json"], ["session"],
    ["ingest", str(Path(__file__).parent / "data" / "tickets.csv")]])
def test_a_folder_given_as_the_store_is_named_as_one(
        models_env: Path, tmp_path: Path, args: list[str]) -> None:
    """--db FOLDER said "cannot open the database (disk I/O error)"."""
    result = runner.invoke(app, [*args, "--db", str(tmp_path)], input=":quit\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: {tmp_path}: a folder, not a store; give the store's "
                             f"file, e.g. --db {tmp_path / 'support.db'}\n")
    assert list(tmp_path.iterdir()) == []


def test_stores_that_are_missing_not_sqlite_or_not_ours_are_refused_in_one_line(
        models_env: Path, tmp_path: Path) -> None:
    import sqlite3

    (tmp_path / "text.db").write_text("hello\n", encoding="utf-8")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    for name, error in [("missing/s.db", "no store there"),
                        ("text.db", "not an expertise database or damaged"),
                        ("other.db", "")]:
        db = tmp_path / name
        for args in (["answer", "wifi down", "--customer", "C-1", "--json"], ["session"]):
            result = runner.invoke(app, [*args, "--db", str(db)], input="wifi down\n:quit\n")
            assert result.exit_code == 1, result.output
            assert result.stdout == ""
            line = _one_line(result.stderr)
            assert line.startswith(f"Error: {db}: {error}"), line
    assert (tmp_path / "text.db").read_text(encoding="utf-8") == "hello\n"
    assert not (tmp_path / "missing").exists()


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(("args", "what", "taken"), [
    (["answer", "wifi down", "--customer", "--json"], "--customer", "--json"),
    (["answer", "wifi down", "--json", "--customer", "C-1", "--agent", "--purpose", "x"],
     "--agent", "--purpose"),
    (["session", "--customer", "--db"], "--customer", "--db"),
])
def test_an_option_taken_as_the_value_of_another_is_a_usage_error(
        models_env: Path, tmp_path: Path, args: list[str], what: str, taken: str) -> None:
    """`answer TEXT --customer --json` answered customer "--json" (an audit row for them)
    in a panel, not JSON."""
    db = _db_with_customer(tmp_path / "s.db")
    result = runner.invoke(app, [*args, "--db", str(db)], input=":quit\n")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (f"Error: {what} needs a value before the next option (it took "
                             f"{taken} as one) (see --help)\n")
    with Store(db) as store:
        assert store.audit_rows() == []


def test_why_for_an_erased_caller_says_nothing_is_held(models_env: Path, tmp_path: Path) -> None:
    """`:customer ERASED` then `:why` said ":why needs a customer: use :customer ID first",
    to an agent who had just given one."""
    db = _db_with_erased_alice(tmp_path / "s.db")
    script = ":customer ALICE\nmy wifi drops\n:why\n:new\n:why\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1  # the second :why, after :new, has no customer
    assert ("this caller was erased here: nothing is held about them, and this call is not "
            "kept") in result.stdout.splitlines()
    assert result.stderr.splitlines()[0] == "Error: :why needs a customer: use :customer ID first"
    with Store(db) as store:
        assert "ALICE" not in json.dumps([r.customer_id for r in store.audit_rows()])
        assert store.ticket_count() == 3


def _run_read_only(folder: Path, args: list[str], text: str) -> subprocess.CompletedProcess[str]:
    """The CLI run with `folder` read-only: by its mode, or for root (whom modes do not stop)
    on a read-only bind mount of it in a mount namespace of its own."""
    if os.geteuid() != 0:
        for path in folder.iterdir():
            path.chmod(0o444)
        folder.chmod(0o555)
        command = [str(EXE), *args]
    else:
        mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" || exit 99; exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, str(folder), str(EXE), *args]
    try:
        result = subprocess.run(command, input=text, capture_output=True, text=True,
                                timeout=120)
    except FileNotFoundError:
        pytest.skip("no unshare here to make a folder read-only for root")
    finally:
        folder.chmod(0o755)
    if result.returncode == 99:
        pytest.skip("cannot mount a folder read-only here")
    return result


@pytest.mark.parametrize("args", [["answer", "wifi down", "--customer", "C-1", "--json"],
                                  ["session"]])
def test_a_read_only_store_is_said_to_be_read_only(
        models_env: Path, tmp_path: Path, args: list[str]) -> None:
    """A read-only store was "not an expertise database or damaged (unable to open database
    file)": the agent was told the store was broken, not what to fix."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = _db_with_customer(folder / "s.db")
    result = _run_read_only(folder, [*args, "--db", str(db)], ":customer C-1\nwifi\n:quit\n")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    line = _one_line(result.stderr)
    assert line.startswith(f"Error: {db}: the store's file is read-only here ("), line
    assert line.endswith(f"make {db} writable, or copy the store somewhere that is"), line


def test_a_session_started_with_its_input_closed_says_so(models_env: Path) -> None:
    """`expertise session <&-` was an AttributeError traceback (sys.stdin is None)."""
    result = subprocess.run([str(EXE), "session"], capture_output=True, text=True,
                            timeout=120, stdin=None, preexec_fn=lambda: os.close(0))
    assert result.returncode == 1
    assert result.stdout == ""
    assert _one_line(result.stderr) == (
        "Error: the session reads what the caller says from its input, which is closed; run "
        "it in a terminal, or pipe lines in: expertise session < call.txt")


def test_a_session_whose_output_is_closed_keeps_the_call_so_far(
        models_env: Path, tmp_path: Path) -> None:
    """`expertise session | head` : when the reader went away the session stopped at the next
    line it printed and lost the call and its votes."""
    db = _db_with_customer(tmp_path / "s.db")
    child, _ = _session_until(db, f":customer C-1\n{EXPERT}\n:helpful\n", "noted as helpful")
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader goes away
    child.stdin.write("the hub is on fw 4.2.1\n:quit\n")
    child.stdin.close()
    assert child.wait(timeout=60) == 1
    err = child.stderr.read()
    assert "Traceback" not in err, err
    assert _calls(db, "C-1") == [f"{EXPERT} the hub is on fw 4.2.1"]
    with Store(db) as store:
        assert [f.helpful for f in store.feedback_rows()] == [True]


def test_an_unknown_command_pasted_long_is_named_short(models_env: Path) -> None:
    """A 100 kB line that starts with ':' and a word was echoed whole, twice, as the error
    (and a 100 kB :level once)."""
    long = "x" * 100_000
    result = runner.invoke(app, ["session"], input=f":{long}\n:level {long}\n:quit\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        f"Error: unknown command :{'x' * 30}…; type :help (for what the caller said, type "
        f"another colon before it: ::{'x' * 30}…)",
        f"Error: :level '{'x' * 30}'… is not a level: give one of novice, intermediate, "
        "expert, or clear"]


def test_clearing_a_level_that_was_never_pinned_says_so(models_env: Path, tmp_path: Path) -> None:
    """":level clear" said "pinned level cleared" when nothing was pinned, so the agent
    believed they had undone something."""
    db = _db_with_customer(tmp_path / "s.db")
    script = f":customer C-1\n{EXPERT}\n:level clear\n:level novice\n:level clear\n:quit\n"
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 0, result.output
    said = _said(result.stdout)
    assert said.count("customer C-1: no level was pinned; nothing to clear") == 1
    assert said.count("customer C-1: pinned level cleared") == 1
    assert said.index("nothing to clear") < said.index("pinned level cleared")


def test_show_names_the_alternatives_there_are(models_env: Path) -> None:
    """":show 9" said ":show takes 1 to 1" when a call had one alternative."""
    from expertise.engine import Engine
    from expertise.session import Session

    session = Session(Engine(), agent="test")
    session.handle(EXPERT)
    assert session.last is not None
    n_alt = len(session.last.alternatives)
    event = session.handle(":show 99")
    assert event.kind == "error"
    assert (f":show takes 1 to {n_alt} " if n_alt > 1 else ":show takes 1 (") in event.message
    session.last.alternatives = session.last.alternatives[:1]
    event = session.handle(":show 2")
    assert event.kind == "error"
    assert event.message.startswith(":show takes 1 (or nothing, for the suggested article)")


def test_a_call_with_a_level_label_stays_its_customers_call(
        models_env: Path, tmp_path: Path) -> None:
    """":customer A", text, ":level expert", ":customer B" stored the call under B and its
    label under A: a label for a call the store holds for someone else. The switch is now
    refused with the way to take B's call (:new first); after :new it works."""
    db = _db_with_customer(tmp_path / "s.db")
    with Store(db) as store:
        store.ingest_frame(pd.DataFrame([{"ticket_id": "B1", "customer_id": "C-2",
                                          "body": "my wifi keeps dropping"}]), source="test")
    script = (f":customer C-1\n{EXPERT}\n:level expert\n:customer C-2\n:new\n:customer C-2\n"
              "the light on the box is red\n:quit\n")
    result = runner.invoke(app, ["session", "--db", str(db)], input=script)
    assert result.exit_code == 1, result.output  # the refused switch is the one error
    assert result.stderr.splitlines()[0] == (
        "Error: this call already has a level label for customer C-1; to take a call for C-2, "
        "start it with :new, then :customer C-2")
    with Store(db) as store:
        labels = [(f.ticket_id, f.customer_id) for f in store.feedback_rows()
                  if f.corrected_level]
        calls = {t.ticket_id: c for c in ("C-1", "C-2") for t in store.history(c)
                 if t.ticket_id.startswith("call-")}
    assert len(labels) == 1 and calls[str(labels[0][0])] == labels[0][1] == "C-1"
    assert sorted(calls.values()) == ["C-1", "C-2"]
