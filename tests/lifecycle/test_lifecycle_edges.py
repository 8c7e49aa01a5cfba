"""The model lifecycle broken on purpose: damaged bundles and manifests, a damaged models
folder, concurrent promotions, unusable training outputs. Real bundles (a copy of the committed
one), the real CLI, subprocesses for concurrency; each case was a traceback, a lost record or
a silently accepted bundle before its fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from expertise.cli import app
from expertise.config import PROJECT_DIR

runner = CliRunner()
COMMITTED = PROJECT_DIR / "models"


def _committed_version() -> str:
    return (COMMITTED / "current").read_text(encoding="utf-8").strip()


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private models folder (the default location) holding a copy of the committed bundle,
    current, as `v1`."""
    models = tmp_path / "models"
    models.mkdir()
    _copy_bundle(COMMITTED / _committed_version(), models / "v1")
    (models / "current").write_text("v1\n")
    monkeypatch.setenv("EXPERTISE_MODELS", str(models))
    return models


def _copy_bundle(source: Path, dest: Path) -> Path:
    """A copy of a bundle under another version name (the manifest's `version` follows)."""
    shutil.copytree(source, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["version"] = dest.name
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def _edit_manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.update(changes)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _one_line_error(result: object, code: int = 1) -> str:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert "Traceback" not in output
    assert result.exception is None or isinstance(  # type: ignore[attr-defined]
        result.exception, SystemExit), result.exception  # type: ignore[attr-defined]
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    return str(lines[0])


# ---- models list: a manifest's figures are not hashed -----------------------------------------


def test_models_list_shows_a_manifest_with_figures_edited_to_text_without_crashing(
        root: Path) -> None:
    """The manifest's metrics are not covered by its hashes: a hand edit to text, a list or
    null made `models list` end in a traceback (ValueError in the table), hiding every bundle."""
    _copy_bundle(root / "v1", root / "v2")
    _edit_manifest(root / "v2", created=None, facts={"train_tickets": "lots"},
                   metrics={"eval_split": {"accuracy": "high", "severe_miss_rate": [1]},
                            "handwritten": 3})
    (root / "v2.comparison.json").write_text(json.dumps({"decision": {"passed": True}}))
    result = runner.invoke(app, ["models", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.exception
    assert "* v1" in result.output and "v2" in result.output
    assert "unreadable comparison file" in result.output
    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    v2 = next(r for r in rows if r["version"] == "v2")
    assert v2["metrics"]["eval_split"] == {"accuracy": None, "severe_miss_rate": None}
    assert v2["train_tickets"] is None and v2["created"] == ""


def test_models_list_shows_a_bundle_folder_by_its_name_not_as_markup(root: Path) -> None:
    """A folder named "[red]v4" was listed as "v4" (rich read its name as markup), so the
    name to promote or delete could not be read off the table."""
    _copy_bundle(root / "v1", root / "[red]v4")
    result = runner.invoke(app, ["models", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "[red]v4" in result.output.split("\n", 2)[2]  # in the table, not only below it


# ---- promotions from two processes at once ----------------------------------------------------

_PROMOTER = """
import sys
from pathlib import Path

import pandas as pd
from expertise.bundles.registry import set_current
root, versions = Path(sys.argv[1]), sys.argv[2:]
for i in range(25):
    set_current(versions[i % len(versions)], root)
"""


def test_promotions_from_several_processes_at_once_lose_no_line_of_the_log(root: Path) -> None:
    """Each change of `models/current` rewrote the promotions log from what it had read: two
    processes at once lost lines, and the log's chain (each line's `previous` is the line
    before's `version`), which rollback walks back through, no longer matched the pointer."""
    for name in ("v2", "v3"):
        _copy_bundle(root / "v1", root / name)
    procs = [subprocess.Popen([sys.executable, "-c", _PROMOTER, str(root), *order])
             for order in (["v1", "v2"], ["v2", "v3"], ["v3", "v1"], ["v2", "v1", "v3"])]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    log = [json.loads(line) for line in (root / "promotions.jsonl").read_text().splitlines()]
    assert len(log) > 4
    broken = [(a, b) for a, b in zip(log, log[1:], strict=False)
              if b["previous"] != a["version"]]
    assert not broken, f"{len(broken)} of {len(log)} lines do not follow the line before"
    assert log[-1]["version"] == (root / "current").read_text().strip()
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]


def test_a_change_decided_against_another_current_model_changes_nothing(root: Path) -> None:
    """A promotion judged against v1 while another process made v2 current would have
    replaced v2 unjudged: it is refused, with the pointer and the log as they were."""
    from expertise.bundles.registry import set_current
    from expertise.errors import ArtifactError

    for name in ("v2", "v3"):
        _copy_bundle(root / "v1", root / name)
    set_current("v2", root, expected="v1")
    log = (root / "promotions.jsonl").read_bytes()
    with pytest.raises(ArtifactError, match=r"changed from v1 to v2 .*run the promote again"):
        set_current("v3", root, expected="v1")
    assert (root / "current").read_text() == "v2\n"
    assert (root / "promotions.jsonl").read_bytes() == log


# ---- train: where the bundle goes -------------------------------------------------------------


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_train_out_a_file_is_a_one_line_error_before_any_training(
        root: Path, tmp_path: Path, where: str) -> None:
    """`--out` naming a file (or a folder inside one) trained for minutes, then ended in a
    traceback (NotADirectoryError on customers.key) with the model lost."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    out = afile if where == "file" else afile / "models"
    data = tmp_path / "tiny.csv"
    pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                keep_default_na=False).iloc[::60].to_csv(data, index=False)
    result = runner.invoke(app, ["train", "--data", str(data), "--force", "--no-eval",
                                 "--out", str(out)])
    # the --force warning goes first, on stderr
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert error == [f"Error: {afile}"
                     + ("" if where == "file" else f" (in the path of {out})")
                     + " is a file, not a folder; give a models folder you can write to "
                     "with --out (or $EXPERTISE_MODELS)"], result.output
    assert afile.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "models", "tiny.csv"]


# ---- a bundle's files are its own -------------------------------------------------------------


@pytest.mark.parametrize("name", ["lean.b.npy", "manifest.json"])
def test_a_symlink_in_a_bundle_is_damage_even_to_a_file_that_matches(
        root: Path, name: str) -> None:
    """A file replaced by a link to the same bytes elsewhere (here another bundle's) passed
    verification: the bundle was listed ok and served, and pruning the other bundle then
    broke it, or a change there changed it."""
    bundle = _copy_bundle(root / "v1", root / "v2")
    target = root / "v1" / name
    if name == "manifest.json":  # the manifest the link points to must name v2's files
        target = root.parent / "elsewhere.json"
        shutil.copy(bundle / name, target)
    (bundle / name).unlink()
    (bundle / name).symlink_to(target)
    rows = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    status = {r["version"]: r["status"] for r in rows}
    assert status["v1"] == "ok"
    assert status["v2"].startswith(f"damaged: {name} is a symbolic link"), status
    error = _one_line_error(runner.invoke(app, ["answer", "--model", str(bundle), "hello"]))
    assert "is a symbolic link; a bundle holds its own files" in error
    assert (root / "current").read_text() == "v1\n"
    error = _one_line_error(runner.invoke(app, ["models", "promote", "v2"]))
    assert "is a symbolic link" in error
    assert (root / "current").read_text() == "v1\n"


# ---- the models folder itself -----------------------------------------------------------------


@pytest.mark.parametrize("command", [["models", "list"], ["models", "rollback"],
                                     ["models", "prune", "--keep", "1"], ["answer", "hello"]])
def test_a_models_folder_that_is_a_file_is_named_as_such(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    """$EXPERTISE_MODELS naming a file said "<file>/current cannot be read (Not a directory);
    delete it", a file that does not exist."""
    afile = tmp_path / "models.txt"
    afile.write_text("v1\n")
    monkeypatch.setenv("EXPERTISE_MODELS", str(afile))
    error = _one_line_error(runner.invoke(app, command))
    assert error == (f"Error: the models folder {afile} is a file, not a folder; point "
                     "$EXPERTISE_MODELS (or --out) at the folder that holds the bundles")
    assert afile.read_text() == "v1\n"


# ---- a promotion killed outright --------------------------------------------------------------

_FLIPPER = """
import sys
from pathlib import Path
from expertise.bundles.registry import set_current
root = Path(sys.argv[1])
print("ready", flush=True)
while True:
    for version in ("v2", "v1"):
        set_current(version, root)
"""


def test_a_promotion_killed_at_any_moment_leaves_a_whole_pointer_and_log(root: Path) -> None:
    """SIGKILL while the pointer and the log are being written: `current` always names a
    whole version and the log parses (both are written to a temporary file, then renamed).
    What a killed write leaves (`.current.<pid>-<hex>.tmp`) stayed in the models folder for
    ever; the next change of the pointer removes it."""
    import random
    import signal

    _copy_bundle(root / "v1", root / "v2")
    rng = random.Random(7)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _FLIPPER, str(root)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        subprocess.run(["sleep", f"{rng.uniform(0.05, 0.4):.3f}"], check=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert (root / "current").read_text() in ("v1\n", "v2\n")
        log = [json.loads(line) for line in
               (root / "promotions.jsonl").read_text().splitlines()]
        assert all(e["version"] in ("v1", "v2") for e in log)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / f".current.{dead.pid}-0123456789ab.tmp").write_text("v")
    (root / f".promotions.jsonl.{dead.pid}-0123456789ab.tmp").write_text("{")
    from expertise.bundles.registry import set_current

    set_current("v2" if (root / "current").read_text() == "v1\n" else "v1", root)
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 0, result.output


def test_prune_removes_what_killed_trainings_and_prunes_left(root: Path) -> None:
    """A training killed while saving left `.<version>.tmp-<pid>` (a bundle's size), a prune
    killed while deleting `.<version>.pruning-<pid>`: hidden, never listed, never removed.
    Prune removes those of processes that no longer run (--dry-run only names them)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    shutil.copytree(root / "v1", root / f".20261203-120000.tmp-{dead.pid}")
    shutil.copytree(root / "v1", root / f".old.pruning-{dead.pid}")
    running = root / f".busy.tmp-{os.getpid()}"  # a training still saving: left alone
    running.mkdir()
    result = runner.invoke(app, ["models", "prune", "--keep", "1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would remove .20261203-120000.tmp-{dead.pid}" in result.output
    assert (root / f".old.pruning-{dead.pid}").is_dir()
    result = runner.invoke(app, ["models", "prune", "--keep", "1"])
    assert result.exit_code == 0, result.output
    assert f"removed .old.pruning-{dead.pid}: left by a training or prune" in result.output
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [running.name, "current", "v1"])


# ---- train: the new bundle's name -------------------------------------------------------------


@pytest.mark.parametrize("name", ["has space", "tab\tname", "[red]v4", "v1;rm", "é-1"])
def test_train_refuses_a_new_version_name_the_error_itself_calls_wrong(
        root: Path, name: str) -> None:
    """The refusal of a name says "choose a name of letters, digits, '-', '_' and '.'", yet
    'has space' was accepted and trained: a bundle every later command must quote (`make`,
    `models promote`), or one a table shows as markup. Refused before any training; bundles
    already named so still load, promote and roll back (tests/bundles/test_registry.py)."""
    result = runner.invoke(app, ["train", "--version-name", name, "--no-eval"])
    error = _one_line_error(result)
    assert error.startswith(f"Error: version name {name!r} ") and "choose a name of letters" \
        in error, error
    assert sorted(p.name for p in root.iterdir()) == ["current", "v1"]


def test_a_current_pointer_to_a_deleted_bundle_says_how_to_get_back(root: Path) -> None:
    """`models/current` naming a bundle deleted by hand told the agent to `make train` (a
    retraining of minutes, and the gate) when a rollback or promotion is the way back."""
    _copy_bundle(root / "v1", root / "v2")
    assert runner.invoke(app, ["models", "promote", "v2", "--force", "--eval",
                               f"small={_small_eval(root.parent)}"]).exit_code == 0
    shutil.rmtree(root / "v2")
    error = _one_line_error(runner.invoke(app, ["answer", "hello"]))
    assert "names 'v2', which is not in" in error
    assert "`expertise models rollback`" in error and "make train" not in error
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["answer", "hello"]).exit_code == 0


def _small_eval(folder: Path) -> Path:
    """A few labelled evaluation tickets, so that the gate scores quickly."""
    path = folder / "small_eval.csv"
    pd.read_csv(PROJECT_DIR / "data" / "tickets_eval.csv", dtype=str,
                keep_default_na=False).head(40).to_csv(path, index=False)
    return path


# ---- the promotions log -----------------------------------------------------------------------


def test_a_promotions_log_that_cannot_be_read_stops_promote_and_rollback_in_one_line(
        root: Path) -> None:
    """A folder where promotions.jsonl should be (an unreadable file is the same OSError):
    rollback ended in a traceback (IsADirectoryError), and promote moved the pointer first,
    then ended in one, the promotion never logged."""
    _copy_bundle(root / "v1", root / "v2")
    (root / "promotions.jsonl").mkdir()
    error = _one_line_error(runner.invoke(app, ["models", "rollback"]))
    assert error.startswith(f"Error: the promotions log {root / 'promotions.jsonl'} cannot be "
                            "read (Is a directory); move it out of")
    error = _one_line_error(runner.invoke(app, ["models", "promote", "v2", "--force", "--eval",
                                                f"small={_small_eval(root.parent)}"]))
    assert "the promotions log" in error and "cannot be read" in error
    assert (root / "current").read_text() == "v1\n"


def test_prune_waits_for_a_promotion_in_progress(root: Path) -> None:
    """Prune read the current version, then deleted the others: a promotion landing between
    the two made a bundle current as prune deleted it, leaving `current` naming nothing. Prune
    now decides and deletes under the lock a promotion holds while it moves the pointer
    (here held by this test, standing for the promotion), and sees the new current."""
    from expertise.bundles.registry import models_lock

    _copy_bundle(root / "v1", root / "v2")
    exe = Path(sys.executable).with_name("expertise")
    with models_lock(root):
        prune = subprocess.Popen([str(exe), "models", "prune", "--keep", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            prune.wait(timeout=3)
        # the promotion that holds the lock makes v2 current
        (root / "current").write_text("v2\n")
    out, _ = prune.communicate(timeout=60)
    assert prune.returncode == 0, out
    assert "kept v2: it is the current model" in out
    assert (root / "v2" / "manifest.json").exists()


def test_a_rollback_to_a_damaged_bundle_says_it_is_the_rollback_that_failed(root: Path) -> None:
    """The error named a file's hash and nothing else: not that the bundle is the one a
    rollback returns to, that the current model stays, or what to do instead."""
    _copy_bundle(root / "v1", root / "v2")
    assert runner.invoke(app, ["models", "promote", "v2", "--force", "--eval",
                               f"small={_small_eval(root.parent)}"]).exit_code == 0
    with (root / "v1" / "lean.b.npy").open("r+b") as fh:
        fh.truncate(5)
    error = _one_line_error(runner.invoke(app, ["models", "rollback"]))
    assert error.startswith("Error: cannot roll back to v1, the model current before v2: ")
    assert "lean.b.npy does not match its SHA-256" in error
    assert "v2 stays current" in error and "expertise models promote VERSION" in error
    assert (root / "current").read_text() == "v2\n"


# ---- retrain: the inbox -----------------------------------------------------------------------


def test_retrain_inbox_that_is_a_file_is_an_error_not_an_empty_inbox(
        root: Path, tmp_path: Path) -> None:
    """`--inbox export.csv` (an export given where its folder belongs) was read as "inbox:
    empty": the export was never ingested, and the run went on to say nothing was new, or
    (--force) to train without it. A folder not made yet stays an empty inbox."""
    export = tmp_path / "export.csv"
    pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                keep_default_na=False).head(5).to_csv(export, index=False)
    db = tmp_path / "store.db"
    for extra in (["--dry-run"], []):
        error = _one_line_error(runner.invoke(
            app, ["retrain", "--inbox", str(export), "--db", str(db), *extra]))
        assert error.startswith(f"Error: --inbox {export} is a file; --inbox takes the folder "
                                "of new exports")
    assert not db.exists() and sorted(p.name for p in root.iterdir()) == ["current", "v1"]


def test_a_damaged_current_model_says_how_to_get_back_to_a_good_one(root: Path) -> None:
    """`answer` with a damaged current bundle said only which file failed its hash: nothing
    that the current model is the broken one, nor that a rollback is the way out."""
    _copy_bundle(root / "v1", root / "v2")
    assert runner.invoke(app, ["models", "promote", "v2", "--force", "--eval",
                               f"small={_small_eval(root.parent)}"]).exit_code == 0
    (root / "v2" / "lean.b.npy").unlink()
    for command in (["answer", "hello"], ["score", str(_small_eval(root.parent))]):
        error = _one_line_error(runner.invoke(app, command))
        assert error.startswith("Error: the current model v2 is damaged: ")
        assert "lean.b.npy is listed in the manifest but missing" in error
        assert "`expertise models rollback`" in error
    assert runner.invoke(app, ["models", "rollback"]).exit_code == 0
    assert runner.invoke(app, ["answer", "hello"]).exit_code == 0


def test_train_without_a_version_name_takes_a_free_one(root: Path, tmp_path: Path) -> None:
    """A bundle is named by the second it is saved in; a second training finishing in the
    same second (two `make train` at once), or one whose name a copied bundle already has,
    trained for minutes and then failed with "exists already", the model thrown away."""
    from datetime import UTC, datetime, timedelta

    from expertise.bundles.registry import new_version

    now = datetime.now(UTC)
    taken = {new_version(now + timedelta(seconds=s)) for s in range(-5, 300)}
    for name in taken:
        (root / name).mkdir()
    data = tmp_path / "tiny.csv"
    pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                keep_default_na=False).iloc[::60].to_csv(data, index=False)
    result = runner.invoke(app, ["train", "--data", str(data), "--force", "--no-eval",
                                 "--json"])
    assert result.exit_code == 0, result.output
    version = json.loads(result.output[result.output.index("{"):])["version"]
    assert version.rsplit("-", 1)[0] in taken and version.endswith("-2"), version
    assert (root / version / "manifest.json").exists()


def test_a_second_retrain_while_one_ingests_the_inbox_is_refused_at_once(
        root: Path, tmp_path: Path) -> None:
    """Two retrains at once (cron and a maintainer) both ingested the files they had listed,
    nothing stopping the second (it could end in a traceback moving a file the first had
    already moved to done/).
    While one holds the inbox (here this test, with the same `flock` a retrain takes), another
    is refused in one line, and the inbox and the store are left as they were."""
    import fcntl

    train = pd.read_csv(PROJECT_DIR / "data" / "tickets_train.csv", dtype=str,
                        keep_default_na=False)
    base, inbox, db = tmp_path / "base.csv", tmp_path / "inbox", tmp_path / "store.db"
    train.iloc[::60].to_csv(base, index=False)  # too little: the run would stop quickly
    inbox.mkdir()
    train.iloc[1:6].to_csv(inbox / "export.csv", index=False)
    fd = os.open(inbox, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        error = _one_line_error(runner.invoke(app, ["retrain", "--inbox", str(inbox), "--db",
                                                    str(db), "--data", str(base)]))
    finally:
        os.close(fd)
    assert error == (f"Error: another retrain is ingesting {inbox} now; wait for it to "
                     "finish, then run retrain again")
    assert sorted(p.name for p in inbox.iterdir()) == ["export.csv"] and not db.exists()


def test_a_models_folder_that_cannot_be_locked_still_promotes(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a file system without locks (flock fails with ENOLCK on some NFS mounts) the lock
    was a traceback, so no model could be promoted or rolled back there; now the change goes
    on unlocked, as it did before the lock existed, and as the retrain inbox's lock does.
    (The operating system's flock is replaced, not our code: root can lock any folder here.)"""
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    _copy_bundle(root / "v1", root / "v2")
    done = runner.invoke(app, ["models", "promote", "v2", "--force", "--eval",
                               f"small={_small_eval(root.parent)}"])
    assert done.exit_code == 0, done.output
    assert (root / "current").read_text() == "v2\n"
    assert runner.invoke(app, ["models", "rollback"]).exit_code == 0
    assert (root / "current").read_text() == "v1\n"


def test_models_list_lists_the_bundles_when_the_current_pointer_is_broken(root: Path) -> None:
    """With a folder where `models/current` belongs, `models list` failed as a whole: the one
    command that shows which bundles there are to promote showed none. Now it lists them (none
    current), then says what is wrong with the pointer and exits 1."""
    _copy_bundle(root / "v1", root / "v2")
    (root / "current").unlink()
    (root / "current").mkdir()
    done = runner.invoke(app, ["models", "list", "--json"])
    assert done.exit_code == 1
    rows = json.loads(done.stdout)
    assert [(r["version"], r["current"], r["status"]) for r in rows] == [
        ("v1", False, "ok"), ("v2", False, "ok")]
    error = done.stderr.strip()
    assert error.startswith(f"Error: {root / 'current'} is a folder") and "\n" not in error
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 1 and "v1" in table.stdout and "v2" in table.stdout
