"""The `segments` component through the production steps (no Temporal): the survey's declared segments survive
storage into the snapshot, the notebook's result validates, and the report page opens with its key findings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SAMPLE_PATH
from tests.integration.test_component_contract import new_report, run_all
from workbench.components.catalog import SegmentsResult
from workbench.config import Settings
from workbench.reports import steps
from workbench.reports.views import MAX_KEY_FINDINGS, key_findings, report_page
from workbench.runner import NotebookError
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses
from workbench.surveys.schema import SurveyDefinition

HOSTILE_PLAN = '<b>Enterprise</b> & "co"'


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def store_sample(sessions: sessionmaker[Session], rename: dict[str, str] | None = None) -> uuid.UUID:
    """The bundled sample as a stored survey with all its responses; `rename` renames plan options."""
    data = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
    survey = {k: v for k, v in data["survey"].items() if k != "id"}
    responses: list[dict[str, Any]] = data["responses"]
    if rename:
        plan = next(q for q in survey["questions"] if q["key"] == "plan")
        plan["options"] = [rename.get(o, o) for o in plan["options"]]
        for r in responses:
            if "plan" in r["answers"]:
                r["answers"]["plan"] = rename.get(r["answers"]["plan"], r["answers"]["plan"])
    definition = SurveyDefinition.model_validate(survey)
    with transaction(sessions) as session:
        stored = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=stored.id,
                                   records=parse_responses(definition, responses, fmt="json"))
        return stored.id


def component(sessions: sessionmaker[Session], report_id: uuid.UUID, name: str) -> Any:
    with sessions() as session:
        return report_store.get_component(session, report_id=report_id, name=name)


def page(sessions: sessionmaker[Session], report_id: uuid.UUID) -> str:
    with sessions() as session:
        report = report_store.load_report(session, report_id=report_id)
        assert report is not None
        return report_page(session, report)


def test_the_sample_report_opens_with_its_segment_findings(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    survey_id = store_sample(sessions)
    with sessions() as session:  # the declared segments survive storage
        stored = survey_store.get_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
        assert stored is not None and survey_store.survey_definition(stored).segments == ["plan"]
    report_id = new_report(sessions, settings, survey_id, ["basic_stats", "segments"])
    run_all(sessions, settings, report_id)
    assert steps.finish_report(sessions, report_id) is ReportStatus.COMPLETED

    row = component(sessions, report_id, "segments")
    assert row.status == ComponentStatus.COMPLETED
    result = SegmentsResult.model_validate(row.result)
    assert result.segment_by == ["plan"] and result.source == "declared" and result.note is None
    assert result.findings and result.finding_count == len(result.findings)  # plan matters in the sample
    assert any(f.question == "satisfaction" and f.segments == ["Free", "Enterprise"] for f in result.findings)
    assert row.provenance["parameters"] == {"segment_by": [], "alpha": 0.05, "correction": "bh"}

    html = page(sessions, report_id)
    soup = BeautifulSoup(html, "html.parser")
    cards = [el.get("id") for el in soup.find(id="report-root").find_all(class_="card", recursive=False)]
    assert cards == ["contents", "headline", "key-findings", "component-basic_stats", "component-segments"]
    card = soup.find(id="key-findings")
    shown = [" ".join(li.get_text().split()) for li in card.find_all("li")]
    assert shown == [f.finding for f in result.findings[:MAX_KEY_FINDINGS]]
    assert f"and {len(result.findings) - MAX_KEY_FINDINGS} more" in card.get_text()
    # the sentences quote options ("Single sign-on (SSO)"): text on the page, escaped in the markup
    assert '"Single sign-on (SSO)"' in shown[0] and "&#34;Single sign-on (SSO)&#34;" in html
    assert soup.find("script", src=False) is None  # the page's one script is the app's static file
    # the section itself shows the same findings, through the notebook's sanitized HTML
    section = " ".join(soup.find(id="component-segments").get_text().split())
    assert result.findings[0].finding in section


def test_segment_by_and_correction_parameters_and_hostile_labels(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    survey_id = store_sample(sessions, rename={"Enterprise": HOSTILE_PLAN})
    report_id = new_report(sessions, settings, survey_id, ["segments"],
                           {"segments": {"segment_by": ["plan"], "correction": "holm", "alpha": 0.01}})
    steps.execute_component(sessions, settings, report_id, "segments")
    row = component(sessions, report_id, "segments")
    result = SegmentsResult.model_validate(row.result)
    assert result.source == "parameter" and result.correction == "holm" and result.alpha == 0.01
    assert all(f.p_adjusted < 0.01 and f.correction == "holm" for f in result.findings)  # type: ignore[attr-defined]
    hostile = [f.finding for f in result.findings if HOSTILE_PLAN in f.segments]
    assert hostile

    html = page(sessions, report_id)
    soup = BeautifulSoup(html, "html.parser")
    card = soup.find(id="key-findings")
    assert card.find("b") is None and soup.find("script", src=False) is None
    assert "&lt;b&gt;Enterprise&lt;/b&gt; &amp; &#34;co&#34;" in html  # autoescaped by the page
    assert any(HOSTILE_PLAN in " ".join(li.get_text().split()) for li in card.find_all("li"))
    # in the notebook's own output too: shown as text, never as markup
    section = soup.find(id="component-segments")
    assert section.find("b", string="Enterprise") is None and HOSTILE_PLAN in section.get_text()


def test_an_unknown_segment_key_fails_the_component_with_a_clear_error(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    survey_id = store_sample(sessions)
    report_id = new_report(sessions, settings, survey_id, ["segments"], {"segments": {"segment_by": ["tier"]}})
    with pytest.raises(NotebookError, match=r"SegmentError: segment_by\[0\]: 'tier' is not a question of this survey"):
        steps.execute_component(sessions, settings, report_id, "segments")
    assert component(sessions, report_id, "segments").status == ComponentStatus.FAILED
    assert BeautifulSoup(page(sessions, report_id), "html.parser").find(id="key-findings") is None


def test_key_findings_view_from_a_result() -> None:
    result = {"segment_by": ["plan"], "correction": "bh", "note": None,
              "findings": [{"finding": f"finding {i}"} for i in range(8)]}
    view = key_findings(result)
    assert view is not None and view.sentences == [f"finding {i}" for i in range(5)] and view.more == 3
    assert view.segment_by == ["plan"] and view.correction == "bh"
    empty = key_findings({"segment_by": [], "note": "No segment questions", "findings": []})
    assert empty is not None and empty.sentences == [] and empty.more == 0 and empty.note == "No segment questions"
    assert key_findings(None) is None
