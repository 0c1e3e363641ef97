"""`sfctl up` and `sfctl down`: the gateway on this machine, nothing else installed."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from sfctl import local, semantic_model, ui
from sfctl.admin_key import AdminKey, ensure_admin_key
from sfctl.errors import SfctlError, UsageError
from sfctl.local_record import AlreadyRunning
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
    log_max_mb: float | None = typer.Option(
        None, min=0.01, help="With --detach: rotate gateway.log at this size (default 20)."
    ),
    log_backups: int | None = typer.Option(
        None, min=1, max=1000, help="With --detach: rotated log files kept (default 5)."
    ),
) -> None:
    """Run the gateway locally (SERVICE_TYPE=all, embedded state in one SQLite file).

    Logs: this terminal; with --detach, gateway.log in the data directory.
    Admin key: $ADMIN_API_KEY if exported, else the data directory's key file.
    """
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range (1-65535)")
    if config is not None and not config.is_file():
        raise UsageError(f"--config {config}: no such file")
    if not detach and (log_max_mb is not None or log_backups is not None):
        raise UsageError(
            "--log-max-mb and --log-backups apply with --detach; "
            "in the foreground the gateway logs to the terminal"
        )
    logs = local.LogRotation.of(log_max_mb, log_backups)
    directory = local.ensure_data_dir(_data_dir(data_dir))
    environment = cli_environment()
    existing = local.running(directory)
    if existing is not None:  # said before a key file is made; claimed() checks again, locked
        raise AlreadyRunning(existing)
    local.ensure_port_free(host, port)
    key = ensure_admin_key(environment.admin_api_key, directory)
    url = f"http://{host}:{port}"
    command = local.gateway_command(host, port, workers)
    banner = _Banner(url, key, not local.config_has_providers(config), data_dir)
    banner.cache = semantic_model.prepare(os.environ, directory)
    with local.claimed(directory, host, port, key_from_env=key.file is None) as claim:
        if detach:
            env = local.gateway_env(
                os.environ, directory, key.value, config, logs, loopback=local.is_loopback(host)
            )
            gateway = local.start_detached(command, env, claim)
            banner.show(detached=f"pid {gateway.pid}", logs=(directory / local.LOG_FILE, logs))
            return
        env = local.gateway_env(
            os.environ, directory, key.value, config, loopback=local.is_loopback(host)
        )
        with local.foreground(command, env, claim) as attached:
            try:
                local.wait_healthy(url, attached.process)
            except SfctlError:
                if attached.stop_requested:  # stopped while starting: a clean exit
                    return
                raise
            banner.show()
            code = attached.process.wait()
    if code not in (0, -15):
        raise SfctlError(f"the gateway exited with code {code}", exit_code=code if code > 0 else 1)


class _Banner:
    """What `sfctl up` prints once the gateway is ready: where, which key, what next."""

    def __init__(self, url: str, key: AdminKey, mock_only: bool, data_dir: Path | None) -> None:
        self.url = url
        self.key = key
        self.mock_only = mock_only
        self.cache: str | None = None
        # the next commands need --data-dir when `sfctl up` was given one
        quoted = shlex.quote(str(data_dir)) if data_dir is not None else ""
        self.data_dir = f"--data-dir {ui.literal(quoted)}" if quoted else ""

    def show(
        self, *, detached: str | None = None, logs: tuple[Path, local.LogRotation] | None = None
    ) -> None:
        where = f" ({detached})" if detached else ""
        ui.success(f"Smartflow gateway is running at {ui.literal(self.url)}{where}")
        if logs is not None:
            path, rotation = logs
            ui.info(f"Logs: {ui.literal(str(path))} ({rotation.describe()})")
        if self.cache is not None:
            ui.info(ui.literal(self.cache))
        if self.mock_only:
            ui.warn(
                "No provider is configured: every model is answered by the built-in mock "
                "provider. Pass --config with a providers section to route to real models."
            )
        ui.panel_lines([*self._key_lines(), *self._usage_lines()])
        if detached:
            ui.info(f"Stop it with: sfctl down {self.data_dir}".rstrip())

    def _key_lines(self) -> list[str]:
        if self.key.file is None:
            return [
                "Admin key: $ADMIN_API_KEY, exported in this shell (never written to disk;",
                "export it wherever you run sfctl keys). Use it:",
                "  export OPENAI_API_KEY=$ADMIN_API_KEY",
            ]
        made = "created" if self.key.created else "kept"
        return [
            f"Admin key {made} in {ui.literal(str(self.key.file))} (mode 0600). Use it:",
            f"  export OPENAI_API_KEY=$(cat {ui.literal(str(self.key.file))})",
        ]

    def _usage_lines(self) -> list[str]:
        url = ui.literal(self.url)
        return [
            f"  export OPENAI_BASE_URL={url}/v1",
            f"  curl -s {url}/v1/chat/completions \\",
            '    -H "Authorization: Bearer $OPENAI_API_KEY" \\',
            "    -H 'content-type: application/json' \\",
            '    -d \'{"model": "gpt-4o-mini",',
            '         "messages": [{"role": "user", "content": "hi"}]}\'',
            f"  Metrics: {url}/metrics   Health: {url}/health",
            "Give each application a virtual key of its own (budgets, rate limits, audit):",
            "  sfctl keys create --name my-app --budget 20 --rpm 600"
            + (f" \\\n    {self.data_dir}" if self.data_dir else ""),
            "Put MCP servers behind those keys: sfctl mcp add NAME URL",
            f"  MCP clients connect to {url}/api/mcp",
        ]


def down(
    data_dir: Path | None = typer.Option(None, help="State directory used by `sfctl up`."),
) -> None:
    """Stop the gateway `sfctl up` runs, foreground or detached (it drains first)."""
    directory = _data_dir(data_dir)
    gateway = local.running(directory)
    if gateway is None:
        ui.info("No local gateway is running.")
        return
    if local.stop(gateway, directory):
        ui.success(f"Stopped the gateway at {gateway.url} (pid {gateway.pid}).")
    else:
        ui.warn(f"The gateway (pid {gateway.pid}) did not drain in time and was killed.")
