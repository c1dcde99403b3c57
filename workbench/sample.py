"""A deterministic, realistic sample survey ("Acme Cloud customer feedback 2026") in the snapshot format.

The bundled `notebooks/data/sample_survey.json` is produced by this module, so analysts and tests get the
same data:

    python -m workbench.sample --out notebooks/data/sample_survey.json --seed 7 --n 2000

Answers are correlated the way real feedback is: the plan shifts a latent "happiness", which drives the
ratings, the NPS score and the tone of the free text. Text is assembled from phrase fragments grouped by
theme (pricing, performance, support, ...) so the theme and sentiment components have something to find.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from workbench.surveys.schema import Snapshot

TITLE = "Acme Cloud customer feedback 2026"
DEFAULT_SEED = 7
DEFAULT_N = 2000
INCOMPLETE_SHARE = 0.08
FIELDWORK_START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday: the invitation e-mail goes out
REMINDER_DAY = 14  # the reminder e-mail, two weeks later
FIELDWORK_DAYS = 40

PLANS = ["Free", "Starter", "Pro", "Enterprise"]
PLAN_WEIGHTS = [0.34, 0.30, 0.26, 0.10]
# Paying customers are somewhat happier on average; Free users see the limits most.
PLAN_MOOD = {"Free": -0.35, "Starter": -0.05, "Pro": 0.2, "Enterprise": 0.35}
FEATURES = ["Dashboards", "Alerts", "REST API", "Integrations", "Team workspaces", "Single sign-on (SSO)"]
# Chance of using each feature, per plan (same order as FEATURES).
FEATURE_USE = {
    "Free": [0.75, 0.35, 0.20, 0.15, 0.05, 0.00],
    "Starter": [0.80, 0.55, 0.35, 0.30, 0.30, 0.02],
    "Pro": [0.85, 0.70, 0.55, 0.50, 0.60, 0.15],
    "Enterprise": [0.85, 0.80, 0.70, 0.65, 0.75, 0.80],
}

QUESTIONS: list[dict[str, Any]] = [
    {"key": "nps", "type": "nps", "required": True,
     "text": "How likely are you to recommend Acme Cloud to a friend or colleague?"},
    {"key": "satisfaction", "type": "rating", "text": "Overall, how satisfied are you with Acme Cloud?"},
    {"key": "support_rating", "type": "rating", "text": "How would you rate our customer support?"},
    {"key": "plan", "type": "single_choice", "text": "Which plan are you on?", "options": PLANS},
    {"key": "features_used", "type": "multi_choice", "text": "Which features do you use regularly?",
     "options": FEATURES},
    {"key": "liked_most", "type": "text", "text": "What do you like most about Acme Cloud?"},
    {"key": "improve", "type": "text", "text": "What is the one thing we should improve?"},
]
QUESTION_ORDER = [q["key"] for q in QUESTIONS]

THEMES = ["pricing", "performance", "support", "documentation", "usability", "reliability", "integrations"]
PRAISE: dict[str, list[str]] = {
    "pricing": ["the pricing is fair for what you get", "the free tier is generous", "it's good value for money",
                "the monthly bill is predictable", "pricing is transparent, no surprises"],
    "performance": ["it's really fast", "deploys finish in seconds", "the dashboards load instantly",
                    "performance has been excellent", "queries are snappy even on big data sets"],
    "support": ["support is quick and friendly", "the support team actually solves problems",
                "I got a reply from support within an hour", "our account manager is great",
                "the support chat is super helpful"],
    "documentation": ["the docs are clear", "the documentation and examples are great",
                      "the getting started guide had us running in a day", "the API reference is thorough"],
    "usability": ["the UI is clean and easy to use", "the interface is intuitive",
                  "the dashboard is easy to navigate", "dark mode looks great", "setup was painless"],
    "reliability": ["it just works", "uptime has been rock solid", "we've had no outages in months",
                    "alerts are reliable", "it's very stable"],
    "integrations": ["the Slack integration works great", "it integrates nicely with GitHub",
                     "the REST API is easy to work with", "the Terraform provider works well",
                     "webhooks make automation easy"],
}
COMPLAINTS: dict[str, list[str]] = {
    "pricing": ["it's too expensive for small teams", "the price jump from Starter to Pro is too steep",
                "the pricing page is confusing", "we got a surprise bill after the last price increase",
                "per-seat pricing is hard to justify", "there should be a cheaper plan for startups"],
    "performance": ["the dashboard is slow to load", "performance degrades with large projects",
                    "builds have gotten slower lately", "search takes forever",
                    "the app feels sluggish in the afternoons (EU time)"],
    "support": ["support takes days to answer", "support kept closing my ticket without a fix",
                "it's hard to reach a human in support", "support answers feel copy-pasted",
                "we need phone support for urgent issues"],
    "documentation": ["the docs are out of date", "the API documentation is missing examples",
                      "it's hard to find anything in the docs", "there should be more tutorials for beginners",
                      "the migration guide was incomplete"],
    "usability": ["the UI is cluttered", "settings are hard to find", "navigation is confusing",
                  "it takes too many clicks to do simple things", "the mobile view is broken",
                  "I can't customise the dashboard"],
    "reliability": ["there have been too many outages recently", "the outage last month cost us a full day",
                    "alerts sometimes don't fire", "we keep getting random 502 errors",
                    "downtime during business hours is not acceptable",
                    "the status page isn't updated during incidents"],
    "integrations": ["we need more integrations, especially Jira and Teams",
                     "the GitHub integration breaks often", "webhooks need retries",
                     "SSO and SCIM support should be better", "the API rate limits are too low"],
}
# Which themes each plan talks about: Free users mention price, Enterprise users support and reliability.
THEME_WEIGHTS = {
    "Free": [0.30, 0.16, 0.06, 0.14, 0.18, 0.10, 0.06],
    "Starter": [0.22, 0.17, 0.11, 0.13, 0.16, 0.12, 0.09],
    "Pro": [0.14, 0.18, 0.15, 0.11, 0.13, 0.15, 0.14],
    "Enterprise": [0.10, 0.14, 0.22, 0.08, 0.08, 0.20, 0.18],
}
PRAISE_OPENERS = ["", "", "", "Honestly, ", "Definitely that ", "Mostly that ", "I love that ",
                  "Really like that ", "Simple: "]
PRAISE_CLOSERS = [".", ".", ".", "!", "", ". Keep it up!", ". Great job, team.", ". Thanks!"]
MILD_OPENERS = ["", "Minor thing: ", "Nothing major, but ", "Small wish: ", "If I had to pick, ",
                "Honestly not much. Maybe "]
ANGRY_OPENERS = ["", "", "Seriously, ", "Honestly, ", "Please fix this: ", "Biggest issue: ",
                 "We are considering switching because "]
ANGRY_CLOSERS = [".", ".", "!", "...", ". This needs to be fixed.", ". Very frustrating.", ". Not happy."]
BUT_CLOSERS = [", but it's not perfect.", ", though there's room to improve.", ", when it works."]
LUKEWARM = ["Not much, to be honest.", "The free tier, I guess.", "Signing up was easy, that's about it.",
            "Hard to say.", "It used to be good.", "The idea is good, the execution isn't there.", "N/A",
            "nothing", "When it works, it works."]
UNSAFE_ANSWERS = {
    "improve": 'Your incident banner showed <script>alert("x")</script> as raw text, please sanitise it',
    "liked_most": 'Docs &amp; support are great, and the "Pro" plan\'s <b>alerts</b> are worth it',
}
ODD_ANSWERS = ["Fast 🚀🚀", "Très rapide, merci !", "Dashboards.\nAlerts.\nThe API.", "👍"]


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


if __name__ == "__main__":
    main()
