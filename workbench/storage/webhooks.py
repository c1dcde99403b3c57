"""Webhook endpoints, deliveries and their attempts; every read and write is scoped by organization."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workbench.storage.models import (
    ReceivedWebhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)


def create_endpoint(session: Session, *, organization_id: uuid.UUID, url: str, events: list[str],
                    secret: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(organization_id=organization_id, url=url, events=events, secret=secret)
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session, *, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
                                .order_by(WebhookEndpoint.created_at)))


def get_endpoint(session: Session, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.organization_id == organization_id else None


def delete_endpoint(session: Session, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    endpoint = get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    if endpoint is None:
        return False
    session.delete(endpoint)
    return True


def create_deliveries(session: Session, *, organization_id: uuid.UUID, event_type: str, event_id: str,
                      report_id: uuid.UUID | None, body: str) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint of the organization that wants `event_type`; an event already recorded
    for an endpoint is returned as it is (a retried notification creates nothing twice)."""
    out = []
    for endpoint in list_endpoints(session, organization_id=organization_id):
        if not endpoint.enabled or event_type not in (endpoint.events or []):
            continue
        existing = session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id))
        if existing is None:
            existing = WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, event_type=event_type,
                                       report_id=report_id, body=body)
            try:
                with session.begin_nested():
                    session.add(existing)
            except IntegrityError:  # another worker recorded it meanwhile
                existing = session.scalar(select(WebhookDelivery).where(
                    WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id))
        if existing is not None:
            out.append(existing)
    return out


def get_delivery(session: Session, *, organization_id: uuid.UUID,
                 delivery_id: uuid.UUID) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """The delivery and its endpoint, if the endpoint belongs to `organization_id` (the API's callers)."""
    found = load_delivery(session, delivery_id=delivery_id)
    if found is None or found[1].organization_id != organization_id:
        return None
    return found


def load_delivery(session: Session, *, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """The delivery and its endpoint by id alone: for the delivering worker, which acts for no caller."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    return None if endpoint is None else (delivery, endpoint)


def list_deliveries(session: Session, *, endpoint_id: uuid.UUID, limit: int = 100) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                .order_by(WebhookDelivery.created_at.desc()).limit(limit)))


def attempts(session: Session, *, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    return list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                .order_by(WebhookAttempt.id)))


def record_attempt(session: Session, *, delivery_id: uuid.UUID, status_code: int | None, latency_ms: int,
                   error: str | None) -> None:
    """Log an attempt; a success delivers the event and clears the endpoint's failure count."""
    found = load_delivery(session, delivery_id=delivery_id)
    if found is None:
        return
    delivery, endpoint = found
    session.add(WebhookAttempt(delivery_id=delivery_id, status_code=status_code, latency_ms=latency_ms, error=error))
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status_code, error
    if error is None:
        delivery.status, delivery.finished_at = "delivered", utcnow()
        endpoint.consecutive_failures = 0


def give_up(session: Session, *, delivery_id: uuid.UUID, disable_after: int) -> bool:
    """The delivery failed for good; after `disable_after` such failures in a row the endpoint is disabled
    (returns True then), with the reason."""
    found = load_delivery(session, delivery_id=delivery_id)
    if found is None:
        return False
    delivery, endpoint = found
    if delivery.status == "delivered":
        return False
    delivery.status, delivery.finished_at = "failed", utcnow()
    endpoint.consecutive_failures += 1
    if endpoint.enabled and endpoint.consecutive_failures >= disable_after:
        endpoint.enabled = False
        endpoint.disabled_reason = (f"disabled after {endpoint.consecutive_failures} failed deliveries in a row "
                                    f"(last: {delivery.last_error or 'no answer'})")
        return True
    return False


def reopen(session: Session, *, delivery_id: uuid.UUID) -> None:
    """A replay: the delivery is pending again (its earlier attempts stay in the log)."""
    found = load_delivery(session, delivery_id=delivery_id)
    if found is not None:
        found[0].status, found[0].finished_at = "pending", None


def record_received(session: Session, *, event_id: str, event: dict[str, Any]) -> bool:
    """Remember an accepted event; False when it was received before (a replay)."""
    raw = event.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    try:
        with session.begin_nested():
            session.add(ReceivedWebhook(event_id=event_id, event_type=str(event.get("type"))[:50],
                                        report_id=str(data.get("report_id"))[:64] if data.get("report_id") else None,
                                        status=str(data.get("status"))[:20] if data.get("status") else None))
    except IntegrityError:
        return False
    return True
