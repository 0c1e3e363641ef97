"""`sfctl policy` as an operator runs it, in a subprocess, against a loopback aiohttp server that
answers the policy routes of the management API in the gateway's shapes (StoredPolicy JSON,
listings of summaries, the OpenAI error JSON with `param`), validating documents with the
gateway's own compiler and deciding dry runs with its own evaluator, and recording what sfctl
sends. tests/e2e/test_sfctl_policy.py runs the commands against a real gateway."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from gateway.policy.compile import PolicyError, compile_policy
from gateway.policy.evaluate import evaluate, explain
from gateway.policy.model import FindingStat, KeyInfo, PolicyContext

from support.bench_cli import run_module_async

ADMIN = "sf-admin-policy-test-0123456789"

GUARD = """\
name: pii-guard
description: no card numbers to outside models
bound_to:
  teams: [ml]
  models: ["gpt-4*"]
rules:
  - name: block-cards
    when: findings.count("payment_card") > 0
    action: {type: deny, message: "no card numbers, please"}
  - name: big-prompts
    when: tokens > 100000
    action: {type: route, model: gpt-4o-mini}
"""
SHADOW = """\
name: night-watch
mode: shadow
rules:
  - name: everything
    action: log
"""
TYPO = """\
name: typo
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


def _error(status: int, message: str, code: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}}  # fmt: skip
    return web.json_response(body, status=status)


