"""The sfctl root: one typer app, one place where errors become exit codes."""

from __future__ import annotations

import sys

import typer

from sfctl import __version__, ui
from sfctl.commands import a2a as a2a_commands
from sfctl.commands import bench, build, deploy, history, kube_ops, status, upgrade, verify
from sfctl.commands import cache as cache_commands
from sfctl.commands import init as init_commands
from sfctl.commands import keys as keys_commands
from sfctl.commands import mcp as mcp_commands
from sfctl.commands import policy as policy_commands
from sfctl.commands import render as render_commands
from sfctl.commands import spec as spec_commands
from sfctl.commands import up as up_commands
from sfctl.commands.doctor import doctor
from sfctl.commands.mock_upstream import mock_upstream
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


LOCAL, DEPLOY, OPERATE, TEST = "Run locally", "Deploy", "Operate", "Test and measure"

app.command("up", rich_help_panel=LOCAL)(up_commands.up)
app.command("down", rich_help_panel=LOCAL)(up_commands.down)
app.add_typer(keys_commands.app, name="keys", rich_help_panel=OPERATE)
app.add_typer(cache_commands.app, name="cache", rich_help_panel=OPERATE)
app.add_typer(policy_commands.app, name="policy", rich_help_panel=OPERATE)
app.add_typer(mcp_commands.app, name="mcp", rich_help_panel=OPERATE)
app.add_typer(a2a_commands.app, name="a2a", rich_help_panel=OPERATE)

# the deployment spec, what is rendered from it, and the Compose lifecycle
app.command("init", rich_help_panel=DEPLOY)(init_commands.init)
app.add_typer(spec_commands.app, name="spec", rich_help_panel=DEPLOY)
app.command("render", rich_help_panel=DEPLOY)(render_commands.render)
app.add_typer(build.app, name="build", rich_help_panel=DEPLOY)
app.add_typer(deploy.app, name="deploy", rich_help_panel=DEPLOY)
app.add_typer(upgrade.app, name="upgrade", rich_help_panel=DEPLOY)
app.add_typer(upgrade.rollback_app, name="rollback", rich_help_panel=DEPLOY)
app.add_typer(deploy.teardown_app, name="teardown", rich_help_panel=DEPLOY)
app.add_typer(kube_ops.scale_app, name="scale", rich_help_panel=OPERATE)

# what runs: one command per platform in each group (`compose`, `k8s`)
app.add_typer(verify.app, name="verify", rich_help_panel=OPERATE)
app.add_typer(status.app, name="status", rich_help_panel=OPERATE)
app.add_typer(history.app, name="history", rich_help_panel=OPERATE)
app.command("doctor", rich_help_panel=OPERATE)(doctor)

app.add_typer(bench.app, name="bench", rich_help_panel=TEST)
app.command(
    "mock-upstream",
    help="Run a fake OpenAI- and Anthropic-compatible LLM server for tests and benchmarks.",
    rich_help_panel=TEST,
)(mock_upstream)


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
