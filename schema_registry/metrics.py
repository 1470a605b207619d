"""Prometheus metrics of one registry app, in their own collector registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from strangler.schema_registry.view import RegistryView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RegistryMetrics:
    """Requests by route family and status, their latency, and the registry's size."""

    def __init__(self, view: RegistryView) -> None:
        self.collectors = CollectorRegistry()
        # label lookups cost more than the counting itself; keep the children per label set
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "schema_registry_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.collectors,
        )
        self.latency = Histogram(
            "schema_registry_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.collectors,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5),
        )
        schemas = Gauge("schema_registry_schemas", "Schemas known by id", registry=self.collectors)
        schemas.set_function(lambda: len(view.schemas))
        subjects = Gauge(
            "schema_registry_subjects", "Subjects with versions", registry=self.collectors
        )
        subjects.set_function(lambda: len(view.subjects))

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        route = route_family(path)
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.collectors)


def route_family(path: str) -> str:
    """The first two path segments, so that subjects and ids never become label values."""
    parts = [p for p in path.split("/", 3)[1:3] if p]
    if parts[:1] in (["subjects"], ["config"], ["mode"]):
        parts = parts[:1]
    return "/" + "/".join(parts)
