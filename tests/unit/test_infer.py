"""`workbench survey infer`: a proposed definition and mapping from a raw export, which validates and imports."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from tests.datasets import DATASETS, require
from workbench.surveys.imports import read_responses_file
from workbench.surveys.infer import infer_mapping
from workbench.surveys.limits import MAX_KEY_LENGTH, MAX_OPTIONS, MAX_QUESTIONS, QUESTION_KEY
from workbench.surveys.mapping import parse_mapping
from workbench.surveys.schema import SurveyDefinition

LIKERT = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]


def write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    header = ["Response ID", "Start time", "Submitted", "How likely are you to recommend us?", "Rating",
              "Which plan?", "Which features do you use?", "The docs are clear", "Do you work remotely?",
              "Any comments?", "Signed up", "Monthly spend", "Which plan?", "Favourite colour"]
    rows = []
    for i in range(40):
        rows.append([
            f"R_{i:04d}", f"03/{i % 28 + 1:02d}/2026 09:{i % 60:02d}", f"03/{i % 28 + 1:02d}/2026 10:{i % 60:02d}",
            i % 11, i % 5 + 1, ["Free", "Pro", "team"][i % 3] if i % 7 else "free",
            ["Alerts|API", "API", "Dashboards|alerts", ""][i % 4], LIKERT[i % 4] if i % 9 else "",
            ["Never", "Sometimes", "Always"][i % 3],
            f"Comment {i}: the onboarding took a while because the import wizard kept timing out on us" if i % 2
            else "", f"{i % 28 + 1:02d}/04/2025", f"{i * 1.5 + 0.25}", "Pro", f"colour {i}",
        ])
    return write(tmp_path / "raw export.csv", header, rows)


def test_kinds_keys_and_meta_columns_from_a_raw_export(export: Path) -> None:
    inference = infer_mapping(export)
    guesses = {g.position: g for g in inference.columns}
    assert [(g.target, g.kind) for g in inference.columns] == [
        ("respondent_id", None), ("started_at", None), ("completed_at", None),
        ("likely_recommend_us", "nps"), ("rating", "scale"), ("plan", "single_choice"),
        ("features_use", "multi_choice"),
        ("docs_clear", "ordinal"), ("work_remotely", "ordinal"), ("comments", "text"), ("signed_up", "date"),
        ("monthly_spend", "numeric"), ("plan_2", "single_choice"), ("favourite_colour", "text"),
    ]
    questions = {q["key"]: q for q in inference.mapping["survey"]["questions"]}
    assert (questions["rating"]["min"], questions["rating"]["max"]) == (1, 5)
    assert questions["plan"]["options"] == ["Free", "Pro", "team"]  # "free" is the same option as "Free"
    assert sorted(questions["features_use"]["options"]) == ["API", "Alerts", "Dashboards"]
    assert questions["docs_clear"]["options"] == LIKERT  # in scale order, the unused "Strongly agree" included
    assert questions["work_remotely"]["options"] == ["Never", "Rarely", "Sometimes", "Often", "Always"]
    assert questions["signed_up"]["format"] == "%d/%m/%Y"
    assert questions["likely_recommend_us"]["text"] == "How likely are you to recommend us?"
    assert inference.mapping["date_format"] == "%m/%d/%Y %H:%M"
    assert inference.mapping["columns"]["#6"] == "plan" and inference.mapping["columns"]["#13"] == "plan_2"
    assert guesses[14].note is not None  # 40 distinct short answers: text, with a note saying why
    assert inference.mapping["survey"]["title"] == "Raw export"


def test_the_proposal_validates_and_imports_the_raw_file_unchanged(export: Path) -> None:
    mapping = parse_mapping(infer_mapping(export).mapping)
    assert mapping.survey is not None
    records = read_responses_file(mapping.survey, export, mapping=mapping)
    assert len(records) == 40
    assert records[1].respondent_id == "R_0001" and records[1].answers["features_use"] == ["API"]
    assert records[2].answers["features_use"] == ["Dashboards", "Alerts"]  # "alerts" read as the option


def test_keys_are_snake_case_unique_and_bounded(tmp_path: Path) -> None:
    long = "What is the single most important reason " * 5 + "?"
    header = [long, long, "", "123 go", "respondent_id", "Ünïcode Wörds", "¿?"]
    path = write(tmp_path / "k.csv", header, [["a b c " * 20, "x y z " * 20, "t", "u", "v", "w", "q"]] * 3)
    keys = [g.target for g in infer_mapping(path).columns]
    assert all(k and QUESTION_KEY.fullmatch(k) and len(k) <= MAX_KEY_LENGTH for k in keys)
    assert len(set(keys)) == len(keys)
    assert keys[2:] == ["column_3", "q_123_go", "respondent_id_answer", "unicode_words", "column_7"]
    assert keys[1] == keys[0] + "_2"


def test_limits_turn_columns_into_text_or_leave_them_out(tmp_path: Path) -> None:
    many = [f"Question {i}" for i in range(MAX_QUESTIONS + 5)]
    path = write(tmp_path / "wide.csv", many, [["1"] * len(many), ["2"] * len(many)])
    inference = infer_mapping(path)
    assert len(inference.mapping["survey"]["questions"]) == MAX_QUESTIONS
    assert list(inference.mapping["columns"].values())[-5:] == [None] * 5
    assert any(f"at most {MAX_QUESTIONS} questions" in n for n in inference.notes)

    tags = [f"tag{i}" for i in range(MAX_OPTIONS + 10)]
    rows = [["|".join(tags[i:i + 3]), ("Option " + "x" * 250) if i % 2 else "Short|" + "y" * 250]
            for i in range(0, len(tags), 1)]
    inference = infer_mapping(write(tmp_path / "options.csv", ["Tags", "Long"], rows))
    kinds = {g.header: (g.kind, g.note) for g in inference.columns}
    assert kinds["Tags"][0] == "text" and "more than the 1000 options" in (kinds["Tags"][1] or "")
    assert kinds["Long"][0] == "text"
    SurveyDefinition.model_validate(inference.mapping["survey"])


def test_a_likert_column_with_an_extra_answer_is_a_single_choice_in_scale_order(tmp_path: Path) -> None:
    answers = ["Very easy", "Somewhat easy", "Somewhat difficult", "I don't know", "Very difficult"] * 4
    [guess] = infer_mapping(write(tmp_path / "l.csv", ["Leave would be:"], [[a] for a in answers])).columns
    assert guess.kind == "single_choice" and guess.note and "I don't know" in guess.note
    assert guess.question is not None and guess.question["options"] == [
        "Very difficult", "Somewhat difficult", "Somewhat easy", "Very easy", "I don't know"]


def test_unreadable_files_are_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError):
        infer_mapping(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="separator"):
        infer_mapping(write(tmp_path / "a.csv", ["A"], [["x"]]), separator='"')


@pytest.mark.parametrize("name", ["osmi_mental_health_in_tech_2016.csv", "womens_clothing_ecommerce_reviews.csv"])
def test_the_real_exports_give_a_valid_definition(name: str) -> None:
    path = require(DATASETS / name)
    inference = infer_mapping(path)
    SurveyDefinition.model_validate(inference.mapping["survey"])
    kinds = {g.header: (g.target, g.kind) for g in inference.columns}
    if name.startswith("osmi"):
        assert kinds["Do you work remotely?"] == ("work_remotely", "ordinal")
        assert kinds["What is your age?"] == ("age", "numeric")
        assert kinds["Which of the following best describes your work position?"][1] == "multi_choice"
        assert inference.mapping["columns"]["#38"] != inference.mapping["columns"]["#40"]  # "Why or why not?" x2
    else:
        assert kinds[""] == ("respondent_id", None)
        assert kinds["Rating"] == ("rating", "scale") and kinds["Class Name"] == ("class_name", "single_choice")
