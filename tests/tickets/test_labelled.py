"""Labelled exports as training and evaluation read them: every row left out is kept with
why (`read_labelled_file`), and an unknown topic slug is a reason too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from expertise.config import PROJECT_DIR
from expertise.errors import InputError
from expertise.knowledge_base import load_knowledge_base
from expertise.tickets.labelled import describe_left_out, read_labelled_file

TOPICS = tuple(load_knowledge_base(PROJECT_DIR / "knowledge_base").topics)

#: A duplicate id, a bad date, an unknown level and an empty body, after one good row.
BAD_ROWS = Path(__file__).parents[1] / "data" / "bad_labelled.csv"


def _rejects(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("evaluation", [True, False])
def test_every_row_left_out_is_kept_with_why_and_written(tmp_path: Path,
                                                         evaluation: bool) -> None:
    path = tmp_path / "a.csv"
    shutil.copy(BAD_ROWS, path)
    read = read_labelled_file(path, evaluation=evaluation, topics=TOPICS,
                              rejects_path=tmp_path / "a.rejects.csv")
    assert read.frame["ticket_id"].tolist() == ["E1"]
    rejects = _rejects(tmp_path / "a.rejects.csv")
    assert rejects["row"].tolist() == ["2", "3", "4", "5"]
    assert rejects["ticket_id"].tolist() == ["E1", "E2", "E3", "E4"]
    reasons = rejects["reason"].tolist()
    assert reasons[0] == "duplicate ticket_id"
    assert reasons[1].startswith("created_at is not a date")
    assert reasons[2].startswith("expertise_level must be novice, intermediate or expert")
    assert reasons[3] == "no subject and no body"
    info = read.left_out()
    assert (info["rows_read"], info["usable"], info["rejected"]) == (5, 1, 4)
    assert info["reasons"]["duplicate ticket_id"] == 1 and len(info["reasons"]) == 4
    assert [r["row"] for r in info["first"]] == [2, 3, 4, 5]
    line = describe_left_out(info)
    assert line.startswith(f"{path}: 4 of 5 rows left out (1 duplicate ticket_id; ")
    assert "row 2 (E1), row 3 (E2), row 4 (E3), row 5 (E4)" in line
    assert line.endswith(f"all listed in {tmp_path / 'a.rejects.csv'}")


def test_an_unknown_topic_slug_is_a_reject_with_the_nearest_slug(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    pd.DataFrame([
        {"ticket_id": "1", "body": "my wifi keeps dropping", "expertise_level": "novice",
         "topic": "wifi_dropping"},
        {"ticket_id": "2", "body": "PPPoE auth fails", "expertise_level": "expert",
         "topic": "No Internet"},
        {"ticket_id": "3", "body": "do you sell phones", "expertise_level": "unclear",
         "topic": "none"},
        {"ticket_id": "4", "body": "telly says no signal", "expertise_level": "novice",
         "topic": "tv-no-signal"},
        {"ticket_id": "5", "body": "hello", "expertise_level": "intermediate",
         "topic": "banana"},
        {"ticket_id": "6", "body": "hello again", "expertise_level": "intermediate",
         "topic": ""},
    ]).to_csv(path, index=False)
    read = read_labelled_file(path, evaluation=True, topics=TOPICS)
    # unclear levels and the topic none are what real-message files hold: kept
    assert read.frame["ticket_id"].tolist() == ["3", "4", "6"]
    assert read.rejects["ticket_id"].tolist() == ["1", "2", "5"]
    assert read.rejects["reason"].tolist() == [
        "topic 'wifi_dropping' is not a knowledge-base topic (did you mean wifi-dropping?)",
        "topic 'No Internet' is not a knowledge-base topic (did you mean no-internet?)",
        "topic 'banana' is not a knowledge-base topic (see `expertise kb list`, or none "
        "where no article fits)"]
    assert read.rejects_path is None and not list(tmp_path.glob("*.rejects.csv"))


def test_no_usable_row_is_an_error_naming_the_rows_left_out(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ticket_id,body,expertise_level\nE1,wifi,beginner\nE1,tv,guru\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_labelled_file(path, rejects_path=tmp_path / "c.rejects.csv")
    message = str(caught.value)
    assert message.startswith(f"{path}: no usable labelled tickets")
    assert "2 of 2 rows left out" in message and f"{tmp_path / 'c.rejects.csv'}" in message
    assert len(_rejects(tmp_path / "c.rejects.csv")) == 2
