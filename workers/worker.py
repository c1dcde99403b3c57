"""The worker process: connects to Temporal and the database, runs report workflows and activities.

`python -m workers.worker` (or `workbench worker`). SIGTERM/SIGINT stop polling, let running activities finish
within the graceful timeout, then exit; notebook kernels are shut down by their activities.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from workbench.config import Settings, get_settings
from workbench.kernelspec import install_kernelspec, is_installed
from workbench.storage.db import make_engine, make_sessionmaker
from workers.activities import ReportActivities
from workers.starter import connect
from workers.sweep import run_sweeper
from workers.workflows import ReportWorkflow

log = logging.getLogger("workbench.worker")


def build_worker(
    client: Client, settings: Settings, executor: ThreadPoolExecutor, sessions: sessionmaker[Session]
) -> Worker:
    activities = ReportActivities(settings, sessions)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ReportWorkflow],
        activities=activities.all(),
        activity_executor=executor,
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def run_worker(settings: Settings) -> None:
    if not is_installed():
        install_kernelspec()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities + 1) as executor:
        sessions = make_sessionmaker(make_engine(settings.effective_database_url))
        worker = build_worker(client, settings, executor, sessions)
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            sweeper = asyncio.create_task(run_sweeper(client, settings, sessions, stop))
            await stop.wait()
            log.info("shutting down: finishing running activities")
            await sweeper
    log.info("worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
