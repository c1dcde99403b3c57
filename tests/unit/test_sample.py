"""The generated sample survey: deterministic, valid, realistic, and identical to the bundled file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.sample import QUESTION_ORDER, TITLE, dumps_snapshot, generate_sample, main
from workbench.surveys.schema import Snapshot

BUNDLED = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "sample_survey.json"


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return generate_sample()


def _completed(sample: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in sample["responses"] if r["completed_at"] is not None]


def test_deterministic_for_a_seed_and_different_for_another(sample: dict[str, Any]) -> None:
    assert generate_sample(7, 2000) == sample
    assert generate_sample(8, 2000) != sample
    assert generate_sample(3, 50) == generate_sample(3, 50)


def test_validates_as_snapshot_with_the_expected_shape(sample: dict[str, Any]) -> None:
    snap = Snapshot.model_validate(sample)
    assert snap.survey.id == "sample" and snap.survey.title == TITLE == "Acme Cloud customer feedback 2026"
    assert [q.key for q in snap.survey.questions] == [
        "nps", "satisfaction", "support_rating", "plan", "features_used", "liked_most", "improve",
    ]
    assert snap.survey.question("plan").options == ["Free", "Starter", "Pro", "Enterprise"]
    assert snap.survey.segments == ["plan"]  # reports compare respondents by plan by default
    assert len(snap.survey.question("features_used").options) == 6
    assert len(snap.responses) == 2000
    assert all(r.started_at.year == 2026 and r.started_at.utcoffset().total_seconds() == 0 for r in snap.responses)
    assert all(r.completed_at is None or r.completed_at > r.started_at for r in snap.responses)
    assert len({r.respondent_id for r in snap.responses}) == 2000


def test_small_samples_validate() -> None:
    for n in (0, 1, 10):
        assert len(Snapshot.model_validate(generate_sample(1, n)).responses) == n


def test_about_eight_percent_incomplete_with_later_questions_missing(sample: dict[str, Any]) -> None:
    incomplete = [r for r in sample["responses"] if r["completed_at"] is None]
    assert 0.07 <= len(incomplete) / len(sample["responses"]) <= 0.09
    # Drop-outs stop early: nobody who quit reached the last question, and some quit at the first.
    assert not any("improve" in r["answers"] for r in incomplete)
    assert any(not r["answers"] for r in incomplete)
    for r in incomplete:
        positions = [QUESTION_ORDER.index(k) for k in r["answers"]]
        assert positions == sorted(positions)


def test_realistic_blanks_and_skips(sample: dict[str, Any]) -> None:
    completed = _completed(sample)
    for key in ("liked_most", "improve"):
        blank = sum(1 for r in completed if not str(r["answers"].get(key) or "").strip())
        assert 0.10 <= blank / len(completed) <= 0.20, key
    # Some blanks arrive as empty strings, as web forms send them.
    assert any(r["answers"].get("improve") == "" for r in completed)
    assert 0.05 < sum("support_rating" not in r["answers"] for r in completed) / len(completed) < 0.25


def test_answers_are_correlated(sample: dict[str, Any]) -> None:
    rows = [r["answers"] for r in sample["responses"]]
    pairs = np.array([(a["nps"], a["satisfaction"]) for a in rows if "nps" in a and "satisfaction" in a])
    assert np.corrcoef(pairs.T)[0, 1] > 0.5

    def mean_satisfaction(plan: str) -> float:
        return float(np.mean([a["satisfaction"] for a in rows if a.get("plan") == plan and "satisfaction" in a]))

    assert mean_satisfaction("Enterprise") > mean_satisfaction("Pro") > mean_satisfaction("Free")


def test_text_tone_follows_nps(sample: dict[str, Any]) -> None:
    rows = [r["answers"] for r in sample["responses"] if "improve" in r["answers"]]
    angry = ("Very frustrating", "Not happy", "considering switching", "needs to be fixed")

    def angry_share(group: list[dict[str, Any]]) -> float:
        return sum(any(w in a["improve"] for w in angry) for a in group) / len(group)

    assert angry_share([a for a in rows if a["nps"] <= 6]) > 0.2
    assert angry_share([a for a in rows if a["nps"] >= 9]) == 0.0


def test_free_text_is_varied_and_covers_themes(sample: dict[str, Any]) -> None:
    texts = [r["answers"][k] for r in sample["responses"] for k in ("liked_most", "improve") if r["answers"].get(k)]
    assert len(set(texts)) > 500
    joined = " ".join(texts).lower()
    for word in ("price", "slow", "support", "docs", "ui", "outage", "integration"):
        assert word in joined, word


def test_contains_untrusted_markup(sample: dict[str, Any]) -> None:
    texts = [v for r in sample["responses"] for v in r["answers"].values() if isinstance(v, str)]
    assert any('<script>alert("x")</script>' in t for t in texts)
    assert any("&amp;" in t and '"' in t for t in texts)


def test_bundled_file_is_the_default_sample(sample: dict[str, Any]) -> None:
    assert BUNDLED.stat().st_size < 1_500_000
    assert json.loads(BUNDLED.read_text(encoding="utf-8")) == sample
    assert BUNDLED.read_text(encoding="utf-8") == dumps_snapshot(sample)


def test_cli_writes_a_valid_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "data" / "s.json"
    main(["--out", str(out), "--seed", "11", "--n", "25"])
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == generate_sample(11, 25)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 25 + 3  # one response per line
