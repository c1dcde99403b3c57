"""The column-wise analysis code against the one-answer-at-a-time code it replaced (kept here as the reference):
the same results, exactly, on the sample and on hostile answers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.analysis import segment_report as report_module
from workbench.analysis import segments, stats
from workbench.analysis.columns import answers_column, asked_column, coerce_column
from workbench.notebook import load_snapshot
from workbench.surveys import kinds
from workbench.surveys.kinds.ordinal import Ordinal
from workbench.surveys.schema import Question, Snapshot

SAMPLE = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "sample_survey.json"

QUESTIONS: list[dict[str, Any]] = [
    {"key": "nps", "type": "nps", "text": "Recommend?"},
    {"key": "rating", "type": "rating", "text": "Rate us", "labels": None},
    {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro", " Spaced "]},
    {"key": "tools", "type": "multi_choice", "text": "Tools?", "options": ["x", "y", " z"]},
    {"key": "why_pro", "type": "text", "text": "Why Pro?", "required_if": {"question": "plan", "in": ["Pro"]}},
    {"key": "tools_y", "type": "scale", "min": 0, "max": 10, "text": "Y?",
     "required_if": {"question": "tools", "in": ["y"]}},
    {"key": "comment", "type": "text", "text": "Comment"},
    {"key": "seats", "type": "numeric", "min": 0, "max": 1000, "text": "Seats"},
    {"key": "price", "type": "numeric", "text": "Price"},
    {"key": "since", "type": "date", "text": "Customer since", "format": "%d/%m/%Y"},
    {"key": "level", "type": "ordinal", "text": "Level", "options": ["low", "mid", "high"]},
]

# Values of every JSON type, and the near misses the lenient reading has rules for.
ODD = [None, 0, 1, 5, 7, 10, 11, -1, 7.0, 7.5, -0.0, float("inf"), float("nan"), True, False, 2**53, 2**53 + 1,
       10**30, "9", " 9 ", "4.0", "", "  ", "Pro", "pro", " Pro ", "Free", " Spaced ", "Spaced", "x", "y", " z", "z",
       "y|x", "x| y |nope", ["x"], ["x", "x", "y"], [" z"], ["z"], ["x", 1], [], ["nope"], [["x"]], [{"a": 1}],
       ("x",), {"a": 1}, "low", "high", "2024-05-01", "01/05/2024", "2024-05-01T10:00:00", "text ✓ 👍", 3, 999,
       1000.5, -5, "1e3", "12"]


def _survey_snapshot(responses: list[dict[str, Any]]) -> Snapshot:
    return Snapshot.model_validate({"survey": {"id": "odd", "title": "Odd", "questions": QUESTIONS,
                                               "segments": ["plan", "level"]}, "responses": responses})


def _odd_snapshot() -> Snapshot:
    """Every odd value in every question, in shifted combinations, with times of several kinds."""
    keys = [q["key"] for q in QUESTIONS]
    responses = []
    for i in range(3 * len(ODD)):
        answers = {k: ODD[(i * (j + 3) + j) % len(ODD)] for j, k in enumerate(keys) if (i + j) % 5}
        answers = {k: v for k, v in answers.items() if not (isinstance(v, float) and not math.isfinite(v))}
        day = f"2026-03-{1 + i % 27:02d}T{i % 24:02d}"
        responses.append({"respondent_id": f"r{i}", "answers": answers,
                          "started_at": f"{day}:00:00{['Z', '+02:00', '-05:30'][i % 3]}" if i % 4 else None,
                          "completed_at": f"{day}:{i % 60:02d}:07.25Z" if i % 3 else None})
    return _survey_snapshot(responses)


@pytest.fixture(scope="module")
def sample() -> Snapshot:
    return load_snapshot(SAMPLE)


# --- the reference: the code this replaced ------------------------------------------------------------------


def old_answers_of(snapshot: Snapshot, question: Question) -> tuple[list[Any], int]:
    kind = kinds.get(question.type)
    asked = [r for r in snapshot.responses if snapshot.survey.asked(question, r.answers)]
    values = [v for r in asked if (v := kind.coerce(question, r.answers.get(question.key))) is not None]
    return values, len(asked)


def old_completion(snapshot: Snapshot) -> dict[str, Any]:
    total = len(snapshot.responses)
    completed = sum(1 for r in snapshot.responses if r.completed_at is not None)
    known = completed > 0
    durations = [(r.completed_at - r.started_at).total_seconds()
                 for r in snapshot.responses if r.completed_at is not None and r.started_at is not None]
    return {
        "response_count": total, "completion_known": known, "completed_count": completed if known else None,
        "completion_rate": stats._share(completed, total) if known else None, "timed_count": len(durations),
        "avg_completion_seconds": stats._float(np.mean(durations)) if durations else None,
        "median_completion_seconds": stats._float(np.median(durations)) if durations else None,
    }


def old_period(snapshot: Snapshot) -> dict[str, Any] | None:
    for basis in ("started_at", "completed_at"):
        times = [t for r in snapshot.responses if (t := getattr(r, basis)) is not None]
        if times:
            return {"first": min(times).isoformat(), "last": max(times).isoformat(), "basis": basis}
    return None


def old_nps_breakdown(scores: Iterable[int]) -> dict[str, Any]:
    values = list(scores)
    promoters = sum(1 for v in values if v >= stats.PROMOTER_MIN)
    detractors = sum(1 for v in values if v <= stats.DETRACTOR_MAX)
    n = len(values)
    return {"score": stats._float(100.0 * (promoters - detractors) / n) if n else None, "promoters": promoters,
            "passives": n - promoters - detractors, "detractors": detractors, "n": n}


def old_moments(values: list[Any]) -> dict[str, Any]:
    ci = stats.mean_ci(values)
    return {
        "mean": stats._float(np.mean(values)) if values else None,
        "median": stats._float(np.median(values)) if values else None,
        "std": stats._float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "ci_low": stats._float(ci[0]) if ci else None,
        "ci_high": stats._float(ci[1]) if ci else None,
    }


def old_boxes(ranks: list[int], points: int) -> dict[str, Any]:
    n = len(ranks)
    if points < stats.MIN_BOX_POINTS or not n:
        return {"top2_box": None, "bottom2_box": None}
    return {"top2_box": stats._share(sum(1 for r in ranks if r >= points - 1), n),
            "bottom2_box": stats._share(sum(1 for r in ranks if r <= 2), n)}


def old_nps_summary(question: Question, values: list[int]) -> dict[str, Any]:
    return {**old_moments(values), "distribution": {str(v): values.count(v) for v in range(0, 11)},
            "nps": old_nps_breakdown(values)}


def old_scale_summary(question: Question, values: list[int]) -> dict[str, Any]:
    low, high = int(question.min or 0), int(question.max or 0)
    return {**old_moments(values), "min": low, "max": high, "labels": dict(question.labels or {}),
            "distribution": {str(v): values.count(v) for v in range(low, high + 1)},
            **old_boxes([v - low + 1 for v in values], high - low + 1)}


def old_ordinal_summary(question: Question, values: list[str]) -> dict[str, Any]:
    labels = question.options or []
    ranks = sorted(Ordinal.rank(question, v) for v in values)
    n = len(ranks)
    median_rank = ranks[(n - 1) // 2] if n else None
    return {
        "options": [{"option": label, "count": ranks.count(i + 1), "share": stats._share(ranks.count(i + 1), n)}
                    for i, label in enumerate(labels)],
        "median": labels[median_rank - 1] if median_rank else None, "median_rank": median_rank,
        **old_boxes(ranks, len(labels)),
    }


def old_numeric_summary(question: Question, values: list[float]) -> dict[str, Any]:
    return {**stats.numeric_summary(question, values), **old_moments(values)}


def old_choice_summary(question: Question, chosen: list[Any], *, multiple: bool = False) -> dict[str, Any]:
    n = len(chosen)
    counts = {option: 0 for option in question.options or []}
    for answer in chosen:
        for item in answer if isinstance(answer, list) else [answer]:
            counts[item] += 1
    return {"multiple": multiple,
            "options": [{"option": o, "count": c, "share": stats._share(c, n)} for o, c in counts.items()]}


def old_text_summary(question: Question, texts: list[str]) -> dict[str, Any]:
    return {"mean_words": stats._float(np.mean([len(t.split()) for t in texts])) if texts else None}


OLD_SUMMARIES: dict[str, stats.Summarize] = {
    "nps": old_nps_summary, "scale": old_scale_summary, "numeric": old_numeric_summary,
    "ordinal": old_ordinal_summary, "single_choice": old_choice_summary,
    "multi_choice": partial(old_choice_summary, multiple=True), "text": old_text_summary,
}


def old_basic_stats(snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(stats, "answers_of", old_answers_of)
        patch.setattr(stats, "completion", old_completion)
        patch.setattr(stats, "period", old_period)
        patch.setattr(stats, "_SUMMARIES", {
            kind: stats.KindSummary(summary.family, OLD_SUMMARIES.get(kind, summary.summarize))
            for kind, summary in stats._SUMMARIES.items()})
        return stats.basic_stats(snapshot)


def old_choices(raw: Any, multi: bool, allowed: set[Any] | None) -> list[Any]:
    if segments._missing(raw):
        return []
    items = list(raw) if multi and isinstance(raw, list | tuple | set | frozenset | np.ndarray) else [raw]
    labels = [segments._label(item) for item in items if not segments._missing(item)]
    if allowed is not None:
        labels = [x for x in labels if x in allowed]
    return list(dict.fromkeys(labels))


def old_segment_answers(snapshot: Snapshot, question: Question) -> list[Any]:
    kind = kinds.get(question.type)
    return [kind.coerce(question, r.answers.get(question.key)) for r in snapshot.responses]


def old_groups(labels: list[str], segment: list[Any], values: list[Any]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {label: [] for label in labels}
    for seg, value in zip(segment, values, strict=True):
        if seg is not None and value is not None and seg in groups:
            groups[seg].append(value)
    return groups


def old_nps_groups(groups: Any) -> dict[Any, list[str]]:
    return {seg: [g for g in (segments.nps_group(v) for v in vals) if g is not None]
            for seg, vals in segments._segments(groups)}


_numbers = segments._numbers


def old_numbers(values: Iterable[Any]) -> list[float]:
    return _numbers(iter(list(values)))  # not a list: the general path, one value at a time


def old_segment_report(snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> dict[str, Any]:
    """segment_report with the old per-answer helpers: every answer through `_choices`, `_numbers` one by one."""

    def old_choice_lists(values: list[Any], multi: bool, allowed: set[Any] | None) -> list[list[Any]]:
        return [c for c in (old_choices(raw, multi, allowed) for raw in values) if c]

    with monkeypatch.context() as patch:
        patch.setattr(report_module, "_answers", old_segment_answers)
        patch.setattr(report_module, "_groups", old_groups)
        patch.setattr(segments, "_choice_lists", old_choice_lists)
        patch.setattr(segments, "_choices", old_choices)
        patch.setattr(segments, "nps_groups", old_nps_groups)
        patch.setattr(segments, "_numbers", old_numbers)
        return report_module.segment_report(snapshot, **kwargs)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


# --- the tests ------------------------------------------------------------------------------------------------


def test_coerce_column_reads_every_value_as_its_kind_does() -> None:
    snapshot = _survey_snapshot([])
    for question in snapshot.survey.questions:
        kind = kinds.get(question.type)
        got = coerce_column(question, ODD)
        expected = [kind.coerce(question, v) for v in ODD]
        assert got == expected, question.key
        assert [type(v) for v in got] == [type(v) for v in expected], question.key


def test_asked_column_is_survey_asked(sample: Snapshot) -> None:
    for snapshot in (_odd_snapshot(), sample):
        for question in snapshot.survey.questions:
            asked = asked_column(snapshot.survey, question, snapshot)
            expected = [snapshot.survey.asked(question, r.answers) for r in snapshot.responses]
            assert (asked if asked is not None else [True] * len(snapshot.responses)) == expected


def test_answers_column(sample: Snapshot) -> None:
    assert answers_column(sample, "nps") == [r.answers.get("nps") for r in sample.responses]


@pytest.mark.parametrize("name", ["sample", "odd", "naive times", "no times", "empty", "one"])
def test_basic_stats_equal_the_old_code(name: str, sample: Snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = _odd_snapshot()
    snapshot = {
        "sample": sample,
        "odd": odd,
        "naive times": odd.model_copy(update={"responses": [r.model_copy(update={
            "started_at": r.started_at and r.started_at.replace(tzinfo=None),
            "completed_at": r.completed_at and r.completed_at.replace(tzinfo=None)}) for r in odd.responses]}),
        "no times": odd.model_copy(update={"responses": [
            r.model_copy(update={"started_at": None, "completed_at": None}) for r in odd.responses]}),
        "empty": odd.model_copy(update={"responses": []}),
        "one": odd.model_copy(update={"responses": odd.responses[5:6]}),
    }[name]
    new = stats.basic_stats(snapshot)
    assert _json(new) == _json(old_basic_stats(snapshot, monkeypatch))


def test_the_summaries_equal_the_old_code_on_odd_value_lists() -> None:
    snapshot = _survey_snapshot([])
    scale = snapshot.survey.question("tools_y")
    assert scale is not None
    for values in ([], [3], [0, 10, 10, 5, 1, 2, 9, 9], list(range(11)) * 3):
        assert stats.scale_summary(scale, values) == old_scale_summary(scale, values)
        assert stats.nps_summary(scale, values) == old_nps_summary(scale, values)
        assert stats.nps_breakdown(values) == old_nps_breakdown(values)
        floats: list[Any] = [float(v) for v in values]
        assert stats.nps_breakdown(floats) == old_nps_breakdown(floats)
    assert stats.nps_breakdown([10**30, 3]) == old_nps_breakdown([10**30, 3])  # beyond int64: one by one
    assert stats.nps_breakdown([True, False]) == old_nps_breakdown([True, False])
    texts = ["a b  c", "x", "\u2003spaced\u2003words ", "👍 👍"]
    assert stats.text_summary(scale, texts) == old_text_summary(scale, texts)
    assert stats.text_summary(scale, []) == old_text_summary(scale, [])


def test_period_and_completion_with_equal_instants_in_other_offsets() -> None:
    times = ["2026-03-02T09:00:00+02:00", "2026-03-02T07:00:00Z", "2026-03-02T12:30:00+05:30",
             "2026-03-02T12:30:00+05:30"]
    snapshot = _survey_snapshot([{"started_at": t, "completed_at": times[-1 - i], "answers": {}}
                                 for i, t in enumerate(times)])
    assert stats.period(snapshot) == old_period(snapshot)
    assert stats.completion(snapshot) == old_completion(snapshot)
    centuries = _survey_snapshot([{"started_at": "0001-01-01T00:00:00Z", "completed_at": "9999-01-01T00:00:00Z",
                                   "answers": {}}])
    assert stats.completion(centuries) == old_completion(centuries)
    mixed = _survey_snapshot([{"started_at": "2026-03-02T07:00:00", "completed_at": "2026-03-02T07:00:00Z",
                               "answers": {}}])
    with pytest.raises(TypeError):  # a naive time with an aware one: as before
        stats.completion(mixed)


@pytest.mark.parametrize("correction", ["bh", "holm"])
def test_segment_report_equals_the_old_code(correction: str, sample: Snapshot,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for snapshot in (sample, _odd_snapshot()):
        new = report_module.segment_report(snapshot, correction=correction)  # type: ignore[arg-type]
        old = old_segment_report(snapshot, monkeypatch, correction=correction)
        assert _json(new) == _json(old)


def test_segment_helpers_equal_the_old_code() -> None:
    values = [v for v in ODD if not (isinstance(v, float) and not math.isfinite(v))] + [np.int64(3), np.nan]
    allowed = {"x", "y", " z", "Pro"}
    for multi in (False, True):
        for keep in (None, allowed):
            assert segments._choice_lists(values, multi, keep) == [
                c for c in (old_choices(v, multi, keep) for v in values) if c]
            lists = [["x", "y"], ["y", "x", "x"], ["x", "y"], None, [1], [True], ["nope"], []]
            assert segments._choice_lists(lists, multi, keep) == [
                c for c in (old_choices(v, multi, keep) for v in lists) if c]
    for numbers in (values, [1, 2, None, 3], [1.5, None, float("inf"), -0.0], [True, 1], []):
        assert segments._numbers(numbers) == old_numbers(numbers)
    with pytest.raises(OverflowError):  # as one by one: an int too large for a float is an error
        segments._numbers([10**400])
    groups: dict[Any, list[Any]] = {"a": [0, 6, 7, 9, 10, None, 11, 3.0, 8.5, True, "9"], "b": [10, 10, 1], "c": []}
    assert segments.nps_groups(groups) == old_nps_groups(groups)
    multi_groups: dict[Any, list[Any]] = {"a": [["x", "y"], ["y"], None, ["x", "x"]], "b": [["y"], ["z", "x"], []]}
    tests = segments.option_tests(multi_groups, options=["x", "y", "z"])
    for test in tests:
        option = test["option"]
        expected = [[sum(1 for a in answers if option in a), sum(1 for a in answers if option not in a)]
                    for answers in ([["x", "y"], ["y"], ["x"]], [["y"], ["z", "x"]])]
        assert test["table"] == expected
    single: dict[Any, list[Any]] = {"a": ["x", "y", "x", None, "nope", 1], "b": ["y", "y", "x"]}
    table = segments.categorical_test(single, categories=["x", "y"])["table"]
    assert table == [[2, 1], [1, 2]]
    ordered: dict[Any, list[Any]] = {"a": ["low", "high", "mid", None, "nope", 2],
                                     "b": ["mid", "mid", "low", "high", "high"]}
    test = segments.rank_test(ordered, order=["low", "mid", "high"], kind="ordinal")
    assert [s["n"] for s in test["segments"]] == [3, 5]
    assert [s["mean"] for s in test["segments"]] == [2.0, 2.2]


def test_date_summary_unchanged() -> None:
    snapshot = _survey_snapshot([{"answers": {"since": d}} for d in ("2024-05-01", "01/06/2024", "bad")])
    question = snapshot.survey.question("since")
    assert question is not None
    assert stats.question_summary(snapshot, question)["first"] == date(2024, 5, 1).isoformat()
