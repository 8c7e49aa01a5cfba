"""What a one-shot command loads: start-up weight is a promise (`make bench` times it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("pyarrow", "scipy", "pandas", "sklearn", "matplotlib", "joblib")

PROBE = """
import json, sys
from expertise.cli import main
sys.argv = ["expertise", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("\\nLOADED " + json.dumps({"code": code, "heavy": sorted(
    m for m in HEAVY if m in sys.modules)}))
""".replace("HEAVY", repr(HEAVY))


def _loaded(args: list[str], env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env,
                            capture_output=True, text=True, timeout=120)
    line = [x for x in result.stdout.splitlines() if x.startswith("LOADED ")]
    assert line, result.stdout + result.stderr
    return json.loads(line[-1][len("LOADED "):])  # type: ignore[no-any-return]


def test_a_one_shot_answer_imports_no_heavy_library(models_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "EXPERTISE_MODELS": str(models_root),
           "XDG_DATA_HOME": str(tmp_path)}
    got = _loaded(["answer", "my wifi keeps dropping since the hub updated to fw 4.2.1"], env)
    assert got == {"code": 0, "heavy": []}
    got = _loaded(["answer", "the box with the lights is orange", "--json"], env)
    assert got == {"code": 0, "heavy": []}


def test_help_imports_nothing_but_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    got = _loaded(["--help"], env)
    assert got["heavy"] == [] and got["code"] == 0
    probe = ("import sys, expertise; print(sorted(m for m in ('numpy', 'rich', 'typer') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.stdout.strip() == "[]"  # the package root is the lazy public API


def test_the_cli_runs_numpy_on_one_blas_thread_unless_told_otherwise(tmp_path: Path) -> None:
    """OpenBLAS starts a thread per core when numpy loads: the CLI asks for one (small products;
    `--jobs` parallelises by process), and a user's own setting wins."""
    probe = ("import os, expertise.cli, numpy; "
             "print(os.environ['OPENBLAS_NUM_THREADS'])")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.stdout.strip() == "1", out.stderr
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, env={**env, "OPENBLAS_NUM_THREADS": "2"})
    assert out.stdout.strip() == "2", out.stderr
