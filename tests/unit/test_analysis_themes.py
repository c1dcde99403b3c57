"""The `themes` component over snapshots: MiniLM sentence clusters, shares with Wilson intervals, the main score
per theme, set-aside answers, cleaning, quotes and determinism (real embeddings, shared on-disk cache)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workbench.analysis.themes import extract_themes, main_scale, score_of
from workbench.components import components
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
SPANISH = [
    "Me encanta la tienda, los precios son muy buenos y el envío es rápido",
    "El envío fue muy rápido y el paquete llegó en perfecto estado",
    "Los precios son bajos pero la calidad no es buena",
]


def snapshot(texts: list[Any], nps: list[int] | None = None, scale: bool = False) -> Snapshot:
    questions: list[dict[str, Any]] = [
        {"key": "liked_most", "type": "text", "text": "What did you like most?"},
        {"key": "improve", "type": "text", "text": "What should we improve?"},
    ]
    if nps is not None:
        questions.insert(0, {"key": "nps", "type": "scale" if scale else "nps", "text": "Recommend us?",
                             **({"min": 0, "max": 10} if scale else {})})
    return Snapshot.model_validate({
        "survey": {"id": "s1", "title": "Feedback", "questions": questions},
        "responses": [
            {"respondent_id": f"r{i:03d}", "started_at": "2024-05-01T10:00:00Z",
             "answers": {"liked_most": t, **({"nps": nps[i]} if nps is not None else {})}}
            for i, t in enumerate(texts)
        ],
    })


def interleaved() -> list[str]:
    return [t for pair in zip(DELIVERY, PRICING, strict=True) for t in pair]


def topic(theme: dict[str, Any]) -> str:
    words = " ".join(theme["keywords"])
    return "delivery" if ("delivery" in words or "parcel" in words) else "pricing"


@pytest.fixture(scope="module")
def two_topics() -> dict[str, Any]:
    nps = [10, 3, 9, 6, 10, 8, 7, 0, 9, 10, 10, 5, 9, 9, 8, 2, 10, 7, 6, 10]
    return extract_themes(snapshot(interleaved(), nps), n_themes=6, top_keywords=5, examples=3)


def test_separates_two_topics_and_reports_the_engine(two_topics: dict[str, Any]) -> None:
    assert two_topics["engine"] == "minilm-clusters"
    assert two_topics["engine_info"]["name"] == "minilm-clusters" and "MiniLM" in two_topics["engine_info"]["model"]
    components.get("themes").result_model.model_validate(two_topics)  # the catalog contract
    measured = two_topics["engine_info"]["evaluation"]["datasets"]["clothing reviews"]
    assert measured["n"] > 20000 and measured["unassigned_share"] <= 0.2
    assert measured["purity_dominant"] > measured["majority_baseline"]
    q = two_topics["questions"]["liked_most"]
    assert q["n"] == 20 and q["set_aside"]["count"] == 0
    by_topic = {topic(t): t for t in q["themes"]}
    assert set(by_topic) == {"delivery", "pricing"} and len(q["themes"]) == 2  # n_themes is only a maximum
    assert {e["text"] for e in by_topic["delivery"]["examples"]} <= set(DELIVERY)
    assert {e["text"] for e in by_topic["pricing"]["examples"]} <= set(PRICING)
    assert not any(w in " ".join(by_topic["delivery"]["keywords"]) for w in ("price", "cheap", "value"))
    assert all(2 <= len(t["label"].replace(" / ", " ").split()) <= 4 for t in q["themes"])
    assert q["unassigned"] <= 2


def test_shares_and_wilson_intervals(two_topics: dict[str, Any]) -> None:
    q = two_topics["questions"]["liked_most"]
    for t in q["themes"]:
        assert t["share"] == round(t["count"] / q["n"], 4)
        lo, hi = t["share_ci"]
        assert 0 <= lo < t["share"] < hi <= 1
    theme = q["themes"][0]
    if theme["count"] == 10:  # 10 of 20: the Wilson interval is symmetric, [0.2993, 0.7007]
        assert theme["share_ci"] == [0.2993, 0.7007]
    counts = [t["count"] for t in q["themes"]]
    assert counts == sorted(counts, reverse=True)


def test_theme_score_is_the_nps_of_those_mentioning_it(two_topics: dict[str, Any]) -> None:
    q = two_topics["questions"]["liked_most"]
    nps = [10, 3, 9, 6, 10, 8, 7, 0, 9, 10, 10, 5, 9, 9, 8, 2, 10, 7, 6, 10]
    overall = q["score_overall"]
    # By hand: 10 promoters (9-10), 6 detractors (0-6) of 20 -> NPS 20.
    assert overall == {"question": "nps", "measure": "nps", "value": 20.0, "n": 20}
    for t in q["themes"]:
        texts = DELIVERY if topic(t) == "delivery" else PRICING
        if t["count"] == 10:  # every answer of the topic mentions it: the NPS of exactly those respondents
            scores = [nps[i] for i, text in enumerate(interleaved()) if text in texts]
            promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
            assert t["score"] == {"question": "nps", "measure": "nps", "n": 10,
                                  "value": round(100 * (promoters - detractors) / 10, 2)}
        assert t["score"]["question"] == "nps" and t["score"]["n"] == t["count"]
    delivery = next(t for t in q["themes"] if topic(t) == "delivery")
    # Delivery answers are the even positions: 7 promoters, 1 detractor of 10 -> NPS 60.
    assert delivery["count"] == 10 and delivery["score"]["value"] == 60.0


def test_score_measures() -> None:
    assert score_of([10, 9, 7, 0], "nps", "nps") == {"question": "nps", "measure": "nps", "value": 25.0, "n": 4}
    assert score_of([1, 2, 4], "sat", "mean") == {"question": "sat", "measure": "mean", "value": 2.33, "n": 3}
    assert score_of([], "sat", "mean")["value"] is None
    assert main_scale(snapshot(["x"], [5], scale=True)) == ("nps", "mean")
    assert main_scale(snapshot(["x"])) is None
    q = extract_themes(snapshot(interleaved()), n_themes=2)["questions"]["liked_most"]  # no nps, no scale
    assert q["score_overall"] is None and all(t["score"] is None for t in q["themes"])
    mean = extract_themes(snapshot(interleaved(), [5] * 10 + [7] * 10, scale=True))["questions"]["liked_most"]
    assert mean["score_overall"] == {"question": "nps", "measure": "mean", "value": 6.0, "n": 20}


def test_non_english_answers_are_set_aside_not_themed() -> None:
    texts = interleaved() + SPANISH
    q = extract_themes(snapshot(texts), n_themes=6)["questions"]["liked_most"]
    assert q["n"] == 20
    assert q["set_aside"] == {"count": 3, "reasons": {"unsupported_language": 3, "no_words": 0},
                              "languages": {"es": 3}}
    quoted = {e["text"] for t in q["themes"] for e in t["examples"]}
    assert not quoted & set(SPANISH)
    assert not any(w in t["keywords"] for t in q["themes"] for w in ("precios", "envío", "los", "muy"))


def test_placeholders_and_boilerplate_never_become_themes() -> None:
    boiler = "Click expand to view the full review text."
    texts = []
    for i, t in enumerate(interleaved() * 2):
        extra = [f"See http://shop{i}.example.com/p/{i}", f"Thanks @shopper{i}", f"Email a{i}@example.org"]
        texts.append(f"{t}. {extra[i % 3]}\n{boiler}")
    q = extract_themes(snapshot(texts), n_themes=6)["questions"]["liked_most"]
    assert boiler.lower() in q["boilerplate_removed"]
    words = {w for t in q["themes"] for kw in [t["label"], *t["keywords"]] for w in kw.replace("/", " ").split()}
    assert not words & {"http", "https", "www", "com", "link", "user", "email", "click", "expand", "example",
                        "[link]", "@user", "[email]"}
    assert not any("click expand" in e["text"].lower() for t in q["themes"] for e in t["examples"])
    assert "@shopper" not in json.dumps(q) and "example.org" not in json.dumps(q)  # cleaned before quoting


def test_quotes_are_not_the_shortest_answers() -> None:
    short = ["Fast delivery.", "Quick parcel.", "Fast courier."] * 3
    long = [
        "The delivery was really fast and my parcel arrived a whole day earlier than promised",
        "My parcel came the next morning, the quickest delivery I have had from any shop",
        "Delivery was quick and the courier even called ahead to say the parcel was on its way",
        "I was surprised how fast the parcel arrived, delivery took less than two days",
        "Speedy delivery again this time, the parcel was at my door before I expected it",
        "Quick delivery and the courier left the parcel safely with my neighbour as asked",
    ]
    texts = short + long + PRICING
    q = extract_themes(snapshot(texts), n_themes=2)["questions"]["liked_most"]
    delivery = [t for t in q["themes"] if topic(t) == "delivery"]
    assert len(delivery) == 1 and delivery[0]["count"] >= 12  # the short answers are in the theme too
    # The short answers are as central, but an answer of 8-60 words says more: those are quoted.
    assert all(e["text"] in long for t in delivery for e in t["examples"])


def test_answers_without_content_are_unassigned_or_set_aside() -> None:
    texts = interleaved() * 2 + ["?", "...", "12345"]
    q = extract_themes(snapshot(texts), n_themes=4)["questions"]["liked_most"]
    assert q["set_aside"]["reasons"]["no_words"] == 3 and q["n"] == 40
    assert sum(t["count"] for t in q["themes"]) + q["unassigned"] >= q["n"]


def test_too_few_answers_gives_a_note_not_an_error() -> None:
    result = extract_themes(snapshot([*DELIVERY[:8], PRICING[0], "", "  "]), n_themes=6)
    q = result["questions"]["liked_most"]
    assert q["n"] == 9 and q["themes"] == []
    assert "too few answers" in q["note"] and "10" in q["note"]
    unanswered = result["questions"]["improve"]
    assert unanswered["n"] == 0 and unanswered["themes"] == [] and unanswered["note"]


def test_identical_answers_give_a_note() -> None:
    q = extract_themes(snapshot(["Great service"] * 15), n_themes=3)["questions"]["liked_most"]
    assert q["themes"] == [] and "same text" in q["note"]


def test_example_texts_are_distinct() -> None:
    texts = ["Fast delivery of my parcel, it came a day early"] * 10 + ["Cheap prices and great value for money"] * 10
    q = extract_themes(snapshot(texts), n_themes=3)["questions"]["liked_most"]
    assert len(q["themes"]) == 2
    for theme in q["themes"]:
        assert len(theme["examples"]) == 1 and theme["count"] == 10


def test_deterministic() -> None:
    texts = interleaved() + [f"{t} and the app is easy to use" for t in DELIVERY]
    first = json.dumps(extract_themes(snapshot(texts), n_themes=4), sort_keys=True, allow_nan=False)
    second = json.dumps(extract_themes(snapshot(list(texts)), n_themes=4), sort_keys=True, allow_nan=False)
    assert first == second


def test_no_quotes_when_examples_is_zero() -> None:
    q = extract_themes(snapshot(interleaved()), n_themes=3, examples=0)["questions"]["liked_most"]
    assert q["themes"] and all(t["examples"] == [] for t in q["themes"])
