"""Prometheus metrics: request latency, ticket counts, and live waiting per branch and service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.hall import Halls
    from app.realtime import Hub

REGISTRY = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "queuehall_request_seconds",
    "HTTP request latency by route.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
TICKET_EVENTS = Counter(
    "queuehall_ticket_events_total",
    "Committed ticket events by branch and type (ticket_issued, ticket_called, ...).",
    ["branch", "type"],
    registry=REGISTRY,
)


# The labelled histograms by (method, route, status): ``labels()`` builds and looks up its key
# on every call (2% of the server's CPU at 64 calls in flight). As bounded as the metric's own
# children: route templates, not paths.
_REQUEST_CHILDREN: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = REQUEST_SECONDS.labels(method, route, str(status))
    child.observe(seconds)


class WaitingCollector(Collector):
    """Reads waiting counts from the engines at scrape time (no bookkeeping on the hot path)."""

    def __init__(self, halls: Halls) -> None:
        self.halls = halls

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "queuehall_waiting_tickets", "Tickets waiting now.", labels=["branch", "service"]
        )
        longest = GaugeMetricFamily(
            "queuehall_longest_wait_seconds",
            "Longest current wait.",
            labels=["branch", "service"],
        )
        for runtime in self.halls:
            snapshot = runtime.engine.snapshot(runtime.clock())
            for service in snapshot.services:
                waiting.add_metric([runtime.branch_id, service.code], service.waiting)
                longest.add_metric([runtime.branch_id, service.code], service.longest_wait_seconds)
        yield waiting
        yield longest


class RealtimeCollector(Collector):
    """Open WebSockets by audience and live branch feeds, read at scrape time: after clients
    leave, both go back to what they were (a leak shows here)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "queuehall_ws_connections", "Open WebSocket connections.", labels=["audience"]
        )
        for audience, count in self.hub.counts().items():
            connections.add_metric([audience], count)
        yield connections
        yield GaugeMetricFamily(
            "queuehall_ws_feeds", "Branches with a live realtime feed.", value=self.hub.feed_count
        )


def render(halls: Halls, hub: Hub | None = None) -> bytes:
    registry = CollectorRegistry()
    registry.register(WaitingCollector(halls))
    if hub is not None:
        registry.register(RealtimeCollector(hub))
    return generate_latest(REGISTRY) + generate_latest(registry)
