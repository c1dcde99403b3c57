"""The two real raw exports import unchanged through their committed mapping files (`examples/`), and what is
stored matches what pandas computes from the same files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.main import app
from tests.datasets import OSMI, require
from tests.datasets import REVIEWS as CLOTHING
from workbench.config import REPO_ROOT, get_settings
from workbench.storage import surveys as store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import read_responses_file
from workbench.surveys.mapping import read_mapping_file
from workbench.surveys.schema import Snapshot

EXAMPLES = REPO_ROOT / "examples"

require(OSMI), require(CLOTHING)  # at collection: without the data sets these tests fail, never skip


def raw(path: Path) -> pd.DataFrame:
    """The file as pandas reads it: every cell as its text, blanks as "" (positions matter: headers repeat)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def import_and_snapshot(sessions: sessionmaker[Session], mapping_name: str, data: Path) -> Snapshot:
    mapping = read_mapping_file(EXAMPLES / mapping_name)
    assert mapping.survey is not None
    records = read_responses_file(mapping.survey, data, mapping=mapping)
    with transaction(sessions) as session:
        survey = store.create_survey_with_responses(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                                    definition=mapping.survey, records=records)
        survey_id = survey.id
    with sessions() as session:
        stored = store.get_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
        assert stored is not None
        return store.build_snapshot(session, survey=stored)


def answers(snapshot: Snapshot, key: str) -> list:
    return [r.answers[key] for r in snapshot.responses if key in r.answers]


def test_osmi_2016_imports_unchanged(sessions: sessionmaker[Session]) -> None:
    frame = raw(OSMI)
    snapshot = import_and_snapshot(sessions, "osmi-2016.mapping.json", OSMI)

    assert len(snapshot.responses) == len(frame) == 1433
    # a Likert question (ordinal), label by label
    expected = frame["Do you work remotely?"].value_counts().to_dict()
    assert Counter(answers(snapshot, "work_remotely")) == expected
    # 0/1 stored as numbers; the skip logic: employer questions answered by employees only
    assert Counter(answers(snapshot, "self_employed")) == {int(k): v for k, v in
                                                           frame["Are you self-employed?"].value_counts().items()}
    size = frame["How many employees does your company or organization have?"]
    assert len(answers(snapshot, "company_size")) == (size != "").sum() == 1146
    # multi-select: respondents per option, as pandas counts the |-separated cells
    positions = frame["Which of the following best describes your work position?"].str.split("|")
    assert Counter(o for chosen in answers(snapshot, "work_position") for o in chosen) == Counter(
        o.strip() for cells in positions for o in cells if o.strip())
    # the two identical "Why or why not?" headers went to two questions, by position
    assert len(answers(snapshot, "why_physical_in_interview")) == (frame.iloc[:, 37].str.strip() != "").sum()
    assert len(answers(snapshot, "why_mental_in_interview")) == (frame.iloc[:, 39].str.strip() != "").sum()
    ages = answers(snapshot, "age")
    assert sum(ages) / len(ages) == pytest.approx(frame["What is your age?"].astype(int).mean())


def test_clothing_reviews_import_unchanged(sessions: sessionmaker[Session]) -> None:
    frame = raw(CLOTHING)
    snapshot = import_and_snapshot(sessions, "clothing-reviews.mapping.json", CLOTHING)

    assert len(snapshot.responses) == len(frame) == 23486
    assert [r.respondent_id for r in snapshot.responses[:3]] == ["0", "1", "2"]  # the blank-header id column
    ratings = answers(snapshot, "rating")
    assert sum(ratings) / len(ratings) == pytest.approx(frame["Rating"].astype(int).mean())
    recommended = answers(snapshot, "recommended")
    assert sum(recommended) / len(recommended) == pytest.approx(frame["Recommended IND"].astype(int).mean())
    assert Counter(answers(snapshot, "class_name")) == Counter(frame["Class Name"][frame["Class Name"] != ""])
    assert len(answers(snapshot, "review_text")) == (frame["Review Text"].str.strip() != "").sum()


def test_the_cli_imports_a_raw_export_with_its_mapping(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path,
) -> None:
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["survey", "import", "--map", str(EXAMPLES / "osmi-2016.mapping.json"),
                                          str(OSMI), "--progress"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1433 responses imported" in result.output
    with make_sessionmaker(make_engine(sqlite_url))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
        assert survey.title == "OSMI Mental Health in Tech Survey 2016"
        assert store.count_responses(session, survey_id=survey.id)[0] == 1433
