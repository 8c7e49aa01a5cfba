"""`expertise score` where the file system refuses a write: one line naming the file and the
cause, exit 1, no temporary file left, the previous output as it was.

The failures are real: each run happens in a mount namespace of its own (`unshare`, as any
user where user namespaces are allowed) with a tiny tmpfs as $TMPDIR (a full disk: ENOSPC) or
a file mounted over the output's name (a rename the kernel refuses: EBUSY), so nothing
outside the run sees the mounts and they vanish with it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

#: Runs the CLI: ``python -c CLI score ...``.
CLI = "import sys; sys.argv[0] = 'expertise'; from expertise.cli import main; main()"


def _namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                                f"mount -t tmpfs -o size=16k tmpfs {shlex.quote(folder)}"],
                               capture_output=True, timeout=30)
    return probe.returncode == 0


needs_namespace = pytest.mark.skipif(not _namespace_works(),
                                     reason="no unshare, or no user and mount namespaces here")


def _run(mounts: list[str], command: list[str], env: dict[str, str] | None = None,
         after: str = "") -> subprocess.CompletedProcess[str]:
    """``command`` in a mount namespace after ``mounts`` (shell commands), then ``after``;
    the exit code is the command's."""
    script = " && ".join(mounts) + f" && {shlex.join(command)}; rc=$?; {after or ':'}; exit $rc"
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)


def _export(tmp_path: Path, customers: int, rejects: int = 0) -> Path:
    rows = [{"ticket_id": f"T{k}", "customer_id": f"C{k}", "created_at": "2024-03-01T09:00:00",
             "body": "my wifi keeps dropping every evening"} for k in range(customers)]
    rows += [{"ticket_id": f"R{k}", "customer_id": "C0", "created_at": "2024-03-02T09:00:00",
              "body": ""} for k in range(rejects)]  # no text: a reject
    path = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@needs_namespace
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_full_disk_under_the_history_carried_between_chunks_is_one_line(
        tmp_path: Path, models_env: Path, jobs: int) -> None:
    """The scratch SQLite file of customers' history (`HistoryCarry`) fills a 64 KiB $TMPDIR
    (3,000 customers: about 1.5 MB): SQLite's 'database or disk is full'."""
    source = _export(tmp_path, 3000)
    out = tmp_path / "out.csv"
    out.write_text("the previous output\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = _run([f"mount -t tmpfs -o size=64k tmpfs {scratch}"],
                [sys.executable, "-c", CLI, "score", str(source), "--out", str(out),
                 "--jobs", str(jobs)],
                env={"TMPDIR": str(scratch)}, after=f"ls -A {scratch}")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, done.stderr
    assert error[0].startswith(f"Error: {scratch}/expertise-run-")
    assert "/carry.db (this run's scratch space): cannot write (no space left on device; " \
           "free space or write elsewhere with TMPDIR)" in error[0]
    assert done.stdout == ""  # the scratch folder was emptied before the tmpfs went away
    assert out.read_text() == "the previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv", "scratch"]


@needs_namespace
def test_a_run_folder_the_disk_refuses_is_one_line(tmp_path: Path) -> None:
    """A $TMPDIR with no inode left: this run's scratch folder cannot be made."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
            "from expertise.batch.run import run_folder\n"
            "from expertise.errors import InputError\n"
            "try:\n"
            "    with run_folder(): pass\n"
            "except InputError as exc: print(exc)\n")
    done = _run([f"mount -t tmpfs -o size=64k,nr_inodes=1 tmpfs {scratch}"],
                [sys.executable, "-c", code, str(scratch)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{scratch}/expertise-run-"), done.stdout
    assert done.stdout.rstrip().endswith(
        "(this run's scratch space): cannot write (no space left on device; free space or "
        "write elsewhere with TMPDIR)"), done.stdout


@needs_namespace
@pytest.mark.parametrize("refused", ["out.csv", "out.rejects.csv"])
def test_a_rename_the_file_system_refuses_is_one_line_and_keeps_the_old_output(
        tmp_path: Path, models_env: Path, refused: str) -> None:
    """The last step of `io.atomic_path` (fsync, then rename over the final name) fails: the
    final name is a mount point, which no rename may replace (EBUSY). The output is renamed
    after the rejects file, so a refused rejects file leaves the old output too."""
    source = _export(tmp_path, 20, rejects=3)
    out, rejects = tmp_path / "out.csv", tmp_path / "out.rejects.csv"
    out.write_text("the previous output\n")
    rejects.write_text("the previous rejects\n")
    holder = tmp_path / "holder"
    holder.write_text("mounted over\n")
    done = _run([f"mount --bind {holder} {tmp_path / refused}"],
                [sys.executable, "-c", CLI, "score", str(source), "--out", str(out)])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    option = "--out" if refused == "out.csv" else "--rejects"
    assert done.stderr == (f"Error: {tmp_path / refused}: cannot write (Device or resource "
                           f"busy; write elsewhere with {option})\n")
    assert out.read_text() == "the previous output\n"
    if refused == "out.rejects.csv":
        assert rejects.read_text() == "the previous rejects\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holder", "in.csv", "out.csv",
                                                          "out.rejects.csv"]
