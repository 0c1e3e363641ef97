"""`sfctl mock-upstream`: run the deterministic fake OpenAI/Anthropic server in the foreground."""

from __future__ import annotations

import math

import typer

from mockllm.server import MockBehaviour, run


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number.")
    return value


def mock_upstream(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8900, min=0, max=65535, help="Port to listen on (0 = any free port)."),
    latency_ms: float = typer.Option(
        0.0,
        min=0.0,
        callback=_finite,
        help="Delay before the response headers (time to first token).",
    ),
    tokens_per_second: float = typer.Option(
        0.0, min=0.0, callback=_finite, help="Pace streamed tokens at this rate (0 = unthrottled)."
    ),
    error_rate: float = typer.Option(
        0.0, min=0.0, max=1.0, callback=_finite, help="Fraction of requests answered with a 500."
    ),
    seed: int = typer.Option(0, help="Seed of the error-injection draws."),
) -> None:
    """Run a fake OpenAI-, Azure OpenAI- and Anthropic-compatible LLM server (Ctrl-C stops it)."""
    behaviour = MockBehaviour(
        latency_ms=latency_ms,
        tokens_per_second=tokens_per_second,
        error_rate=error_rate,
        seed=seed,
    )
    run(behaviour, host, port, on_ready=_announce)


def _announce(url: str) -> None:
    typer.echo(
        f"mock upstream listening on {url} (OpenAI: {url}/v1, Anthropic: {url}, "
        f"Azure OpenAI: {url}/openai/deployments/<name>); Ctrl-C stops it"
    )
