"""`smartflow-gateway`: parse flags, load settings, run the service SERVICE_TYPE names."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

import orjson

from gateway import __version__
from gateway.observability.logging import configure_from
from gateway.settings import SERVICE_TYPES, Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartflow-gateway",
        description="Smartflow LLM gateway. Settings come from the environment; flags override.",
    )
    parser.add_argument("--service", choices=SERVICE_TYPES, help="overrides SERVICE_TYPE")
    parser.add_argument("--host", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default by service: proxy 7775 ...)")
    parser.add_argument("--workers", type=int, help="worker processes sharing the port")
    parser.add_argument("--config", help="routing config YAML (overrides SMARTFLOW_CONFIG)")
    parser.add_argument("--version", action="store_true", help="print the build and exit")
    parser.add_argument("--json", action="store_true", help="with --version: print JSON")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.workers is not None and args.workers < 1:
        raise SettingsError("--workers must be at least 1")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise SettingsError("--port must be between 0 and 65535")
    return load_settings(
        service_type=args.service,
        host=args.host,
        port=args.port,
        workers=args.workers,
        config_path=args.config,
    )


def _with_shared_metrics(settings: Settings) -> Settings:
    """Workers write their metrics to files in one directory, so any worker's /metrics reports
    the whole process group. prometheus_client reads this variable when it is first imported."""
    directory = tempfile.mkdtemp(prefix="smartflow-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return dataclasses.replace(settings, metrics_multiprocess_dir=Path(directory))


def _supervise(settings: Settings) -> int:
    from gateway import server

    try:
        return server.run_workers(settings)
    finally:
        if settings.metrics_multiprocess_dir is not None:
            shutil.rmtree(settings.metrics_multiprocess_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["build-models"]:  # the one subcommand: the embedders' files, ahead of time
        from gateway.cache.model_build import main as build_models

        return build_models(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"smartflow-gateway: {exc}", file=sys.stderr)
        return 2
    if args.version:
        from gateway.services.common import version_info

        if args.json:
            print(orjson.dumps(version_info(settings)).decode())
        else:
            print(f"smartflow-gateway {__version__} ({settings.build.git_commit})")
        return 0
    try:
        configure_from(settings)  # with SMARTFLOW_LOG_FILE, stdout and stderr go there from now
    except OSError as exc:
        print(f"smartflow-gateway: SMARTFLOW_LOG_FILE: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1:
        settings = _with_shared_metrics(settings)
    from gateway import server  # imports prometheus_client: after the multiprocess switch above
    from gateway.app import check_service_settings

    try:
        check_service_settings(settings)
    except SettingsError as exc:
        print(f"smartflow-gateway: {exc}", file=sys.stderr)
        return 2
    try:
        if settings.workers > 1:
            return _supervise(settings)
        server.run_single(settings)
    except OSError as exc:
        print(
            f"smartflow-gateway: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
