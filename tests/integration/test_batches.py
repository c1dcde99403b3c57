"""Report batches: `POST /api/v1/report-batches` checks the request up front (422 naming the field, 404 for an
unknown or another organization's survey, 503 without Temporal); on the real Temporal dev server with the real
worker a batch runs its reports as child workflows a few at a time, a survey split by a segment question gives one
report per answer on those responses only, a child that fails does not fail the batch, and a long batch continues
as new with its counts."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Replayer

from tests.integration.api_support import create_survey, import_json, response
from tests.integration.test_cancel import api, wait_for
from tests.integration.test_report_run import load_survey
from workbench.access import Role
from workbench.reports.steps import segment_snapshot
from workbench.reports.views import report_page_view, report_status_view
from workbench.storage import access as access_store
from workbench.storage import batches as batch_store
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, ReportBatch, Response
from workers.batches import BatchOutcome, BatchProgress, BatchReportWorkflow, batch_workflow_id
from workers.starter import queue_batch
from workers.worker import build_worker, executor_threads

BATCHES = "/api/v1/report-batches"


def foreign_key(sessions: sessionmaker[Session]) -> dict[str, str]:
    """The Authorization header of an admin of another organization."""
    with transaction(sessions) as session:
        other = access_store.create_organization(session, slug=f"other-{uuid.uuid4().hex[:6]}", name="Other")
        text = access_store.create_key(session, organization_id=other.id, user_name="them", role=Role.ADMIN).text
    return {"Authorization": f"Bearer {text}"}


# --- the request, checked before anything runs (Temporal unreachable) ---------------------------------------------


def loc(r: Any) -> list[Any]:
    assert r.status_code == 422, r.text
    return r.json()["detail"][0]["loc"]


def test_a_batch_request_is_checked_up_front(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9, plan="Free"), response("b", 3, plan="Pro")]
                       ).status_code == 201
    empty = create_survey(client, title="Nobody answered")
    assert loc(client.post(BATCHES, json={})) == ["body", "survey_ids"]
    assert loc(client.post(BATCHES, json={"survey_ids": []})) == ["body", "survey_ids"]
    assert loc(client.post(BATCHES, json={"survey_ids": [survey_id], "survey_id": survey_id, "split_by": "plan"})) \
        == ["body", "survey_ids"]
    assert loc(client.post(BATCHES, json={"survey_id": survey_id})) == ["body", "split_by"]
    assert loc(client.post(BATCHES, json={"split_by": "plan"})) == ["body", "survey_id"]
    assert loc(client.post(BATCHES, json={"survey_ids": [survey_id, survey_id]})) == ["body", "survey_ids", "1"]
    assert loc(client.post(BATCHES, json={"survey_ids": [survey_id, empty]})) == ["body", "survey_ids", "1"]
    text = client.post(BATCHES, json={"survey_id": survey_id, "split_by": "improve"})
    assert loc(text) == ["body", "split_by"] and "text question" in text.text
    assert loc(client.post(BATCHES, json={"survey_id": survey_id, "split_by": "nope"})) == ["body", "split_by"]
    assert loc(client.post(BATCHES, json={"survey_ids": [survey_id], "components": ["nope"]})) == ["body",
                                                                                                 "components"]
    assert loc(client.post(BATCHES, json={"survey_ids": [survey_id], "concurrency": 0})) == ["body", "concurrency"]
    # Unknown surveys, and another organization's, are not found (nothing stored).
    assert client.post(BATCHES, json={"survey_ids": [str(uuid.uuid4())]}).status_code == 404
    them = foreign_key(db)
    assert client.post(BATCHES, json={"survey_ids": [survey_id]}, headers=them).status_code == 404
    assert client.post(BATCHES, json={"survey_id": survey_id, "split_by": "plan"}, headers=them).status_code == 404
    with db() as session:
        assert session.query(ReportBatch).count() == 0
    # A valid request while Temporal is unreachable: 503, the batch is stored failed and readable.
    down = client.post(BATCHES, json={"survey_ids": [survey_id], "components": ["basic_stats"]})
    assert down.status_code == 503, down.text
    with db() as session:
        batch = session.query(ReportBatch).one()
        assert batch.status == "failed" and "could not start" in (batch.error or "")
    got = client.get(f"{BATCHES}/{batch.id}")
    assert got.status_code == 200 and got.json()["status"] == "failed" and got.json()["total"] == 1
    assert client.get(f"{BATCHES}/{batch.id}", headers=them).status_code == 404
    assert client.get(f"{BATCHES}/{uuid.uuid4()}").status_code == 404
    assert client.get(f"{BATCHES}/not-an-id").status_code == 404


def test_a_segment_snapshot_keeps_that_segments_responses_and_the_sweep_leaves_batch_reports_alone(
        client: TestClient, db: sessionmaker[Session]) -> None:
    from datetime import timedelta

    from workbench.surveys.schema import Snapshot

    snapshot = Snapshot.model_validate({"survey": {"id": "s", "title": "T", "questions": [
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]}]},
        "responses": [{"answers": {"plan": "Free"}}, {"answers": {"plan": "Pro"}}, {"answers": {}}]})
    assert segment_snapshot(snapshot, None) is snapshot
    assert [r.answers for r in segment_snapshot(snapshot, {"question": "plan", "value": "Pro"}).responses] == [
        {"plan": "Pro"}]
    survey_id = create_survey(client)
    with transaction(db) as session:
        report = report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                            survey_id=uuid.UUID(survey_id), component_names=["basic_stats"])
        report.batch_id, report.batch_index = uuid.uuid4(), 0
        batch_id, report_id = report.batch_id, report.id
    with db() as session:
        assert report_store.queued_reports(session, older_than=timedelta(seconds=-60)) == []
        # Every status reader (the API, the progress stream's state event) names the batch.
        loaded = report_store.load_report(session, report_id=report_id)
        assert loaded is not None
        view = report_status_view(loaded)
        assert (view.batch_id, view.schedule_id) == (batch_id, None)


# --- on the real Temporal dev server ---------------------------------------------------------------------------


@pytest.mark.temporal
async def test_a_survey_split_by_plan_runs_one_report_per_segment_on_its_responses(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=40)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    them = foreign_key(sessions)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post(BATCHES, json={"survey_id": str(survey_id), "split_by": "plan",
                                                 "components": ["basic_stats"], "concurrency": 2})
            assert r.status_code == 202, r.text
            accepted = r.json()
            assert r.headers["location"] == accepted["status_url"] == f"{BATCHES}/{accepted['batch_id']}"
            assert accepted["components"] == ["basic_stats"] and accepted["concurrency"] == 2
            assert (await client.get(accepted["status_url"], headers=them)).status_code == 404
            body = await wait_for(client, accepted["status_url"], lambda b: b["status"] == "completed", timeout=80)
            handle = temporal_env.client.get_workflow_handle(batch_workflow_id(accepted["batch_id"]),
                                                             result_type=BatchOutcome)
            progress = await handle.query(BatchReportWorkflow.progress)
            outcome = await handle.result()
            page = (await client.get(f"/reports/{body['reports'][0]['report_id']}")).text
    total = accepted["total"]
    assert total >= 2
    assert (body["done"], body["failed"], body["running"], body["waiting"]) == (total, 0, 0, 0)
    assert progress == BatchProgress(total=total, done=total, failed=0, running=0, waiting=0)
    assert (outcome.done, outcome.failed) == (total, 0)
    segments = [rep["segment"]["value"] for rep in body["reports"]]
    assert [rep["index"] for rep in body["reports"]] == list(range(total))
    assert f"— plan: {segments[0]}" in page
    seen = 0
    with sessions() as session:
        assert sorted(segments) == sorted({r.answers["plan"] for r in session.query(Response)
                                           if "plan" in r.answers})
        for rep in body["reports"]:
            assert rep["status"] == "completed"
            snapshot = report_store.load_snapshot(session, report_id=uuid.UUID(rep["report_id"]))
            assert snapshot is not None and snapshot.responses
            assert {r.answers.get("plan") for r in snapshot.responses} == {rep["segment"]["value"]}
            seen += len(snapshot.responses)
            report = report_store.load_report(session, report_id=uuid.UUID(rep["report_id"]))
            assert report is not None and report.batch_id == uuid.UUID(accepted["batch_id"])
            view = report_page_view(session, report)
            assert view.survey_title == f"Acme Cloud customer feedback 2026 — plan: {rep['segment']['value']}"
            basic = report_store.get_component(session, report_id=report.id, name="basic_stats")
            assert basic is not None and basic.result is not None
            assert basic.result["response_count"] == len(snapshot.responses)
        answered = sum(1 for r in session.query(Response) if "plan" in r.answers)
    assert seen == answered
    # At most `concurrency` (2) of the batch's reports existed unfinished at any moment.
    with sessions() as session:
        spans = [(r.created_at, r.completed_at) for r in batch_store.batch_reports(
            session, batch_id=uuid.UUID(accepted["batch_id"]))]
    assert max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans) <= 2


@pytest.mark.temporal
async def test_a_failed_child_does_not_fail_the_batch_which_continues_as_new(temporal_env, settings) -> None:
    surveys = [load_survey(settings, responses=15) for _ in range(3)]
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))

    async def client():  # type: ignore[no-untyped-def]
        return temporal_env.client

    # Queued while no worker serves the batch queue; then the second survey is emptied before its report is made.
    batch = await queue_batch(sessions=sessions, settings=settings, client=client,
                              organization_id=DEFAULT_ORGANIZATION_ID, survey_ids=surveys, components=["basic_stats"],
                              concurrency=4, continue_after=2)
    with transaction(sessions) as session:
        session.execute(delete(Response).where(Response.survey_id == surveys[1]))
    handle = temporal_env.client.get_workflow_handle(batch_workflow_id(batch.id), result_type=BatchOutcome)
    first_run = (await handle.describe()).run_id
    # The worker goes away once the first report is done; another one (nothing cached) carries the batch on.
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            deadline = time.monotonic() + 60
            while (await handle.query(BatchReportWorkflow.progress)).done < 1:
                assert time.monotonic() < deadline, "the first report did not finish"
                await asyncio.sleep(0.2)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            outcome = await asyncio.wait_for(handle.result(), timeout=60)
    assert (outcome.total, outcome.done, outcome.failed) == (3, 2, 1)
    # Two children in the first run, then it continued as new carrying the next item and the counts.
    first = temporal_env.client.get_workflow_handle(batch_workflow_id(batch.id), run_id=first_run)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    for run in (first, handle):  # both runs replay deterministically from their histories
        await Replayer(workflows=[BatchReportWorkflow]).replay_workflow(await run.fetch_history())
    with sessions() as session:
        stored = batch_store.load_batch(session, batch_id=batch.id)
        assert stored is not None and stored.status == "completed" and stored.completed_at is not None
        counts = batch_store.batch_counts(session, stored)
        assert (counts.total, counts.done, counts.failed, counts.running, counts.waiting) == (3, 2, 1, 0, 0)
        assert list(stored.item_errors or {}) == ["1"] and "no responses" in stored.item_errors["1"]
        reports = batch_store.batch_reports(session, batch_id=batch.id)
        assert [(r.batch_index, r.survey_id, r.status) for r in reports] == [
            (0, surveys[0], "completed"), (2, surveys[2], "completed")]
        assert all(r.segment_filter is None for r in reports)


# --- cancelling a batch ------------------------------------------------------------------------------------------


def test_cancelling_a_batch_is_checked_before_temporal(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    with transaction(db) as session:
        finished = batch_store.create_batch(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                            items=[{"survey_id": survey_id, "segment": None}], split_by=None,
                                            component_names=["basic_stats"], parameters={}, concurrency=1)
        queued = batch_store.create_batch(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                          items=[{"survey_id": survey_id, "segment": None}], split_by=None,
                                          component_names=["basic_stats"], parameters={}, concurrency=1)
        batch_store.set_batch_status(session, batch_id=finished.id, status=batch_store.BatchStatus.COMPLETED)
    # Unknown, malformed and another organization's batches are not found; a finished one is a 409.
    assert client.post(f"{BATCHES}/{uuid.uuid4()}/cancel").status_code == 404
    assert client.post(f"{BATCHES}/not-an-id/cancel").status_code == 404
    assert client.post(f"{BATCHES}/{queued.id}/cancel", headers=foreign_key(db)).status_code == 404
    done = client.post(f"{BATCHES}/{finished.id}/cancel")
    assert done.status_code == 409 and "already finished (completed)" in done.json()["detail"], done.text
    # Temporal unreachable: 503 and nothing changes.
    down = client.post(f"{BATCHES}/{queued.id}/cancel")
    assert down.status_code == 503, down.text
    assert client.get(f"{BATCHES}/{queued.id}").json()["status"] == "queued"


@pytest.mark.temporal
async def test_cancelling_a_running_batch_cancels_its_reports_and_starts_no_more(
        temporal_env, settings, tmp_path) -> None:
    from tests.integration.test_report_run import broken_notebooks

    folder = broken_notebooks(tmp_path, "basic_stats", "import time\nfor _ in range(600):\n    time.sleep(0.5)")
    settings = settings.model_copy(update={"notebooks_dir": folder})
    surveys = [load_survey(settings, responses=15) for _ in range(3)]
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    them = foreign_key(sessions)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post(BATCHES, json={"survey_ids": [str(s) for s in surveys],
                                                 "components": ["basic_stats"], "concurrency": 2})
            assert r.status_code == 202, r.text
            url = r.json()["status_url"]
            batch_id = r.json()["batch_id"]

            def two_sleeping(body: dict[str, Any]) -> bool:
                return body["running"] == 2 and all(rep["status"] == "running" for rep in body["reports"])

            body = await wait_for(client, url, two_sleeping, timeout=60)
            for rep in body["reports"]:  # each report's kernel sleeps in its notebook
                await wait_for(client, rep["status_url"], lambda b: b["components"][0]["status"] == "running"
                               and b["components"][0]["cells_done"] >= 1, timeout=60)
            assert (await client.post(f"{url}/cancel", headers=them)).status_code == 404
            cancel = await client.post(f"{url}/cancel")
            assert cancel.status_code in (200, 202), cancel.text
            assert cancel.json()["batch_id"] == batch_id
            body = await wait_for(client, url, lambda b: b["status"] == "cancelled", timeout=60)
            import psutil

            from tests.integration.test_cancel import kernels

            _, alive = psutil.wait_procs(kernels(), timeout=10)
            assert not alive, f"kernels left after the cancel: {alive}"
            handle = temporal_env.client.get_workflow_handle(batch_workflow_id(batch_id))
            # The workflow marks the batch cancelled (an activity), then closes: the row can come first.
            closing = asyncio.get_running_loop().time() + 30
            while (described := await handle.describe()).status == WorkflowExecutionStatus.RUNNING \
                    and asyncio.get_running_loop().time() < closing:
                await asyncio.sleep(0.1)
            assert described.status == WorkflowExecutionStatus.CANCELED
            await Replayer(workflows=[BatchReportWorkflow]).replay_workflow(await handle.fetch_history())
            again = await client.post(f"{url}/cancel")
            assert again.status_code == 409 and "already finished (cancelled)" in again.json()["detail"]
            status = (await client.get(body["reports"][0]["status_url"])).json()
            listed = (await client.get("/api/v1/reports")).json()["data"]
    # The two running reports were cancelled (as a report cancelled alone), the third was never made.
    assert (body["total"], body["done"], body["failed"], body["cancelled"], body["running"], body["waiting"]) == (
        3, 0, 0, 3, 0, 0)
    assert body["completed_at"] is not None
    assert [(rep["index"], rep["status"]) for rep in body["reports"]] == [(0, "cancelled"), (1, "cancelled")]
    assert status["batch_id"] == batch_id and status["schedule_id"] is None
    assert {item["batch_id"] for item in listed} == {batch_id}
    with sessions() as session:
        for report in batch_store.batch_reports(session, batch_id=uuid.UUID(batch_id)):
            assert report.status == "cancelled" and report.error == "cancelled by request"
            assert {c.status for c in report.components} == {"cancelled"}
        assert batch_store.batch_report(session, batch_id=uuid.UUID(batch_id), index=2) is None