@dataclass
class FakeApi:
    """The policy routes over an in-memory store, shaped as the contract says."""

    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)
    evaluated: list[dict[str, Any]] = field(default_factory=list)

    def _append(self, document: dict[str, Any], note: str) -> dict[str, Any]:
        name = document["name"]
        rows = self.versions.setdefault(name, [])
        version = len(rows) + 1
        for row in rows:
            row["active"] = False
        stored = {"name": name, "version": version, "document": {**document, "version": version},
                  "created_at": time.time(), "active": True, "note": note}  # fmt: skip
        rows.append(stored)
        self.heads[name] = version
        return stored

    def _head(self, name: str) -> dict[str, Any] | None:
        version = self.heads.get(name)
        return None if version is None else self.versions[name][version - 1]

    async def put(self, request: web.Request) -> web.Response:
        document = await request.json()
        try:
            compile_policy(document)
        except PolicyError as exc:
            return _error(400, exc.message, "invalid_policy", exc.location)
        head = self._head(document["name"])
        if head is not None and {**head["document"], "version": 0} == {**document, "version": 0}:
            return web.json_response({**head, "note": "unchanged"}, status=201)
        note = "updated" if head is not None else "created"
        return web.json_response(self._append(document, note), status=201)

    async def list(self, request: web.Request) -> web.Response:
        heads = [self._head(name) for name in sorted(self.heads)]
        return web.json_response({"policies": [_listed(head) for head in heads if head]})

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        head = self._head(name)
        if "version" in request.match_info:
            rows = self.versions.get(name, [])
            wanted = int(request.match_info["version"])
            head = rows[wanted - 1] if 0 < wanted <= len(rows) else None
        if head is None:
            return _error(404, f"no policy named '{name}'", "not_found")
        return web.json_response(head)

    async def history(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.versions:
            return _error(404, f"no policy named '{name}'", "not_found")
        rows = [{k: v for k, v in row.items() if k != "document"} for row in self.versions[name]]
        return web.json_response({"name": name, "versions": rows})

    async def rollback(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        version = (await request.json())["version"]
        rows = self.versions.get(name, [])
        if not rows:
            return _error(404, f"no policy named '{name}'", "not_found")
        if not 0 < version <= len(rows):
            return _error(404, f"policy '{name}' has no version {version}", "not_found")
        copied = self._append(rows[version - 1]["document"], f"rollback to v{version}")
        return web.json_response(copied, status=201)

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.heads.pop(name, None) is None:
            return _error(404, f"no policy named '{name}'", "not_found")
        for row in self.versions[name]:
            row["active"] = False
        return web.json_response({"name": name, "deleted": True})

    async def evaluate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.evaluated.append(body)
        try:
            compiled = compile_policy(body["policy"])
        except PolicyError as exc:
            return _error(400, exc.message, "invalid_policy", exc.location)
        key = body.get("key") or {}
        base = PolicyContext(key=KeyInfo(key.get("id", ""), key.get("team", "")),
                             model=body["request"].get("model", ""))  # fmt: skip
        result = {
            "policy": {"name": compiled.policy.name, "version": compiled.policy.version,
                       "mode": compiled.policy.mode},
            "profile": "full",
            **_judged(compiled, base, json.dumps(body["request"])),
        }  # fmt: skip
        if body.get("response") is not None:
            result["response"] = _judged(compiled, base, body["response"])
        return web.json_response(result)


def _judged(compiled: Any, base: PolicyContext, text: str) -> dict[str, Any]:
    """One direction's decision, rules and findings (a card number is the only finding)."""
    findings = {"payment_card": FindingStat(1, 0.99)} if "4111 1111 1111 1111" in text else {}
    context = PolicyContext(key=base.key, model=base.model, findings=findings)
    decision = evaluate(compiled, context)
    rules = {r.name: r.when for r in compiled.rules}
    return {
        "decision": {"action": decision.action.model_dump(), "rule": decision.rule,
                     "reason": decision.reason, "shadow": decision.shadow,
                     "policy": decision.policy, "version": decision.version,
                     "bound": decision.bound},
        "rules": [{"name": n, "when": rules[n], "matched": m} for n, m in explain(compiled, context)],
        "findings": {k: {"count": v.count, "confidence": v.confidence} for k, v in findings.items()},
    }  # fmt: skip


def _listed(stored: dict[str, Any]) -> dict[str, Any]:
    """A listing's entry: the summary and a few fields of the document, not the document."""
    document = stored["document"]
    summary = {k: v for k, v in stored.items() if k != "document"}
    return {**summary, "source": "store", "mode": document.get("mode", "enforce"),
            "bound_to": document.get("bound_to", {}), "rules": len(document["rules"])}  # fmt: skip


@web.middleware
async def _admin_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer {ADMIN}":
        return _error(401, "invalid admin key", "invalid_api_key")
    response: web.StreamResponse = await handler(request)
    return response


@dataclass
class Api:
    url: str
    fake: FakeApi


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    fake = FakeApi()
    app = web.Application(middlewares=[_admin_only])
    app.router.add_post("/api/policies", fake.put)
    app.router.add_get("/api/policies", fake.list)
    app.router.add_get("/api/policies/{name}", fake.get)
    app.router.add_delete("/api/policies/{name}", fake.delete)
    app.router.add_get("/api/policies/{name}/versions", fake.history)
    app.router.add_get("/api/policies/{name}/versions/{version}", fake.get)
    app.router.add_post("/api/policies/{name}/rollback", fake.rollback)
    app.router.add_post("/api/policy/evaluate", fake.evaluate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Api(f"http://127.0.0.1:{port}", fake)
    finally:
        await runner.cleanup()


async def sfctl(
    api: Api, *args: str, columns: int = 200, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`sfctl policy ARGS --url ... --admin-key ...` in a subprocess."""
    command = ("policy", *args, "--url", api.url, "--admin-key", ADMIN)
    if stdin is None:
        return await run_module_async("sfctl", *command, columns=columns)
    return await _with_stdin(command, stdin, columns)


async def _with_stdin(
    command: tuple[str, ...], stdin: str, columns: int
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sfctl", *command, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(command, proc.returncode, out.decode(), err.decode())


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """A failure: the exit code, and exactly one `error:` line on stderr, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def card_request(path: Path) -> Path:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "pay 4111 1111 1111 1111"}]}
    return write(path, json.dumps(body))


# --- apply, list, show, history, rollback, delete ---------------------------------------------


async def test_apply_list_show_history_rollback_delete(api: Api, tmp_path: Path) -> None:
    both = write(tmp_path / "policies.yaml", GUARD + "---\n" + SHADOW + "---\n")
    applied = ok(await sfctl(api, "apply", str(both)))
    assert applied.stdout.splitlines() == [
        "✓ policy pii-guard: version 1 (created)",
        "✓ policy night-watch: version 1 (created)",
    ]
    same = ok(await sfctl(api, "apply", str(write(tmp_path / "g.yaml", GUARD))))
    assert "policy pii-guard: version 1 (unchanged)" in same.stdout
    changed = write(tmp_path / "changed.yaml", GUARD.replace("outside", "external"))
    assert "version 2 (updated)" in ok(await sfctl(api, "apply", str(changed))).stdout

    listed = json.loads(ok(await sfctl(api, "list", "-o", "json")).stdout)
    assert {(p["name"], p["version"]) for p in listed["policies"]} == {
        ("pii-guard", 2),
        ("night-watch", 1),
    }
    table = ok(await sfctl(api, "list", columns=80)).stdout
    fits(table)
    for cell in ("pii-guard", "night-watch", "shadow", "enforce", "team:ml", "all requests"):
        assert cell in table, table

    shown = ok(await sfctl(api, "show", "pii-guard")).stdout
    assert shown.startswith("# policy pii-guard, version 2 (active), updated ")
    assert "set version: 3" in shown
    document = json.loads(ok(await sfctl(api, "show", "pii-guard", "-o", "json")).stdout)
    assert document["name"] == "pii-guard" and document["version"] == 2
    assert document["rules"][0]["action"]["message"] == "no card numbers, please"
    old = ok(await sfctl(api, "show", "pii-guard", "--version", "1")).stdout
    assert old.startswith("# policy pii-guard, version 1 (not active), created ")

    rolled = ok(await sfctl(api, "rollback", "pii-guard", "1"))
    assert "policy pii-guard: version 3 (rollback to v1)" in rolled.stdout
    history = json.loads(ok(await sfctl(api, "history", "pii-guard", "-o", "json")).stdout)
    assert [(v["version"], v["note"], v["active"]) for v in history["versions"]] == [
        (1, "created", False), (2, "updated", False), (3, "rollback to v1", True),
    ]  # fmt: skip
    table = ok(await sfctl(api, "history", "pii-guard", columns=80)).stdout
    fits(table)
    assert "rollback to v1" in table

    deleted = ok(await sfctl(api, "delete", "night-watch", "--yes"))
    assert "Deleted policy night-watch (was at version 1)." in deleted.stdout
    assert "night-watch" not in api.fake.heads


async def test_show_prints_yaml_that_apply_takes_back(api: Api, tmp_path: Path) -> None:
    """show's YAML (its comments, and the version bumped as the comment says) re-applies."""
    ok(await sfctl(api, "apply", str(write(tmp_path / "g.yaml", GUARD))))
    shown = ok(await sfctl(api, "show", "pii-guard")).stdout
    edit = shown.replace("version: 1", "version: 2").replace("outside", "external")
    edited = write(tmp_path / "edited.yaml", edit)
    assert "version 2 (updated)" in ok(await sfctl(api, "apply", str(edited))).stdout


async def test_apply_from_json_list_and_stdin(api: Api, tmp_path: Path) -> None:
    documents = [yaml.safe_load(GUARD), yaml.safe_load(SHADOW)]
    listed = write(tmp_path / "both.json", json.dumps(documents))
    result = json.loads(ok(await sfctl(api, "apply", str(listed), "-o", "json")).stdout)
    assert [(p["name"], p["version"]) for p in result["policies"]] == [
        ("pii-guard", 1),
        ("night-watch", 1),
    ]
    piped = ok(await sfctl(api, "apply", "-", stdin=SHADOW))
    assert "policy night-watch: version 1 (unchanged)" in piped.stdout  # the same document again


async def test_delete_asks_first(api: Api, tmp_path: Path) -> None:
    ok(await sfctl(api, "apply", str(write(tmp_path / "s.yaml", SHADOW))))
    refused = await sfctl(api, "delete", "night-watch", stdin="n\n")
    assert one_error(refused) == "error: not confirmed: nothing was deleted"
    assert "Delete policy night-watch (active version 1)" in refused.stderr
    no_answer = await sfctl(api, "delete", "night-watch", stdin="")
    assert "--yes" in one_error(no_answer, 2)
    assert "night-watch" in api.fake.heads
    ok(await sfctl(api, "delete", "night-watch", stdin="y\n"))
    assert "night-watch" not in api.fake.heads


# --- wrong input: one line, non-zero, no traceback ---------------------------------------------


async def test_a_refused_policy_is_one_line_with_its_location(api: Api, tmp_path: Path) -> None:
    typo = write(tmp_path / "typo.yaml", TYPO)
    line = one_error(await sfctl(api, "apply", str(typo), columns=80))
    assert line.startswith(f"error: {typo}: rules[2].when: unknown field 'modle' at column 1")
    assert "typo" not in api.fake.heads


async def test_several_documents_stop_at_the_refused_one(api: Api, tmp_path: Path) -> None:
    mixed = write(tmp_path / "mixed.yaml", SHADOW + "---\n" + TYPO + "---\n" + GUARD)
    result = await sfctl(api, "apply", str(mixed))
    line = one_error(result)
    assert line.startswith(f"error: {mixed}: policy 'typo': rules[2].when: unknown field")
    assert "policy night-watch: version 1 (created)" in result.stdout
    assert "not applied: pii-guard" in result.stderr
    assert set(api.fake.heads) == {"night-watch"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "name: x\nrules:\n  - name: a\n   when: true\n",
         "bad.yaml: not valid YAML at line 4, column 4: expected <block end>"),
        ("list.yaml", "- 1\n- 2\n", "list.yaml: document 1: a policy is a mapping (name, rules, ...), not a number"),
    ],
)  # fmt: skip
async def test_unusable_files(  # every kind: test_policy_files.py
    api: Api, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / name, text)
    line = one_error(await sfctl(api, "apply", str(path)))
    assert line.startswith(f"error: {tmp_path}/{message}"), line
    assert not api.fake.heads


