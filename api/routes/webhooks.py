"""Webhook endpoints of the caller's organization, their deliveries (every attempt), replays, and the receiving
endpoint of the design document (`POST /api/webhooks/report-completed`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.common import WorkflowIDReusePolicy

from api.deps import OrganizationDep, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.schemas import error_responses
from workbench.notifications.webhooks import UnsafeURL, new_secret, resolve
from workbench.storage import webhooks as store
from workbench.storage.db import transaction
from workers.queues import Queue, queue_name
from workers.starter import TemporalUnavailable
from workers.webhooks import DeliverWebhookWorkflow, delivery_input, delivery_workflow_id

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=error_responses(503))
receiver = APIRouter(tags=["webhooks"])

EventType = Literal["report.completed", "report.partial", "report.failed", "report.cancelled"]


class EndpointCreate(BaseModel):
    url: str = Field(max_length=2000, description="http(s) URL of a public host (or one on the allow-list)")
    events: list[EventType] = Field(  # pydantic copies a mutable default per instance
        ["report.completed", "report.partial", "report.failed", "report.cancelled"], min_length=1,
        description="Event types to send; default all")


class EndpointPublic(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime


class EndpointCreated(EndpointPublic):
    secret: str = Field(description="Shown once: verify our signatures with it (Standard Webhooks, whsec_...)")


class AttemptPublic(BaseModel):
    status_code: int | None
    latency_ms: int
    error: str | None
    created_at: datetime


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: str
    event_type: str
    report_id: uuid.UUID | None
    status: Literal["pending", "delivered", "failed"]
    attempts: list[AttemptPublic]
    created_at: datetime
    finished_at: datetime | None


def _public(endpoint: object) -> EndpointPublic:
    return EndpointPublic.model_validate(endpoint, from_attributes=True)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_endpoint(body: EndpointCreate, session: SessionDep, org: OrganizationDep,
                    settings: SettingsDep) -> EndpointCreated:
    """Register an endpoint for report events; the URL must reach a public address (server-side request forgery
    is refused here and again at every delivery). The secret is in this answer only."""
    try:
        resolve(body.url, settings.webhook_allowed_hosts)
    except UnsafeURL as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["body", "url"], "msg": str(exc), "type": "value_error"}]) from exc
    secret = new_secret()
    endpoint = store.create_endpoint(session, organization_id=org, url=body.url, events=list(body.events),
                                     secret=secret)
    session.commit()
    return EndpointCreated(**_public(endpoint).model_dump(), secret=secret)


@router.get("")
def list_endpoints(session: SessionDep, org: OrganizationDep) -> list[EndpointPublic]:
    return [_public(e) for e in store.list_endpoints(session, organization_id=org)]


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
def delete_endpoint(endpoint_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> Response:
    if not store.delete_endpoint(session, organization_id=org, endpoint_id=endpoint_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook endpoint {endpoint_id} not found")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/deliveries", responses=error_responses(404))
def list_deliveries(endpoint_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> list[DeliveryPublic]:
    """The endpoint's deliveries, newest first, each with every attempt (status code, latency, error)."""
    if store.get_endpoint(session, organization_id=org, endpoint_id=endpoint_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook endpoint {endpoint_id} not found")
    return [
        DeliveryPublic(id=d.id, event_id=d.event_id, event_type=d.event_type, report_id=d.report_id,
                       status=d.status,  # type: ignore[arg-type]
                       attempts=[AttemptPublic.model_validate(a, from_attributes=True)
                                 for a in store.attempts(session, delivery_id=d.id)],
                       created_at=d.created_at, finished_at=d.finished_at)
        for d in store.list_deliveries(session, endpoint_id=endpoint_id)
    ]


@router.post("/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED,
             responses=error_responses(404, 409))
async def replay_delivery(delivery_id: uuid.UUID, org: OrganizationDep, sessions: SessionsDep,
                          settings: SettingsDep, temporal: TemporalDep) -> dict[str, str]:
    """Send a delivery's event again (same id and body, a new signature), e.g. after the receiver was fixed."""
    def reopen() -> int:
        with transaction(sessions) as session:
            found = store.get_delivery(session, delivery_id=delivery_id, organization_id=org)
            if found is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook delivery {delivery_id} not found")
            delivery, endpoint = found
            if not endpoint.enabled:
                raise HTTPException(status.HTTP_409_CONFLICT, f"the endpoint is disabled: {endpoint.disabled_reason}")
            if delivery.status == "pending":
                raise HTTPException(status.HTTP_409_CONFLICT, "the delivery is still being attempted")
            store.reopen(session, delivery_id=delivery_id)
            return delivery.attempts

    replay = await asyncio.to_thread(reopen)
    try:
        client = await temporal.client()
        await client.start_workflow(
            DeliverWebhookWorkflow.run, delivery_input(settings, str(delivery_id)),
            id=delivery_workflow_id(str(delivery_id), replay),
            task_queue=queue_name(settings.task_queue, Queue.REPORTS),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return {"delivery_id": str(delivery_id), "status": "pending"}


@receiver.post("/api/webhooks/report-completed", status_code=status.HTTP_204_NO_CONTENT,
               responses=error_responses(401, 404, 409))
async def receive_report_event(request: Request, settings: SettingsDep, sessions: SessionsDep) -> Response:
    """The receiving side of the design document: verifies the Standard Webhooks signature and a five-minute
    timestamp window (401 otherwise) and refuses an event id it has accepted before (409). Off (404) until
    `WORKBENCH_WEBHOOK_RECEIVER_SECRET` is set."""
    from standardwebhooks import Webhook

    if settings.webhook_receiver_secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the webhook receiver is not configured")
    body = await request.body()
    try:
        event = Webhook(settings.webhook_receiver_secret.get_secret_value()).verify(body, dict(request.headers))
    except (WebhookVerificationError, ValueError) as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid webhook signature: {exc}") from exc
    if not isinstance(event, dict):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid webhook: the body is not a JSON object")
    event_id = request.headers["webhook-id"]

    def remember() -> bool:
        with transaction(sessions) as session:
            return store.record_received(session, event_id=event_id, event=event)

    if not await asyncio.to_thread(remember):
        raise HTTPException(status.HTTP_409_CONFLICT, f"event {event_id} was received before (a replay)")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
