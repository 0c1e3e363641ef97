"""OpenTelemetry traces and metrics over OTLP/HTTP, when the `otel` extra is installed and
OTEL_EXPORTER_OTLP_ENDPOINT is set.

With no endpoint the tracer is a no-op whose spans cost one context manager. The OTLP pipeline
uses providers of our own, not the process-global ones, so nothing leaks between apps or tests.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

log = logging.getLogger("smartflow.tracing")


class Tracer(Protocol):
    enabled: bool

    def span(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]: ...

    def record_request(self, route: str, status: int, seconds: float, overhead: float) -> None: ...

    def shutdown(self) -> None: ...


_NO_SPAN = contextlib.nullcontext()


class NoopTracer:
    enabled = False

    def span(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
        return _NO_SPAN  # shared and stateless: costs no allocation on the hot path

    def record_request(self, route: str, status: int, seconds: float, overhead: float) -> None:
        return None

    def shutdown(self) -> None:
        return None


class OtelTracer:
    enabled = True

    def __init__(self, endpoint: str, service_name: str, version: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        base = endpoint.rstrip("/")
        resource = Resource.create({"service.name": service_name, "service.version": version})
        self._traces = TracerProvider(resource=resource)
        self._traces.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces"))
        )
        self._tracer = self._traces.get_tracer("smartflow.gateway", version)
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=base + "/v1/metrics"), export_interval_millis=15_000
        )
        self._metrics = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self._metrics.get_meter("smartflow.gateway", version)
        self._requests = meter.create_counter(
            "smartflow.requests", unit="{request}", description="Requests answered"
        )
        self._duration = meter.create_histogram(
            "smartflow.request.duration", unit="s", description="Request duration"
        )
        self._overhead = meter.create_histogram(
            "smartflow.overhead", unit="s", description="Time spent in the gateway itself"
        )

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def record_request(self, route: str, status: int, seconds: float, overhead: float) -> None:
        labels: dict[str, str | int] = {"route": route, "status": status}
        self._requests.add(1, labels)
        self._duration.record(seconds, labels)
        self._overhead.record(overhead, {"route": route})

    def shutdown(self) -> None:
        """Flush what is buffered: spans and a last metrics export."""
        self._traces.shutdown()
        self._metrics.shutdown()


def build_tracer(endpoint: str | None, service_name: str, version: str) -> Tracer:
    if not endpoint:
        return NoopTracer()
    try:
        return OtelTracer(endpoint, service_name, version)
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed; "
            "pip install 'smartflow[otel]' to export traces and metrics"
        )
        return NoopTracer()
