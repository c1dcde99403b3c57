"""Statistics (and charts) of a hand-made snapshot, checked against hand computations."""

from __future__ import annotations

import io
import json
import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats as st

from workbench.analysis.charts import MAX_CHOICE_BARS, choice_chart, make_charts
from workbench.analysis.stats import basic_stats, group_by_family, mean_ci, nps_breakdown, top_options
from workbench.surveys.schema import Snapshot

T_975_DF3 = 3.182446305284263  # Student t quantile 0.975 with 3 degrees of freedom (statistical tables)


def _snapshot(responses: list[dict[str, Any]], questions: list[dict[str, Any]] | None = None) -> Snapshot:
    return Snapshot.model_validate({
        "survey": {
            "id": "tiny",
            "title": "Tiny",
            "questions": questions if questions is not None else [
                {"key": "nps", "type": "nps", "text": "Recommend?"},
                {"key": "rating", "type": "rating", "text": "Rate us"},
                {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["A", "B", "C"]},
                {"key": "tools", "type": "multi_choice", "text": "Tools?", "options": ["x", "y", "z"]},
                {"key": "comment", "type": "text", "text": "Comment"},
            ],
        },
        "responses": responses,
    })


def _response(seconds: int | None, **answers: Any) -> dict[str, Any]:
    completed = None if seconds is None else f"2026-03-02T10:{seconds // 60:02d}:{seconds % 60:02d}Z"
    return {"started_at": "2026-03-02T10:00:00Z", "completed_at": completed, "answers": answers}


@pytest.fixture
def tiny() -> Snapshot:
    return _snapshot([
        _response(60, nps=10, rating=5, plan="A", tools=["x", "y"], comment="great product"),
        _response(120, nps=9, rating=4, plan="B", tools=["x"], comment="  "),
        _response(90, nps=7, rating=4, plan="A", tools="y|x"),  # a CSV-style multi-choice answer
        _response(None, nps=3, rating=2, comment="slow and buggy app"),  # unfinished, still counted
        _response(None),
    ])


