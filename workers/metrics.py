"""What a worker counts for Prometheus (served at the worker's `/metrics`, see workers/health.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMPONENT_RUNS = Counter(
    "workbench_component_runs", "Component activity attempts by outcome", ["component", "outcome"])
COMPONENT_SECONDS = Histogram(
    "workbench_component_seconds", "Duration of component activity attempts", ["component"],
    buckets=(1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640, 1800))
REPORTS_FINISHED = Counter("workbench_reports_finished", "Reports settled, by final status", ["status"])
WEBHOOK_ATTEMPTS = Counter("workbench_webhook_attempts", "Webhook delivery attempts by outcome", ["outcome"])
