"""The worker process: connects to Temporal and the database, runs report workflows and activities.

`python -m workers.worker` (or `workbench worker`). SIGTERM/SIGINT stop polling on every queue at once, let running
activities finish within the grace period (`worker_graceful_shutdown_seconds`), then cancel what still runs (its
attempt fails and is retried on another worker) and exit; notebook kernels are shut down by their activities, the
kernel pool's waiting kernels (`workbench.kernel_pool`, `notebooks` queue) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from workbench import kernel_pool
from workbench.config import Settings, get_settings
from workbench.kernelspec import install_kernelspec, is_installed
from workbench.storage.db import make_engine, make_sessionmaker
from workers.activities import ReportActivities
from workers.batches import BatchActivities, BatchReportWorkflow
from workers.health import WorkerHealth, serve
from workers.queues import Queue, queue_name
from workers.scheduled import ScheduleActivities, ScheduledReportWorkflow, SweepActivities, SweepWorkflow
from workers.starter import connect
from workers.sweep import run_sweeps
from workers.webhooks import DeliverWebhookWorkflow, WebhookActivities
from workers.workflows import ReportWorkflow

log = logging.getLogger("workbench.worker")


def graceful_shutdown(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.worker_graceful_shutdown_seconds)


def concurrency(settings: Settings, queue: Queue) -> int:
    return {Queue.REPORTS: settings.reports_concurrent_activities, Queue.NOTEBOOKS: settings.max_concurrent_activities,
            Queue.AI: settings.ai_concurrent_activities, Queue.BATCH: settings.reports_concurrent_activities}[queue]


def executor_threads(settings: Settings, queues: list[Queue] | None = None) -> int:
    """Threads for the activity executor the workers of `queues` (default: all) share: a slot of every queue's, so
    no activity a worker takes waits for a thread while its timeouts run, and one more."""
    return sum(concurrency(settings, q) for q in queues or list(Queue)) + 1


class WorkerGroup:
    """One Temporal worker per task queue this process serves, started and stopped together."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> WorkerGroup:
        for worker in self.workers:
            await self._stack.enter_async_context(worker)
        return self

    async def shutdown(self) -> None:
        """Stop polling on every queue at once, then wait for running activities (cancelled after the grace period).

        Exited one by one, a queue would keep taking new tasks (a new report's workflow, say) while another drains,
        and the drains would add up beyond the grace period. Safe to call more than once."""
        await asyncio.gather(*(worker.shutdown() for worker in self.workers))

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
        await self._stack.aclose()


def build_worker(
    client: Client, settings: Settings, executor: ThreadPoolExecutor, sessions: sessionmaker[Session],
    queues: list[Queue] | None = None,
) -> WorkerGroup:
    """Workers for `queues` (default: all): `reports` runs the workflows and bookkeeping steps; `notebooks` and
    `ai` run components."""
    activities = ReportActivities(settings, sessions)
    webhooks = WebhookActivities(settings, sessions)
    workers = []
    for queue in queues or list(Queue):
        if queue == Queue.REPORTS:
            kinds: dict[str, Any] = {"workflows": [ReportWorkflow, DeliverWebhookWorkflow, ScheduledReportWorkflow,
                                                   SweepWorkflow],
                                     "activities": [*activities.bookkeeping(), *webhooks.all(),
                                                    *ScheduleActivities(settings, sessions).all(),
                                                    *SweepActivities(settings, sessions).all()]}
        elif queue in (Queue.NOTEBOOKS, Queue.AI):
            kinds = {"activities": [activities.run_component]}
        else:  # Queue.BATCH: batch workflows and their bookkeeping (their reports run on `reports`)
            kinds = {"workflows": [BatchReportWorkflow], "activities": BatchActivities(settings, sessions).all()}
        workers.append(Worker(
            client, task_queue=queue_name(settings.task_queue, queue), activity_executor=executor,
            max_concurrent_activities=concurrency(settings, queue),
            graceful_shutdown_timeout=graceful_shutdown(settings), **kinds,
        ))
    return WorkerGroup(workers)


async def run_worker(settings: Settings, queues: list[Queue] | None = None) -> None:
    queues = queues or list(Queue)
    if not is_installed():
        install_kernelspec()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    threads = executor_threads(settings, queues)
    with ThreadPoolExecutor(max_workers=threads) as executor, kernel_pool.serving(settings, Queue.NOTEBOOKS in queues):
        sessions = make_sessionmaker(make_engine(settings.effective_database_url,
                                                 pool_size=max(settings.database_pool_size, threads)))
        group = build_worker(client, settings, executor, sessions, queues)
        log.info("worker polling %s on %s", ", ".join(w.task_queue for w in group.workers),
                 settings.temporal_address)
        health = WorkerHealth([w.task_queue for w in group.workers])
        server = serve(health, settings.worker_health_host, settings.worker_health_port) \
            if settings.worker_health_port is not None else None
        async with group:
            sweeper = asyncio.create_task(run_sweeps(client, settings, sessions, stop))
            watcher = asyncio.create_task(health.watch(client, stop))
            await stop.wait()
            log.info("shutting down: no new tasks; running activities get %s s to finish",
                     settings.worker_graceful_shutdown_seconds)
            await asyncio.gather(group.shutdown(), sweeper, watcher)
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("worker stopped")


def main(queues: list[Queue] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker(get_settings(), queues))


if __name__ == "__main__":
    main()
