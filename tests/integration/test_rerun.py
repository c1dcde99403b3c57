"""Rerunning a component on the real Temporal dev server with the real worker, through the API: the component
and its dependants run again on the frozen snapshot with the current notebook; the others keep their results."""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_cancel import api, wait_for
from tests.integration.test_report_run import broken_notebooks, load_survey
from workbench.config import REPO_ROOT
from workbench.reports.request import create_report_run
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workers.shared import workflow_id
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


def finished(body: dict) -> bool:
    return body["status"] in ("completed", "partial", "failed", "cancelled")


async def test_rerun_a_fixed_component_then_one_with_a_dependant(temporal_env, settings, tmp_path) -> None:
    folder = broken_notebooks(tmp_path, "themes", "raise RuntimeError('themes engine down')")
    settings = settings.model_copy(update={"notebooks_dir": folder})
    survey_id = load_survey(settings, responses=80)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post("/api/v1/reports", json={
                "survey_id": str(survey_id), "components": ["basic_stats", "themes", "visualizations"]})
            report_id, status_url = r.json()["report_id"], r.json()["status_url"]
            body = await wait_for(client, status_url, finished)
            assert body["status"] == "partial" and body["failed_components"] == ["themes"]
            with sessions() as session:
                before = {c.component_type: (c.attempts, c.completed_at, c.result)
                          for c in report_store.component_documents(session, report_id=uuid.UUID(report_id))}

            # the analyst fixes the notebook; the rerun uses the current notebook on the same snapshot
            shutil.copy(REPO_ROOT / "notebooks" / "themes.ipynb", folder / "themes.ipynb")
            rerun = await client.post(f"/api/v1/reports/{report_id}/components/themes/rerun")
            assert rerun.status_code == 202, rerun.text
            assert rerun.headers["location"] == status_url
            await temporal_env.client.get_workflow_handle(workflow_id(report_id, 1)).result()
            body = await wait_for(client, status_url, finished)
            assert body["status"] == "completed" and body["failed_components"] == []
            with sessions() as session:
                rows = {c.component_type: c for c in report_store.component_documents(
                    session, report_id=uuid.UUID(report_id))}
                assert rows["themes"].status == "completed" and rows["themes"].attempts == 2
                assert rows["themes"].result and rows["themes"].result["questions"]
                for name in ("basic_stats", "visualizations"):  # untouched
                    assert (rows[name].attempts, rows[name].completed_at, rows[name].result) == before[name]
                report = report_store.load_report(session, report_id=uuid.UUID(report_id))
                assert report is not None and report.run_number == 1

            # rerunning basic_stats reruns visualizations (it reads basic_stats' result), not themes
            rerun = await client.post(f"/api/v1/reports/{report_id}/components/basic_stats/rerun")
            assert rerun.status_code == 202, rerun.text
            await temporal_env.client.get_workflow_handle(workflow_id(report_id, 2)).result()
            body = await wait_for(client, status_url, finished)
            assert body["status"] == "completed"
            with sessions() as session:
                attempts = {c.component_type: c.attempts for c in report_store.component_documents(
                    session, report_id=uuid.UUID(report_id))}
            assert attempts == {"basic_stats": 2, "themes": 2, "visualizations": 2}

            # refused requests change nothing
            unknown = await client.post(f"/api/v1/reports/{report_id}/components/segments/rerun")
            assert unknown.status_code == 404 and "has no component 'segments'" in unknown.json()["detail"]
            missing = await client.post(f"/api/v1/reports/{uuid.uuid4()}/components/themes/rerun")
            assert missing.status_code == 404
            with transaction(sessions) as session:
                queued = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                           component_names=["basic_stats"], notebooks_dir=folder)
                queued_id = queued.id
            busy = await client.post(f"/api/v1/reports/{queued_id}/components/basic_stats/rerun")
            assert busy.status_code == 409 and "is queued" in busy.json()["detail"]
            with sessions() as session:
                assert report_store.load_report(session, report_id=queued_id).run_number == 0  # type: ignore[union-attr]
