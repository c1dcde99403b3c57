"""Sentiment analysis over the text questions of a snapshot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workbench.analysis import sentiment
from workbench.analysis.sentiment import analyze_sentiment, engines
from workbench.surveys.schema import Snapshot

POSITIVE = ["I love this product, it is absolutely wonderful!", "Great service, very happy and satisfied."]
NEGATIVE = ["Terrible experience, I hate it and I am very angry.", "Awful support, horrible and useless."]
NEUTRAL = ["The box is blue."]


def snapshot(answers: list[dict[str, Any]], ids: list[str | None] | None = None) -> Snapshot:
    ids = ids or [f"r{i:03d}" for i in range(len(answers))]
    return Snapshot.model_validate({
        "survey": {
            "id": "s1",
            "title": "Feedback",
            "questions": [
                {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?"},
                {"key": "liked_most", "type": "text", "text": "What did you like most?"},
                {"key": "improve", "type": "text", "text": "What should we improve?"},
            ],
        },
        "responses": [
            {"respondent_id": rid, "started_at": "2024-05-01T10:00:00Z", "answers": a}
            for rid, a in zip(ids, answers, strict=True)
        ],
    })


def test_classifies_clear_texts_and_counts_only_non_blank_answers() -> None:
    texts = [*POSITIVE, *NEGATIVE, *NEUTRAL]
    answers = [{"liked_most": t, "nps": 5} for t in texts]
    answers += [{"liked_most": "   "}, {"liked_most": ""}, {"nps": 9}, {"liked_most": 7}]
    result = analyze_sentiment(snapshot(answers))

    assert result["engine"] == "vader"
    assert set(result["questions"]) == {"liked_most", "improve"}  # text questions only
    q = result["questions"]["liked_most"]
    assert q["text"] == "What did you like most?"
    assert q["n"] == 5
    assert q["distribution"] == {"positive": 2, "neutral": 1, "negative": 2}
    assert sum(q["distribution"].values()) == q["n"]
    assert q["shares"] == {"positive": 0.4, "neutral": 0.2, "negative": 0.4}
    assert {e["text"] for e in q["top_positive"]} == set(POSITIVE)
    assert {e["text"] for e in q["top_negative"]} == set(NEGATIVE)
    assert all(e["score"] >= 0.05 for e in q["top_positive"])
    assert all(e["score"] <= -0.05 for e in q["top_negative"])
    assert q["top_positive"][0]["score"] >= q["top_positive"][1]["score"]
    assert q["top_negative"][0]["score"] <= q["top_negative"][1]["score"]
    assert -1 <= q["mean_compound"] <= 1


def test_unanswered_question_has_no_nan_and_overall_pools_questions() -> None:
    answers = [{"liked_most": POSITIVE[0], "improve": NEGATIVE[0]}, {"liked_most": POSITIVE[1]}]
    result = analyze_sentiment(snapshot(answers))
    assert result["overall"]["n"] == 3
    assert result["overall"]["distribution"] == {"positive": 2, "neutral": 0, "negative": 1}

    empty = analyze_sentiment(snapshot([{"nps": 3}]))["questions"]["improve"]
    assert empty["n"] == 0
    assert empty["mean_compound"] is None
    assert empty["shares"] == {"positive": None, "neutral": None, "negative": None}
    assert empty["top_positive"] == [] and empty["top_negative"] == []
    json.dumps(empty, allow_nan=False)


def test_top_lists_are_deterministic_on_ties_and_skip_repeated_texts() -> None:
    # Same text (same score) from several respondents, listed out of id order.
    answers = [{"liked_most": t} for t in ["Great!", "great!", "Good.", "Great!", "Nice."]]
    ids = ["r9", "r1", "r5", "r3", None]
    result = analyze_sentiment(snapshot(answers, ids), top_n=3)
    top = result["questions"]["liked_most"]["top_positive"]
    assert [e["respondent_id"] for e in top] == ["r1", "r5", None]  # "great!" by r1 stands for the repeats
    assert len({e["text"].casefold() for e in top}) == 3

    again = analyze_sentiment(snapshot(answers, ids), top_n=3)
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)


def test_top_n_limits_lists() -> None:
    answers = [{"improve": t} for t in [*NEGATIVE, "Bad app.", "Slow and broken, awful."]]
    q = analyze_sentiment(snapshot(answers), top_n=2)["questions"]["improve"]
    assert len(q["top_negative"]) == 2
    assert q["top_positive"] == []


def test_engine_registry_builds_once_and_accepts_new_engines() -> None:
    assert engines.get("vader") is engines.get("vader")

    class Fixed:
        name = "fixed"

        def score(self, texts: list[str]) -> list[float]:
            return [-0.5 for _ in texts]

    sentiment.register("fixed-test", Fixed)
    try:
        assert isinstance(sentiment.get("fixed-test"), sentiment.SentimentEngine)
        result = analyze_sentiment(snapshot([{"liked_most": POSITIVE[0]}]), engine="fixed-test")
        assert result["engine"] == "fixed"
        assert result["questions"]["liked_most"]["distribution"]["negative"] == 1
    finally:
        engines._factories.pop("fixed-test")
        engines._instances.pop("fixed-test", None)

    with pytest.raises(KeyError, match="unknown sentiment engine 'nope'"):
        analyze_sentiment(snapshot([{"liked_most": "x"}]), engine="nope")


def test_a_misbehaving_engine_is_rejected() -> None:
    class Broken:
        name = "broken"

        def score(self, texts: list[str]) -> list[float]:
            return [2.0 for _ in texts]

    sentiment.register("broken-test", Broken)
    try:
        with pytest.raises(ValueError, match="outside"):
            analyze_sentiment(snapshot([{"liked_most": "fine"}]), engine="broken-test")
    finally:
        engines._factories.pop("broken-test")
        engines._instances.pop("broken-test", None)
