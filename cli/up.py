"""`workbench up`: the embedded stack end to end."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, fail
from cli.reports import watch_report
from workbench.config import REPO_ROOT, Settings, get_settings

SAMPLE = REPO_ROOT / "notebooks" / "data" / "sample_survey.json"


def up(
    serve: Annotated[bool, typer.Option(help="Keep serving after the report is ready (Ctrl-C stops)")] = True,
    survey: Annotated[Path, typer.Option(help="Survey to load (snapshot-shaped JSON)", exists=True)] = SAMPLE,
) -> None:
    """The embedded stack end to end: Temporal dev server, SQLite, a worker, the API; loads the sample survey,
    generates a report through the API and prints its URLs."""
    import httpx

    from cli.stack import Stack

    settings = get_settings()
    key = admin_key(settings)
    stack = Stack(settings, env={"WORKBENCH_BOOTSTRAP_ADMIN_KEY": key})
    stack.prepare()
    # SIGTERM must stop the children too (they run in their own sessions, so only we can stop them).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = stack.start_temporal()
        console.print(f"Temporal {'dev server started' if started else 'already running'} at "
                      f"{settings.temporal_address}")
        stack.start_worker()
        stack.start_api()
        base = f"http://{settings.api_host}:{settings.api_port}"
        console.print(f"API up at {base} (logs in {stack.log_dir})")
        auth = {"Authorization": f"Bearer {key}"}
        report_id = _generate_through_api(base, survey, auth)
        status = watch_report(settings, report_id, timeout=settings.component_timeout_seconds * 2)
        _print_summary(base, settings, report_id, status, auth)
        print(f"  Sign in:         {base}/login with the admin key {key}")
        if serve:
            console.print("Serving; press Ctrl-C to stop.")
            while all(p.poll() is None for p in stack.processes.values()):
                time.sleep(1)
            raise fail("a stack process exited; see the logs in " + str(stack.log_dir))
        if status != "completed":
            raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping")
    except typer.Exit:
        raise  # already reported (it is a RuntimeError too, so it must pass before the next clause)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        raise fail(f"{exc} (logs in {stack.log_dir})") from None
    finally:
        stack.stop()


def admin_key(settings: Settings) -> str:
    """The embedded stack's admin key: WORKBENCH_BOOTSTRAP_ADMIN_KEY if set, else one made on the first start and
    kept in `<data_dir>/admin-key` (readable by its owner only), so the printed key stays the same."""
    from workbench.access import new_api_key

    if settings.bootstrap_admin_key is not None:
        return settings.bootstrap_admin_key.get_secret_value()
    path = settings.data_dir / "admin-key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    text = new_api_key().text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    return text


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _generate_through_api(base: str, survey_path: Path, auth: dict[str, str]) -> uuid.UUID:
    import json

    import httpx

    data = json.loads(survey_path.read_text())
    definition = {k: v for k, v in data["survey"].items() if k != "id"}
    with httpx.Client(base_url=base, timeout=120, headers=auth) as client:
        created = client.post("/api/v1/surveys", json=definition)
        created.raise_for_status()
        survey_id = created.json()["id"]
        answer = client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": data["responses"]})
        answer.raise_for_status()
        body = answer.json()
        while answer.status_code == 202 and body["status"] not in ("completed", "failed"):
            time.sleep(0.5)  # a large survey is imported in the background
            body = client.get(body["status_url"]).json()
        if body.get("status") == "failed":
            raise RuntimeError(f"importing {survey_path} failed: {body.get('error') or body.get('issues')}")
        console.print(f"survey {survey_id}: {body['imported']} responses imported", markup=False)
        queued = client.post("/api/v1/reports", json={"survey_id": survey_id})
        queued.raise_for_status()
        return uuid.UUID(queued.json()["report_id"])


def _print_summary(base: str, settings: Settings, report_id: uuid.UUID, status: str,
                   auth: dict[str, str]) -> None:
    import httpx

    from workbench.reports.links import ReportLinks

    links = ReportLinks.of(report_id, base)
    body = httpx.get(links.report, timeout=30, headers=auth).json()
    basic = next((c["result"] for c in body["components"] if c["name"] == "basic_stats" and c["result"]), None)
    console.print(f"\nReport {report_id}: [bold]{status}[/]")
    if basic:
        nps = (basic.get("nps") or {}).get("score")
        rate = basic.get("completion_rate")
        console.print(f"  {basic['response_count']} responses, completion rate "
                      + (f"{rate:.1%}" if rate is not None else "unknown")
                      + (f", NPS {nps:.1f}" if nps is not None else ""))
    for c in body["components"]:
        if c["error"]:
            console.print(f"  {c['name']} failed: {c['error'].get('message')}", highlight=False)
    print(f"  Report page:     {links.page}")
    print(f"  PDF:             {links.pdf}")
    print(f"  Report JSON:     {links.report}")
    print(f"  API docs:        {base}/docs")
    print(f"  Temporal Web UI: http://{settings.temporal_address.rpartition(':')[0]}:{settings.temporal_ui_port}"
                  f"/namespaces/{settings.temporal_namespace}/workflows/{report_id}")


