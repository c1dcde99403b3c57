"""Record ReportWorkflow histories from real runs, for the replay test (tests/integration/test_workflow.py).

`python -m tests.histories.record VERSION` runs two reports on a Temporal dev server with the real worker,
notebooks and a temporary SQLite database, and writes `report_workflow-<VERSION>-<case>.json` here:
`completed` (every component) and `upstream-failed` (basic_stats raises, so visualizations is skipped).

Record a new VERSION whenever ReportWorkflow changes in a way that old histories cannot replay, and keep the old
files for as long as workflows of that version may still be running.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from temporalio.testing import WorkflowEnvironment

from workbench.config import REPO_ROOT, Settings
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.migrate import upgrade
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file
from workers.shared import ReportOutcome
from workers.starter import queue_report
from workers.worker import build_worker, executor_threads

HERE = Path(__file__).resolve().parent
SAMPLE = REPO_ROOT / "notebooks" / "data" / "sample_survey.json"


def broken_basic_stats(folder: Path) -> Path:
    shutil.copytree(REPO_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("data"))
    nb = nbformat.read(folder / "basic_stats.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('recorded failure')"))
    nbformat.write(nb, folder / "basic_stats.ipynb")
    return folder


async def record(version: str) -> None:
    temporal = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal, ui=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'wb.db'}",
                                task_queue=f"record-{uuid.uuid4().hex[:8]}")
            upgrade(settings.effective_database_url)
            sessions = make_sessionmaker(make_engine(settings.effective_database_url))
            definition, raw = read_survey_file(SAMPLE)
            with transaction(sessions) as session:
                survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                                    definition=definition)
                survey_store.add_responses(session, survey_id=survey.id,
                                           records=parse_responses(definition, raw[:200], fmt="json"))
            cases = {"completed": settings,
                     "upstream-failed": settings.model_copy(update={"notebooks_dir": broken_basic_stats(data / "nb")})}
            for case, case_settings in cases.items():
                await run_case(env, case_settings, sessions, survey.id, HERE / f"report_workflow-{version}-{case}.json")
    finally:
        await env.shutdown()


async def run_case(env, settings: Settings, sessions, survey_id: uuid.UUID, out: Path) -> None:  # type: ignore[no-untyped-def]
    async def client():  # type: ignore[no-untyped-def]
        return env.client

    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(env.client, settings, executor, sessions):
            report = await queue_report(sessions=sessions, settings=settings, client=client,
                                        organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
            handle = env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome)
            outcome = await handle.result()
    history = await handle.fetch_history()
    out.write_text(history.to_json())
    print(f"{out.name}: {outcome.status}, without a result: {outcome.failed_components}")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
