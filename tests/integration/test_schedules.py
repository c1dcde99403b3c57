"""Recurring reports and report identity: `POST /api/v1/schedules` checks the request up front (422 naming the field,
404 for an unknown or another organization's survey, 503 without Temporal, nothing stored); on the real Temporal
dev server with the real worker a schedule's run makes a report through the one door and runs it, pause, resume,
trigger and delete act on its Temporal Schedule, lists are the organization's, deleting the survey deletes its
schedules, and a Temporal Schedule whose row is gone deletes itself. The survey's latest report (`?status=`,
`?as_of=`) and its page redirect. The sweep runs from its own schedule, made (or updated) at worker start."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.worker import Replayer

from tests.integration.api_support import create_survey, import_json, response
from tests.integration.test_batches import foreign_key
from tests.integration.test_cancel import api
from tests.integration.test_report_run import load_survey, queue_report
from tests.integration.test_sweep import age
from workbench.access import Role
from workbench.statuses import ReportStatus
from workbench.storage import access as access_store
from workbench.storage import deletion
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, Report, ReportSchedule
from workers.scheduled import (
    ScheduledOutcome,
    ScheduledReportWorkflow,
    SweepOutcome,
    SweepWorkflow,
    sweep_schedule_id,
)
from workers.schedules import describe, ensure_sweep_schedule
from workers.shared import ReportOutcome
from workers.worker import build_worker, executor_threads

SCHEDULES = "/api/v1/schedules"


def loc(r: Any) -> list[Any]:
    assert r.status_code == 422, r.text
    return r.json()["detail"][0]["loc"]


# --- the request, checked before anything is stored (Temporal unreachable) -----------------------------------------


def test_a_schedule_request_is_checked_up_front(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    ok = {"survey_id": survey_id, "cron": "0 9 * * MON", "components": ["basic_stats"]}
    assert loc(client.post(SCHEDULES, json={"cron": "@daily"})) == ["body", "survey_id"]
    assert loc(client.post(SCHEDULES, json={"survey_id": survey_id})) == ["body", "cron"]
    assert loc(client.post(SCHEDULES, json={**ok, "interval_seconds": 3600})) == ["body", "cron"]
    for cron in ("not a cron", "0 9 * *", "@every 5m", "0 9 * * MON;rm"):
        assert loc(client.post(SCHEDULES, json={**ok, "cron": cron})) == ["body", "cron"], cron
    assert loc(client.post(SCHEDULES, json={"survey_id": survey_id, "interval_seconds": 5})) == [
        "body", "interval_seconds"]
    assert loc(client.post(SCHEDULES, json={**ok, "time_zone": "Mars/Olympus"})) == ["body", "time_zone"]
    for zone in ("../../etc/passwd", "Europe", "zone.tab", "UTC\n", ""):
        assert loc(client.post(SCHEDULES, json={**ok, "time_zone": zone})) == ["body", "time_zone"], zone
    assert loc(client.post(SCHEDULES, json={**ok, "components": ["astrology"]})) == ["body", "components"]
    themes = {**ok, "components": None, "parameters": {"themes": {"n_themes": "8"}}}
    assert loc(client.post(SCHEDULES, json=themes)) == ["body", "parameters", "themes", "n_themes"]
    # Unknown surveys, and another organization's, are not found.
    assert client.post(SCHEDULES, json={**ok, "survey_id": str(uuid.uuid4())}).status_code == 404
    them = foreign_key(db)
    assert client.post(SCHEDULES, json=ok, headers=them).status_code == 404
    # Valid, but Temporal is unreachable: 503 and nothing stays stored.
    down = client.post(SCHEDULES, json={**ok, "time_zone": "Europe/Berlin"})
    assert down.status_code == 503, down.text
    with db() as session:
        assert session.query(ReportSchedule).count() == 0
    assert client.get(SCHEDULES).json() == {"data": [], "count": 0}
    assert client.get(f"{SCHEDULES}/{uuid.uuid4()}").status_code == 404
    assert client.post(f"{SCHEDULES}/not-an-id/pause").status_code == 404


def test_a_schedule_change_is_checked_up_front(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    with transaction(db) as session:
        row = ReportSchedule(organization_id=DEFAULT_ORGANIZATION_ID, survey_id=uuid.UUID(survey_id),
                             cron="0 9 * * MON", time_zone="Europe/Berlin", component_names=["basic_stats"],
                             parameters={})
        session.add(row)
    url = f"{SCHEDULES}/{row.id}"
    assert loc(client.patch(url, json={"cron": "not a cron"})) == ["body", "cron"]
    assert loc(client.patch(url, json={"cron": "@daily", "interval_seconds": 3600})) == ["body", "cron"]
    assert loc(client.patch(url, json={"cron": None})) == ["body", "cron"]  # neither cron nor an interval left
    assert loc(client.patch(url, json={"interval_seconds": 5})) == ["body", "interval_seconds"]
    assert loc(client.patch(url, json={"time_zone": "Mars/Olympus"})) == ["body", "time_zone"]
    assert loc(client.patch(url, json={"components": ["astrology"]})) == ["body", "components"]
    assert loc(client.patch(url, json={"parameters": {"themes": {"n_themes": 8}}})) == ["body", "parameters",
                                                                                         "themes"]
    themes = {"components": ["themes"], "parameters": {"themes": {"n_themes": "8"}}}
    assert loc(client.patch(url, json=themes)) == ["body", "parameters", "themes", "n_themes"]
    assert loc(client.patch(url, json={"survey_id": str(uuid.uuid4())})) == ["body", "survey_id"]
    assert loc(client.patch(url, json={"paused": True})) == ["body", "paused"]
    # Unknown schedules, and another organization's, are not found.
    assert client.patch(f"{SCHEDULES}/{uuid.uuid4()}", json={"cron": "@daily"}).status_code == 404
    assert client.patch(url, json={"cron": "@daily"}, headers=foreign_key(db)).status_code == 404
    # Nothing asked: the schedule as it is. Valid, but Temporal is unreachable: 503 and nothing changes.
    same = client.patch(url, json={})
    assert same.status_code == 200 and same.json()["cron"] == "0 9 * * MON"
    down = client.patch(url, json={"interval_seconds": 3600})
    assert down.status_code == 503, down.text
    with db() as session:
        stored = session.get(ReportSchedule, row.id)
        assert stored is not None and (stored.cron, stored.interval_seconds) == ("0 9 * * MON", None)


def test_deleting_a_survey_deletes_its_schedule_rows_even_while_temporal_is_down(
        client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    other = create_survey(client, title="Other")
    with transaction(db) as session:
        for sid in (survey_id, survey_id, other):
            session.add(ReportSchedule(organization_id=DEFAULT_ORGANIZATION_ID, survey_id=uuid.UUID(sid),
                                       interval_seconds=3600, component_names=["basic_stats"], parameters={}))
    with db() as session:
        ids = deletion.stop_survey_schedules(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                             survey_id=uuid.UUID(survey_id))
        assert len(ids) == 2
    assert client.delete(f"/api/v1/surveys/{survey_id}").status_code == 204  # Temporal down: logged, not failed
    with db() as session:
        assert [str(s) for s in session.scalars(select(ReportSchedule.survey_id))] == [other]


# --- the latest report ---------------------------------------------------------------------------------------------


def test_the_latest_report_of_a_survey_by_status_and_as_of(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9)]).status_code == 201
    latest = f"/api/v1/surveys/{survey_id}/reports/latest"
    assert client.get(latest).status_code == 404  # no report yet
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    made: dict[str, str] = {}
    with transaction(db) as session:
        for name, days, report_status, roles in [("old", 0, ReportStatus.COMPLETED, None),
                                                 ("mid", 7, ReportStatus.FAILED, None),
                                                 ("new", 14, ReportStatus.RUNNING, None),
                                                 ("secret", 15, ReportStatus.COMPLETED, ["admin"])]:
            report = report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                                survey_id=uuid.UUID(survey_id), component_names=["basic_stats"],
                                                required_roles=roles)
            report.created_at, report.status = t0 + timedelta(days=days), report_status
            made[name] = str(report.id)
        viewer = access_store.create_key(session, organization_id=DEFAULT_ORGANIZATION_ID, user_name="v",
                                         role=Role.VIEWER).text
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    got = client.get(latest)
    assert got.status_code == 200 and got.json()["report_id"] == made["secret"]  # the admin reads it
    body = client.get(latest, headers=as_viewer).json()  # the viewer does not: the one before
    assert body["report_id"] == made["new"] and body["status"] == "running"
    assert body["links"]["page"] == f"/reports/{made['new']}"
    assert client.get(latest, params={"status": "completed"}, headers=as_viewer).json()["report_id"] == made["old"]
    assert client.get(latest, params={"as_of": "2026-03-10T00:00:00Z"}).json()["report_id"] == made["mid"]
    assert client.get(latest, params={"as_of": "2026-03-09T09:00:00"}).json()["report_id"] == made["mid"]  # UTC
    assert client.get(latest, params={"as_of": "2026-03-09T08:59:59Z"}).json()["report_id"] == made["old"]
    assert client.get(latest, params={"as_of": "2026-03-01T00:00:00Z"}).status_code == 404
    assert client.get(latest, params={"status": "cancelled"}).status_code == 404
    assert client.get(latest, params={"status": "done"}).status_code == 422
    assert client.get(latest, params={"as_of": "last week"}).status_code == 422
    assert client.get(latest, params={"as_of": "0001-01-01T00:00:00+01:00"}).status_code == 422
    them = foreign_key(db)
    assert client.get(latest, headers=them).status_code == 404
    assert client.get(f"/api/v1/surveys/{uuid.uuid4()}/reports/latest").status_code == 404
    # The page: 303 to the report's page, 404 otherwise (HTML for a browser).
    page = client.get(f"/surveys/{survey_id}/reports/latest?status=completed", headers=as_viewer,
                      follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/reports/{made['old']}"
    html = client.get(f"/surveys/{survey_id}/reports/latest?status=cancelled", headers={"accept": "text/html"})
    assert html.status_code == 404 and "no report" in html.text
    assert client.get(f"/surveys/{survey_id}/reports/latest", headers=them, follow_redirects=False
                      ).status_code == 404
    assert client.get("/surveys/nope/reports/latest", follow_redirects=False).status_code == 404


# --- on the real Temporal dev server ---------------------------------------------------------------------------


async def _until(check, timeout: float = 60) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.3)


@pytest.mark.temporal
async def test_a_schedule_makes_and_runs_reports_and_stops_with_its_survey(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=40)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    them = foreign_key(sessions)
    temporal = temporal_env.client
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal, settings, executor, sessions), api(settings, temporal) as client:
            # Temporal checks what the light local check lets through: nothing stays stored.
            bad = await client.post(SCHEDULES, json={"survey_id": str(survey_id), "cron": "61 * * * *"})
            assert loc(bad) == ["body", "cron"] and "Minute" in bad.text
            created = await client.post(SCHEDULES, json={
                "survey_id": str(survey_id), "cron": "0 9 * * MON", "time_zone": "Europe/Berlin",
                "components": ["basic_stats"]})
            assert created.status_code == 201, created.text
            schedule = created.json()
            url = schedule["url"]
            assert created.headers["location"] == url == f"{SCHEDULES}/{schedule['schedule_id']}"
            assert schedule["components"] == ["basic_stats"] and schedule["paused"] is False
            detail = (await client.get(url)).json()
            assert detail["state"]["paused"] is False and detail["reports"] == []
            nxt = datetime.fromisoformat(detail["state"]["next_run_times"][0])
            assert nxt.astimezone(UTC).minute == 0 and nxt.weekday() == 0  # Mondays, 9:00 in Berlin
            # Org-scoped: another organization neither lists nor reads nor changes it.
            assert (await client.get(SCHEDULES)).json()["count"] == 1
            assert (await client.get(SCHEDULES, headers=them)).json()["count"] == 0
            for method, path in [("GET", url), ("POST", f"{url}/pause"), ("POST", f"{url}/trigger"),
                                 ("DELETE", url)]:
                assert (await client.request(method, path, headers=them)).status_code == 404, (method, path)

            # Run now: the run makes a report (through create_report_run) and runs it to completion.
            assert (await client.post(f"{url}/trigger")).status_code == 202

            async def completed() -> Any:
                body = (await client.get(url)).json()
                return body if body["reports"] and body["reports"][0]["status"] == "completed" else None

            detail = await _until(completed)
            report_id = detail["reports"][0]["report_id"]
            assert detail["last_error"] is None and detail["last_run_at"] is not None
            action = detail["state"]["recent_actions"][0]
            assert action["report_id"] == report_id
            assert action["workflow_id"].startswith(f"scheduled-{schedule['schedule_id']}-")
            with sessions() as session:
                report = session.get(Report, uuid.UUID(report_id))
                assert report is not None and str(report.schedule_id) == schedule["schedule_id"]
                assert report.component_names == ["basic_stats"]
            latest = (await client.get(schedule["latest_report_url"])).json()
            assert latest["report_id"] == report_id and latest["status"] == "completed"
            # The scheduled run's workflow replays deterministically, and says what it made.
            run = temporal.get_workflow_handle(action["workflow_id"], result_type=ScheduledOutcome)
            outcome = await run.result()
            assert outcome.report_id == report_id and outcome.status == ReportStatus.COMPLETED
            await Replayer(workflows=[ScheduledReportWorkflow]).replay_workflow(await run.fetch_history())

            # Pause and resume act on Temporal's schedule; the row follows.
            paused = await client.post(f"{url}/pause")
            assert paused.status_code == 200 and paused.json()["paused"] is True
            assert (await client.get(url)).json()["state"]["paused"] is True
            assert (await client.post(f"{url}/resume")).json()["paused"] is False
            assert (await client.get(url)).json()["state"]["paused"] is False

            # Delete one schedule: gone from Temporal and the database; its report stays.
            second = (await client.post(SCHEDULES, json={"survey_id": str(survey_id), "interval_seconds": 86400,
                                                          "paused": True})).json()
            assert (await client.get(second["url"])).json()["state"]["paused"] is True
            assert (await client.delete(url)).status_code == 204
            assert await describe(temporal, schedule["schedule_id"]) is None
            assert (await client.get(url)).status_code == 404
            assert (await client.get(f"/api/v1/reports/{report_id}/status")).status_code == 200

            # A Temporal Schedule whose row is gone (deleted while Temporal was down) deletes itself when it fires.
            orphan = (await client.post(SCHEDULES, json={"survey_id": str(survey_id), "interval_seconds": 86400,
                                                          "paused": True})).json()
            with transaction(sessions) as session:
                session.delete(session.get(ReportSchedule, uuid.UUID(orphan["schedule_id"])))
            await temporal.get_schedule_handle(orphan["schedule_id"]).trigger()

            async def gone() -> bool:
                return await describe(temporal, orphan["schedule_id"]) is None

            await _until(gone, timeout=30)

            # Deleting the survey deletes its remaining schedule, on Temporal too.
            assert (await client.delete(f"/api/v1/surveys/{survey_id}")).status_code == 204
            assert await describe(temporal, second["schedule_id"]) is None
            assert (await client.get(SCHEDULES)).json()["count"] == 0


@pytest.mark.temporal
async def test_the_sweep_runs_from_its_schedule_made_at_worker_start(temporal_env, settings) -> None:
    settings = settings.model_copy(update={"sweep_interval_seconds": 3600})
    survey_id = load_survey(settings, responses=20)
    sessions, report = queue_report(settings, survey_id, ["basic_stats"])  # stored, never started: starter died
    age(sessions, report.id, created_at=timedelta(seconds=30))
    temporal = temporal_env.client
    schedule_id = sweep_schedule_id(settings.task_queue)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal, settings, executor, sessions):
            assert await ensure_sweep_schedule(temporal, settings)  # made, and one sweep now

            async def swept() -> Any:
                info = (await temporal.get_schedule_handle(schedule_id).describe()).info
                return info.recent_actions[-1] if info.recent_actions and not info.running_actions else None

            action = await _until(swept)
            run = temporal.get_workflow_handle(action.action.workflow_id, result_type=SweepOutcome)
            outcome = await run.result()
            assert outcome.started == [str(report.id)] and outcome.errors == []
            await Replayer(workflows=[SweepWorkflow]).replay_workflow(await run.fetch_history())
            done = await temporal.get_workflow_handle(str(report.id), result_type=ReportOutcome).result()
            assert done.status == ReportStatus.COMPLETED
    # A worker started with another interval brings the schedule to it; an operator's pause is kept.
    handle = temporal.get_schedule_handle(schedule_id)
    await handle.pause(note="by the operator")
    later = settings.model_copy(update={"sweep_interval_seconds": 600})
    assert await ensure_sweep_schedule(temporal, later, sweep_now=False)
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(seconds=600)
    assert described.schedule.state.paused is True
    await handle.delete()


@pytest.mark.temporal
async def test_changing_a_schedule_updates_its_temporal_schedule_and_its_next_runs(temporal_env, settings) -> None:
    from zoneinfo import ZoneInfo

    from temporalio.client import ScheduleIntervalSpec

    survey_id = load_survey(settings, responses=20)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    temporal = temporal_env.client
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal, settings, executor, sessions), api(settings, temporal) as client:
            created = await client.post(SCHEDULES, json={
                "survey_id": str(survey_id), "cron": "0 9 * * MON", "time_zone": "Europe/Berlin",
                "components": ["basic_stats", "segments"], "parameters": {"segments": {"alpha": 0.1}}})
            assert created.status_code == 201, created.text
            schedule = created.json()
            url, schedule_id = schedule["url"], schedule["schedule_id"]
            # New times in another zone: Temporal's next runs follow.
            changed = await client.patch(url, json={"cron": "30 8 * * *", "time_zone": "America/New_York"})
            assert changed.status_code == 200, changed.text
            body = changed.json()
            assert (body["cron"], body["interval_seconds"], body["time_zone"]) == ("30 8 * * *", None,
                                                                                  "America/New_York")
            assert body["components"] == ["basic_stats", "segments"]  # what was not given stays
            detail = (await client.get(url)).json()
            nxt = datetime.fromisoformat(detail["state"]["next_run_times"][0]).astimezone(ZoneInfo("America/New_York"))
            assert (nxt.hour, nxt.minute) == (8, 30)
            # Paused, then changed to an interval: the interval replaces the cron, the pause is kept.
            assert (await client.post(f"{url}/pause")).status_code == 200
            body = (await client.patch(url, json={"interval_seconds": 7200})).json()
            assert (body["cron"], body["interval_seconds"], body["paused"]) == (None, 7200, True)
            described = await describe(temporal, schedule_id)
            assert described is not None and described.schedule.state.paused is True
            assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=2))]
            assert not described.schedule.spec.cron_expressions and not described.schedule.spec.calendars
            # Temporal refuses what the light local check lets through: 422 naming the field, nothing changed.
            bad = await client.patch(url, json={"cron": "61 * * * *"})
            assert loc(bad) == ["body", "cron"] and "Minute" in bad.text
            assert (await client.get(url)).json()["interval_seconds"] == 7200
            described = await describe(temporal, schedule_id)
            assert described is not None and described.schedule.spec.intervals[0].every == timedelta(hours=2)
            # Fewer components: the parameters of those no longer run are dropped; the next run makes that report.
            body = (await client.patch(url, json={"components": ["basic_stats"]})).json()
            assert (body["components"], body["parameters"]) == (["basic_stats"], {})
            assert (await client.post(f"{url}/trigger")).status_code == 202

            async def completed() -> Any:
                body = (await client.get(url)).json()
                return body if body["reports"] and body["reports"][0]["status"] == "completed" else None

            report_id = (await _until(completed))["reports"][0]["report_id"]
            status = (await client.get(f"/api/v1/reports/{report_id}/status")).json()
            full = (await client.get(f"/api/v1/reports/{report_id}")).json()
            listed = (await client.get("/api/v1/reports")).json()["data"]
            latest = (await client.get(schedule["latest_report_url"])).json()
    assert [c["name"] for c in status["components"]] == ["basic_stats"]
    assert status["schedule_id"] == full["schedule_id"] == latest["schedule_id"] == schedule_id
    assert status["batch_id"] is None and full["batch_id"] is None
    assert [(r["report_id"], r["schedule_id"], r["batch_id"]) for r in listed] == [(report_id, schedule_id, None)]
    with sessions() as session:
        row = session.get(ReportSchedule, uuid.UUID(schedule_id))
        assert row is not None and (row.cron, row.interval_seconds, row.time_zone) == (None, 7200, "America/New_York")
        assert row.component_names == ["basic_stats"] and row.paused is True
    await temporal.get_schedule_handle(schedule_id).delete()
