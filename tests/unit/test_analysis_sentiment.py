"""Sentiment analysis over the text questions of a snapshot: cleaning, set-aside answers, engines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workbench.analysis import sentiment
from workbench.analysis.sentiment import analyze_sentiment, engines
from workbench.components.catalog import SentimentResult
from workbench.surveys.schema import Snapshot
from workbench.text.engines import SentimentPrediction

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
    result = analyze_sentiment(snapshot(answers), engine="vader")

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
    result = analyze_sentiment(snapshot(answers), engine="vader")
    assert result["overall"]["n"] == 3
    assert result["overall"]["distribution"] == {"positive": 2, "neutral": 0, "negative": 1}

    empty = analyze_sentiment(snapshot([{"nps": 3}]), engine="vader")["questions"]["improve"]
    assert empty["n"] == 0
    assert empty["mean_compound"] is None
    assert empty["shares"] == {"positive": None, "neutral": None, "negative": None}
    assert empty["top_positive"] == [] and empty["top_negative"] == []
    json.dumps(empty, allow_nan=False)


def test_top_lists_are_deterministic_on_ties_and_skip_repeated_texts() -> None:
    # Same text (same score) from several respondents, listed out of id order.
    answers = [{"liked_most": t} for t in ["Great!", "great!", "Good.", "Great!", "Nice."]]
    ids = ["r9", "r1", "r5", "r3", None]
    result = analyze_sentiment(snapshot(answers, ids), engine="vader", top_n=3)
    top = result["questions"]["liked_most"]["top_positive"]
    assert [e["respondent_id"] for e in top] == ["r1", "r5", None]  # "great!" by r1 stands for the repeats
    assert len({e["text"].casefold() for e in top}) == 3

    again = analyze_sentiment(snapshot(answers, ids), engine="vader", top_n=3)
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)


def test_top_n_limits_lists() -> None:
    answers = [{"improve": t} for t in [*NEGATIVE, "Bad app.", "Slow and broken, awful."]]
    q = analyze_sentiment(snapshot(answers), engine="vader", top_n=2)["questions"]["improve"]
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


def test_a_wrong_label_or_count_is_rejected() -> None:
    class Labels:
        name = "labels"

        def score(self, texts: list[str]) -> list[float]:
            return [0.0 for _ in texts]

        def predict(self, texts: list[str]) -> list[SentimentPrediction]:
            return [SentimentPrediction("great", 0.5) for _ in texts]

    class Short(Labels):
        def predict(self, texts: list[str]) -> list[SentimentPrediction]:
            return []

    for name, factory in (("labels-test", Labels), ("short-test", Short)):
        sentiment.register(name, factory)
    try:
        with pytest.raises(ValueError, match="unknown labels"):
            analyze_sentiment(snapshot([{"liked_most": "fine"}]), engine="labels-test")
        with pytest.raises(ValueError, match="returned 0 scores for 1 texts"):
            analyze_sentiment(snapshot([{"liked_most": "fine"}]), engine="short-test")
    finally:
        for name in ("labels-test", "short-test"):
            engines._factories.pop(name)
            engines._instances.pop(name, None)


def test_a_repeated_answer_is_scored_once_and_counted_every_time() -> None:
    class Counting:
        name = "counting"
        seen: list[str] = []

        def score(self, texts: list[str]) -> list[float]:
            Counting.seen += texts
            return [-0.5 if "hate" in t else 0.5 for t in texts]

    answers = [{"liked_most": text} for text in [POSITIVE[0], NEGATIVE[0], POSITIVE[0], POSITIVE[0], NEGATIVE[0]]]
    sentiment.register("counting-test", Counting)
    try:
        result = analyze_sentiment(snapshot(answers), engine="counting-test")
    finally:
        engines._factories.pop("counting-test")
        engines._instances.pop("counting-test", None)
    assert sorted(Counting.seen) == sorted([POSITIVE[0], NEGATIVE[0]])  # each distinct text once
    liked = result["questions"]["liked_most"]
    assert liked["n"] == 5 and liked["distribution"] == {"positive": 3, "neutral": 0, "negative": 2}


# --- the default engine, cleaning and set-aside answers ---------------------------------------------------------

def test_default_engine_is_minilm_and_says_how_accurate_it_measured() -> None:
    texts = [*POSITIVE, *NEGATIVE]
    result = analyze_sentiment(snapshot([{"liked_most": t} for t in texts]))
    SentimentResult.model_validate(result)
    json.dumps(result, allow_nan=False)

    assert result["engine"] == "minilm"
    info = result["engine_info"]
    assert info["name"] == "minilm" and "all-MiniLM-L6-v2" in info["model"] and info["languages"] == ["en"]
    evaluation = info["evaluation"]
    assert evaluation["n"] > 4000 and evaluation["accuracy"] > evaluation["majority_baseline"]
    assert evaluation["split"]["seed"] and evaluation["macro_f1"] > 0.5

    q = result["questions"]["liked_most"]
    assert q["distribution"] == {"positive": 2, "neutral": 0, "negative": 2}
    assert {e["text"] for e in q["top_positive"]} == set(POSITIVE)
    assert {e["text"] for e in q["top_negative"]} == set(NEGATIVE)
    assert all(0 < e["score"] <= 1 for e in q["top_positive"])
    assert all(-1 <= e["score"] < 0 for e in q["top_negative"])
    assert q["set_aside"] == {"count": 0, "reasons": {"unsupported_language": 0, "no_words": 0}, "languages": {}}


def test_minilm_predicts_in_chunks_with_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large surveys are predicted a chunk at a time (bounded memory); every answer gets what it got at once."""
    from workbench.text import engines as engine_module

    texts = [*POSITIVE, *NEGATIVE, "It was fine.", "Okay I guess, nothing special.", *POSITIVE]
    engine = engines.get("minilm")
    whole = engine.predict(texts)
    monkeypatch.setattr(engine_module, "PREDICT_CHUNK", 3)
    assert engine.predict(texts) == whole and len(whole) == len(texts)
    assert engine.predict([]) == []


