"""Statistics (and charts) of a hand-made snapshot, checked against hand computations."""

from __future__ import annotations

import io
import json
import math
import time
from typing import Any

import pytest

from workbench.analysis.charts import MAX_CHOICE_BARS, choice_chart, make_charts
from workbench.analysis.stats import basic_stats, mean_ci, nps_breakdown, top_options
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
    assert summary["type"] == "rating" and summary["text"] == "Rate us"
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
    assert summary == {"type": "text", "text": "Comment", "n": 2, "blank": 3, "mean_words": 3.0}


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

    start = time.perf_counter()
    fig = choice_chart(summary)
    image = png(fig)
    elapsed = time.perf_counter() - start
    ax = fig.axes[0]
    bars = [(t.get_text(), p.get_width()) for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)]
    assert len(bars) == MAX_CHOICE_BARS + 1
    top = [o for o in summary["options"] if o["count"] == 6][:MAX_CHOICE_BARS]
    assert bars[:-1] == [(o["option"], 6) for o in top]  # the most chosen, ties in survey order
    label, other = bars[-1]
    assert label == f"other ({1000 - MAX_CHOICE_BARS} options)"
    assert other == sum(o["count"] for o in summary["options"]) - 6 * MAX_CHOICE_BARS
    assert elapsed < 1.0, elapsed
    assert len(image) < 200_000


def test_a_choice_chart_of_few_options_is_unchanged() -> None:
    snap, names = _long_tail("single_choice", options=MAX_CHOICE_BARS)
    ax = choice_chart(basic_stats(snap)["questions"]["c"]).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names  # survey order, no "other"
