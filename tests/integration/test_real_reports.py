"""Reports on the two real raw exports, imported unchanged through their mapping files: the figures the
basic_stats and segments components compute (the functions their notebooks call) against pandas and scipy
computed here from the raw CSVs."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats
from sqlalchemy.orm import Session, sessionmaker

from tests.datasets import OSMI, require
from tests.datasets import REVIEWS as CLOTHING
from tests.integration.test_real_imports import import_and_snapshot, raw
from workbench.analysis.segment_report import segment_report
from workbench.analysis.stats import basic_stats
from workbench.storage.db import make_engine, make_sessionmaker

require(OSMI), require(CLOTHING)


@pytest.fixture
def sessions(sqlite_url: str) -> sessionmaker[Session]:
    """SQLite only: the figures are computed from the snapshot, and test_real_imports stores these same files in
    PostgreSQL too (a second 23,000-row import here would only cost time)."""
    return make_sessionmaker(make_engine(sqlite_url))


def test_clothing_reviews_report_matches_pandas(sessions: sessionmaker[Session]) -> None:
    frame = raw(CLOTHING)
    snapshot = import_and_snapshot(sessions, "clothing-reviews.mapping.json", CLOTHING)
    result = basic_stats(snapshot)

    assert result["response_count"] == len(frame)
    # no timestamps in this export: completion is unknown, not "100% in 0 s"
    assert result["completion_known"] is False and result["completion_rate"] is None
    assert result["avg_completion_seconds"] is None
    assert result["nps"] is None  # a 1-5 rating is not headlined as an NPS
    rating = frame["Rating"].astype(int)
    summary = result["questions"]["rating"]
    assert summary["kind"] == "scale" and summary["n"] == len(rating)
    assert summary["mean"] == pytest.approx(rating.mean()) and summary["median"] == rating.median()
    low, high = stats.t.interval(0.95, len(rating) - 1, loc=rating.mean(), scale=stats.sem(rating))
    assert (summary["ci_low"], summary["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert summary["top2_box"] == pytest.approx((rating >= 4).mean())
    assert summary["distribution"] == {str(v): int((rating == v).sum()) for v in range(1, 6)}
    departments = frame["Department Name"][frame["Department Name"] != ""].value_counts()
    shares = {o["option"]: o["count"] for o in result["questions"]["department_name"]["options"]}
    assert shares == departments.to_dict()

    # rating by department: Kruskal-Wallis as scipy computes it over the same groups
    report = segment_report(snapshot, segment_by=["department_name"])
    [breakdown] = report["breakdowns"]
    [rating_q] = [q for q in breakdown["questions"] if q["key"] == "rating"]
    [kw] = [t for t in rating_q["tests"] if t.get("test") == "kruskal"]
    known = frame[frame["Department Name"] != ""]
    groups = [g["Rating"].astype(int).to_numpy() for _, g in known.groupby("Department Name")]
    h, p = stats.kruskal(*groups)
    assert kw["statistic"] == pytest.approx(h, abs=1e-4) and kw["p"] == pytest.approx(p, rel=1e-4)
    # every finding cites values that are the per-segment means pandas gives
    means = known.groupby("Department Name")["Rating"].apply(lambda s: s.astype(int).mean())
    for finding in (f for f in report["findings"] if f["question"] == "rating"):
        a, b = finding["segments"]
        assert finding["values"] == [pytest.approx(means[a], abs=0.06), pytest.approx(means[b], abs=0.06)]


def test_osmi_report_matches_pandas(sessions: sessionmaker[Session]) -> None:
    frame = raw(OSMI)
    snapshot = import_and_snapshot(sessions, "osmi-2016.mapping.json", OSMI)
    result = basic_stats(snapshot)

    assert result["response_count"] == len(frame) == 1433
    remote = result["questions"]["work_remotely"]
    counts = frame["Do you work remotely?"].value_counts()
    assert remote["kind"] == "ordinal"
    # every label of the scale, the ones nobody chose with 0
    assert {o["option"]: o["count"] for o in remote["options"] if o["count"]} == counts.to_dict()
    assert sum(o["count"] for o in remote["options"]) == len(frame)
    age = frame["What is your age?"].astype(int)
    assert result["questions"]["age"]["mean"] == pytest.approx(age.mean())
    assert result["questions"]["age"]["median"] == pytest.approx(age.median())
    # a conditional question: respondents not asked are counted apart from blanks
    size = result["questions"]["company_size"]
    assert size["n"] == (frame["How many employees does your company or organization have?"] != "").sum()
    assert size["n"] + size["blank"] + size["not_asked"] == len(frame)

    # family history by remote work: the chi-square scipy computes on the same cross-table
    report = segment_report(snapshot, segment_by=["work_remotely"])
    [breakdown] = report["breakdowns"]
    [family] = [q for q in breakdown["questions"] if q["key"] == "family_history"]
    [test] = [t for t in family["tests"] if t.get("test") in ("chi2", "fisher")]
    table = pd.crosstab(frame["Do you work remotely?"], frame["Do you have a family history of mental illness?"])
    chi2, p, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert test["statistic"] == pytest.approx(chi2, abs=1e-4) and test["p"] == pytest.approx(p, rel=1e-4)
    assert test["dof"] == dof
