"""The activities as Temporal sees them (ActivityEnvironment): errors become the right retry decisions."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from workbench.config import Settings
from workbench.reports import steps
from workbench.runner import KernelDiedError, NotebookError
from workers.activities import ReportActivities
from workers.shared import ComponentInput


def environment(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


@pytest.fixture
def activities(settings: Settings, sessions: sessionmaker[Session]) -> ReportActivities:
    return ReportActivities(settings.model_copy(update={"max_component_attempts": 3}), sessions)


def failing_with(exc: Exception) -> Any:
    def execute(*args: Any, **kwargs: Any) -> None:
        raise exc
    return execute


def test_a_dead_kernel_is_retried_until_the_attempts_are_spent(
    activities: ReportActivities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "execute_component", failing_with(KernelDiedError("the kernel died")))
    params = ComponentInput(str(uuid.uuid4()), "themes")
    with pytest.raises(KernelDiedError):  # retryable: Temporal tries again
        environment(attempt=2).run(activities.run_component, params)
    with pytest.raises(ApplicationError) as raised:
        environment(attempt=3).run(activities.run_component, params)
    assert raised.value.non_retryable and raised.value.type == "NotebookError"
    assert "attempt 3 of 3" in raised.value.message


def test_an_outage_is_never_made_final_by_the_activity(
    activities: ReportActivities, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    outage = OperationalError("SELECT 1", {}, Exception("connection refused"))
    monkeypatch.setattr(steps, "execute_component", failing_with(outage))
    with pytest.raises(OperationalError):  # whatever the attempt: the workflow's time budget decides
        environment(attempt=50).run(activities.run_component, ComponentInput(str(uuid.uuid4()), "themes"))


def test_a_notebook_error_is_final_with_its_cell(activities: ReportActivities, monkeypatch: pytest.MonkeyPatch) -> None:
    error = NotebookError("cell 4 raised ValueError: bad", cell_index=4, ename="ValueError", evalue="bad")
    monkeypatch.setattr(steps, "execute_component", failing_with(error))
    with pytest.raises(ApplicationError) as raised:
        environment(attempt=1).run(activities.run_component, ComponentInput(str(uuid.uuid4()), "themes"))
    assert raised.value.non_retryable and raised.value.details[0]["cell_index"] == 4
