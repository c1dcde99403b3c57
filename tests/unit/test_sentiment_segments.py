"""Sentiment per segment: label mixes per segment, their test against scipy, findings, and bad segment_by."""

from __future__ import annotations

from typing import Any

import pytest
from scipy import stats

from workbench.analysis.segment_report import SegmentError
from workbench.analysis.sentiment import analyze_sentiment
from workbench.components.catalog import SentimentResult
from workbench.surveys.schema import Snapshot

HAPPY = "I love this product, it is absolutely wonderful and great!"
ANGRY = "Terrible, awful experience; I hate it and I am very angry."
PLAIN = "The box is blue."


def snapshot(rows: list[tuple[str | None, str | None]], segments: list[str] | None = None) -> Snapshot:
    return Snapshot.model_validate({
        "survey": {
            "id": "s1", "title": "Feedback", "segments": segments or [],
            "questions": [
                {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
                {"key": "comment", "type": "text", "text": "Anything else?"},
            ],
        },
        "responses": [
            {"respondent_id": f"r{i}", "answers": {k: v for k, v in (("plan", plan), ("comment", text)) if v}}
            for i, (plan, text) in enumerate(rows)
        ],
    })


def rows() -> list[tuple[str | None, str | None]]:
    # Free: 30 angry, 10 happy; Pro: 5 angry, 35 happy; plus answers outside any segment and blanks
    return ([("Free", ANGRY)] * 30 + [("Free", HAPPY)] * 10 + [("Pro", ANGRY)] * 5 + [("Pro", HAPPY)] * 35
            + [(None, ANGRY)] * 7 + [("Pro", None)] * 4 + [("Free", PLAIN)] * 2)


def test_label_mix_per_declared_segment_matches_a_chi_square_computed_here() -> None:
    result = analyze_sentiment(snapshot(rows(), segments=["plan"]), engine="vader")
    SentimentResult.model_validate(result)
    by = result["by_segment"]
    assert (by["segment_by"], by["source"]) == (["plan"], "declared")
    [breakdown] = by["breakdowns"]
    [item] = breakdown["questions"]
    free, pro = item["segments"]
    assert (free["segment"], free["n"], free["distribution"]) == (
        "Free", 42, {"positive": 10, "neutral": 2, "negative": 30})
    assert (pro["segment"], pro["n"], pro["distribution"]) == ("Pro", 40, {"positive": 35, "neutral": 0, "negative": 5})
    assert free["shares"]["negative"] == round(30 / 42, 4)
    chi2, p, _, _ = stats.chi2_contingency([[10, 2, 30], [35, 0, 5]], correction=False)
    assert item["test"]["test"] == "chi2" and item["test"]["p"] == pytest.approx(p, rel=1e-5)
    assert item["test"]["statistic"] == pytest.approx(chi2, abs=1e-4)
    assert item["test"]["p_bh"] == pytest.approx(p, rel=1e-5)  # a family of one
    assert item["finding"] == by["findings"][0]
    assert "Free (71%)" in item["finding"] and "Pro (12%)" in item["finding"] and "large effect" in item["finding"]


def test_no_difference_no_finding_and_no_segments_no_breakdown() -> None:
    same: list[tuple[str | None, str | None]] = [("Free", HAPPY), ("Free", ANGRY), ("Pro", HAPPY), ("Pro", ANGRY)] * 10
    by = analyze_sentiment(snapshot(same), engine="vader", segment_by=["plan"])["by_segment"]
    assert by["source"] == "parameter" and by["findings"] == []
    assert by["breakdowns"][0]["questions"][0]["finding"] is None
    none = analyze_sentiment(snapshot(same), engine="vader")["by_segment"]
    assert (none["segment_by"], none["source"], none["breakdowns"]) == ([], "none", [])


@pytest.mark.parametrize(("segment_by", "message"), [
    (["comment"], "is a text question"),
    (["nope"], "is not a question of this survey"),
])
def test_a_bad_segment_by_fails_naming_it(segment_by: list[str], message: str) -> None:
    data: Any = rows()
    with pytest.raises(SegmentError, match=message):
        analyze_sentiment(snapshot(data), engine="vader", segment_by=segment_by)


def test_the_summary_states_the_sentiment_finding_with_its_figures() -> None:
    from workbench.analysis.summary import build_summary, cited_value

    sentiment = analyze_sentiment(snapshot(rows(), segments=["plan"]), engine="vader")
    summary = build_summary({"sentiment": sentiment})
    [statement] = [s for s in summary["statements"] if s["section"] == "segments"]
    assert statement["text"].startswith("Negative answers to 'comment' are more common among plan Free (71%)")
    values = [c["value"] for c in statement["citations"]]
    assert values[:2] == [round(30 / 42, 4), round(5 / 40, 4)]
    for c in statement["citations"]:
        assert cited_value({"sentiment": sentiment}, c["component"], c["path"]) == c["value"]
