"""The sample survey's fixed tables: its questions and options, how each plan tends to answer, and the phrase
fragments the free-text answers are assembled from (grouped by theme, in praise and complaint).

Order matters: the generator draws from these lists by index, so reordering or editing them changes the
generated data (and the bundled `notebooks/data/sample_survey.json` must then be regenerated).
"""

from __future__ import annotations

from typing import Any

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
    {"key": "satisfaction", "type": "scale", "min": 1, "max": 5,
     "labels": {"1": "Very dissatisfied", "5": "Very satisfied"},
     "text": "Overall, how satisfied are you with Acme Cloud?"},
    {"key": "support_rating", "type": "scale", "min": 1, "max": 5, "labels": {"1": "Very poor", "5": "Excellent"},
     "text": "How would you rate our customer support?"},
    {"key": "plan", "type": "single_choice", "text": "Which plan are you on?", "options": PLANS},
    {"key": "features_used", "type": "multi_choice", "text": "Which features do you use regularly?",
     "options": FEATURES},
    {"key": "liked_most", "type": "text", "text": "What do you like most about Acme Cloud?"},
    {"key": "improve", "type": "text", "text": "What is the one thing we should improve?"},
]
QUESTION_ORDER = [q["key"] for q in QUESTIONS]
# The declared segment question: reports compare every other answer across plans unless told otherwise.
SEGMENTS = ["plan"]

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
