"""Themes on real survey text: a seeded sample of 1,500 clothing reviews and OSMI's free-text answers.

At most 20% of the answers may be left without a theme; labels and keywords never contain the cleaning
placeholders or URL debris; quotes are not the shortest answers; shares and intervals are consistent.
(Embeddings come from the shared on-disk cache, `WORKBENCH_EMBEDDING_CACHE`.)
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.datasets import OSMI, REVIEWS, require
from workbench.text.evaluate_themes import evaluate_themes, load_answers
from workbench.text.themes import find_themes

FORBIDDEN = {"link", "user", "email", "phone", "http", "https", "www", "com", "[link]", "@user", "[email]",
             "[phone]"}
OSMI_COLUMNS = ("Why or why not?", "Why or why not?.1")


def words_of(rows: list[dict[str, Any]]) -> set[str]:
    return {w for r in rows for kw in [r["label"], *r["keywords"]] for w in kw.replace(" / ", " ").split()}


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    texts, _ = load_answers(require(REVIEWS), "Review Text")
    # The seeded sample `workbench eval themes --limit` draws (its first 1,500 rows), so the cache is shared.
    return [texts[i] for i in sorted(random.Random(0).sample(range(len(texts)), 1500))]


@pytest.fixture(scope="module")
def review_figures(reviews: list[str]) -> dict[str, Any]:
    return evaluate_themes(reviews, max_themes=6)


def test_reviews_coverage(review_figures: dict[str, Any]) -> None:
    assert review_figures["n"] >= 1490 and review_figures["themes"] >= 3
    assert review_figures["unassigned_share"] <= 0.2
    assert review_figures["coverage"] == round(1 - review_figures["unassigned_share"], 4)


def test_reviews_labels_shares_and_intervals(review_figures: dict[str, Any]) -> None:
    rows = review_figures["per_theme"]
    assert not words_of(rows) & FORBIDDEN
    labels = [r["label"] for r in rows]
    assert len(set(labels)) == len(labels)
    for r in rows:
        assert 0 < r["share"] <= 1 and r["share_ci"][0] <= r["share"] <= r["share_ci"][1]
        assert r["share_ci"][1] - r["share_ci"][0] < 0.06  # n = 1,500: a few points wide at most
    assert any("size" in words_of([r]) or "fit" in words_of([r]) for r in rows)  # what clothing reviews discuss


def test_reviews_quotes_are_not_the_shortest_answers(reviews: list[str]) -> None:
    model = find_themes(reviews[:600], max_themes=6)
    lengths = sorted(len(t.split()) for t in reviews[:600])
    quoted = [len(reviews[a].split()) for theme in model.themes for a in theme.quotes]
    assert len(quoted) == 3 * len(model.themes)
    # Plenty of reviews have 8-60 words, so quotes come from those: never a two-word answer, and on average
    # longer than a quarter of all reviews (the old engine quoted the shortest answers it could find).
    assert all(8 <= w <= 60 for w in quoted)
    assert sum(quoted) / len(quoted) > lengths[len(lengths) // 4]


@pytest.mark.parametrize("column", OSMI_COLUMNS)
def test_osmi_free_text_coverage(column: str) -> None:
    texts, _ = load_answers(require(OSMI), column)
    figures = evaluate_themes(texts, max_themes=6)
    assert figures["n"] > 900 and figures["themes"] >= 3
    assert figures["unassigned_share"] <= 0.2
    assert not words_of(figures["per_theme"]) & FORBIDDEN
