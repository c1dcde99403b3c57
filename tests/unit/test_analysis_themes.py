"""Theme extraction (TF-IDF + NMF) over the text questions of a snapshot."""

from __future__ import annotations

import json
from typing import Any

from workbench.analysis.themes import extract_themes, themes_for_texts
from workbench.surveys.schema import Snapshot

DELIVERY = [
    "Delivery was fast and the parcel arrived early",
    "Fast delivery, parcel arrived a day early",
    "The courier delivered the parcel quickly",
    "Quick delivery, the parcel came the next day",
    "Parcel delivery was really fast",
    "My parcel arrived early thanks to fast delivery",
    "Courier delivery was quick and the parcel was intact",
    "The parcel arrived fast, great delivery",
    "Speedy delivery of my parcel",
    "Delivery of the parcel was quick",
]
PRICING = [
    "Prices are cheap and good value for money",
    "Great value for money, low prices",
    "Cheap prices compared to other shops",
    "Good value, the prices are fair",
    "Low prices and good value",
    "The prices are cheap, excellent value for money",
    "Fair prices and value for money",
    "Really good value and cheap prices",
    "Value for money is excellent, prices low",
    "Cheap, fair prices and great value",
]


def snapshot(texts: list[Any], key: str = "liked_most") -> Snapshot:
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
            {"respondent_id": f"r{i:03d}", "started_at": "2024-05-01T10:00:00Z", "answers": {key: t, "nps": 8}}
            for i, t in enumerate(texts)
        ],
    })


def interleaved() -> list[str]:
    return [t for pair in zip(DELIVERY, PRICING, strict=True) for t in pair]


def test_separates_two_distinct_topics() -> None:
    result = extract_themes(snapshot(interleaved()), n_themes=2, top_keywords=5, examples=3)
    assert result["engine"] == "tfidf-nmf"
    q = result["questions"]["liked_most"]
    assert q["text"] == "What did you like most?"
    assert q["n"] == 20
    assert len(q["themes"]) == 2
    by_topic = {}
    for theme in q["themes"]:
        words = " ".join(theme["keywords"])
        topic = "delivery" if ("delivery" in words or "parcel" in words) else "pricing"
        by_topic[topic] = theme
        assert theme["label"] == " / ".join(theme["keywords"][:2])
        assert len(theme["keywords"]) <= 5
    assert set(by_topic) == {"delivery", "pricing"}
    assert {e["text"] for e in by_topic["delivery"]["examples"]} <= set(DELIVERY)
    assert {e["text"] for e in by_topic["pricing"]["examples"]} <= set(PRICING)
    # An answer sharing few words with its theme may stay unassigned, but none lands in the wrong theme.
    assert 8 <= by_topic["delivery"]["count"] <= 10 and 8 <= by_topic["pricing"]["count"] <= 10
    assert by_topic["delivery"]["count"] + by_topic["pricing"]["count"] + q["unassigned"] == 20
    assert by_topic["pricing"]["share"] == by_topic["pricing"]["count"] / 20
    assert not any(w in " ".join(by_topic["delivery"]["keywords"]) for w in ("price", "cheap", "value"))
    assert len(by_topic["delivery"]["examples"]) == 3


def test_themes_are_sorted_by_share_and_counts_add_up() -> None:
    texts = interleaved() + DELIVERY[:6] + ["", "   ", None]  # blanks and non-strings are not answers
    q = extract_themes(snapshot(texts), n_themes=2)["questions"]["liked_most"]
    assert q["n"] == 26
    shares = [t["share"] for t in q["themes"]]
    assert shares == sorted(shares, reverse=True)
    assert sum(t["count"] for t in q["themes"]) + q["unassigned"] == q["n"]
    assert "delivery" in q["themes"][0]["keywords"] or "parcel" in q["themes"][0]["keywords"]


def test_answers_without_content_are_unassigned() -> None:
    texts = interleaved() + ["N/A", "nothing", "it is what it is", "?"]
    q = extract_themes(snapshot(texts), n_themes=2)["questions"]["liked_most"]
    assert q["n"] == 24
    assert q["unassigned"] >= 4
    assert all(e["text"] in DELIVERY + PRICING for t in q["themes"] for e in t["examples"])


def test_deterministic() -> None:
    snap = snapshot(interleaved())
    first = json.dumps(extract_themes(snap, n_themes=3), sort_keys=True, allow_nan=False)
    second = json.dumps(extract_themes(snapshot(interleaved()), n_themes=3), sort_keys=True, allow_nan=False)
    assert first == second


def test_too_few_answers_gives_a_note_not_an_error() -> None:
    result = extract_themes(snapshot([*DELIVERY, PRICING[0], "", "  "]), n_themes=6)
    q = result["questions"]["liked_most"]
    assert q["n"] == 11
    assert q["themes"] == []
    assert "too few answers" in q["note"] and "12" in q["note"]
    unanswered = result["questions"]["improve"]
    assert unanswered["n"] == 0 and unanswered["themes"] == [] and "note" in unanswered


def test_stop_words_only_gives_a_note() -> None:
    q = themes_for_texts([(f"r{i}", "it is what it is") for i in range(20)], n_themes=2)
    assert q["themes"] == [] and "note" in q


def test_example_texts_are_distinct() -> None:
    texts = ["Fast delivery"] * 10 + ["Cheap prices"] * 10
    q = extract_themes(snapshot(texts), n_themes=2)["questions"]["liked_most"]
    for theme in q["themes"]:
        assert len(theme["examples"]) == 1
        assert theme["count"] == 10
