"""`sfctl keys` and a key's response-cache settings (`--cache`, `--cache-namespace`,
`--cache-tool-calls`, `--cache-any-temperature`), against a gateway `sfctl up` started: what the
management API stores, the one row the key's table shows, and updates that change only the
options given (the API replaces the whole `cache` object, so sfctl merges)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from support.procs import free_port

pytestmark = pytest.mark.e2e

CLEAN_ENV = ("ADMIN_API_KEY", "SMARTFLOW_ADMIN_URL", "SMARTFLOW_DATA_DIR", "SMARTFLOW_CONFIG")
DEFAULTS = {"mode": "on", "namespace": None, "cache_tool_calls": False, "any_temperature": False}


def sfctl(*args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env={**base, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(*args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    result = sfctl(*args, columns=columns)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "-o", "json").stdout)


def fails(code: int, *args: str) -> str:
    result = sfctl(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def cache_row(table: str) -> str:
    """The key table's cache row at 80 columns: one line, nothing wider than the terminal."""
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 80, table
    rows = [line for line in lines if line.startswith("│ cache ")]
    assert len(rows) == 1, table
    below = lines[lines.index(rows[0]) + 1]
    assert below.startswith("│ expires "), table  # the value did not wrap onto a second line
    return rows[0].strip("│ ").removeprefix("cache").strip(" │")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`--data-dir` of a detached `sfctl up`: the URL and admin key come from its state."""
    data_dir = tmp_path_factory.mktemp("sfctl-keys-cache") / "state"
    try:
        ok("up", "--detach", "--port", str(free_port()), "--data-dir", str(data_dir))
        yield "--data-dir", str(data_dir)
    finally:
        sfctl("down", "--data-dir", str(data_dir))


def test_cache_options_are_set_merged_and_reset(local: tuple[str, str]) -> None:
    created = as_json(
        "keys", "create", "--name", "support-bot", "--team", "support", "--cache", "exact",
        "--cache-tool-calls", *local,
    )  # fmt: skip
    key_id = created["id"]
    assert created["cache"] == {**DEFAULTS, "mode": "exact", "cache_tool_calls": True}
    assert as_json("keys", "show", key_id, *local)["cache"] == created["cache"]
    shown = ok("keys", "show", key_id, *local, columns=80).stdout
    assert cache_row(shown) == "exact, namespace team:support (default), tool calls cached"

    # one option changes; the others are kept (read, merged, sent whole)
    named = as_json("keys", "update", key_id, "--cache-namespace", "helpdesk", *local)
    assert named["cache"] == {
        "mode": "exact", "namespace": "helpdesk", "cache_tool_calls": True,
        "any_temperature": False,
    }  # fmt: skip
    flags = as_json(
        "keys", "update", key_id, "--no-cache-tool-calls", "--cache-any-temperature", *local
    )
    assert flags["cache"] == {
        "mode": "exact", "namespace": "helpdesk", "cache_tool_calls": False,
        "any_temperature": True,
    }  # fmt: skip
    # the table printed after an update has the row too
    updated = ok("keys", "update", key_id, "--cache", "on", *local, columns=80).stdout
    assert cache_row(updated) == "on, namespace helpdesk, any temperature"

    # other options leave the cache settings alone
    limited = as_json("keys", "update", key_id, "--rpm", "30", *local)
    assert limited["cache"] == {**flags["cache"], "mode": "on"}

    # back to the default namespace: the team's, shown the gateway's way
    reset = as_json("keys", "update", key_id, "--cache-namespace-default", *local)
    assert reset["cache"] == {**DEFAULTS, "any_temperature": True}
    shown = ok("keys", "show", key_id, *local, columns=80).stdout
    assert cache_row(shown) == "on, namespace team:support (default), any temperature"


def test_a_key_without_a_team_or_options_caches_in_its_own_namespace(
    local: tuple[str, str],
) -> None:
    plain = ok("keys", "create", "--name", "no-team", *local, columns=80)
    key_id = next(line for line in plain.stdout.splitlines() if line.startswith("│ id "))
    key_id = key_id.strip("│ ").removeprefix("id").strip(" │")
    assert key_id.startswith("key_")
    assert cache_row(plain.stdout) == f"on, namespace key:{key_id} (default)"
    assert as_json("keys", "show", key_id, *local)["cache"] == DEFAULTS

    off = as_json("keys", "update", key_id, "--cache", "off", *local)
    assert off["cache"] == {**DEFAULTS, "mode": "off"}
    shown = ok("keys", "show", key_id, *local, columns=80).stdout
    assert cache_row(shown) == f"off, namespace key:{key_id} (default)"

    # a namespace with a comma or a space is quoted, so the row stays unambiguous
    spaced = as_json("keys", "update", key_id, "--cache-namespace", "billing, eu", *local)
    assert spaced["cache"] == {**DEFAULTS, "mode": "off", "namespace": "billing, eu"}
    shown = ok("keys", "show", key_id, *local, columns=80).stdout
    assert cache_row(shown) == "off, namespace 'billing, eu'"


def test_bad_cache_values_are_one_line_and_a_usage_exit(local: tuple[str, str]) -> None:
    key_id = as_json("keys", "create", "--name", "target", *local)["id"]
    bad = fails(2, "keys", "create", "--name", "x", "--cache", "sometimes", *local)
    assert "--cache 'sometimes': use on, exact or off" in bad
    assert "--cache 'maybe'" in fails(2, "keys", "update", key_id, "--cache", "maybe", *local)
    both = fails(
        2, "keys", "update", key_id, "--cache-namespace", "a", "--cache-namespace-default", *local
    )
    assert "--cache-namespace cannot be combined with --cache-namespace-default" in both
    assert "--cache-namespace" in fails(
        2, "keys", "create", "--name", "x", "--cache-namespace", "", *local
    )
    too_long = fails(2, "keys", "create", "--name", "x", "--cache-namespace", "n" * 201, *local)
    assert "at most 200 characters" in too_long
    # nothing was created or changed by the refused commands
    assert [k["name"] for k in as_json("keys", "list", *local)["keys"]].count("x") == 0
    assert as_json("keys", "show", key_id, *local)["cache"] == DEFAULTS
