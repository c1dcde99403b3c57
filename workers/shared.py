"""Inputs and outputs of the workflow and activities: small stdlib dataclasses, IDs and metadata only."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.statuses import ComponentStatus, ReportStatus


def workflow_id(report_id: str, run: int = 0) -> str:
    """The first run's workflow id is the report id (Temporal refuses a duplicate start); a rerun's is
    `<report id>.rerun-<n>`."""
    return report_id if run == 0 else f"{report_id}.rerun-{run}"


@dataclass
class ComponentPlan:
    name: str
    needs: list[str] = field(default_factory=list)  # components whose results this one reads
    task_queue: str | None = None  # where its activity runs; None: the workflow's own queue


@dataclass
class ReportInput:
    report_id: str
    components: list[ComponentPlan]  # in dependency order: every need comes before the components needing it
    component_timeout_seconds: int = 1800
    heartbeat_timeout_seconds: int = 30
    max_component_attempts: int = 3
    infrastructure_retry_seconds: int = 600  # how long a step retries while the database or workers are down


@dataclass
class ReportRef:
    report_id: str


@dataclass
class PreparedReport:
    report_id: str
    response_count: int


@dataclass
class ComponentInput:
    report_id: str
    component: str


@dataclass
class SkipComponentInput:
    report_id: str
    component: str
    reason: str


@dataclass
class FinishReportInput:
    report_id: str
    # Why components ended without a result, as the workflow saw it; rows still unfinished get these messages.
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class FailReportInput:
    report_id: str
    message: str


@dataclass
class CancelReportInput:
    report_id: str
    reason: str


@dataclass
class ReportOutcome:
    report_id: str
    status: ReportStatus
    failed_components: list[str] = field(default_factory=list)  # failed or skipped


@dataclass
class ComponentProgress:
    """What the `progress` query returns for one component."""

    state: ComponentStatus
    error: str | None = None
