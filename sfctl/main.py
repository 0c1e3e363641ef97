"""The sfctl root: one typer app, one place where errors become exit codes."""

from __future__ import annotations

import sys

import typer

from sfctl import __version__, ui
from sfctl.commands import bench
from sfctl.commands import keys as keys_commands
from sfctl.commands import up as up_commands
from sfctl.errors import SfctlError

app = typer.Typer(
    name="sfctl",
    help="Run, deploy, verify, lint and load-test the Smartflow gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print sfctl's version and exit."),
) -> None:
    if version:
        ui.info(f"sfctl {__version__}")
        raise typer.Exit(0)


app.command("up")(up_commands.up)
app.command("down")(up_commands.down)
app.add_typer(keys_commands.app, name="keys")
app.add_typer(bench.app, name="bench")


def _register_spec_commands() -> None:
    """init, render and spec: the deployment spec and what is rendered from it."""
    from sfctl.commands import init as init_commands
    from sfctl.commands import render as render_commands
    from sfctl.commands import spec as spec_commands

    app.command("init")(init_commands.init)
    app.command("render")(render_commands.render)
    app.add_typer(spec_commands.app, name="spec")


_register_spec_commands()


def _register_mock_upstream() -> None:
    from sfctl.commands.mock_upstream import mock_upstream

    app.command(
        "mock-upstream",
        help="Run a fake OpenAI- and Anthropic-compatible LLM server for tests and benchmarks.",
    )(mock_upstream)


_register_mock_upstream()


def _register_doctor() -> None:
    from sfctl.commands.doctor import doctor

    app.command("doctor")(doctor)


_register_doctor()


def _register_build() -> None:
    from sfctl.commands import build

    app.add_typer(build.app, name="build")


_register_build()


def _register_history() -> None:
    from sfctl.commands import history

    app.add_typer(history.app, name="history")


_register_history()


def _register_verify_and_status() -> None:
    """Groups with one command per platform: `compose` now, `k8s` to come."""
    from sfctl.commands import status, verify

    app.add_typer(verify.app, name="verify")
    app.add_typer(status.app, name="status")


_register_verify_and_status()


def _register_compose_ops() -> None:
    from sfctl.commands import deploy, upgrade

    app.add_typer(deploy.app, name="deploy")
    app.add_typer(upgrade.app, name="upgrade")
    app.add_typer(upgrade.rollback_app, name="rollback")
    app.add_typer(deploy.teardown_app, name="teardown")


_register_compose_ops()


def run() -> None:
    """Console entry point: errors are one line on stderr and a non-zero exit, never a traceback."""
    try:
        result = app(standalone_mode=False)
    except SfctlError as exc:
        ui.error(str(exc))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        ui.error("aborted")
        sys.exit(130)
    except typer.TyperException as exc:
        # usage errors (typer's own click): the message names the option and what is wrong
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            ui.error(str(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # a bug: still one line, with what to report
        ui.error(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)
