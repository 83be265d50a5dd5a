"""Prometheus metrics at /metrics: events, incidents, deliveries, live subscribers, latency.

Counters and the latency histogram count what this process saw. The event and queue gauges are
read from the database at scrape time (two grouped counts on indexed columns), so every replica
reports the same district-wide figures.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Iterator

from fastapi import FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer_token
from api.integrations.outbox import PENDING, queue_depth
from api.models import Camera, GridEvent, OutboundDelivery

log = logging.getLogger(__name__)

INCIDENTS_ROUTE = "/api/v1/incidents"
# Any other method (a client may send any token as a method) is counted as "other", so that
# requests cannot add series without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets for an API whose answers take milliseconds, and uploads that take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The process's metrics, in a registry of their own (one per app, so tests can run many)."""

    def __init__(self, app: FastAPI):
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "gridwatch_http_request_duration_seconds",
            "Time until the response starts, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.incidents = Counter(
            "gridwatch_incidents_received",
            "Incident reports from workers, by outcome: created, duplicate, not_stored (the"
            " evidence could not be written; the worker keeps it and retries) or rejected.",
            ["outcome"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "gridwatch_deliveries",
            "Delivery attempts by integration (webhook:<id>, mqtt) and outcome"
            " (delivered, retry, failed).",
            ["integration", "outcome"],
            registry=self.registry,
        )
        self.statements = Counter(
            "gridwatch_database_statements",
            "SQL statements this process sent to the database (an executemany counts once).",
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(app))

    def count_statements(self, engine: Engine) -> None:
        """Count every statement `engine`'s connections send, in `statements`."""

        def counted(*_arguments: object) -> None:
            self.statements.inc()

        sa_event.listen(engine, "before_cursor_execute", counted)

    def delivery_result(self, integration: str, outcome: str) -> None:
        self.deliveries.labels(integration, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    """Gauges read at scrape time: events by state and category, the delivery queue, live
    subscribers."""

    def __init__(self, app: FastAPI):
        self._app = app

    def describe(self) -> Iterator[Metric]:
        # Described without touching the database, which may not be up when this registers.
        yield GaugeMetricFamily("gridwatch_events", "", labels=["state", "category"])
        yield GaugeMetricFamily("gridwatch_delivery_queue_depth", "", labels=["integration"])
        yield GaugeMetricFamily("gridwatch_delivery_queue_oldest_seconds", "")
        yield GaugeMetricFamily("gridwatch_live_subscribers", "")
        yield GaugeMetricFamily("gridwatch_evidence_free_bytes", "")
        yield GaugeMetricFamily("gridwatch_camera_rule_failures", "", labels=["camera", "rule"])
        yield GaugeMetricFamily("gridwatch_camera_size_changes", "", labels=["camera"])
        yield GaugeMetricFamily("gridwatch_cameras_unassigned", "")

    def collect(self) -> Iterator[Metric]:
        state = self._app.state
        subscribers = GaugeMetricFamily(
            "gridwatch_live_subscribers",
            "Clients connected to live alerts (WebSocket and SSE) in this process.",
            value=state.hub.subscribers,
        )
        yield subscribers
        try:
            free = shutil.disk_usage(state.settings.evidence_dir).free
        except OSError:
            free = 0  # missing or unreadable: as good as full
        yield GaugeMetricFamily(
            "gridwatch_evidence_free_bytes",
            "Free space where evidence is stored. When a snapshot no longer fits, incidents are"
            " refused with 507 and wait in the workers' outboxes: alert before that.",
            value=free,
        )
        factory = getattr(state, "session_factory", None)
        if factory is None:
            return
        events = GaugeMetricFamily(
            "gridwatch_events", "Grid events by state and category.", labels=["state", "category"]
        )
        depth = GaugeMetricFamily(
            "gridwatch_delivery_queue_depth",
            "Deliveries waiting to be sent, by integration.",
            labels=["integration"],
        )
        oldest = GaugeMetricFamily(
            "gridwatch_delivery_queue_oldest_seconds",
            "Age of the oldest delivery still waiting (0 when none waits).",
        )
        with factory() as session:
            counts = session.execute(
                select(GridEvent.status, GridEvent.category, func.count()).group_by(
                    GridEvent.status, GridEvent.category
                )
            ).all()
            for status, category, count in counts:
                events.add_metric([status, category], count)
            mqtt = bool(state.settings.mqtt_url)
            for integration, count in sorted(queue_depth(session, mqtt=mqtt).items()):
                depth.add_metric([integration], count)
            # Ids grow with time, so the lowest pending id is the oldest; the primary key finds it.
            first = session.scalar(
                select(OutboundDelivery.created_at)
                .where(OutboundDelivery.status == PENDING)
                .order_by(OutboundDelivery.id)
                .limit(1)
            )
            rule_failures, size_changes = _camera_detection_faults(session)
            unassigned = session.scalar(
                select(func.count()).select_from(Camera).where(Camera.status == "unassigned")
            )
        age = max(0.0, time.time() - first.timestamp()) if first is not None else 0.0
        oldest.add_metric([], age)
        yield events
        yield depth
        yield oldest
        yield rule_failures
        yield size_changes

        yield GaugeMetricFamily(
            "gridwatch_cameras_unassigned",
            "Active cameras no worker holds (too few workers or too little capacity): alert the"
            " admins on anything above 0.",
            value=unassigned or 0,
        )


def _camera_detection_faults(session: Session) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    """Rules' failures and picture size changes per camera, as its worker last reported them
    (counts since that worker started)."""
    failures = GaugeMetricFamily(
        "gridwatch_camera_rule_failures",
        "Frames a camera's rule failed on (raised) since its worker started, by camera and rule"
        " (kind:zone); the camera's other rules ran on them. Alert on any increase.",
        labels=["camera", "rule"],
    )
    changes = GaugeMetricFamily(
        "gridwatch_camera_size_changes",
        "Times a camera's picture changed size mid-stream since its worker started (its tracks,"
        " references and rule state started afresh each time).",
        labels=["camera"],
    )
    rows = session.execute(
        select(Camera.id, Camera.health).where(Camera.retired_at.is_(None)).order_by(Camera.id)
    ).all()
    for camera_id, health in rows:
        health = health or {}
        for rule, count in sorted((health.get("rule_failures") or {}).items()):
            failures.add_metric([camera_id, rule], count)
        if health.get("size_changes"):
            changes.add_metric([camera_id], health["size_changes"])
    return failures, changes


class MetricsMiddleware:
    """Times each HTTP request until its response starts, and counts incident reports."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._observe(scope, message["status"], time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed_send)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        # Templates, not raw paths, keep the label set small; unknown paths share one label.
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
        self.metrics.request_seconds.labels(method, template, str(status)).observe(seconds)
        if method == "POST" and template == INCIDENTS_ROUTE:
            outcome = {201: "created", 200: "duplicate", 507: "not_stored"}.get(status, "rejected")
            self.metrics.incidents.labels(outcome).inc()


def install(app: FastAPI) -> Metrics:
    """Add the metrics middleware and the /metrics endpoint to `app`."""
    metrics = Metrics(app)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def scrape(request: Request) -> Response:
        settings = request.app.state.settings
        token = settings.metrics_token
        if token is None and not settings.metrics_public:
            raise HTTPException(
                403,
                detail="metrics are closed: set GRIDWATCH_METRICS_TOKEN (or"
                " GRIDWATCH_METRICS_PUBLIC=true to serve them to anyone)",
            )
        if token is not None:
            given = bearer_token(request.headers.get("authorization")) or ""
            if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
                raise HTTPException(
                    401, detail="metrics need the bearer token GRIDWATCH_METRICS_TOKEN"
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    return metrics
