"""The segment report (`workbench.analysis.segment_report`), every figure checked against pandas/scipy computed here.

On the bundled sample (segmented by its declared `plan`), on small built surveys (an ordinal segment, two segment
questions, bad keys), and on the real data sets in /work/shared/datasets: the women's clothing reviews (by
department) and the OSMI 2016 mental-health-in-tech survey (by company size, an ordered question).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from scipy.stats.contingency import association

from tests.conftest import SAMPLE_PATH
from tests.datasets import OSMI, REVIEWS, require
from workbench.analysis.segment_report import NO_SEGMENTS_NOTE, SegmentError, segment_report
from workbench.analysis.segments import EFFECT_LABELS
from workbench.components.catalog import SegmentsResult
from workbench.notebook import load_snapshot, responses_frame
from workbench.surveys.schema import Snapshot

PLANS = ["Free", "Starter", "Pro", "Enterprise"]
Z = st.norm.ppf(0.975)


def _json(value: Any) -> Any:
    """Round-trips through strict JSON: fails on NaN/inf and on numpy scalars."""
    return json.loads(json.dumps(value, allow_nan=False))


def _breakdown(result: dict[str, Any], key: str) -> dict[str, Any]:
    return next(b for b in result["breakdowns"] if b["key"] == key)


def _entry(result: dict[str, Any], by: str, question: str) -> dict[str, Any]:
    return next(q for q in _breakdown(result, by)["questions"] if q["key"] == question)


def _rows(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["segment"]: row for row in figures["segments"]}


def _strength(effect: dict[str, Any]) -> tuple[int, float]:
    return EFFECT_LABELS.index(effect["label"]), abs(effect["value"]) / effect["thresholds"][1]


def _all_p(result: dict[str, Any], key: str) -> list[float | None]:
    return [slot.get(key) for b in result["breakdowns"] for q in b["questions"] for t in q["tests"]
            for slot in (t, *t.get("pairs", []))]


def _snapshot(questions: list[dict[str, Any]], frame: pd.DataFrame, segments: list[str] | None = None) -> Snapshot:
    """A snapshot built from a DataFrame whose columns are the question keys (NaN/None: not answered)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return Snapshot.model_validate({
        "survey": {"id": "t", "title": "T", "questions": questions, "segments": segments or []},
        "responses": [{"answers": {k: v for k, v in r.items() if v is not None}} for r in records],
    })


# --- the sample ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Snapshot:
    return load_snapshot(SAMPLE_PATH)


@pytest.fixture(scope="module")
def frame(sample: Snapshot) -> pd.DataFrame:
    return responses_frame(sample)


@pytest.fixture(scope="module")
def report(sample: Snapshot) -> dict[str, Any]:
    return segment_report(sample)


def test_the_default_is_the_survey_s_declared_segments(sample: Snapshot, report: dict[str, Any]) -> None:
    assert sample.survey.segments == ["plan"]
    assert report["segment_by"] == ["plan"] and report["source"] == "declared" and report["note"] is None
    given = segment_report(sample, ["plan"])
    assert given["source"] == "parameter" and given["findings"] == report["findings"]
    plan = _breakdown(report, "plan")
    assert [q["key"] for q in plan["questions"]] == ["nps", "satisfaction", "support_rating", "features_used"]
    assert {q["key"] for q in plan["not_compared"]} == {"liked_most", "improve"}
    SegmentsResult.model_validate(_json(report))


def test_segment_sizes_match_pandas(report: dict[str, Any], frame: pd.DataFrame) -> None:
    plan = _breakdown(report, "plan")
    counts = frame["plan"].value_counts()
    assert [(s["segment"], s["n"]) for s in plan["segments"]] == [(p, int(counts[p])) for p in PLANS]
    assert plan["unanswered"] == int(frame["plan"].isna().sum()) and plan["answered"] == int(counts.sum())


