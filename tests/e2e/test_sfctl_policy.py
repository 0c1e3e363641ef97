"""`sfctl policy` as an operator runs it, against a real gateway that `sfctl up --detach` started
from the working tree (SERVICE_TYPE=all: the management API and policy-perfect's dry run, the
embedded SQLite policy store): the admin URL and key come from `sfctl up`'s data directory."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.local_up import CLEAN_ENV
from support.procs import free_port

pytestmark = pytest.mark.e2e

GUARD = """\
name: {name}
description: no card numbers to outside models
bound_to:
  teams: [ml]
  models: ["gpt-4*"]
rules:
  - name: block-cards
    when: findings.count("payment_card") > 0
    action: {{type: deny, message: "no card numbers, please"}}
  - name: big-prompts
    when: tokens > 100000
    action: {{type: route, model: gpt-4o-mini}}
"""
SHADOW = """\
name: {name}
mode: shadow
rules:
  - name: cards-at-night
    when: findings.count("payment_card") > 0
    action: {{type: deny, message: "not at night"}}
"""
TYPO = """\
name: {name}
rules:
  - name: ok
    when: "true"
    action: allow
  - name: fine
    action: log
  - name: broken
    when: modle == "x"
    action: allow
"""
CARD = "pay with 4111 1111 1111 1111 please"


def sfctl(*args: str, columns: int = 200, stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env={**base, "COLUMNS": str(columns), "NO_COLOR": "1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """A failure: the exit code, and stderr one `error:` line (no traceback)."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)


