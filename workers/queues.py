"""The task queues, one per workload (as in the design document), and their full names.

`reports`: workflows and the short bookkeeping steps; `notebooks`: kernel-heavy components; `ai`: components that
call a model (few at once, so a slow model never starves the others); `batch`: batch workflows. A worker process
serves the queues it is started with (`workbench worker --queues notebooks,ai`); the embedded stack serves all.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    REPORTS = "reports"
    NOTEBOOKS = "notebooks"
    AI = "ai"
    BATCH = "batch"


def queue_name(prefix: str, queue: Queue | str) -> str:
    """The Temporal task queue of `queue` under the deployment's prefix (`Settings.task_queue`)."""
    return f"{prefix}-{Queue(queue).value}"


def parse_queues(text: str | None) -> list[Queue]:
    """`"notebooks,ai"` -> the queues, in a stable order; None or "all" -> every queue. Raises ValueError."""
    if text is None or text.strip() in ("", "all"):
        return list(Queue)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in Queue.__members__.values()]
    if unknown:
        raise ValueError(f"unknown queues {unknown}; known: {', '.join(q.value for q in Queue)}")
    return [q for q in Queue if q.value in names]
