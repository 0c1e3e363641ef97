"""The MCP tool-call and A2A metric families: names and labels as operators will query them,
counts and durations as the exposition text shows them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.metrics import GatewayMetrics


def samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_tool_calls_are_counted_by_server_tool_result_and_cache() -> None:
    metrics = GatewayMetrics()
    metrics.observe_tool_call("github", "create_issue", "ok", "miss", 0.2)
    metrics.observe_tool_call("github", "create_issue", "ok", "miss", 0.4)
    metrics.observe_tool_call("github", "list_repos", "ok", "hit-exact", 0.0002)
    metrics.observe_tool_call("files", "read_file", "unavailable", "bypass", 0.01)
    seen = samples(metrics)
    label = (("cache", "miss"), ("result", "ok"), ("server", "github"), ("tool", "create_issue"))
    assert seen[("smartflow_mcp_tool_calls_total", label)] == 2
    hit = (("cache", "hit-exact"), ("result", "ok"), ("server", "github"), ("tool", "list_repos"))
    assert seen[("smartflow_mcp_tool_calls_total", hit)] == 1
    down = (
        ("cache", "bypass"),
        ("result", "unavailable"),
        ("server", "files"),
        ("tool", "read_file"),
    )
    assert seen[("smartflow_mcp_tool_calls_total", down)] == 1
    github = (("server", "github"),)
    assert seen[("smartflow_mcp_tool_call_duration_seconds_count", github)] == 3
    assert abs(seen[("smartflow_mcp_tool_call_duration_seconds_sum", github)] - 0.6002) < 1e-9
    fast = (("le", "0.001"), ("server", "github"))
    assert seen[("smartflow_mcp_tool_call_duration_seconds_bucket", fast)] == 1  # the cache hit
    assert seen[("smartflow_mcp_tool_call_duration_seconds_count", (("server", "files"),))] == 1


def test_a2a_requests_are_counted_by_agent_method_and_status() -> None:
    metrics = GatewayMetrics()
    metrics.observe_a2a("planner", "SendMessage", "200", 1.5)
    metrics.observe_a2a("planner", "SendStreamingMessage", "200", 3.0)
    metrics.observe_a2a("planner", "SendMessage", "429", 0.001)
    metrics.observe_a2a("planner", "SendMessage", "200", 0.5)
    seen = samples(metrics)

    def count(method: str, status: str) -> float:
        labels = (("agent", "planner"), ("method", method), ("status", status))
        return seen[("smartflow_a2a_requests_total", labels)]

    assert count("SendMessage", "200") == 2
    assert count("SendMessage", "429") == 1
    assert count("SendStreamingMessage", "200") == 1
    planner = (("agent", "planner"),)
    assert seen[("smartflow_a2a_request_duration_seconds_count", planner)] == 4
    assert abs(seen[("smartflow_a2a_request_duration_seconds_sum", planner)] - 5.001) < 1e-9


def test_label_children_are_looked_up_once_per_label_set() -> None:
    metrics = GatewayMetrics()
    for _ in range(3):
        metrics.observe_tool_call("github", "create_issue", "ok", "miss", 0.1)
        metrics.observe_a2a("planner", "GetTask", "200", 0.1)
    assert len(metrics._tool_children) == 1
    assert len(metrics._a2a_children) == 1
    metrics.observe_tool_call("github", "create_issue", "error", "miss", 0.1)
    assert len(metrics._tool_children) == 2


def test_no_tool_series_before_the_first_call() -> None:
    text = GatewayMetrics().render().decode()
    assert "# TYPE smartflow_mcp_tool_calls_total counter" in text
    assert "# TYPE smartflow_a2a_requests_total counter" in text
    assert 'server="' not in text and 'agent="' not in text
