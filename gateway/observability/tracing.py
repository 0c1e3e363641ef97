"""OpenTelemetry tracing and metrics over OTLP, when the `otel` extra is installed and configured.

With no endpoint the tracer is a no-op whose spans cost one attribute lookup and a context manager.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

log = logging.getLogger("smartflow.tracing")


class Tracer(Protocol):
    def span(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]: ...

    def shutdown(self) -> None: ...


class NoopTracer:
    enabled = False

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[None]:
        yield None

    def shutdown(self) -> None:
        return None


class OtelTracer:
    """A tracer provider of our own (not the process-global one), exporting over OTLP/HTTP."""

    enabled = True

    def __init__(self, endpoint: str, service_name: str, version: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": service_name, "service.version": version})
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
        )
        self._tracer = self._provider.get_tracer("smartflow.gateway", version)

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        self._provider.shutdown()


def build_tracer(endpoint: str | None, service_name: str, version: str) -> Tracer:
    if not endpoint:
        return NoopTracer()
    try:
        return OtelTracer(endpoint, service_name, version)
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed; "
            "install smartflow[otel] to export traces"
        )
        return NoopTracer()
