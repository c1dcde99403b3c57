"""Themes per segment: each segment's share of answers mentioning each theme, tested across segments (real
MiniLM embeddings through the shared cache)."""

from __future__ import annotations

from typing import Any

import pytest
from scipy import stats

from tests.unit.test_analysis_themes import DELIVERY, PRICING
from workbench.analysis.segment_report import SegmentError
from workbench.analysis.themes import extract_themes
from workbench.components.catalog import ThemesResult
from workbench.surveys.schema import Snapshot


def snapshot(rows: list[tuple[str, str]], segments: list[str] | None = None) -> Snapshot:
    return Snapshot.model_validate({
        "survey": {"id": "s", "title": "T", "segments": segments or [], "questions": [
            {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
            {"key": "liked_most", "type": "text", "text": "What did you like most?"}]},
        "responses": [{"respondent_id": f"r{i}", "answers": {"plan": plan, "liked_most": text}}
                      for i, (plan, text) in enumerate(rows)],
    })


def test_theme_shares_per_declared_segment_with_a_test_scipy_agrees_with() -> None:
    # Free writes about delivery, Pro about prices (and a little about delivery)
    rows = [("Free", t) for t in DELIVERY] + [("Pro", t) for t in PRICING] + [("Pro", t) for t in DELIVERY[:2]]
    result = extract_themes(snapshot(rows, segments=["plan"]), n_themes=4)
    ThemesResult.model_validate(result)
    by = result["by_segment"]
    assert (by["segment_by"], by["source"]) == (["plan"], "declared")
    [breakdown] = by["breakdowns"]
    [item] = breakdown["questions"]
    assert item["segments"] == [{"segment": "Free", "n": 10}, {"segment": "Pro", "n": 12}]
    themes = {t["label"]: t for t in item["themes"]}
    question = result["questions"]["liked_most"]
    assert [t["label"] for t in question["themes"]] == list(themes)
    for theme in question["themes"]:  # the per-segment counts add up to the theme's count
        assert sum(themes[theme["label"]]["counts"]) == theme["count"]
    delivery = next(t for t in item["themes"] if t["counts"][0] == 10)
    assert delivery["shares"][0] == 1.0 and delivery["shares"][1] == round(delivery["counts"][1] / 12, 4)
    table = [[delivery["counts"][0], 0], [delivery["counts"][1], 12 - delivery["counts"][1]]]
    _, p = stats.fisher_exact(table)  # a sparse 2x2: Fisher, as the component does
    assert delivery["test"]["test"] == "fisher" and delivery["test"]["p"] == pytest.approx(p, rel=1e-5)
    assert delivery["finding"] and "among plan Free (100%)" in delivery["finding"]
    assert delivery["finding"] in by["findings"]


def test_no_segments_no_breakdown_and_a_bad_segment_by_fails_first() -> None:
    rows: list[Any] = [("Free", t) for t in DELIVERY + PRICING]
    assert extract_themes(snapshot(rows), n_themes=2)["by_segment"]["breakdowns"] == []
    with pytest.raises(SegmentError, match="is a text question"):
        extract_themes(snapshot(rows), segment_by=["liked_most"])
