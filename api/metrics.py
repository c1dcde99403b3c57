"""Prometheus metrics of the API at `/metrics`: requests by route template and status, their latency, and the
stored reports by status (counted when scraped). One registry per app, so tests can build many apps."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.storage.models import Report


class _ReportsByStatus(Collector):
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("workbench_reports", "Stored reports by status", labels=["status"])
        sessions = getattr(self.app.state, "sessions", None)
        if sessions is not None:
            try:
                with sessions() as session:
                    for status, count in session.execute(select(Report.status, func.count()).group_by(Report.status)):
                        family.add_metric([str(getattr(status, "value", status))], count)
            except Exception:  # the database is down: the scrape still answers, without this family's samples
                pass
        yield family


class _Timing:
    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # the template, not the ids
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("workbench_http_requests", "HTTP requests by route and status", ["method", "route", "status"],
                       registry=registry)
    latency = Histogram("workbench_http_request_seconds", "HTTP request latency by route", ["method", "route"],
                        registry=registry)
    registry.register(_ReportsByStatus(app))
    app.state.metrics_registry = registry
    app.add_middleware(_Timing, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
