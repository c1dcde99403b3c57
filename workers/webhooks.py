"""Webhook delivery on Temporal: one `DeliverWebhookWorkflow` per event and endpoint, its one activity retried
with exponential backoff for hours; every attempt is logged, and an endpoint failing again and again is disabled.

`notify_report_finished` (workers/activities.py) records the deliveries and starts these workflows; the
report's own workflow is unchanged, so its recorded histories still replay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sqlalchemy.orm import Session, sessionmaker

    from workbench.config import Settings


@dataclass
class DeliveryInput:
    delivery_id: str
    initial_retry_seconds: float = 5.0
    retry_hours: float = 24.0
    attempt_timeout_seconds: float = 30.0


def delivery_workflow_id(delivery_id: str, replay: int = 0) -> str:
    return f"webhook-{delivery_id}" if replay == 0 else f"webhook-{delivery_id}-replay-{replay}"


@workflow.defn
class DeliverWebhookWorkflow:
    @workflow.run
    async def run(self, params: DeliveryInput) -> str:
        try:
            await workflow.execute_activity(
                "deliver_webhook", params.delivery_id,
                start_to_close_timeout=timedelta(seconds=params.attempt_timeout_seconds),
                schedule_to_close_timeout=timedelta(hours=params.retry_hours),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=params.initial_retry_seconds),
                                         backoff_coefficient=2.0, maximum_interval=timedelta(hours=1),
                                         maximum_attempts=0, non_retryable_error_types=["DeliveryGone"]),
            )
        except ActivityError:
            await workflow.execute_activity("webhook_gave_up", params.delivery_id,
                                            start_to_close_timeout=timedelta(minutes=1),
                                            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
            return "failed"
        return "delivered"


class WebhookActivities:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="deliver_webhook")
    def deliver_webhook(self, delivery_id: str) -> int:
        """One attempt: send, log it, and raise (to be retried) unless the endpoint answered 2xx."""
        from workbench.notifications.webhooks import send
        from workbench.storage import webhooks as store
        from workbench.storage.db import transaction

        with self.sessions() as session:
            found = store.load_delivery(session, delivery_id=uuid.UUID(delivery_id))
            if found is None:
                raise ApplicationError("the delivery or its endpoint was deleted", type="DeliveryGone",
                                       non_retryable=True)
            delivery, endpoint = found
            if not endpoint.enabled:
                raise ApplicationError(f"the endpoint is disabled: {endpoint.disabled_reason or 'by an admin'}",
                                       type="DeliveryGone", non_retryable=True)
            if delivery.status == "delivered":
                return delivery.last_status_code or 200
            url, secret, event_id, body = endpoint.url, endpoint.secret, delivery.event_id, delivery.body
        attempt = send(url, secret, event_id, body, allowed=self.settings.webhook_allowed_hosts,
                       timeout=self.settings.webhook_timeout_seconds,
                       max_bytes=self.settings.webhook_max_response_bytes)
        with transaction(self.sessions) as session:
            store.record_attempt(session, delivery_id=uuid.UUID(delivery_id), status_code=attempt.status_code,
                                 latency_ms=attempt.latency_ms, error=attempt.error)
        from workers import metrics  # here, not at import: the workflow sandbox re-imports this module

        metrics.WEBHOOK_ATTEMPTS.labels("delivered" if attempt.ok else "failed").inc()
        if not attempt.ok:
            raise ApplicationError(f"delivery to {url} failed: {attempt.error}", type="DeliveryFailed")
        return attempt.status_code or 200

    @activity.defn(name="webhook_gave_up")
    def webhook_gave_up(self, delivery_id: str) -> None:
        from workbench.storage import webhooks as store
        from workbench.storage.db import transaction

        with transaction(self.sessions) as session:
            if store.give_up(session, delivery_id=uuid.UUID(delivery_id),
                             disable_after=self.settings.webhook_disable_after):
                activity.logger.warning("webhook endpoint of delivery %s disabled after repeated failures",
                                        delivery_id)

    def all(self) -> list[object]:
        return [self.deliver_webhook, self.webhook_gave_up]


def delivery_input(settings: Settings, delivery_id: str) -> DeliveryInput:
    return DeliveryInput(delivery_id, settings.webhook_retry_initial_seconds, settings.webhook_retry_hours,
                         settings.webhook_timeout_seconds + 20)
