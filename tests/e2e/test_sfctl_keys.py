"""`sfctl keys` as an operator runs it, against a gateway `sfctl up` started (detached, or in the
foreground of another terminal), with the keys used on the proxy by the official OpenAI SDK."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.local_up import foreground_up
from support.procs import free_port

pytestmark = pytest.mark.e2e

CLEAN_ENV = ("ADMIN_API_KEY", "SMARTFLOW_ADMIN_URL", "SMARTFLOW_DATA_DIR", "SMARTFLOW_CONFIG")


def sfctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env={**base, "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = sfctl(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def as_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(ok(*args, "-o", "json", env=env).stdout)


def fails(code: int, *args: str, env: dict[str, str] | None = None) -> str:
    result = sfctl(*args, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("sfctl-keys") / "state"
    port = free_port()
    try:
        ok("up", "--detach", "--port", str(port), "--data-dir", str(data_dir))
        yield f"http://127.0.0.1:{port}", data_dir
    finally:
        sfctl("down", "--data-dir", str(data_dir))


def chat(url: str, secret: str) -> str | None:
    client = openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    return reply.choices[0].message.content


def test_key_lifecycle(gateway: tuple[str, Path]) -> None:
    url, data_dir = gateway
    local = ("--data-dir", str(data_dir))  # the URL and admin key come from `sfctl up`'s state

    created = as_json(
        "keys", "create", "--name", "ci-bot", "--budget", "5", "--period", "daily",
        "--rpm", "60", "--models", "gpt-4o-mini,gpt-4o", "--expires", "30d",
        "--owner", "ana@example.com", "--team", "ml", "--metadata", "ticket=OPS-1", *local,
    )  # fmt: skip
    secret = created["key"]
    key_id = created["id"]
    assert secret.startswith("sk-sf-")
    assert created["models"] == ["gpt-4o-mini", "gpt-4o"]
    assert created["budget"] == {"max_usd": 5.0, "period": "daily"}
    assert created["limits"]["rpm"] == 60
    assert created["metadata"] == {"ticket": "OPS-1"}
    assert chat(url, secret)

    # table output: the secret once, on a line of its own, with the warning on stderr
    shown = ok("keys", "create", "--name", "[bold]second[/bold]", *local)
    second_secret = next(line for line in shown.stdout.splitlines() if line.startswith("sk-sf-"))
    assert shown.stdout.count(second_secret) == 1
    assert "only time the key is shown" in shown.stderr
    assert "[bold]second[/bold]" in shown.stdout  # a name is data, never markup

    listed = as_json("keys", "list", *local)
    assert [k["id"] for k in listed["keys"]][:1] == [key_id]
    assert all("key" not in k and "key_hash" not in k for k in listed["keys"])
    table = ok("keys", "list", *local).stdout
    assert "ci-bot" in table and "$5.00 daily" in table and "rpm 60" in table

    record = as_json("keys", "show", key_id, *local)
    assert record["name"] == "ci-bot" and "key" not in record
    assert "ana@example.com" in ok("keys", "show", key_id, *local).stdout

    budget = as_json("keys", "budget", key_id, *local)
    assert budget["key_id"] == key_id
    assert budget["window"].startswith("d")
    assert 0 <= budget["remaining_usd"] <= 5.0
    assert "remaining" in ok("keys", "budget", key_id, *local).stdout

    updated = as_json("keys", "update", key_id, "--rph", "1000", "--team", "platform", *local)
    assert updated["limits"]["rpm"] == 60  # merged, not replaced
    assert updated["limits"]["rph"] == 1000
    assert updated["team"] == "platform"

    rotated = as_json("keys", "rotate", key_id, *local)
    assert rotated["id"] == key_id and rotated["key"] != secret
    with pytest.raises(openai.AuthenticationError):
        chat(url, secret)
    assert chat(url, rotated["key"])

    revoked = ok("keys", "revoke", key_id, *local)
    assert "Revoked" in revoked.stdout
    assert as_json("keys", "show", key_id, *local)["status"] == "revoked"
    with pytest.raises(openai.AuthenticationError):
        chat(url, rotated["key"])
    assert "revoked" in fails(1, "keys", "rotate", key_id, *local)


def test_the_list_fits_80_columns_with_whole_ids(gateway: tuple[str, Path]) -> None:
    """The id is what every other keys command takes: at 80 columns it is never cut; columns
    that do not fit are left out and named, and a long name wraps instead of being cut."""
    _, data_dir = gateway
    local = ("--data-dir", str(data_dir))
    long_name = "billing application for the finance department"
    created = as_json(
        "keys", "create", "--name", long_name, "--models", "gpt-4o,gpt-4o-mini",
        "--rpm", "600", "--tpm", "200000", "--owner", "ana@example.com", *local,
    )  # fmt: skip
    narrow = ok("keys", "list", *local, env={"COLUMNS": "80"}).stdout
    lines = narrow.splitlines()
    assert max(len(line) for line in lines) <= 80, narrow
    assert created["id"] in narrow and "…" not in narrow, narrow
    assert all(word in narrow for word in long_name.split()), narrow
    assert "Not shown at this width: owner" in narrow and "-o json" in narrow, narrow
    wide = ok("keys", "list", *local, env={"COLUMNS": "250"}).stdout
    assert "ana@example.com" in wide and long_name in wide and "Not shown" not in wide


def test_the_environment_names_the_gateway(gateway: tuple[str, Path]) -> None:
    url, data_dir = gateway
    key = (data_dir / "admin_api_key").read_text().strip()
    env = {"SMARTFLOW_ADMIN_URL": url, "ADMIN_API_KEY": key}
    created = as_json("keys", "create", "--name", "from-env", env=env)
    assert as_json("keys", "show", created["id"], env=env)["name"] == "from-env"
    assert created["id"] in ok("keys", "list", "--url", url, "--admin-key", key).stdout


def test_bad_input_is_one_line_and_a_usage_exit(gateway: tuple[str, Path]) -> None:
    _, data_dir = gateway
    local = ("--data-dir", str(data_dir))
    assert "--name" in fails(2, "keys", "create", *local)
    assert "--expires '3x'" in fails(2, "keys", "create", "--name", "x", "--expires", "3x", *local)
    assert "--rpm" in fails(2, "keys", "create", "--name", "x", "--rpm", "0", *local)
    assert "--period needs --budget" in fails(
        2, "keys", "create", "--name", "x", "--period", "daily", *local
    )
    assert "nothing to change" in fails(2, "keys", "update", "key_0123456789abcdef", *local)
    message = fails(1, "keys", "show", "key_0123456789abcdef", *local)
    assert "no virtual key with id 'key_0123456789abcdef'" in message
    assert len(message.strip().splitlines()) == 1
    odd = fails(1, "keys", "show", "[/x]", *local)  # the server's words are text, not markup
    assert "no virtual key with id '[/x]'" in odd
    too_long = fails(2, "keys", "create", "--name", "x" * 201, *local)
    assert "rejected the request (400): name" in too_long


def test_wrong_admin_key_and_unreachable_url(gateway: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = gateway
    refused = fails(1, "keys", "list", "--url", url, "--admin-key", "sf-admin-wrong-0000000000")
    assert "refused the admin key (401)" in refused
    nowhere = f"http://127.0.0.1:{free_port()}"
    message = fails(1, "keys", "list", "--url", nowhere, "--admin-key", "k", "--timeout", "3")
    assert f"cannot reach the management API at {nowhere}" in message
    assert len(message.strip().splitlines()) == 1
    no_gateway = fails(2, "keys", "list", "--data-dir", str(tmp_path / "none"))
    assert "no `sfctl up` is running" in no_gateway
    assert "start one (`sfctl up`, or" in no_gateway  # a foreground `sfctl up` is found too


def test_keys_find_a_foreground_up_in_another_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    port = free_port()  # not the default: the record names the port
    local = ("--data-dir", str(data_dir))
    with foreground_up(data_dir, port) as up:
        created = as_json("keys", "create", "--name", "second-terminal", *local)
        assert chat(up.url, created["key"])
        assert created["id"] in ok("keys", "list", *local).stdout

        again = sfctl("up", "--port", str(free_port()), *local)
        assert again.returncode == 1
        assert f"already running at {up.url}" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1

        stopped = ok("down", *local)  # stops a foreground gateway too, and it drains
        assert f"Stopped the gateway at {up.url}" in stopped.stdout
        assert up.process.wait(60) == 0
    assert "draining" in up.text()
    assert not (data_dir / "gateway.pid").exists()
    assert "no `sfctl up` is running" in fails(2, "keys", "list", *local)


def test_an_exported_admin_key_is_the_key_of_up_and_keys(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    key = "sf-admin-exported-" + secrets.token_hex(12)
    exported = {"ADMIN_API_KEY": key}  # as after sourcing a deployment's .env, in both shells
    local = ("--data-dir", str(data_dir))
    with foreground_up(data_dir, free_port(), env=exported) as up:
        created = as_json("keys", "create", "--name", "exported", *local, env=exported)
        assert chat(up.url, created["key"])
        vkeys = httpx.get(
            up.url + "/api/enterprise/vkeys", headers={"Authorization": f"Bearer {key}"}
        )
        assert vkeys.status_code == 200  # the gateway's admin key is the exported one
        # a shell without it is told which key the gateway uses, not answered with a 401
        message = fails(2, "keys", "list", *local)
        assert "ADMIN_API_KEY" in message and "401" not in message
        up.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.process.wait(60) == 0
    banner = up.text()
    assert "$ADMIN_API_KEY" in banner
    assert key not in banner and "admin_api_key" not in banner  # neither the key nor the file
    assert not (data_dir / "admin_api_key").exists()  # never written to the key file
    assert not (data_dir / "gateway.pid").exists()


def test_keys_and_up_agree_on_the_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    local = ("--data-dir", str(data_dir))
    port = free_port()
    with foreground_up(data_dir, port) as up:
        key = (data_dir / "admin_api_key").read_text().strip()
        assert key not in up.text()  # shown by path, never printed
        as_json("keys", "list", *local)  # no ADMIN_API_KEY: the key file, as `sfctl up` did
        exported = {"ADMIN_API_KEY": "sf-admin-some-other-shell-0000"}
        message = fails(2, "keys", "list", *local, env=exported)
        # not a bare 401 (the port in the gateway's URL may hold those digits)
        assert "ADMIN_API_KEY" in message and "401" not in message.replace(str(port), "")
        assert as_json("keys", "list", *local, env={"ADMIN_API_KEY": key})["keys"] == []
