"""`expertise score` where the file system refuses a write: one line naming the file and the
cause, exit 1, no temporary file left, the previous output as it was.

The failures are real: each run happens in a mount namespace of its own (`unshare`, as any
user where user namespaces are allowed) with a file mounted over the output's name (a rename
the kernel refuses: EBUSY), so nothing outside the run sees the mounts and they vanish with
it.
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
