"""The states of a report and of its components: one definition for the tables, the API schemas (so OpenAPI
lists the values) and the workflow's shared types. Standard library only, so the workflow sandbox can load it."""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    """queued -> running -> completed | partial (some components without a result) | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in {ReportStatus.COMPLETED, ReportStatus.PARTIAL, ReportStatus.FAILED, ReportStatus.CANCELLED}


class ComponentStatus(StrEnum):
    """pending -> running -> completed | failed; pending -> skipped (an upstream component did not complete);
    pending | running -> cancelled (the report was cancelled first)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in {ComponentStatus.COMPLETED, ComponentStatus.FAILED, ComponentStatus.SKIPPED,
                        ComponentStatus.CANCELLED}