async def test_missing_file_and_directory(api: Api, tmp_path: Path) -> None:
    missing = one_error(await sfctl(api, "apply", str(tmp_path / "nope.yaml")))
    assert missing == f"error: {tmp_path}/nope.yaml: no such file"
    folder = one_error(await sfctl(api, "apply", str(tmp_path)))
    assert folder == f"error: {tmp_path} is a directory, not a file"


@pytest.mark.parametrize(
    "args",
    [("history", "ghost"), ("delete", "ghost", "--yes")],
)  # fmt: skip
async def test_an_unknown_policy_is_one_line(api: Api, args: tuple[str, ...]) -> None:
    assert "no policy named 'ghost'" in one_error(await sfctl(api, *args))


async def test_no_gateway_is_one_line(tmp_path: Path) -> None:
    gone = Api("http://127.0.0.1:9", FakeApi())  # the discard port: nothing listens
    for args in (("list",), ("apply", str(write(tmp_path / "g.yaml", GUARD)))):
        assert "cannot reach the management API at http://127.0.0.1:9" in one_error(
            await sfctl(gone, *args)
        )


async def test_a_wrong_admin_key_is_one_line(api: Api) -> None:
    result = await run_module_async(
        "sfctl", "policy", "list", "--url", api.url, "--admin-key", "wrong"
    )
    assert "refused the admin key (401)" in one_error(result)


