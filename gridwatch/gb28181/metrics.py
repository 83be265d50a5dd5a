"""Prometheus metrics of the GB/T 28181 service, read from its counters at scrape time.

The service counts what it refused (malformed SIP, unreadable MANSCDP, wrong digests, devices
with no password here) so that a device sending garbage, or one trying passwords, shows as a
rising series and not only as log lines; devices online and offline and the streams INVITEd are
gauges. Served by the stream control at ``GET /metrics`` (the workers' token), on the service's
own loop, so the counters are read where they are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gridwatch.gb28181.service import Gb28181Service

REFUSALS = {
    "malformed_sip": "malformed",
    "malformed_manscdp": "bad_xml",
    "wrong_password": "wrong_password",
    "no_password": "no_password",
}
"""The `reason` label of `gridwatch_gb28181_refused_total` -> the `Stats` field it counts."""


class ServiceCollector(Collector):
    """The service's counters and gauges, as Prometheus metric families."""

    def __init__(self, service: Gb28181Service):
        self._service = service

    def collect(self) -> Iterator[Metric]:
        service = self._service
        stats = service.stats
        refused = CounterMetricFamily(
            "gridwatch_gb28181_refused",
            "Requests refused, by reason: malformed_sip and malformed_manscdp answered 400,"
            " wrong_password answered 403 (a wrong digest), no_password answered 403 (an id"
            " with no password here, listed for an admin).",
            labels=["reason"],
        )
        for reason, name in REFUSALS.items():
            refused.add_metric([reason], getattr(stats, name))
        yield refused
        yield CounterMetricFamily(
            "gridwatch_gb28181_challenges", "Digest challenges (401) sent.", value=stats.challenges
        )
        yield CounterMetricFamily(
            "gridwatch_gb28181_alarms", "Device alarms received and answered.", value=stats.alarms
        )
        yield CounterMetricFamily(
            "gridwatch_gb28181_retransmissions",
            "Requests a device sent again before it heard the answer, answered with the same"
            " answer and not handled twice (RFC 3261 section 17.2.2).",
            value=stats.retransmissions,
        )
        devices = GaugeMetricFamily(
            "gridwatch_gb28181_devices", "Registered devices, by state.", labels=["state"]
        )
        online = sum(device.online for device in service.devices.values())
        devices.add_metric(["online"], online)
        devices.add_metric(["offline"], len(service.devices) - online)
        yield devices
        yield GaugeMetricFamily(
            "gridwatch_gb28181_streams",
            "Live streams INVITEd for workers and not yet ended.",
            value=len(service.media.calls),
        )
        yield CounterMetricFamily(
            "gridwatch_gb28181_invites", "INVITEs made (retransmissions not counted).",
            value=service.media.invites,
        )  # fmt: skip
        yield CounterMetricFamily(
            "gridwatch_gb28181_byes", "Streams this side ended with BYE.", value=service.media.byes
        )


def render(service: Gb28181Service) -> bytes:
    """The service's metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service))
    return generate_latest(registry)
