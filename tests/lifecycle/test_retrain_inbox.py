"""`expertise retrain` before any training: the labelled exports it reads, the inbox's
feedback files (checked in a dry run exactly as ingest checks them) and the inbox folder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from expertise.cli import app

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
    dry = runner.invoke(app, [*args, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    left = json.loads(dry.stdout)["left_out"][0]
    assert (left["rows_read"], left["usable"], left["rejected"]) == (6, 2, 4)
    assert left["rejects_path"] is None and not (tmp_path / "a.rejects.csv").exists()
    text = runner.invoke(app, [*args, "--dry-run"])
    assert f"{base}: 4 of 6 rows left out" in " ".join(text.stderr.split())

    real = runner.invoke(app, args)
    assert real.exit_code == 1
    message = " ".join(real.stderr.split())
    assert message.startswith("Error: too little training data for a model that can be "
                              "trusted: 2 labelled tickets (200 needed);")
    assert f"{base}: 4 of 6 rows left out (1 duplicate ticket_id; " in message
    assert message.endswith(f"all listed in {tmp_path / 'a.rejects.csv'}")
    assert len((tmp_path / "a.rejects.csv").read_text().splitlines()) == 5

