"""The summary component's core: template statements over hand-built results, and the number check that guards
a model-written summary."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from workbench.analysis.summary import (
    SummaryError,
    build_summary,
    check_statements,
    cited_value,
    model_prompt,
    result_labels,
    summarize,
)
from workbench.analysis.summary_check import check_numbers, read_numbers
from workbench.components.catalog import SummaryResult

FINDING_MEAN = "Free rates satisfaction lower than Enterprise: 3.4 vs 4.0 (p < 0.001, medium effect)"
FINDING_NPS = "NPS differs by plan: Enterprise +49 vs Free \u22126 (p = 0.0094, small effect)"
FINDING_OPTION = ('"Single sign-on (SSO)" (features used) is chosen by 80% in Enterprise vs 0% in Free '
                  "(p < 0.001, large effect)")


def _score(value: float | None, n: int, measure: str = "nps", question: str = "nps") -> dict[str, Any]:
    return {"question": question, "measure": measure, "value": value, "n": n}


def make_results() -> dict[str, dict[str, Any]]:
    basic = {
        "survey_title": "Acme feedback 2026",
        "response_count": 2000, "completion_known": True, "completed_count": 1840, "completion_rate": 0.92,
        "timed_count": 1840, "avg_completion_seconds": 220.0, "median_completion_seconds": 141.0,
        "nps": {"score": -28.8, "promoters": 200, "passives": 312, "detractors": 488, "n": 1000},
        "questions": {
            "nps": {"kind": "nps", "text": "How likely are you to recommend us?", "n": 1000, "blank": 0,
                    "not_asked": 0, "mean": 6.1},
            "satisfaction": {"kind": "scale", "text": "How satisfied are you?", "n": 950, "blank": 50,
                             "not_asked": 0, "mean": 3.9123, "min": 1, "max": 5},
            "plan": {"kind": "single_choice", "text": "Which plan?", "n": 1900, "blank": 100, "not_asked": 0,
                     "options": [{"option": "Free", "count": 1000, "share": 0.526},
                                 {"option": "Enterprise", "count": 900, "share": 0.474}]},
            "improve": {"kind": "text", "text": "What should we improve?", "n": 1500, "blank": 500,
                        "not_asked": 0},
        },
    }
    sentiment = {
        "engine": "minilm",
        "overall": {"n": 1500, "distribution": {"positive": 1050, "neutral": 150, "negative": 300},
                    "shares": {"positive": 0.7, "neutral": 0.1, "negative": 0.2}, "mean_compound": 0.31},
        "questions": {
            "improve": {"text": "What should we improve?", "n": 1500,
                        "distribution": {"positive": 930, "neutral": 150, "negative": 420},
                        "shares": {"positive": 0.62, "neutral": 0.1, "negative": 0.28}, "mean_compound": 0.2,
                        "top_positive": [{"respondent_id": "r1", "text": "I love the dashboards, truly great"}],
                        "top_negative": [{"respondent_id": "r2", "text": "Pricing went up 40% this year"}]},
        },
    }
    themes = {
        "engine": "embeddings",
        "questions": {
            "improve": {
                "text": "What should we improve?", "n": 1500, "unassigned": 100,
                "score_overall": _score(-28.8, 980),
                "themes": [
                    {"label": "support response", "keywords": ["support", "response"], "share": 0.3,
                     "share_ci": [0.27, 0.33], "count": 450, "score": _score(-10.5, 440),
                     "examples": [{"respondent_id": "r3", "text": "support took 3 days to answer"}]},
                    {"label": "pricing", "keywords": ["price", "expensive"], "share": 0.18,
                     "share_ci": [0.152, 0.21], "count": 270, "score": _score(-52.34, 265), "examples": []},
                    {"label": "speed", "keywords": ["slow", "fast"], "share": 0.1, "share_ci": [0.086, 0.117],
                     "count": 150, "score": _score(-40.0, 148), "examples": []},
                ],
            },
        },
    }
    segments = {
        "segment_by": ["plan"], "source": "declared", "note": None, "alpha": 0.05, "correction": "bh",
        "breakdowns": [{"key": "plan", "text": "Which plan?", "segments": [{"segment": "Free", "n": 1000},
                                                                           {"segment": "Enterprise", "n": 900}]}],
        "findings": [
            {"finding": FINDING_OPTION, "name": "features used", "by": "plan", "question": "features_used",
             "segment_question": "plan", "kind": "option", "option": "Single sign-on (SSO)",
             "segments": ["Enterprise", "Free"], "values": [0.8011, 0.0], "unit": "share", "p": 1e-190,
             "p_adjusted": 6.3e-188, "p_text": "p < 0.001", "effect": {"measure": "cramers_v", "value": 0.72,
                                                                         "label": "large"}},
            {"finding": "another option of the same question", "name": "features used", "by": "plan",
             "question": "features_used", "segment_question": "plan", "kind": "option", "option": "Alerts",
             "segments": ["Enterprise", "Free"], "values": [0.7, 0.2], "unit": "share", "p": 1e-20,
             "p_adjusted": 1e-19, "p_text": "p < 0.001", "effect": {"measure": "cramers_v", "value": 0.6,
                                                                      "label": "large"}},
            {"finding": FINDING_MEAN, "name": "satisfaction", "by": "plan", "question": "satisfaction",
             "segment_question": "plan", "kind": "scale", "segments": ["Free", "Enterprise"],
             "values": [3.3776, 3.967], "unit": "mean", "p": 2.5e-12, "p_adjusted": 5.8e-12, "p_text": "p < 0.001",
             "effect": {"measure": "rank_biserial", "value": -0.33, "label": "medium"}},
            {"finding": FINDING_NPS, "name": "NPS", "by": "plan", "question": "nps", "segment_question": "plan",
             "kind": "nps", "segments": ["Enterprise", "Free"], "values": [49.21, -5.67], "unit": "nps",
             "p": 0.008, "p_adjusted": 0.00935026, "p_text": "p = 0.0094",
             "effect": {"measure": "cramers_v", "value": 0.15, "label": "small"}},
        ],
        "test_count": 40, "comparison_count": 52, "finding_count": 4,
    }
    return {"basic_stats": basic, "sentiment": sentiment, "themes": themes, "segments": segments}


def texts(summary: dict[str, Any], section: str) -> list[str]:
    return [s["text"] for s in summary["statements"] if s["section"] == section]


def assert_grounded(summary: dict[str, Any], results: dict[str, Any]) -> None:
    """Every statement's numbers are among its citations' values, and every citation holds what the result does."""
    labels = result_labels(results)
    for statement in summary["statements"]:
        assert statement["citations"], statement
        assert check_numbers(statement["text"], statement["citations"], labels) == [], statement["text"]
        for citation in statement["citations"]:
            assert citation["value"] == cited_value(results, citation["component"], citation["path"])
        assert not re.search(r"<\s*[a-zA-Z/]", statement["text"])  # plain text, no markup


# --- template statements ----------------------------------------------------------------------------------------

def test_headline_numbers() -> None:
    results = make_results()
    summary = build_summary(results)
    headline = texts(summary, "headline")
    assert headline == [
        "2,000 responses, 1,840 of them completed (92%).",
        "NPS is -28.8: 200 promoters, 312 passives and 488 detractors among 1,000 answers.",
        "Mean satisfaction is 3.9 on a scale from 1 to 5 (950 answers).",
        "Of 1,500 text answers scored for sentiment, 70% are positive, 10% neutral and 20% negative.",
    ]
    nps = next(s for s in summary["statements"] if s["text"].startswith("NPS is"))
    assert nps["citations"][0] == {"component": "basic_stats", "path": "nps.score", "value": -28.8,
                                   "display": "-28.8"}
    assert_grounded(summary, results)
    assert summary["dropped"] == []


def test_strongest_segment_differences_one_per_question() -> None:
    results = make_results()
    segments = texts(build_summary(results), "segments")
    # largest effect first; the second option of features_used is left out for the next question's finding
    assert segments == [FINDING_OPTION + ".", FINDING_MEAN + ".", FINDING_NPS + "."]
    statement = build_summary(results)["statements"][4]
    assert [c["path"] for c in statement["citations"]] == ["findings.0.values.0", "findings.0.values.1",
                                                          "findings.0.p_adjusted"]


def test_a_finding_sentence_the_check_cannot_read_is_said_in_our_own_words() -> None:
    results = make_results()
    results["segments"]["findings"] = [dict(results["segments"]["findings"][2],
                                            finding="Free rates satisfaction lower: 3.4 vs 4.0 vs 7.7 (p < 0.001)")]
    assert texts(build_summary(results), "segments") == [
        "Satisfaction differs by plan: Free 3.4 vs Enterprise 4.0 (significant after correction, medium effect)."]


def test_no_finding_says_so_with_the_number_of_comparisons() -> None:
    results = make_results()
    results["segments"]["findings"] = []
    assert texts(build_summary(results), "segments") == [
        "No segment difference stands out: none of the 52 comparisons is significant with at least a small effect."]


def test_themes_behind_detractors_lowest_score_first() -> None:
    results = make_results()
    summary = build_summary(results)
    themes = texts(summary, "themes")
    assert themes == [
        'In improve, respondents writing about "pricing" (18% of the answers, interval 15% to 21%) '
        "give an NPS of -52.3 (265 of them scored), below the -28.8 of everyone who answered.",
        'In improve, respondents writing about "speed" (10% of the answers, interval 9% to 12%) '
        "give an NPS of -40.0 (148 of them scored), below the -28.8 of everyone who answered.",
    ]  # "support response" (-10.5) scores above the question's -28.8: not behind detractors
    assert_grounded(summary, results)


def test_themes_scored_over_few_respondents_are_left_out() -> None:
    results = make_results()
    results["themes"]["questions"]["improve"]["themes"][1]["score"]["n"] = 9
    assert [t.split('"')[1] for t in texts(build_summary(results), "themes")] == ["speed"]


def test_the_prompt_survives_redaction_unchanged() -> None:
    from workbench.text.redact import redact

    results = make_results()
    finding = results["segments"]["findings"][3]
    finding.update(p_adjusted=0.00262336, p_text="p = 0.0026",  # 9 digits would read as a phone number
                   finding=finding["finding"].replace("p = 0.0094", "p = 0.0026"))
    prompt = model_prompt(build_summary(results)["statements"])
    assert "0.002623" in prompt and redact(prompt) == prompt
    assert "I love the dashboards" not in prompt and "support took 3 days" not in prompt


def test_a_mean_score_theme_names_the_scored_question() -> None:
    results = make_results()
    question = results["themes"]["questions"]["improve"]
    question["score_overall"] = _score(3.9, 900, "mean", "satisfaction")
    for theme, value in zip(question["themes"], [4.2, 2.1, None], strict=True):
        theme["score"] = _score(value, 100, "mean", "satisfaction")
    summary = build_summary(results)
    (statement,) = texts(summary, "themes")
    assert "give a mean satisfaction of 2.1 (100 of them scored), below the 3.9 of everyone" in statement
    assert_grounded(summary, results)
    # 2.1 is below the 1..5 scale's midpoint and improve is mostly positive: a contradiction too
    assert any("pricing" in t and "2.1" in t for t in texts(summary, "contradictions"))


def test_contradiction_negative_nps_with_mostly_positive_text() -> None:
    results = make_results()
    summary = build_summary(results)
    contradictions = texts(summary, "contradictions")
    assert contradictions[0] == ("NPS is -28.8 (more detractors than promoters), yet 70% of the text answers are "
                                 "positive.")
    assert contradictions[1] == ('Answers to improve are mostly positive (62%), yet respondents writing about '
                                 '"pricing" give an NPS of -52.3, below the -28.8 of everyone who answered.')
    assert len(contradictions) == 2
    assert_grounded(summary, results)


def test_contradiction_high_nps_with_many_negative_answers() -> None:
    results = make_results()
    results["basic_stats"]["nps"].update(score=34.0, promoters=500, detractors=160, passives=340)
    results["sentiment"]["overall"]["shares"] = {"positive": 0.4, "neutral": 0.15, "negative": 0.45}
    summary = build_summary(results)
    assert "NPS is +34.0, yet 45% of the text answers are negative." in texts(summary, "contradictions")
    assert not any("more detractors" in t for t in texts(summary, "contradictions"))
    assert_grounded(summary, results)


def test_contradiction_satisfied_scale_with_negative_sentiment() -> None:
    results = make_results()
    results["sentiment"]["overall"]["mean_compound"] = -0.254
    summary = build_summary(results)
    assert ("Mean satisfaction is 3.9 on a scale from 1 to 5, yet the mean sentiment of the text answers is negative "
            "(-0.25).") in texts(summary, "contradictions")
    assert_grounded(summary, results)
    results["sentiment"]["overall"]["mean_compound"] = -0.05  # within the margin: no contradiction
    assert not any("mean sentiment" in t for t in texts(build_summary(results), "contradictions"))


def test_no_statement_rests_on_a_missing_source() -> None:
    results = make_results()
    del results["sentiment"]
    summary = build_summary(results)
    assert all(c["component"] != "sentiment" for s in summary["statements"] for c in s["citations"])
    assert not any("positive" in s["text"] for s in summary["statements"])
    assert summary["sources"]["sentiment"] == {"available": False, "statements": 0,
                                               "note": "no result: no statement rests on it"}
    assert summary["sources"]["basic_stats"]["available"] and summary["sources"]["basic_stats"]["statements"] == 3

    only_segments = build_summary({"segments": make_results()["segments"]})
    assert {s["section"] for s in only_segments["statements"]} == {"segments"}
    assert build_summary({})["statements"] == []


def test_old_themes_results_without_scores_are_skipped() -> None:
    results = make_results()
    question = results["themes"]["questions"]["improve"]
    del question["score_overall"]
    for theme in question["themes"]:
        del theme["score"], theme["share_ci"]
    summary = build_summary(results)
    assert texts(summary, "themes") == []
    assert not any("writing about" in t for t in texts(summary, "contradictions"))
    assert "no theme scores" in summary["sources"]["themes"]["note"]


def test_the_result_validates_against_the_component_model() -> None:
    SummaryResult.model_validate(summarize(make_results(), engine="template"))
    SummaryResult.model_validate(summarize({}, engine="template"))


# --- the number check ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "facts"), [
    ("NPS is 25.6", [25.63]),
    ("NPS is +26", [25.63]),
    ("NPS is \u221228.8", [-28.81]),
    ("NPS is -28.8", [-28.8]),
    ("70.3% are positive", [0.703]),
    ("70% are positive", [0.703]),
    ("70.3 percent are positive", [0.703]),
    ("a share of 0.70", [0.703]),
    ("2,000 responses", [2000]),
    ("2000 responses", [2000.0]),
    ("p < 0.001", [6.3e-188]),
    ("p = 0.0094", [0.00935026]),
    ("the 1st and 2nd themes of MiniLM-L6 in top2_box", []),
    ("Acme feedback 2026 says 12", [12]),
])
def test_matching_numbers_pass(text: str, facts: list[float]) -> None:
    assert check_numbers(text, facts, labels=["Acme feedback 2026"]) == []


@pytest.mark.parametrize(("text", "facts", "unmatched"), [
    ("NPS is 43.5", [25.6], ["43.5"]),  # made up
    ("2,000 responses", [1985], ["2,000"]),  # rounding only at the written precision
    ("NPS is 28.8", [-28.8], ["28.8"]),  # the sign matters
    ("70 are positive", [0.703], ["70"]),  # a share is a percentage only with a % sign
    ("71%", [0.703], ["71%"]),
    ("p < 0.001", [0.002], ["< 0.001"]),
    ("feedback from 2025", [25], ["2025"]),  # years are numbers unless they are part of a label
    ("a 5 in 5 stars", [5], []),
])
def test_unmatched_numbers_are_returned_as_written(text: str, facts: list[float], unmatched: list[str]) -> None:
    assert check_numbers(text, facts) == unmatched


def test_citations_and_labels() -> None:
    cites = [{"component": "basic_stats", "path": "nps.score", "value": 25.6}, {"value": None}, {"value": True}]
    assert check_numbers("NPS +25.6 and 1", cites) == ["1"]
    # a label must contain a letter to excuse its digits, and only as whole words
    assert check_numbers("plan 5 got 5", [], labels=["5"]) == ["5", "5"]
    assert check_numbers("Pro 2 has 2", [], labels=["Pro 2"]) == ["2"]
    assert [n.value for n in read_numbers("3.4–4.0 on a 1-5 scale")] == [3.4, 4.0, 1.0, 5.0]


# --- the model's statements ---------------------------------------------------------------------------------------

def model_answer(text: str, paths: list[str], component: str = "basic_stats") -> dict[str, Any]:
    return {"statements": [{"section": "headline", "text": text,
                            "citations": [{"component": component, "path": p} for p in paths]}]}


def test_model_statements_get_their_values_from_the_results() -> None:
    results = make_results()
    checked = check_statements(model_answer("NPS is -28.8 with 488 detractors.", ["nps.score", "nps.detractors"]),
                               results, result_labels(results))
    assert checked == [{"section": "headline", "text": "NPS is -28.8 with 488 detractors.", "citations": [
        {"component": "basic_stats", "path": "nps.score", "value": -28.8, "display": None},
        {"component": "basic_stats", "path": "nps.detractors", "value": 488, "display": None}]}]


@pytest.mark.parametrize(("answer", "reason"), [
    (model_answer("NPS is -28.8 with 490 detractors.", ["nps.score", "nps.detractors"]),
     "statement 1 writes 490, which match no figure it cites"),
    (model_answer("NPS is -28.8.", ["nps.mean_score"]), "basic_stats.nps.mean_score, which does not exist"),
    (model_answer("NPS is -28.8.", ["findings.9.values.0"], "segments"), "segments.findings.9.values.0"),
    (model_answer("NPS is -28.8.", ["survey_title"]), "survey_title, which is not a number"),
    (model_answer("NPS is -28.8.", ["nps.score"], "raw_answers"), "names no known component"),
    (model_answer("NPS is <b>-28.8</b>.", ["nps.score"]), "contains markup"),
    (model_answer("NPS is -28.8.", []), "cites no figure"),
    ({"statements": []}, "has no statements"),
    ({"statements": [{"section": "advice", "text": "x", "citations": []}]}, "unknown section"),
])
def test_model_statements_that_fail_the_check(answer: dict[str, Any], reason: str) -> None:
    results = make_results()
    with pytest.raises(SummaryError, match=re.escape(reason)):
        check_statements(answer, results, result_labels(results))


def test_a_cited_component_whose_result_is_missing_fails() -> None:
    results = make_results()
    del results["sentiment"]
    with pytest.raises(SummaryError, match="whose result this summary does not have"):
        check_statements(model_answer("70% positive", ["overall.shares.positive"], "sentiment"), results, [])


# --- summarize: engines and fallbacks (an in-process stand-in for the LLM client) -----------------------------

class StubClient:
    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[dict[str, Any]] = []
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 0}
        self.model = "stub-model"

    def complete_json(self, *, system: str, user: str, prompt_version: str,
                      schema: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append({"system": system, "user": user, "prompt_version": prompt_version, "schema": schema})
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += len(user) // 4
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.answer)


def test_the_model_summary_is_shown_when_it_passes_the_check() -> None:
    results = make_results()
    client = StubClient(model_answer("Detractors outnumber promoters: NPS -28.8.", ["nps.score"]))
    result = summarize(results, engine="auto", client=client)
    assert result["engine"] == "openai" and result["checked"] and result["fallback_reason"] is None
    assert result["engine_info"] == {"name": "openai", "model": "stub-model"}
    assert [s["text"] for s in result["statements"]] == ["Detractors outnumber promoters: NPS -28.8."]
    assert result["usage"]["calls"] == 1 and result["prompt_version"] == "summary-v1"
    SummaryResult.model_validate(result)
    # the prompt carries the template statements' figures, never an answer
    user = client.calls[0]["user"]
    assert "-28.8" in user and "pricing" in user
    assert "I love the dashboards" not in user and "support took 3 days" not in user


def test_a_made_up_number_falls_back_to_the_template() -> None:
    results = make_results()
    result = summarize(results, client=StubClient(model_answer("NPS is -31.0.", ["nps.score"])))
    assert result["engine"] == "template" and result["engine_info"]["name"] == "template"
    assert result["fallback_reason"] == ("the model's summary failed the check: statement 1 writes -31.0, which "
                                         "match no figure it cites")
    assert result["statements"] == build_summary(results)["statements"]
    assert result["usage"]["calls"] == 1  # the tokens were spent all the same


def test_model_errors_and_budget_fall_back_to_the_template() -> None:
    from workbench.text.llm import BudgetExceeded, LLMError

    for error in (LLMError("model 'x' answered HTTP 500"), BudgetExceeded("token budget exceeded"),
                  RuntimeError("boom")):
        result = summarize(make_results(), client=StubClient(error=error))
        assert result["engine"] == "template" and type(error).__name__ in result["fallback_reason"]
        assert str(error) in result["fallback_reason"]


def test_template_engine_never_asks_and_auto_without_a_key_uses_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    client = StubClient(model_answer("NPS -28.8", ["nps.score"]))
    assert summarize(make_results(), engine="template", client=client)["engine"] == "template"
    assert client.calls == []
    monkeypatch.delenv("WORKBENCH_OPENAI_API_KEY", raising=False)
    result = summarize(make_results(), engine="auto")
    assert result["engine"] == "template" and result["fallback_reason"] is None and result["usage"]["calls"] == 0
    with pytest.raises(ValueError, match="engine must be"):
        summarize(make_results(), engine="openai")


def test_nothing_to_summarize_asks_nothing() -> None:
    client = StubClient(model_answer("NPS -28.8", ["nps.score"]))
    result = summarize({}, client=client)
    assert result["statements"] == [] and client.calls == []
    assert all(not s["available"] for s in result["sources"].values())