def _plain_json_types(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json_types(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or type(value) in (int, str, bool)


def test_completion(tiny: Snapshot) -> None:
    result = basic_stats(tiny)
    assert result["survey_title"] == "Tiny"
    assert result["response_count"] == 5
    assert result["completed_count"] == 3
    assert result["completion_rate"] == pytest.approx(0.6)
    assert result["avg_completion_seconds"] == pytest.approx(90.0)


def test_nps_counts_every_answer_including_unfinished(tiny: Snapshot) -> None:
    # Promoters 10, 9; passive 7; detractor 3: (2 - 1) / 4 = +25 points.
    assert basic_stats(tiny)["nps"] == {"score": 25.0, "promoters": 2, "passives": 1, "detractors": 1, "n": 4}


def test_nps_breakdown_edges() -> None:
    assert nps_breakdown([6, 9, 0, 10, 8])["score"] == pytest.approx(0.0)
    assert nps_breakdown([9, 10])["score"] == 100.0
    assert nps_breakdown([])["score"] is None


def test_rating_summary_matches_hand_computation(tiny: Snapshot) -> None:
    summary = basic_stats(tiny)["questions"]["rating"]
    # Values 5, 4, 4, 2: mean 3.75; squared deviations sum to 4.75, so s = sqrt(4.75 / 3).
    s = math.sqrt(4.75 / 3)
    half = T_975_DF3 * s / 2
    assert summary["kind"] == "scale" and summary["text"] == "Rate us"
    assert summary["n"] == 4
    assert summary["mean"] == pytest.approx(3.75)
    assert summary["median"] == pytest.approx(4.0)
    assert summary["std"] == pytest.approx(s)
    assert summary["ci_low"] == pytest.approx(3.75 - half)
    assert summary["ci_high"] == pytest.approx(3.75 + half)


def test_distribution_lists_every_scale_value(tiny: Snapshot) -> None:
    questions = basic_stats(tiny)["questions"]
    assert questions["rating"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1}
    nps_dist = questions["nps"]["distribution"]
    assert list(nps_dist) == [str(v) for v in range(11)]
    assert nps_dist["0"] == 0 and nps_dist["10"] == 1 and sum(nps_dist.values()) == 4


def test_single_choice_every_option_in_order(tiny: Snapshot) -> None:
    summary = basic_stats(tiny)["questions"]["plan"]
    assert summary["n"] == 3
    assert [(o["option"], o["count"]) for o in summary["options"]] == [("A", 2), ("B", 1), ("C", 0)]
    assert [o["share"] for o in summary["options"]] == pytest.approx([2 / 3, 1 / 3, 0.0])


def test_multi_choice_shares_are_of_respondents(tiny: Snapshot) -> None:
    summary = basic_stats(tiny)["questions"]["tools"]
    assert summary["n"] == 3
    assert [(o["option"], o["count"]) for o in summary["options"]] == [("x", 3), ("y", 2), ("z", 0)]
    assert [o["share"] for o in summary["options"]] == pytest.approx([1.0, 2 / 3, 0.0])


def test_text_summary_ignores_blank_answers(tiny: Snapshot) -> None:
    summary = basic_stats(tiny)["questions"]["comment"]
    assert summary == {"kind": "text", "text": "Comment", "n": 2, "blank": 3, "not_asked": 0, "mean_words": 3.0}


def test_invalid_scale_answers_are_ignored() -> None:
    snap = _snapshot([_response(30, nps=v) for v in (11, -1, "9", 8.0, 7.5, True, "x")])
    summary = basic_stats(snap)["questions"]["nps"]
    assert summary["n"] == 2 and summary["distribution"]["9"] == 1 and summary["distribution"]["8"] == 1


def test_result_is_plain_json(tiny: Snapshot) -> None:
    result = basic_stats(tiny)
    assert _plain_json_types(result)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_empty_and_degenerate_inputs_give_none_not_nan() -> None:
    empty = basic_stats(_snapshot([]))
    assert empty["completion_rate"] is None and empty["avg_completion_seconds"] is None
    assert empty["nps"] == {"score": None, "promoters": 0, "passives": 0, "detractors": 0, "n": 0}
    assert empty["questions"]["rating"]["mean"] is None
    assert empty["questions"]["plan"]["options"][0] == {"option": "A", "count": 0, "share": None}
    assert empty["questions"]["comment"]["mean_words"] is None
    assert _plain_json_types(empty)

    one = basic_stats(_snapshot([_response(None, rating=3)]))["questions"]["rating"]
    assert one["mean"] == 3.0 and one["std"] is None and one["ci_low"] is None and one["ci_high"] is None
    assert mean_ci([3, 3, 3]) == (3.0, 3.0)


def test_no_nps_question_gives_none() -> None:
    snap = _snapshot([_response(10, r=4)], questions=[{"key": "r", "type": "rating", "text": "Rate"}])
    assert basic_stats(snap)["nps"] is None
    assert basic_stats(snap.model_dump(mode="json"))["questions"]["r"]["n"] == 1  # dicts are accepted too


def png(fig) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    return buffer.getvalue()


def test_charts_one_per_scale_and_choice_question_plus_nps(tiny: Snapshot) -> None:
    charts = make_charts(tiny)
    assert [(s["question"], s["kind"]) for s, _ in charts] == [
        ("nps", "bar"), ("nps", "nps_breakdown"), ("rating", "bar"), ("plan", "barh"), ("tools", "barh"),
    ]
    assert make_charts(tiny, basic_stats(tiny))[0][0] == charts[0][0]  # given stats, the same charts
    assert all(png(fig).startswith(b"\x89PNG") for _, fig in charts)


def test_charts_survive_dollar_signs_and_empty_data() -> None:
    # "$" would start matplotlib mathtext; unbalanced ones raise unless escaped.
    questions = [
        {"key": "r", "type": "rating", "text": "Worth $5 a $month?"},
        {"key": "c", "type": "single_choice", "text": "Budget", "options": ["$", "< $10", "a" * 80]},
    ]
    for snap in (_snapshot([], questions), _snapshot([_response(5, r=2, c="$")], questions)):
        assert all(png(fig) for _, fig in make_charts(snap))


# --- long option lists: the result keeps every option, charts group the tail --------------------------------

def _long_tail(qtype: str, options: int = 1000) -> tuple[Snapshot, list[str]]:
    """Option i is chosen (i % 7) times, so counts tie and the tail is not empty."""
    names = [f"option {i:04d}" for i in range(options)]
    question = {"key": "c", "type": qtype, "text": "Pick", "options": names}
    responses = []
    for i, name in enumerate(names):
        for _ in range(i % 7):
            responses.append(_response(5, c=[name] if qtype == "multi_choice" else name))
    return _snapshot(responses, [question]), names


def test_top_options_keep_short_lists_in_survey_order() -> None:
    options = [{"option": o, "count": c, "share": None} for o, c in [("a", 1), ("b", 5), ("c", 3)]]
    assert top_options(options, 3) == (options, None)


def test_top_options_rank_by_count_ties_in_survey_order_and_sum_the_rest() -> None:
    options = [{"option": o, "count": c, "share": None} for o, c in [("a", 1), ("b", 5), ("c", 3), ("d", 5)]]
    shown, rest = top_options(options, 2)
    assert [o["option"] for o in shown] == ["b", "d"]
    assert rest == {"options": 2, "count": 4}


@pytest.mark.parametrize("qtype", ["single_choice", "multi_choice"])
def test_a_1000_option_question_keeps_every_count_and_charts_the_top_plus_other(qtype: str) -> None:
    snap, names = _long_tail(qtype)
    summary = basic_stats(snap)["questions"]["c"]
    assert [o["option"] for o in summary["options"]] == names  # the result is exact and complete
    assert sum(o["count"] for o in summary["options"]) == sum(i % 7 for i in range(1000))

    fig = choice_chart(summary)
    image = png(fig)
    ax = fig.axes[0]
    bars = [(t.get_text(), p.get_width()) for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)]
    assert len(bars) == MAX_CHOICE_BARS + 1
    top = [o for o in summary["options"] if o["count"] == 6][:MAX_CHOICE_BARS]
    assert bars[:-1] == [(o["option"], 6) for o in top]  # the most chosen, ties in survey order
    label, other = bars[-1]
    assert label == f"other ({1000 - MAX_CHOICE_BARS} options)"
    assert other == sum(o["count"] for o in summary["options"]) - 6 * MAX_CHOICE_BARS
    assert len(image) < 200_000


def test_a_choice_chart_of_few_options_is_unchanged() -> None:
    snap, names = _long_tail("single_choice", options=MAX_CHOICE_BARS)
    ax = choice_chart(basic_stats(snap)["questions"]["c"]).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names  # survey order, no "other"


# --- optional timestamps --------------------------------------------------------------------------------------

def test_without_timestamps_completion_is_unknown_not_zero() -> None:
    snap = _snapshot([{"answers": {"nps": 9}}, {"answers": {"nps": 3}}])
    result = basic_stats(snap)
    assert result["completion_known"] is False
    assert result["completed_count"] is None and result["completion_rate"] is None
    assert result["timed_count"] == 0 and result["avg_completion_seconds"] is None
    assert result["nps"]["n"] == 2


def test_with_only_completed_at_completions_are_counted() -> None:
    snap = _snapshot([{"completed_at": "2026-03-02T10:00:00Z", "answers": {}}, {"answers": {}},
                      {"started_at": "2026-03-02T10:00:00Z", "completed_at": "2026-03-02T10:02:00Z", "answers": {}}])
    result = basic_stats(snap)
    assert result["completion_known"] is True
    assert (result["completed_count"], result["completion_rate"]) == (2, pytest.approx(2 / 3))
    assert result["timed_count"] == 1 and result["avg_completion_seconds"] == 120.0


# --- summaries per kind, against numpy and scipy -----------------------------------------------------------------

KINDS_QUESTIONS = [
    {"key": "ease", "type": "scale", "text": "Ease", "min": 1, "max": 7, "labels": {"1": "Hard", "7": "Easy"}},
    {"key": "ten", "type": "scale", "text": "Grade", "min": 0, "max": 10},
    {"key": "agree", "type": "ordinal", "text": "Agree?",
     "options": ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]},
    {"key": "size", "type": "numeric", "text": "Team size", "min": 0},
    {"key": "day", "type": "date", "text": "Signed up"},
    {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
    {"key": "why", "type": "text", "text": "Why Pro?", "required_if": {"question": "plan", "in": ["Pro"]}},
]


@pytest.fixture(scope="module")
def kinds_data() -> tuple[Snapshot, dict[str, list[Any]]]:
    rng = np.random.default_rng(3)
    n = 60
    columns: dict[str, list[Any]] = {
        "ease": [int(v) for v in rng.integers(1, 8, n)],
        "ten": [int(v) for v in rng.integers(0, 11, n)],
        "agree": [int(v) for v in rng.integers(0, 5, n)],
        "size": [float(v) for v in np.round(rng.lognormal(2, 1, n), 1)],
        "day": [(date(2026, 1, 1) + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 90, n)],
        "plan": ["Pro" if v else "Free" for v in rng.integers(0, 2, n)],
    }
    labels = KINDS_QUESTIONS[2]["options"]
    responses = []
    for i in range(n):
        answers = {k: v[i] for k, v in columns.items()}
        answers["agree"] = labels[answers["agree"]]
        if answers["plan"] == "Pro" and i % 3:
            answers["why"] = "SSO"
        if i % 10 == 0:
            del answers["ease"]  # blanks
        responses.append({"answers": answers})
    columns["ease"] = [v for i, v in enumerate(columns["ease"]) if i % 10]
    return _snapshot(responses, KINDS_QUESTIONS), columns


def test_scale_summary_against_numpy_and_scipy(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, columns = kinds_data
    values = np.array(columns["ease"])
    s = basic_stats(snap)["questions"]["ease"]
    assert (s["kind"], s["n"], s["blank"], s["not_asked"]) == ("scale", len(values), 6, 0)
    assert s["mean"] == pytest.approx(values.mean()) and s["median"] == pytest.approx(np.median(values))
    assert s["std"] == pytest.approx(values.std(ddof=1))
    low, high = st.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=st.sem(values))
    assert (s["ci_low"], s["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert list(s["distribution"]) == [str(v) for v in range(1, 8)]
    assert s["distribution"] == {str(v): int((values == v).sum()) for v in range(1, 8)}
    assert s["top2_box"] == pytest.approx(np.mean(values >= 6))
    assert s["bottom2_box"] == pytest.approx(np.mean(values <= 2))
    assert s["labels"] == {"1": "Hard", "7": "Easy"}


def test_a_0_to_10_scale_is_not_an_nps(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, columns = kinds_data
    result = basic_stats(snap)
    assert result["nps"] is None and "nps" not in result["questions"]["ten"]
    assert result["questions"]["ten"]["top2_box"] == pytest.approx(np.mean(np.array(columns["ten"]) >= 9))
    assert ("ten", "nps_breakdown") not in [(c["question"], c["kind"]) for c, _ in make_charts(snap, result)]


def test_ordinal_summary_median_category_and_boxes(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, columns = kinds_data
    ranks = np.array(columns["agree"]) + 1
    labels = KINDS_QUESTIONS[2]["options"]
    s = basic_stats(snap)["questions"]["agree"]
    median_rank = int(np.quantile(ranks, 0.5, method="inverted_cdf"))
    assert (s["median_rank"], s["median"]) == (median_rank, labels[median_rank - 1])
    assert [o["option"] for o in s["options"]] == labels
    assert [o["count"] for o in s["options"]] == [int((ranks == r).sum()) for r in range(1, 6)]
    assert s["top2_box"] == pytest.approx(np.mean(ranks >= 4))
    assert s["bottom2_box"] == pytest.approx(np.mean(ranks <= 2))


def test_ordinal_median_of_an_even_count_is_the_lower_category() -> None:
    questions = [{"key": "o", "type": "ordinal", "text": "O", "options": ["low", "mid", "high"]}]
    s = basic_stats(_snapshot([{"answers": {"o": v}} for v in ("low", "low", "high", "high")], questions))
    assert s["questions"]["o"]["median"] == "low" and s["questions"]["o"]["top2_box"] is None  # 3 labels: no boxes


def test_numeric_summary_quantiles_and_histogram(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, columns = kinds_data
    values = np.array(columns["size"])
    s = basic_stats(snap)["questions"]["size"]
    assert s["quantiles"] == {f"p{q}": pytest.approx(np.percentile(values, q)) for q in (5, 25, 50, 75, 95)}
    assert s["mean"] == pytest.approx(values.mean()) and s["std"] == pytest.approx(values.std(ddof=1))
    assert (s["min"], s["max"]) == (pytest.approx(values.min()), pytest.approx(values.max()))
    counts, edges = np.histogram(values, bins="auto")
    assert [b["count"] for b in s["histogram"]] == counts.tolist()
    assert s["histogram"][0]["low"] == pytest.approx(edges[0])
    assert s["histogram"][-1]["high"] == pytest.approx(edges[-1])
    assert sum(b["count"] for b in s["histogram"]) == len(values)


def test_date_summary_counts_per_week(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, columns = kinds_data
    s = basic_stats(snap)["questions"]["day"]
    days = sorted(date.fromisoformat(d) for d in columns["day"])
    assert (s["first"], s["last"], s["period"]) == (days[0].isoformat(), days[-1].isoformat(), "week")
    mondays = [date.fromisoformat(c["period"]) for c in s["counts"]]
    assert all(m.weekday() == 0 for m in mondays) and mondays == sorted(mondays)
    assert all(b - a == timedelta(days=7) for a, b in zip(mondays, mondays[1:], strict=False))
    assert sum(c["count"] for c in s["counts"]) == len(days)


def test_dates_over_decades_are_counted_per_year() -> None:
    questions = [{"key": "d", "type": "date", "text": "Born"}]
    s = basic_stats(_snapshot([{"answers": {"d": d}} for d in ("1950-06-01", "2000-01-01", "9999-12-31")],
                              questions))["questions"]["d"]
    assert s["period"] == "year" and s["counts"][0] == {"period": "1950", "count": 1}
    assert s["counts"][-1] == {"period": "9999", "count": 1} and len(s["counts"]) == 9999 - 1950 + 1


def test_a_conditional_question_counts_not_asked_apart_from_blank(
    kinds_data: tuple[Snapshot, dict[str, list[Any]]]
) -> None:
    snap, columns = kinds_data
    s = basic_stats(snap)["questions"]["why"]
    pro = columns["plan"].count("Pro")
    answered = sum(1 for i, p in enumerate(columns["plan"]) if p == "Pro" and i % 3)
    assert (s["n"], s["blank"], s["not_asked"]) == (answered, pro - answered, len(columns["plan"]) - pro)


def test_every_kind_has_a_summary_family_and_charts_by_kind(kinds_data: tuple[Snapshot, dict[str, list[Any]]]) -> None:
    snap, _ = kinds_data
    result = basic_stats(snap)
    families = group_by_family(result["questions"])
    assert {f: list(g) for f, g in families.items()} == {
        "scores": ["ease", "ten", "size"], "categories": ["agree", "plan"], "text": ["why"], "dates": ["day"]}
    charts = make_charts(snap, result)
    assert [(c["question"], c["kind"]) for c, _ in charts] == [
        ("ease", "bar"), ("ten", "bar"), ("agree", "barh"), ("size", "histogram"), ("day", "timeline"),
        ("plan", "barh")]
    assert all(png(fig).startswith(b"\x89PNG") for _, fig in charts)
    assert _plain_json_types(result)


def test_charts_of_empty_kinds_draw() -> None:
    snap = _snapshot([], KINDS_QUESTIONS)
    assert all(png(fig) for _, fig in make_charts(snap))


def test_the_period_covered_by_start_times_else_completion_times_else_none() -> None:
    from workbench.analysis.stats import period
    from workbench.surveys.schema import Snapshot

    def snap(responses: list[dict]) -> Snapshot:
        return Snapshot.model_validate({"survey": {"id": "s", "title": "T", "questions": [
            {"key": "q", "type": "text", "text": "?"}]}, "responses": responses})

    started = snap([{"respondent_id": "a", "started_at": "2026-03-05T10:00:00Z", "answers": {}},
                    {"respondent_id": "b", "started_at": "2026-03-01T09:00:00Z", "answers": {}}])
    assert period(started) == {"first": "2026-03-01T09:00:00+00:00", "last": "2026-03-05T10:00:00+00:00",
                               "basis": "started_at"}
    completed = snap([{"respondent_id": "a", "completed_at": "2026-03-05T10:00:00Z", "answers": {}}])
    assert period(completed)["basis"] == "completed_at"  # type: ignore[index]
    assert period(snap([{"respondent_id": "a", "answers": {}}])) is None
