"""`expertise evaluate` and `expertise train` on labelled files with bad rows: the rows left
out are counted by reason, named, and listed in a rejects file; the rest are used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expertise.cli import app

#: A duplicate id, a bad date, an unknown level and an empty body, after one good row.
BAD_ROWS = Path(__file__).parents[1] / "data" / "bad_labelled.csv"

runner = CliRunner()


def _bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "a.csv"
    shutil.copy(BAD_ROWS, path)
    return path


def test_evaluate_reports_the_rows_it_left_out(models_env: Path, tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    result = runner.invoke(app, ["evaluate", "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "a: 1 tickets" in result.stdout
    line = " ".join(result.stderr.split())
    assert line.startswith(f"{path}: 4 of 5 rows left out (1 duplicate ticket_id; ")
    assert "row 2 (E1), row 3 (E2), row 4 (E3), row 5 (E4)" in line
    assert line.endswith(f"all listed in {tmp_path / 'a.rejects.csv'}")
    rejects = (tmp_path / "a.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[0] == "row,ticket_id,reason" and len(rejects) == 5

    data = json.loads(runner.invoke(app, ["evaluate", "--data", str(path), "--json"]).stdout)
    left = data["sets"]["a"]["left_out"]
    assert (left["rows_read"], left["usable"], left["rejected"]) == (5, 1, 4)
    assert left["reasons"]["no subject and no body"] == 1
    assert [(r["row"], r["ticket_id"]) for r in left["first"]] == [
        (2, "E1"), (3, "E2"), (4, "E3"), (5, "E4")]
    assert left["rejects_path"] == str(tmp_path / "a.rejects.csv")


def test_evaluate_on_a_clean_file_leaves_nothing_out(models_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    path.write_text("ticket_id,body,expertise_level,topic\n"
                    "E1,my wifi keeps dropping,novice,wifi-dropping\n"
                    "E2,do you sell phones,unclear,none\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sets"]["clean"]["left_out"]["rejected"] == 0
    assert result.stderr == "" and not (tmp_path / "clean.rejects.csv").exists()


def test_train_says_how_many_rows_were_usable_and_why_the_rest_were_not(
        models_env: Path, tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(path), "--force", "--out", str(out)])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "Error: training data needs tickets of at least two levels. 1 usable labelled " \
           "ticket(s) (1 novice); " in message
    assert f"{path}: 4 of 5 rows left out (1 duplicate ticket_id; " in message
    assert "1 expertise_level must be novice, intermediate or expert;" in message
    assert message.endswith(f"all listed in {tmp_path / 'a.rejects.csv'}")
    assert len((tmp_path / "a.rejects.csv").read_text().splitlines()) == 5
    assert not out.exists()


def test_evaluate_and_train_read_an_8_bit_file_with_the_encoding_they_suggest(
        models_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "cp.csv"
    path.write_bytes(b"ticket_id,body,expertise_level\nE1,caf\xe9 wifi keeps dropping,novice\n")
    refused = runner.invoke(app, ["evaluate", "--data", str(path)])
    assert refused.exit_code == 1 and "Read it as that with --encoding cp1252" in refused.stderr
    read = runner.invoke(app, ["evaluate", "--data", str(path), "--encoding", "cp1252",
                               "--json"])
    assert read.exit_code == 0, read.output
    assert json.loads(read.stdout)["sets"]["cp"]["level"]["n"] == 1
    trained = runner.invoke(app, ["train", "--data", str(path), "--encoding", "cp1252",
                                  "--force", "--out", str(tmp_path / "m")])
    assert trained.exit_code == 1  # read: what is missing now is a second level
    assert "needs tickets of at least two levels. 1 usable labelled ticket(s) (1 novice)" in \
        " ".join(trained.stderr.split())


def test_evaluate_and_train_name_a_column_with_the_map_they_suggest(
        models_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    path.write_text("ticket_id,text,expertise_level\nE1,my wifi keeps dropping,novice\n",
                    encoding="utf-8")
    refused = runner.invoke(app, ["evaluate", "--data", str(path)])
    assert refused.exit_code == 1 and "name yours with --map subject=<column>" in refused.stderr
    read = runner.invoke(app, ["evaluate", "--data", str(path), "--map", "body=text",
                               "--json"])
    assert read.exit_code == 0, read.output
    assert json.loads(read.stdout)["sets"]["text"]["level"]["n"] == 1
    trained = runner.invoke(app, ["train", "--data", str(path), "--map", "body=text",
                                  "--force", "--out", str(tmp_path / "m")])
    assert "needs tickets of at least two levels" in trained.stderr
    for command in (["evaluate"], ["train", "--out", str(tmp_path / "m")]):
        for option in (["--map", "body=text"], ["--encoding", "cp1252"]):
            alone = runner.invoke(app, [*command, *option])
            assert alone.exit_code == 2  # a usage error, before anything is read or trained
            assert "--map and --encoding say how to read --data FILE" in alone.stderr
            assert "give --data FILE" in alone.stderr


def test_the_library_refuses_reading_options_without_a_file(models_env: Path) -> None:
    """One rule for the CLI and the library's callers (`check_reading_options`)."""
    from expertise.errors import InputError
    from expertise.lifecycle.train import train_bundle
    from expertise.modeling.evaluate import evaluate_bundle

    for call in (lambda: evaluate_bundle(data=None, encoding="cp1252"),
                 lambda: train_bundle(data=None, mapping={"body": "text"})):
        with pytest.raises(InputError, match="say how to read --data FILE; give --data FILE"):
            call()
