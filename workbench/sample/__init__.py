"""A deterministic, realistic sample survey ("Acme Cloud customer feedback 2026") in the snapshot format.

The bundled `notebooks/data/sample_survey.json` is produced by this module, so analysts and tests get the
same data:

    python -m workbench.sample --out notebooks/data/sample_survey.json --seed 7 --n 2000

Answers are correlated the way real feedback is: the plan shifts a latent "happiness", which drives the
ratings, the NPS score and the tone of the free text. Text is assembled from phrase fragments grouped by
theme (pricing, performance, support, ...) so the theme and sentiment components have something to find.
Those tables live in `workbench.sample.data`; this module draws from them.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from workbench.sample.data import (
    ANGRY_CLOSERS,
    ANGRY_OPENERS,
    BUT_CLOSERS,
    COMPLAINTS,
    FEATURE_USE,
    FEATURES,
    LUKEWARM,
    MILD_OPENERS,
    ODD_ANSWERS,
    PLAN_MOOD,
    PLAN_WEIGHTS,
    PLANS,
    PRAISE,
    PRAISE_CLOSERS,
    PRAISE_OPENERS,
    QUESTION_ORDER,
    QUESTIONS,
    SEGMENTS,
    THEME_WEIGHTS,
    THEMES,
    UNSAFE_ANSWERS,
)
from workbench.surveys.schema import Snapshot

TITLE = "Acme Cloud customer feedback 2026"
DEFAULT_SEED = 7
DEFAULT_N = 2000
INCOMPLETE_SHARE = 0.08
FIELDWORK_START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday: the invitation e-mail goes out
REMINDER_DAY = 14  # the reminder e-mail, two weeks later
FIELDWORK_DAYS = 40


class _Sampler:
    """Small helpers over one numpy Generator; every draw goes through it, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, items: list[str], weights: list[float] | None = None) -> str:
        p = None if weights is None else np.asarray(weights) / np.sum(weights)
        return items[int(self.rng.choice(len(items), p=p))]

    def normal(self, loc: float = 0.0, scale: float = 1.0) -> float:
        return float(self.rng.normal(loc, scale))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _blank(s: _Sampler) -> str | None:
    # Web forms mostly omit skipped fields, but some send an empty or whitespace-only string.
    r = s.rng.random()
    return None if r < 0.85 else ("" if r < 0.95 else "  ")


def _liked_most(s: _Sampler, plan: str, nps: int) -> str | None:
    if s.chance(0.22 if nps <= 6 else 0.12):
        return _blank(s)
    if nps <= 6 and s.chance(0.6):
        return s.pick(LUKEWARM)
    theme = s.pick(THEMES, THEME_WEIGHTS[plan])
    first = s.pick(PRAISE[theme])
    text = s.pick(PRAISE_OPENERS) + first
    if nps >= 9 and s.chance(0.35):
        second = s.pick(PRAISE[s.pick(THEMES, THEME_WEIGHTS[plan])])
        text += "" if second == first else ", and " + second
    if nps <= 8 and s.chance(0.4):
        return _sentence(text) + s.pick(BUT_CLOSERS)
    return _sentence(text) + s.pick(PRAISE_CLOSERS)


def _improve(s: _Sampler, plan: str, nps: int) -> str | None:
    if s.chance(0.22 if nps >= 9 else 0.11):
        return _blank(s)
    if nps >= 9 and s.chance(0.15):
        return s.pick(["Nothing, keep doing what you're doing.", "Can't think of anything.", "All good!"])
    theme = s.pick(THEMES, THEME_WEIGHTS[plan])
    if nps >= 9:
        return _sentence(s.pick(MILD_OPENERS) + s.pick(COMPLAINTS[theme])) + "."
    if nps >= 7:
        return _sentence(s.pick(COMPLAINTS[theme])) + "."
    # Detractors write more, and louder; outages and slowness dominate their complaints.
    if s.chance(0.4):
        theme = s.pick(["reliability", "performance", "pricing"])
    first = s.pick(COMPLAINTS[theme])
    text = _sentence(s.pick(ANGRY_OPENERS) + first)
    if s.chance(0.45):
        second = s.pick(COMPLAINTS[s.pick(THEMES, THEME_WEIGHTS[plan])])
        text += "" if second == first else ". Also, " + second
    return text + s.pick(ANGRY_CLOSERS)


def _clip(value: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(value))))


def _answers(s: _Sampler) -> dict[str, Any]:
    """All answers of one respondent who finishes (skips included); the caller truncates drop-outs."""
    plan = s.pick(PLANS, PLAN_WEIGHTS)
    mood = PLAN_MOOD[plan] + s.normal()
    satisfaction = _clip(3.7 + 0.85 * mood + s.normal(0, 0.45), 1, 5)
    nps = _clip(8.3 + 1.3 * mood + 0.5 * (satisfaction - 3.7) + s.normal(0, 1.0), 0, 10)
    support = _clip(3.8 + 0.45 * mood + (0.3 if plan == "Enterprise" else 0.0) + s.normal(0, 0.8), 1, 5)
    features = [f for f, p in zip(FEATURES, FEATURE_USE[plan], strict=True) if s.chance(p)]
    answers: dict[str, Any] = {
        "nps": nps,
        "satisfaction": None if s.chance(0.03) else satisfaction,
        # Many customers never contacted support and skip this one.
        "support_rating": None if s.chance(0.14) else support,
        "plan": None if s.chance(0.02) else plan,
        "features_used": None if (not features or s.chance(0.04)) else features,
        "liked_most": _liked_most(s, plan, nps),
        "improve": _improve(s, plan, nps),
    }
    return {k: v for k, v in answers.items() if v is not None}