def test_nps_per_segment_with_ci_and_its_chi_square_match_pandas_scipy(
    report: dict[str, Any], frame: pd.DataFrame
) -> None:
    entry = _entry(report, "plan", "nps")
    rows = _rows(entry["figures"])
    data = frame.dropna(subset=["plan", "nps"])
    for plan, scores in data.groupby("plan")["nps"]:
        pp, pd_ = (scores >= 9).mean(), (scores <= 6).mean()
        nps = 100 * (pp - pd_)
        se = 100 * math.sqrt((pp + pd_ - (pp - pd_) ** 2) / len(scores))
        row = rows[plan]
        assert row["n"] == len(scores)
        assert row["nps"] == pytest.approx(nps, abs=0.01)
        assert row["ci_low"] == pytest.approx(nps - Z * se, abs=0.01)
        assert row["ci_high"] == pytest.approx(nps + Z * se, abs=0.01)
    [test] = entry["tests"]
    groups = pd.cut(data["nps"], [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"])
    table = pd.crosstab(data["plan"], groups).loc[PLANS]
    chi2, p, dof, _ = st.chi2_contingency(table.to_numpy(), correction=False)
    assert test["test"] == "chi2" and test["table"] == table.to_numpy().tolist()
    assert test["statistic"] == pytest.approx(chi2, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["dof"] == dof == 6
    assert test["effect"]["value"] == pytest.approx(association(table.to_numpy(), method="cramer"), abs=1e-4)


def test_scale_means_cis_and_rank_tests_match_pandas_scipy(report: dict[str, Any], frame: pd.DataFrame) -> None:
    for key in ("satisfaction", "support_rating"):
        entry = _entry(report, "plan", key)
        rows = _rows(entry["figures"])
        data = frame.dropna(subset=["plan", key])
        for plan, values in data.groupby("plan")[key]:
            values = values.astype(float)
            low, high = st.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=st.sem(values))
            assert rows[plan]["n"] == len(values)
            assert rows[plan]["mean"] == pytest.approx(values.mean(), abs=1e-4)
            assert (rows[plan]["ci_low"], rows[plan]["ci_high"]) == (pytest.approx(low, abs=1e-4),
                                                                      pytest.approx(high, abs=1e-4))
        [test] = entry["tests"]
        samples = {p: data.loc[data["plan"] == p, key].astype(float).to_numpy() for p in PLANS}
        h, p = st.kruskal(*samples.values())
        assert test["test"] == "kruskal" and test["statistic"] == pytest.approx(h, abs=1e-3)
        assert test["p"] == pytest.approx(p, rel=1e-4)
        assert test["effect"]["value"] == pytest.approx(h / (len(data) - 1), abs=1e-4)
        assert len(test["pairs"]) == 6
        pair = next(x for x in test["pairs"] if (x["a"], x["b"]) == ("Free", "Enterprise"))
        u, pu = st.mannwhitneyu(samples["Free"], samples["Enterprise"], alternative="two-sided")
        assert pair["statistic"] == pytest.approx(u, abs=1e-3) and pair["p"] == pytest.approx(pu, rel=1e-4)
        r = 2 * u / (len(samples["Free"]) * len(samples["Enterprise"])) - 1
        assert pair["effect"]["value"] == pytest.approx(r, abs=1e-4) and r < 0  # Free rates lower


def test_choice_shares_and_option_tests_match_pandas_scipy(report: dict[str, Any], frame: pd.DataFrame) -> None:
    entry = _entry(report, "plan", "features_used")
    data = frame.dropna(subset=["plan", "features_used"])
    chosen = data["features_used"].map(lambda items: "Single sign-on (SSO)" in items)
    shares = chosen.groupby(data["plan"]).mean()
    rows = _rows(entry["figures"])
    for plan in PLANS:
        sso = next(c for c in rows[plan]["counts"] if c["category"] == "Single sign-on (SSO)")
        assert sso["share"] == pytest.approx(shares[plan], abs=1e-4)
    test = next(t for t in entry["tests"] if t["option"] == "Single sign-on (SSO)")
    counts = chosen.groupby(data["plan"]).agg(["sum", "size"]).loc[PLANS]
    table = np.column_stack([counts["sum"], counts["size"] - counts["sum"]])  # chosen, not chosen
    chi2, p, _, _ = st.chi2_contingency(table, correction=False)
    assert test["statistic"] == pytest.approx(chi2, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["effect"]["value"] == pytest.approx(association(table, method="cramer"), abs=1e-4)
    assert len(entry["tests"]) == 6  # one per option


def test_one_bh_family_across_the_whole_report(report: dict[str, Any]) -> None:
    raw = _all_p(report, "p")
    assert report["test_count"] == 9 and len(raw) == 9 + 2 * 6  # the kruskal tests' pairs count too
    expected = st.false_discovery_control(raw, method="bh")
    assert _all_p(report, "p_bh") == pytest.approx(list(expected), rel=1e-5)
    holm = segment_report(load_snapshot(SAMPLE_PATH), correction="holm")
    assert all(f["correction"] == "holm" for f in holm["findings"])
    assert len(holm["findings"]) <= len(report["findings"])  # Holm is the stricter


def test_findings_are_ordered_by_effect_and_cite_figures_that_match_pandas(
    report: dict[str, Any], frame: pd.DataFrame
) -> None:
    found = report["findings"]
    assert found and report["finding_count"] == len(found)
    strengths = [_strength(f["effect"]) for f in found]
    assert strengths == sorted(strengths, reverse=True)
    # plan matters in the sample: Enterprise uses SSO, Free users are less satisfied and less likely to recommend
    assert found[0]["question"] == "features_used" and "Single sign-on (SSO)" in found[0]["finding"]
    assert any(f["question"] == "satisfaction" and f["finding"].startswith("Free rates satisfaction lower")
               for f in found)
    assert any(f["unit"] == "nps" and f["finding"].startswith("NPS differs by plan: Enterprise") for f in found)
    data = frame.dropna(subset=["plan"])
    for f in found:
        assert f["p_adjusted"] < 0.05 and f["effect"]["label"] != "negligible"
        assert f["segment_question"] == "plan"
        a, b = f["segments"]
        rows = data[data[f["question"]].notna()]
        if f["unit"] == "mean":
            means = rows.groupby("plan")[f["question"]].mean()
            assert f["values"] == [pytest.approx(means[a], abs=1e-4), pytest.approx(means[b], abs=1e-4)]
            assert f"{means[a]:.1f} vs {means[b]:.1f}" in f["finding"]
            assert f["ci"] is not None and all(lo <= v <= hi for (lo, hi), v in zip(f["ci"], f["values"], strict=True))
        elif f["unit"] == "nps":
            nps = rows.groupby("plan")["nps"].agg(lambda s: 100 * ((s >= 9).mean() - (s <= 6).mean()))
            assert f["values"] == [pytest.approx(nps[a], abs=0.01), pytest.approx(nps[b], abs=0.01)]
        else:
            share = rows[f["question"]].map(lambda items, o=f["option"]: o in items).groupby(rows["plan"]).mean()
            assert f["values"] == [pytest.approx(share[a], abs=1e-4), pytest.approx(share[b], abs=1e-4)]
            assert f"{share[a]:.0%} in {a} vs {share[b]:.0%} in {b}" in f["finding"]


# --- segment_by: defaults and errors ----------------------------------------------------------------------------


def test_no_segments_declared_or_given_is_said_not_an_error(sample: Snapshot) -> None:
    bare = sample.model_copy(update={"survey": sample.survey.model_copy(update={"segments": []})})
    result = segment_report(bare)
    assert result["source"] == "none" and result["segment_by"] == [] and result["note"] == NO_SEGMENTS_NOTE
    assert result["breakdowns"] == [] and result["findings"] == [] and result["test_count"] == 0
    SegmentsResult.model_validate(_json(result))


@pytest.mark.parametrize(("segment_by", "message"), [
    (["tier"], "segment_by[0]: 'tier' is not a question of this survey (segment questions: plan)"),
    (["satisfaction"], "'satisfaction' is a scale question; respondents can only be segmented by a single_choice"),
    (["plan", "features_used"], "segment_by[1]: 'features_used' is a multi_choice question"),
    (["liked_most"], "'liked_most' is a text question"),
    (["plan", "plan"], "segment_by[1]: 'plan' is listed twice"),
])
def test_unknown_or_wrong_kind_keys_are_a_clear_error(
    sample: Snapshot, segment_by: list[str], message: str
) -> None:
    with pytest.raises(SegmentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        segment_report(sample, segment_by)


def test_bad_correction_or_alpha_is_refused(sample: Snapshot) -> None:
    with pytest.raises(ValueError, match="correction"):
        segment_report(sample, correction="bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        segment_report(sample, alpha=0)


# --- an ordinal segment, two segment questions ------------------------------------------------------------------

TENURE = ["Under a year", "1-3 years", "Over 3 years"]
AGREE = ["Disagree", "Neutral", "Agree"]


@pytest.fixture(scope="module")
def built() -> tuple[Snapshot, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 600
    tenure = rng.choice(3, size=n, p=[0.3, 0.45, 0.25])
    region = rng.choice(["North", "South"], size=n)
    frame = pd.DataFrame({
        "tenure": [TENURE[t] for t in tenure],
        "region": region,
        "nps": np.clip(np.round(6 + 1.2 * tenure + rng.normal(0, 2, n)), 0, 10).astype(int),
        "ease": np.clip(np.round(2.5 + 0.6 * tenure + rng.normal(0, 1, n)), 1, 5).astype(int),
        "spend": np.round(rng.lognormal(4 + 0.3 * tenure, 0.5), 2),
        "agree": [AGREE[int(np.clip(round(0.4 * t + rng.normal(1, 0.8)), 0, 2))] for t in tenure],
    })
    frame.loc[rng.choice(n, 40, replace=False), "tenure"] = None  # not answered: left out of its breakdown
    frame.loc[rng.choice(n, 30, replace=False), "ease"] = None
    questions: list[dict[str, Any]] = [
        {"key": "tenure", "type": "ordinal", "text": "How long have you been a customer?", "options": TENURE},
        {"key": "region", "type": "single_choice", "text": "Region?", "options": ["North", "South"]},
        {"key": "nps", "type": "nps", "text": "Recommend?"},
        {"key": "ease", "type": "scale", "min": 1, "max": 5, "text": "Ease of use?"},
        {"key": "spend", "type": "numeric", "min": 0, "text": "Monthly spend?"},
        {"key": "agree", "type": "ordinal", "text": "It is worth the price.", "options": AGREE},
    ]
    return _snapshot(questions, frame, segments=["tenure", "region"]), frame


def test_an_ordinal_segment_works(built: tuple[Snapshot, pd.DataFrame]) -> None:
    snapshot, frame = built
    result = segment_report(snapshot)
    assert result["segment_by"] == ["tenure", "region"] and result["source"] == "declared"
    tenure = _breakdown(result, "tenure")
    assert [s["segment"] for s in tenure["segments"]] == TENURE  # the labels' order, not the answers'
    assert tenure["unanswered"] == 40
    data = frame.dropna(subset=["tenure"])
    ease = _entry(result, "tenure", "ease")
    means = data.groupby("tenure")["ease"].mean()
    assert {r["segment"]: r["mean"] for r in ease["figures"]["segments"]} == {
        t: pytest.approx(means[t], abs=1e-4) for t in TENURE}
    h, p = st.kruskal(*[data.loc[data["tenure"] == t, "ease"].dropna() for t in TENURE])
    assert ease["tests"][0]["statistic"] == pytest.approx(h, abs=1e-3)
    spend = _entry(result, "tenure", "spend")["tests"][0]
    assert spend["kind"] == "numeric"
    assert spend["p"] == pytest.approx(st.kruskal(*[data.loc[data["tenure"] == t, "spend"] for t in TENURE])[1],
                                       rel=1e-4)
    # an ordinal question compared by rank: labels become 1..k
    agree = _entry(result, "tenure", "agree")["tests"][0]
    ranks = data["agree"].map({a: i + 1 for i, a in enumerate(AGREE)})
    h, p = st.kruskal(*[ranks[data["tenure"] == t] for t in TENURE])
    assert agree["test"] == "kruskal" and agree["statistic"] == pytest.approx(h, abs=1e-3)
    assert any(f["segment_question"] == "tenure" for f in result["findings"])  # tenure drives the answers
    SegmentsResult.model_validate(_json(result))


def test_two_segment_questions_are_compared_once(built: tuple[Snapshot, pd.DataFrame]) -> None:
    result = segment_report(built[0])
    tenure, region = _breakdown(result, "tenure"), _breakdown(result, "region")
    assert "region" in [q["key"] for q in tenure["questions"]]
    assert "tenure" not in [q["key"] for q in region["questions"]]
    assert {"key": "tenure", "kind": "ordinal", "reason": "compared in the breakdown by tenure"} in region[
        "not_compared"]
    region_by_tenure = _entry(result, "tenure", "region")["tests"][0]
    data = built[1].dropna(subset=["tenure"])
    table = pd.crosstab(data["tenure"], data["region"]).loc[TENURE, ["North", "South"]].to_numpy()
    assert region_by_tenure["p"] == pytest.approx(st.chi2_contingency(table, correction=False)[1], rel=1e-4)


def test_small_segments_are_warned_about(built: tuple[Snapshot, pd.DataFrame]) -> None:
    snapshot, frame = built
    few = frame.copy()
    few.loc[few["tenure"] == "Over 3 years", "tenure"] = None
    few.loc[few.index[:3], "tenure"] = "Over 3 years"
    result = segment_report(_snapshot([q.model_dump(exclude_none=True) for q in snapshot.survey.questions], few),
                            ["tenure"])
    tenure = _breakdown(result, "tenure")
    assert tenure["warnings"] == ["fewer than 5 respondents in Over 3 years (3)"]
    ease = _entry(result, "tenure", "ease")["tests"][0]
    assert any("fewer than 5 answers in Over 3 years" in w for w in ease["warnings"])


# --- real data: women's clothing reviews ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(require(REVIEWS))


@pytest.fixture(scope="module")
def reviews_report(reviews: pd.DataFrame) -> dict[str, Any]:
    departments = sorted(reviews["Department Name"].dropna().unique())
    frame = pd.DataFrame({
        "department": reviews["Department Name"],
        "rating": reviews["Rating"],
        "recommended": reviews["Recommended IND"].map({1: "Yes", 0: "No"}),
        "age": reviews["Age"].astype(float),
    })
    questions: list[dict[str, Any]] = [
        {"key": "department", "type": "single_choice", "text": "Department Name", "options": departments},
        {"key": "rating", "type": "scale", "min": 1, "max": 5, "text": "Rating"},
        {"key": "recommended", "type": "single_choice", "text": "Recommended IND", "options": ["Yes", "No"]},
        {"key": "age", "type": "numeric", "text": "Age"},
    ]
    return segment_report(_snapshot(questions, frame, segments=["department"]))


def test_reviews_rating_by_department(reviews: pd.DataFrame, reviews_report: dict[str, Any]) -> None:
    data = reviews.dropna(subset=["Department Name"])
    rating = _entry(reviews_report, "department", "rating")
    rows = _rows(rating["figures"])
    for department, values in data.groupby("Department Name")["Rating"]:
        low, high = st.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=st.sem(values))
        assert rows[department]["n"] == len(values)
        assert rows[department]["mean"] == pytest.approx(values.mean(), abs=1e-4)
        assert rows[department]["ci_low"] == pytest.approx(low, abs=1e-4)
    [test] = rating["tests"]
    h, p = st.kruskal(*[g.to_numpy() for _, g in data.groupby("Department Name")["Rating"]])
    assert test["statistic"] == pytest.approx(h, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["effect"]["value"] == pytest.approx(h / (len(data) - 1), abs=1e-4)
    assert _breakdown(reviews_report, "department")["unanswered"] == int(reviews["Department Name"].isna().sum())


def test_reviews_recommended_and_age_by_department(reviews: pd.DataFrame, reviews_report: dict[str, Any]) -> None:
    data = reviews.dropna(subset=["Department Name"])
    [test] = _entry(reviews_report, "department", "recommended")["tests"]
    table = pd.crosstab(data["Department Name"], data["Recommended IND"])[[1, 0]]
    chi2, p, dof, _ = st.chi2_contingency(table.to_numpy(), correction=False)
    assert test["table"] == table.to_numpy().tolist()
    assert test["statistic"] == pytest.approx(chi2, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["effect"]["value"] == pytest.approx(association(table.to_numpy(), method="cramer"), abs=1e-4)
    shares = pd.crosstab(data["Department Name"], data["Recommended IND"], normalize="index")[1]
    rows = _rows(_entry(reviews_report, "department", "recommended")["figures"])
    assert {d: rows[d]["counts"][0]["share"] for d in rows} == {d: pytest.approx(shares[d], abs=1e-4) for d in rows}
    ages = _rows(_entry(reviews_report, "department", "age")["figures"])
    assert {d: ages[d]["mean"] for d in ages} == {
        d: pytest.approx(m, abs=1e-4) for d, m in data.groupby("Department Name")["Age"].mean().items()}
    raw = _all_p(reviews_report, "p")
    assert _all_p(reviews_report, "p_bh") == pytest.approx(
        list(st.false_discovery_control([x for x in raw if x is not None], method="bh")), rel=1e-5)


def test_reviews_findings_cite_pandas_figures(reviews: pd.DataFrame, reviews_report: dict[str, Any]) -> None:
    found = reviews_report["findings"]
    assert found
    strengths = [_strength(f["effect"]) for f in found]
    assert strengths == sorted(strengths, reverse=True)
    data = reviews.dropna(subset=["Department Name"])
    means = data.groupby("Department Name")["Rating"].mean()
    for f in (f for f in found if f["question"] == "rating"):
        a, b = f["segments"]
        assert f["values"] == [pytest.approx(means[a], abs=1e-4), pytest.approx(means[b], abs=1e-4)]
        assert f["finding"].startswith(f"{a} rates rating ")
    _json(reviews_report)


# --- real data: OSMI 2016 mental health in tech ----------------------------------------------------------------

SIZE_COLUMN = "How many employees does your company or organization have?"
SIZES = ["1-5", "6-25", "26-100", "100-500", "500-1000", "More than 1000"]
LEAVE_COLUMN = ("If a mental health issue prompted you to request a medical leave from work, asking for that leave "
                "would be:")
LEAVE = ["Very difficult", "Somewhat difficult", "Neither easy nor difficult", "Somewhat easy", "Very easy"]
SUPERVISOR_COLUMN = "Would you feel comfortable discussing a mental health disorder with your direct supervisor(s)?"
REMOTE_COLUMN = "Do you work remotely?"


@pytest.fixture(scope="module")
def osmi() -> pd.DataFrame:
    return pd.read_csv(require(OSMI))


@pytest.fixture(scope="module")
def osmi_report(osmi: pd.DataFrame) -> dict[str, Any]:
    frame = pd.DataFrame({
        "company_size": osmi[SIZE_COLUMN],
        "medical_leave": osmi[LEAVE_COLUMN],  # "I don't know" is no label of the scale: left out
        "supervisor": osmi[SUPERVISOR_COLUMN],
        "remote": osmi[REMOTE_COLUMN],
    })
    questions: list[dict[str, Any]] = [
        {"key": "company_size", "type": "ordinal", "text": SIZE_COLUMN, "options": SIZES},
        {"key": "medical_leave", "type": "ordinal", "text": LEAVE_COLUMN, "options": LEAVE},
        {"key": "supervisor", "type": "single_choice", "text": SUPERVISOR_COLUMN, "options": ["Yes", "Maybe", "No"]},
        {"key": "remote", "type": "single_choice", "text": REMOTE_COLUMN, "options": ["Never", "Sometimes", "Always"]},
    ]
    return segment_report(_snapshot(questions, frame), ["company_size"])


def test_osmi_medical_leave_by_company_size(osmi: pd.DataFrame, osmi_report: dict[str, Any]) -> None:
    size = _breakdown(osmi_report, "company_size")
    assert [s["segment"] for s in size["segments"]] == SIZES
    assert size["unanswered"] == int(osmi[SIZE_COLUMN].isna().sum()) == 287  # the self-employed
    data = osmi[osmi[SIZE_COLUMN].notna() & osmi[LEAVE_COLUMN].isin(LEAVE)]
    ranks = data[LEAVE_COLUMN].map({label: i + 1 for i, label in enumerate(LEAVE)})
    [test] = _entry(osmi_report, "company_size", "medical_leave")["tests"]
    h, p = st.kruskal(*[ranks[data[SIZE_COLUMN] == s] for s in SIZES])
    assert test["n"] == len(data)
    assert test["statistic"] == pytest.approx(h, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    means = ranks.groupby(data[SIZE_COLUMN]).mean()
    assert {r["segment"]: r["mean"] for r in test["segments"]} == {s: pytest.approx(means[s], abs=1e-4) for s in SIZES}
    pair = next(x for x in test["pairs"] if (x["a"], x["b"]) == ("1-5", "More than 1000"))
    small, large = ranks[data[SIZE_COLUMN] == "1-5"], ranks[data[SIZE_COLUMN] == "More than 1000"]
    u, pu = st.mannwhitneyu(small, large, alternative="two-sided")
    assert pair["p"] == pytest.approx(pu, rel=1e-4)
    assert pair["effect"]["value"] == pytest.approx(2 * u / (len(small) * len(large)) - 1, abs=1e-4)
    shares = _rows(_entry(osmi_report, "company_size", "medical_leave")["figures"])
    expected = pd.crosstab(data[SIZE_COLUMN], data[LEAVE_COLUMN], normalize="index")
    assert shares["26-100"]["counts"][0]["share"] == pytest.approx(expected.loc["26-100", "Very difficult"], abs=1e-4)


def test_osmi_supervisor_by_company_size(osmi: pd.DataFrame, osmi_report: dict[str, Any]) -> None:
    data = osmi.dropna(subset=[SIZE_COLUMN, SUPERVISOR_COLUMN])
    table = pd.crosstab(data[SIZE_COLUMN], data[SUPERVISOR_COLUMN]).loc[SIZES, ["Yes", "Maybe", "No"]].to_numpy()
    [test] = _entry(osmi_report, "company_size", "supervisor")["tests"]
    chi2, p, dof, expected = st.chi2_contingency(table, correction=False)
    assert test["table"] == table.tolist() and test["dof"] == dof == 10
    assert test["statistic"] == pytest.approx(chi2, abs=1e-3) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["effect"]["value"] == pytest.approx(association(table, method="cramer"), abs=1e-4)
    assert test["expected_min"] == pytest.approx(expected.min(), abs=1e-4)
    strengths = [_strength(f["effect"]) for f in osmi_report["findings"]]
    assert strengths == sorted(strengths, reverse=True)
    for f in osmi_report["findings"]:
        assert f["p_adjusted"] < 0.05 and f["segment_question"] == "company_size"
    SegmentsResult.model_validate(_json(osmi_report))