# --- test: the dry run ---------------------------------------------------------------------------


async def test_a_deny_exits_3_and_says_why(api: Api, tmp_path: Path) -> None:
    policy = write(tmp_path / "g.yaml", GUARD)
    request = card_request(tmp_path / "req.json")
    result = await sfctl(api, "test", str(policy), "--request", str(request), "--key-team", "ml",
                         columns=80)  # fmt: skip
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert result.stderr == ""
    fits(result.stdout)
    out = result.stdout
    assert "Decision: deny" in out
    assert "deny: no card numbers, please" in out
    assert "rule 'block-cards' matched" in out
    assert "yes: decided" in out and "payment_card" in out
    assert api.fake.evaluated[-1]["key"] == {"team": "ml"}
    assert api.fake.evaluated[-1]["policy"]["name"] == "pii-guard"
    assert api.fake.evaluated[-1]["wire"] == "openai"

    as_json = await sfctl(api, "test", str(policy), "--request", str(request), "-o", "json")
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    assert report["decision"]["rule"] == "block-cards"
    assert report["rules"] == [
        {"name": "block-cards", "when": 'findings.count("payment_card") > 0', "matched": True},
        {"name": "big-prompts", "when": "tokens > 100000", "matched": False},
    ]
    assert report["findings"] == {"payment_card": {"count": 1, "confidence": 0.99}}
    assert not api.fake.heads  # a dry run stores nothing


