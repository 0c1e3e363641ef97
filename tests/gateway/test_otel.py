"""Traces and metrics reach an OTLP/HTTP collector (a real HTTP server on loopback that decodes
the protobuf payloads with the official OpenTelemetry proto classes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support.gateway import ADMIN_KEY, running_gateway


class Collector:
    def __init__(self) -> None:
        self.spans: list[str] = []
        self.metrics: list[str] = []
        self.url = ""


@pytest.fixture
def collector() -> Iterator[Collector]:
    seen = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        seen.spans.extend(span.name for span in scope.spans)
            elif self.path == "/v1/metrics":
                metrics = ExportMetricsServiceRequest.FromString(body)
                for resource in metrics.resource_metrics:
                    for scope in resource.scope_metrics:
                        seen.metrics.extend(metric.name for metric in scope.metrics)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_per_stage_and_metrics_exported(tmp_path: Path, collector: Collector) -> None:
    async with running_gateway(tmp_path, env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}) as gw:
        assert "otel" in gw.state.settings.features
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                gw.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
            assert response.status == 200
    # leaving the block shut the gateway down, which flushes spans and a last metrics export
    assert {"smartflow chat", "auth", "parse", "route", "respond"} <= set(collector.spans)
    assert {"smartflow.requests", "smartflow.request.duration"} <= set(collector.metrics)