@dataclass(frozen=True)
class Gateway:
    url: str
    data_dir: Path

    def policy(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return sfctl("policy", *args, "--data-dir", str(self.data_dir), **kwargs)

    def json(self, *args: str) -> Any:
        return json.loads(ok(self.policy(*args, "-o", "json")).stdout)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("sfctl-policy") / "state"
    port = free_port()
    try:
        ok(sfctl("up", "--detach", "--port", str(port), "--data-dir", str(data_dir)))
        yield Gateway(f"http://127.0.0.1:{port}", data_dir)
    finally:
        sfctl("down", "--data-dir", str(data_dir))


def fresh(stem: str) -> str:
    """A policy name no other test uses (the gateway is shared by the module)."""
    return f"{stem}-{secrets.token_hex(3)}"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def request_file(path: Path, content: str, model: str = "gpt-4o") -> Path:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return write(path, json.dumps(body))


def test_apply_list_show_history_rollback_delete(gateway: Gateway, tmp_path: Path) -> None:
    guard, shadow = fresh("guard"), fresh("night")
    both = write(
        tmp_path / "policies.yaml",
        GUARD.format(name=guard) + "---\n" + SHADOW.format(name=shadow) + "---\n",
    )
    applied = ok(gateway.policy("apply", str(both)))
    assert applied.stdout.splitlines() == [
        f"✓ policy {guard}: version 1 (created)",
        f"✓ policy {shadow}: version 1 (created)",
    ]
    one = write(tmp_path / "guard.yaml", GUARD.format(name=guard))
    same = ok(gateway.policy("apply", str(one))).stdout  # the same document: no new version
    assert f"policy {guard}: version 1 (unchanged)" in same
    changed = write(tmp_path / "changed.yaml", one.read_text().replace("outside", "external"))
    assert (
        f"policy {guard}: version 2 (updated)" in ok(gateway.policy("apply", str(changed))).stdout
    )

    listed = {p["name"]: p for p in gateway.json("list")["policies"]}
    assert listed[guard]["version"] == 2 and listed[shadow]["mode"] == "shadow"
    table = ok(gateway.policy("list", columns=80)).stdout
    fits(table)
    for cell in (guard, shadow, "enforce", "shadow", "team:ml", "all requests"):
        assert cell in table, table

    shown = ok(gateway.policy("show", guard, columns=80)).stdout
    assert shown.startswith(f"# policy {guard}, version 2 (active), updated ")
    fits(shown)
    document = gateway.json("show", guard)
    assert document["name"] == guard and document["version"] == 2
    assert document["rules"][0]["action"] == {"type": "deny", "message": "no card numbers, please"}
    old = ok(gateway.policy("show", guard, "--version", "1")).stdout
    assert old.startswith(f"# policy {guard}, version 1 (not active), created ")

    # what show prints is what apply takes: with the version bumped as its comment says
    edit = shown.replace("version: 2", "version: 3").replace("external", "other")
    edited = write(tmp_path / "edited.yaml", edit)
    assert f"policy {guard}: version 3 (updated)" in ok(gateway.policy("apply", str(edited))).stdout
    # the older text, saying version 2, was written against a version that is gone: one line
    stale = write(tmp_path / "stale.yaml", shown)
    line = one_error(gateway.policy("apply", str(stale)))
    assert line.startswith(f"error: {stale}: version: policy '{guard}' is at version 3")

    rolled = ok(gateway.policy("rollback", guard, "1"))
    assert f"policy {guard}: version 4 (rollback to v1)" in rolled.stdout
    history = gateway.json("history", guard)["versions"]
    assert [(v["version"], v["note"], v["active"]) for v in history] == [
        (1, "created", False), (2, "updated", False), (3, "updated", False),
        (4, "rollback to v1", True),
    ]  # fmt: skip
    table = ok(gateway.policy("history", guard, columns=80)).stdout
    fits(table)
    assert "rollback to v1" in table

    refused = gateway.policy("delete", shadow, stdin="n\n")
    assert one_error(refused) == "error: not confirmed: nothing was deleted"
    assert f"Delete policy {shadow} (active version 1)" in refused.stderr
    assert "--yes" in one_error(gateway.policy("delete", shadow), 2)  # no answer to read
    deleted = ok(gateway.policy("delete", shadow, stdin="y\n"))
    assert f"Deleted policy {shadow} (was at version 1)." in deleted.stdout
    assert shadow not in {p["name"] for p in gateway.json("list")["policies"]}
    assert f"no active policy named '{shadow}'" in one_error(gateway.policy("show", shadow))
    assert len(gateway.json("history", shadow)["versions"]) == 1  # its history stays


def test_a_refused_policy_is_one_line_with_its_location(gateway: Gateway, tmp_path: Path) -> None:
    name = fresh("typo")
    typo = write(tmp_path / "typo.yaml", TYPO.format(name=name))
    line = one_error(gateway.policy("apply", str(typo), columns=80))
    assert line == (
        f"error: {typo}: rules[2].when: unknown field 'modle' at column 1; did you mean 'model'?"
    )
    assert name not in {p["name"] for p in gateway.json("list")["policies"]}

    first = fresh("first")
    mixed = write(
        tmp_path / "mixed.yaml",
        SHADOW.format(name=first) + "---\n" + TYPO.format(name=name) + "---\n"
        + GUARD.format(name=fresh("never")),
    )  # fmt: skip
    result = gateway.policy("apply", str(mixed))
    assert one_error(result).startswith(f"error: {mixed}: policy '{name}': rules[2].when:")
    assert f"policy {first}: version 1 (created)" in result.stdout
    assert "not applied: never-" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("show", "ghost"), ("show", "ghost", "--version", "2"), ("history", "ghost"),
     ("rollback", "ghost", "1"), ("delete", "ghost", "--yes")],
)  # fmt: skip
def test_an_unknown_policy_is_one_line(gateway: Gateway, args: tuple[str, ...]) -> None:
    line = one_error(gateway.policy(*args))
    assert "ghost" in line and "(HTTP 404)" in line


def test_no_gateway_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("list",), ("apply", str(write(tmp_path / "g.yaml", GUARD.format(name="g"))))):
        line = one_error(sfctl("policy", *args, "--url", url, "--admin-key", "k"))
        assert line.startswith(f"error: cannot reach the management API at {url}")