async def test_an_allow_exits_0(api: Api, tmp_path: Path) -> None:
    policy = write(tmp_path / "g.yaml", GUARD)
    clean = write(tmp_path / "clean.json", json.dumps({"model": "gpt-4o", "messages": []}))
    result = ok(await sfctl(api, "test", str(policy), "--request", str(clean), "--key-id", "key_1",
                            "--key-team", "ml", "--response", "fine", "--wire", "anthropic"))  # fmt: skip
    assert "Decision: allow" in result.stdout
    assert "no rule matched: allowed" in result.stdout
    assert "No findings in the request." in result.stdout
    sent = api.fake.evaluated[-1]
    assert sent["key"] == {"id": "key_1", "team": "ml"}
    assert sent["response"] == "fine" and sent["wire"] == "anthropic"
    other = write(
        tmp_path / "other.json", json.dumps({"model": "claude-3-5-haiku", "messages": []})
    )
    unbound = ok(await sfctl(api, "test", str(policy), "--request", str(other)))
    assert "no: not bound to this key, team or model" in unbound.stdout


async def test_a_denied_response_exits_3(api: Api, tmp_path: Path) -> None:
    policy = write(tmp_path / "g.yaml", GUARD)
    clean = write(tmp_path / "clean.json", json.dumps({"model": "gpt-4o", "messages": []}))
    result = await sfctl(api, "test", str(policy), "--request", str(clean), "--key-team", "ml",
                         "--response", "your card: 4111 1111 1111 1111")  # fmt: skip
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Decision: allow" in result.stdout
    assert "Response decision: deny" in result.stdout


async def test_a_shadow_deny_still_exits_3(api: Api, tmp_path: Path) -> None:
    shadow = write(tmp_path / "s.yaml", GUARD.replace("rules:", "mode: shadow\nrules:", 1))
    request = card_request(tmp_path / "req.json")
    result = await sfctl(api, "test", str(shadow), "--request", str(request), "--key-team", "ml")
    assert result.returncode == 3
    assert "yes: recorded, not enforced" in result.stdout


async def test_dry_run_problems(api: Api, tmp_path: Path) -> None:
    typo = write(tmp_path / "typo.yaml", TYPO)
    request = card_request(tmp_path / "req.json")
    line = one_error(await sfctl(api, "test", str(typo), "--request", str(request)))
    assert line.startswith(f"error: {typo}: rules[2].when: unknown field 'modle'")

    listed = write(tmp_path / "list.json", "[1, 2]")
    assert "the request must be a JSON object, not a list" in one_error(
        await sfctl(api, "test", str(write(tmp_path / "g.yaml", GUARD)), "--request", str(listed))
    )
    broken = write(tmp_path / "broken.json", "{\n  nope\n}")
    assert "the request is not valid JSON at line 2, column 3" in one_error(
        await sfctl(api, "test", str(tmp_path / "g.yaml"), "--request", str(broken))
    )
    assert "no such file" in one_error(
        await sfctl(api, "test", str(tmp_path / "g.yaml"), "--request", str(tmp_path / "none.json"))
    )
    both = write(tmp_path / "both.yaml", GUARD + "---\n" + SHADOW)
    assert "holds 2 policies (pii-guard, night-watch): pick one with --name" in one_error(
        await sfctl(api, "test", str(both), "--request", str(request)), 2
    )
    picked = ok(
        await sfctl(api, "test", str(both), "--name", "night-watch", "--request", str(request))
    )
    assert "Decision: log" in picked.stdout
    assert not api.fake.heads