@pytest.mark.parametrize("engine", ["minilm", "vader"])
def test_unreadable_answers_are_set_aside_and_counted_per_question(engine: str) -> None:
    answers = [
        {"liked_most": POSITIVE[0], "improve": "Me encanta este producto, pero el envío es muy lento."},
        {"liked_most": "Das Produkt ist sehr gut und ich bin zufrieden.", "improve": NEGATIVE[0]},
        {"liked_most": "👍👍", "improve": "https://example.com/broken"},
        {"liked_most": "Отличный сервис", "improve": "ok"},
    ]
    result = analyze_sentiment(snapshot(answers), engine=engine)
    liked, improve = result["questions"]["liked_most"], result["questions"]["improve"]

    assert liked["n"] == 1 and improve["n"] == 2  # "ok" is too short to judge: read as English
    assert liked["set_aside"] == {"count": 3, "reasons": {"unsupported_language": 2, "no_words": 1},
                                  "languages": {"de": 1, "other": 1}}
    assert improve["set_aside"] == {"count": 2, "reasons": {"unsupported_language": 1, "no_words": 1},
                                    "languages": {"es": 1}}
    assert result["overall"]["n"] == 3
    assert result["overall"]["set_aside"] == {"count": 5, "reasons": {"unsupported_language": 3, "no_words": 2},
                                              "languages": {"de": 1, "es": 1, "other": 1}}
    quoted = [e["text"] for q in (liked, improve) for side in ("top_positive", "top_negative") for e in q[side]]
    assert not any("encanta" in t or "Produkt" in t for t in quoted)
    SentimentResult.model_validate(result)


def test_quotes_are_cleaned_and_boilerplate_is_removed() -> None:
    tail = "Click expand to view the full review."
    answers = [{"liked_most": f"Lovely product number {i}, really happy with it. {tail}"} for i in range(12)]
    answers.append({"liked_most": "Great support from @alex_support, write to jane.doe@example.com &amp; thanks!"})
    result = analyze_sentiment(snapshot(answers), engine="vader", top_n=20)
    q = result["questions"]["liked_most"]
    assert q["boilerplate_removed"] == [tail.casefold()]
    quoted = [e["text"] for e in q["top_positive"]]
    assert "Lovely product number 0, really happy with it." in quoted
    assert "Great support from @user, write to [email] & thanks!" in quoted
    assert not any("expand" in t or "jane" in t or "alex" in t for t in quoted)