def _timing(s: _Sampler, answers: dict[str, Any]) -> tuple[datetime, float]:
    """When the respondent started (two e-mail waves plus a trickle), and how long they took in seconds."""
    wave = s.rng.random()
    if wave < 0.55:
        day = s.rng.exponential(2.5)
    elif wave < 0.85:
        day = REMINDER_DAY + s.rng.exponential(2.0)
    else:
        day = s.rng.uniform(0, FIELDWORK_DAYS)
    day = int(min(day, FIELDWORK_DAYS - 1))
    if (FIELDWORK_START + timedelta(days=day)).weekday() >= 5 and s.chance(0.6):
        day = min(day + 2, FIELDWORK_DAYS - 1)  # fewer people answer at weekends
    hour = (s.normal(13.5, 3.5)) % 24  # mostly European/US-east office hours, in UTC
    started = FIELDWORK_START.replace(hour=0) + timedelta(days=day, seconds=int(hour * 3600))
    if started < FIELDWORK_START:
        started += timedelta(hours=12)  # nobody answers before the invitation went out
    words = sum(len(str(answers.get(k) or "").split()) for k in ("liked_most", "improve"))
    seconds = float(s.rng.lognormal(np.log(95), 0.45)) + 3.0 * words
    if s.chance(0.012):
        seconds += s.rng.uniform(1800, 3 * 3600)  # left the tab open
    return started, max(25.0, seconds)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_sample(seed: int = DEFAULT_SEED, n: int = DEFAULT_N) -> dict[str, Any]:
    """Return the sample snapshot (a JSON-able dict) with `n` responses; the same seed gives the same data."""
    s = _Sampler(seed)
    rows: list[tuple[datetime, float | None, dict[str, Any]]] = []
    # An exact share of drop-outs, so the headline completion rate does not wander with the seed.
    dropouts = {int(i) for i in s.rng.choice(n, size=round(n * INCOMPLETE_SHARE), replace=False)}
    for i in range(n):
        answers = _answers(s)
        started, seconds = _timing(s, answers)
        if i in dropouts:
            # Drop-outs answer the first few questions only.
            reached = int(s.rng.choice(len(QUESTION_ORDER), p=[0.1, 0.25, 0.2, 0.15, 0.1, 0.15, 0.05]))
            answers = {k: v for k, v in answers.items() if QUESTION_ORDER.index(k) < reached}
            rows.append((started, None, answers))
        else:
            rows.append((started, seconds, answers))
    rows.sort(key=lambda row: row[0])
    _plant_special_answers(s, [answers for _, seconds, answers in rows if seconds is not None])
    responses = [
        {
            "respondent_id": f"resp-{i + 1:05d}",
            "started_at": _iso(started),
            "completed_at": None if seconds is None else _iso(started + timedelta(seconds=round(seconds))),
            "answers": answers,
        }
        for i, (started, seconds, answers) in enumerate(rows)
    ]
    survey = {
        "id": "sample",
        "title": TITLE,
        "description": "Relationship survey e-mailed to all active Acme Cloud accounts in March 2026 "
        "(generated sample data).",
        "questions": QUESTIONS,
        "segments": SEGMENTS,
    }
    return {"survey": survey, "responses": responses}


def _plant_special_answers(s: _Sampler, completed: list[dict[str, Any]]) -> None:
    """Answers are untrusted: make sure the sample holds markup, entities, quotes, emoji and newlines."""
    if not completed:
        return
    for key, text in UNSAFE_ANSWERS.items():
        completed[int(s.rng.integers(len(completed)))][key] = text
    for text in ODD_ANSWERS:
        completed[int(s.rng.integers(len(completed)))]["liked_most"] = text


def dumps_snapshot(data: dict[str, Any]) -> str:
    """Serialise compactly with one response per line, so the bundled file diffs well."""
    head = json.dumps({"survey": data["survey"]}, ensure_ascii=False)[:-1]
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in data["responses"]]
    return head + ',\n"responses": [\n' + ",\n".join(lines) + "\n]}\n"


def main(argv: list[str] | None = None) -> None:
    """Write the sample snapshot file (`--out`, `--seed`, `--n`); `python -m workbench.sample` runs this.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).
    """
    parser = argparse.ArgumentParser(description="Write the deterministic sample survey snapshot.")
    parser.add_argument("--out", type=Path, default=Path("notebooks/data/sample_survey.json"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--n", type=int, default=DEFAULT_N)
    args = parser.parse_args(argv)
    data = generate_sample(args.seed, args.n)
    Snapshot.model_validate(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps_snapshot(data), encoding="utf-8")
    print(f"wrote {len(data['responses'])} responses to {args.out}")
