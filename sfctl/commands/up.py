"""`sfctl up` and `sfctl down`: the gateway on this machine, nothing else installed."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from sfctl import local, ui
from sfctl.errors import SfctlError, UsageError
from sfctl.spec import cli_environment


def _data_dir(option: Path | None) -> Path:
    return option.expanduser() if option is not None else cli_environment().data_dir


def up(
    port: int = typer.Option(7775, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you mean it."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Routing config (providers, models); default: mock provider."
    ),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes sharing the port."),
    data_dir: Path | None = typer.Option(
        None, help="State directory (default $SMARTFLOW_DATA_DIR or ~/.local/share/smartflow)."
    ),
) -> None:
    """Run the gateway locally (SERVICE_TYPE=all, embedded state in one SQLite file)."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range (1-65535)")
    if config is not None and not config.is_file():
        raise UsageError(f"--config {config}: no such file")
    directory = local.ensure_data_dir(_data_dir(data_dir))
    existing = local.running(directory)
    if existing is not None:
        raise SfctlError(
            f"a gateway is already running at {existing.url} (pid {existing.pid}); "
            "run `sfctl down` first"
        )
    key, created = local.admin_key(directory)
    env = local.gateway_env(os.environ, directory, key, config)
    command = local.gateway_command(host, port, workers)
    url = f"http://{host}:{port}"
    mock_only = not local.config_has_providers(config)
    if detach:
        gateway = local.start_detached(command, env, directory, host, port)
        _banner(url, directory, created, mock_only, detached_pid=gateway.pid)
        return
    with local.foreground(command, env) as attached:
        try:
            local.wait_healthy(url, attached.process)
        except SfctlError:
            if attached.stop_requested:  # stopped while starting: a clean exit, not a failure
                return
            raise
        _banner(url, directory, created, mock_only, detached_pid=None)
        code = local.wait_foreground(attached.process)
    if code not in (0, -15):
        raise SfctlError(f"the gateway exited with code {code}", exit_code=code if code > 0 else 1)


def _banner(
    url: str, directory: Path, created: bool, mock_only: bool, detached_pid: int | None
) -> None:
    key_file = directory / local.ADMIN_KEY_FILE
    where = f" (pid {detached_pid}, logs in {directory / local.LOG_FILE})" if detached_pid else ""
    ui.success(f"Smartflow gateway is running at {url}{where}")
    if mock_only:
        ui.warn(
            "No provider is configured: every model is answered by the built-in mock provider. "
            "Pass --config with a providers section to route to real models."
        )
    ui.panel_lines(
        [
            f"Admin key {'created' if created else 'kept'} in {key_file} (mode 0600). Use it:",
            f"  export OPENAI_BASE_URL={url}/v1",
            f"  export OPENAI_API_KEY=$(cat {key_file})",
            f'  curl -s {url}/v1/chat/completions -H "Authorization: Bearer $OPENAI_API_KEY" \\',
            "    -H 'content-type: application/json' \\",
            '    -d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}\'',
            f"  Metrics: {url}/metrics   Health: {url}/health",
            "Give each application a virtual key of its own (budgets, rate limits, audit):",
            "  sfctl keys create --name my-app --budget 20 --rpm 600",
        ]
    )
    if detached_pid:
        ui.info("Stop it with: sfctl down")


def down(
    data_dir: Path | None = typer.Option(None, help="State directory used by `sfctl up`."),
) -> None:
    """Stop the gateway started by `sfctl up --detach` (drains in-flight requests first)."""
    directory = _data_dir(data_dir)
    gateway = local.running(directory)
    if gateway is None:
        ui.info("No local gateway is running.")
        return
    if local.stop(gateway, directory):
        ui.success(f"Stopped the gateway at {gateway.url} (pid {gateway.pid}).")
    else:
        ui.warn(f"The gateway (pid {gateway.pid}) did not drain in time and was killed.")