def test_dry_run_deny_exits_3_and_says_why(gateway: Gateway, tmp_path: Path) -> None:
    name = fresh("guard")
    policy = write(tmp_path / "guard.yaml", GUARD.format(name=name))
    card = request_file(tmp_path / "card.json", CARD)
    result = gateway.policy(
        "test", str(policy), "--request", str(card), "--key-team", "ml", columns=80
    )
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert result.stderr == ""
    fits(result.stdout)
    for text in ("Decision: deny", "deny: no card numbers, please", "block-cards",
                 "yes: decided", "payment_card"):  # fmt: skip
        assert text in result.stdout, result.stdout

    report = json.loads(
        gateway.policy("test", str(policy), "--request", str(card), "--key-team", "ml",
                       "-o", "json").stdout
    )  # fmt: skip
    assert report["decision"]["rule"] == "block-cards"
    assert report["decision"]["action"]["type"] == "deny"
    assert [(r["name"], r["matched"]) for r in report["rules"]] == [
        ("block-cards", True), ("big-prompts", False),
    ]  # fmt: skip
    assert report["findings"]["payment_card"]["count"] == 1
    assert CARD not in json.dumps(report)  # findings by type, never the matched text
    assert name not in {p["name"] for p in gateway.json("list")["policies"]}  # nothing stored


def test_dry_run_allows_exit_0(gateway: Gateway, tmp_path: Path) -> None:
    policy = write(tmp_path / "guard.yaml", GUARD.format(name=fresh("guard")))
    clean = request_file(tmp_path / "clean.json", "what is the capital of France?")
    allowed = ok(gateway.policy("test", str(policy), "--request", str(clean), "--key-team", "ml"))
    assert "Decision: allow" in allowed.stdout
    assert "no rule matched: allowed" in allowed.stdout
    assert "No findings in the request." in allowed.stdout
    # the card, but from a team and a model the policy is not bound to
    other = request_file(tmp_path / "other.json", CARD, model="claude-3-5-haiku")
    unbound = ok(gateway.policy("test", str(policy), "--request", str(other), "--key-id", "k1"))
    assert "no: not bound to this key, team or model" in unbound.stdout


def test_dry_run_of_a_response_and_of_shadow_mode(gateway: Gateway, tmp_path: Path) -> None:
    policy = write(tmp_path / "guard.yaml", GUARD.format(name=fresh("guard")))
    clean = request_file(tmp_path / "clean.json", "what is my card number?")
    answered = gateway.policy(
        "test", str(policy), "--request", str(clean), "--key-team", "ml", "--response", CARD
    )
    assert answered.returncode == 3, answered.stdout
    assert "Decision: allow" in answered.stdout
    assert "Response decision: deny" in answered.stdout

    shadow = write(tmp_path / "shadow.yaml", SHADOW.format(name=fresh("night")))
    card = request_file(tmp_path / "card.json", CARD)
    result = gateway.policy("test", str(shadow), "--request", str(card))
    assert result.returncode == 3  # what it would do when enforced
    assert "yes: recorded, not enforced" in result.stdout


def test_dry_run_problems(gateway: Gateway, tmp_path: Path) -> None:
    card = request_file(tmp_path / "card.json", CARD)
    typo = write(tmp_path / "typo.yaml", TYPO.format(name="typo"))
    line = one_error(gateway.policy("test", str(typo), "--request", str(card)))
    assert line.startswith(f"error: {typo}: rules[2].when: unknown field 'modle'")
    policy = write(tmp_path / "guard.yaml", GUARD.format(name="g"))
    missing = one_error(gateway.policy("test", str(policy), "--request", str(tmp_path / "no")))
    assert missing == f"error: {tmp_path}/no: no such file"
    not_yaml = write(tmp_path / "bad.yaml", "name: x\nrules:\n  - name: a\n   when: true\n")
    line = one_error(gateway.policy("test", str(not_yaml), "--request", str(card)))
    assert line.startswith(f"error: {not_yaml}: not valid YAML at line 4, column 4:")
