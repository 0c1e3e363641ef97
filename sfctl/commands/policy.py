"""`sfctl policy`: guardrail policies through the management API: apply them from YAML or JSON
files, list, show, history, rollback, delete, and `test` a policy file against a request (the
gateway's dry run, `/api/policy/evaluate`), which says which rule decided and why."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml

from sfctl import ui
from sfctl.commands.keys import ADMIN_KEY, DATA_DIR, OUTPUT, TIMEOUT, URL, Output
from sfctl.commands.listing import show_listing
from sfctl.errors import SfctlError, UsageError
from sfctl.policy_files import (
    PolicyClient,
    PolicyDocument,
    PolicyFileError,
    PolicyRejected,
    load_json_object,
    load_policies,
    policy_client,
)

app = typer.Typer(
    name="policy",
    help="Guardrail policies: apply from files, list, show, history, rollback, delete, and "
    "test a policy against a request (dry run).",
    no_args_is_help=True,
)

#: `sfctl policy test`'s exit code when the policy denies the request
DENY_EXIT = 3
INVALID_POLICY = "invalid_policy"


class ShowOutput(StrEnum):
    yaml = "yaml"
    json = "json"


class Wire(StrEnum):
    openai = "openai"
    anthropic = "anthropic"


TEST_HELP = (
    "Dry run: what the policy in FILE decides for a request, and why. Nothing is stored."
    "\n\nShows the decision (action, deciding rule, reason, shadow), every rule and whether "
    "it matched, and the findings by type."
    f"\n\nExit 0 when the request is let through (allow, redact, route, cache, inspect, log); "
    f"{DENY_EXIT} when the policy denies it (a shadow policy too: what it would do when "
    "enforced); 1 on an error; 2 on a wrong option."
)
NAME = typer.Argument(..., help="The policy's name, as `sfctl policy list` shows it.")
POLICY_FILE = typer.Argument(
    ...,
    help="YAML or JSON: one policy, several (YAML `---`, or a list), or - for standard input.",
    show_default=False,
)


# --- output ----------------------------------------------------------------------------------


def when(moment: Any) -> str:
    """A stored time (Unix seconds or ISO 8601) as `2026-12-02 18:00 UTC`."""
    if moment is None or moment == "":
        return "-"
    try:
        if isinstance(moment, int | float):
            parsed = datetime.fromtimestamp(float(moment), UTC)
        else:
            parsed = datetime.fromisoformat(str(moment))
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    except (OverflowError, OSError, ValueError):
        return str(moment)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def bound_text(document: Mapping[str, Any]) -> str:
    """What a policy applies to: "team:ml, model:gpt-4*", or "all requests"."""
    bound = document.get("bound_to") or {}
    parts = [
        f"{label}:{value}"
        for field, label in (("keys", "key"), ("teams", "team"), ("models", "model"))
        for value in bound.get(field) or ()
    ]
    return ", ".join(parts) or "all requests"


def mode_text(document: Mapping[str, Any]) -> str:
    return str(document.get("mode") or "enforce")


def rule_count(document: Mapping[str, Any]) -> int:
    """A document's rules, or a listing's count of them."""
    rules = document.get("rules")
    if isinstance(rules, int):
        return rules
    return len(rules) if isinstance(rules, list) else 0


def action_text(action: Any) -> str:
    """A decision's action in a few words: "deny: <message>", "route to gpt-4o-mini"."""
    if isinstance(action, str):
        return action
    if not isinstance(action, Mapping):
        return "-"
    kind = str(action.get("type", "-"))
    if kind == "deny":
        return f"deny: {action.get('message', '')}"
    if kind == "redact":
        types = ", ".join(action.get("types") or ()) or "every finding type"
        return f"redact {types} ({action.get('replacement', 'placeholder')})"
    if kind == "route":
        return f"route to {action.get('model')}"
    if kind == "cache":
        if action.get("bypass"):
            return "bypass the cache"
        return f"cache namespace {action.get('namespace')}"
    if kind == "inspect":
        return f"inspect with the {action.get('profile')} profile"
    return kind


def applied_line(stored: Mapping[str, Any]) -> str:
    """`policy NAME: version N (created|updated|rollback to vM)`."""
    version = stored.get("version")
    note = stored.get("note") or ("created" if version == 1 else "updated")
    return f"policy {stored.get('name')}: version {version} ({note})"


def _list_rows(policies: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for stored in policies:
        document = stored.get("document") or stored  # a listing carries the summary fields
        rows.append(
            (
                stored.get("name"),
                stored.get("version"),
                mode_text(document),
                bound_text(document),
                rule_count(document),
                _updated(stored),
            )
        )
    return rows


def _updated(stored: Mapping[str, Any]) -> str:
    if stored.get("created_at") is None and stored.get("source") == "config":
        return "config file"
    return when(stored.get("created_at"))


def _show_header(stored: Mapping[str, Any], latest: bool) -> list[str]:
    """Comment lines above `show`'s YAML: which version this is, and how to change it."""
    version = stored.get("version")
    state = "active" if stored.get("active", latest) else "not active"
    note = stored.get("note") or "stored"
    if stored.get("created_at") is not None:
        note += f" {when(stored.get('created_at'))}"
    lines = [f"# policy {stored.get('name')}, version {version} ({state}), {note}"]
    if stored.get("source") == "config":
        lines.append("# from the gateway's config file (SMARTFLOW_CONFIG): read-only here")
    elif latest and isinstance(version, int):
        lines.append(
            f"# to change it: edit, set version: {version + 1} (or remove it), "
            "sfctl policy apply FILE"
        )
    return lines


def _decision_fields(decision: Mapping[str, Any], chosen: Any) -> list[tuple[str, Any]]:
    shadow = "yes: recorded, not enforced" if decision.get("shadow") else "no"
    bound = "yes" if decision.get("bound", True) else "no: not bound to this key, team or model"
    fields: list[tuple[str, Any]] = [
        ("action", action_text(decision.get("action"))),
        ("rule", decision.get("rule") or "(none)"),
        ("reason", decision.get("reason") or "-"),
        ("shadow", shadow),
        ("policy", f"{decision.get('policy')} v{decision.get('version')}"),
        ("bound", bound),
    ]
    if chosen:
        fields.append(("inspection", f"{chosen} profile"))
    return fields


def _rule_rows(rules: Sequence[Mapping[str, Any]], decided: str | None) -> list[tuple[str, ...]]:
    def matched(rule: Mapping[str, Any]) -> str:
        if not rule.get("matched"):
            return "no"
        return "yes: decided" if rule.get("name") == decided else "yes"

    return [(str(r.get("name")), str(r.get("when", "true")), matched(r)) for r in rules]


def _finding_rows(findings: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for kind, figures in sorted(findings.items()):
        stat = figures if isinstance(figures, Mapping) else {"count": figures}
        confidence = stat.get("confidence")
        shown = "-" if confidence is None else f"{float(confidence):.2f}"
        rows.append((kind, str(stat.get("count", 0)), shown))
    return rows


def _action_type(judged: Mapping[str, Any]) -> Any:
    action = (judged.get("decision") or {}).get("action")
    return action.get("type") if isinstance(action, Mapping) else action


def _show_judged(judged: Mapping[str, Any], title: str, subject: str, chosen: Any) -> None:
    """One direction's verdict: the decision, every rule, the findings in the `subject`."""
    decision = judged.get("decision") or {}
    ui.fields(f"{title}: {_action_type(judged)}", _decision_fields(decision, chosen))
    rules = judged.get("rules") or []
    if rules:
        ui.narrow_table(
            f"Rules, in order ({len(rules)})",
            ("rule", "when", "matched"),
            _rule_rows(rules, decision.get("rule")),
            wrap=("rule", "when"),
        )
    findings = judged.get("findings") or {}
    if findings:
        ui.narrow_table("Findings", ("type", "count", "max confidence"), _finding_rows(findings))
    else:
        ui.info(f"No findings in the {subject}.")


def _show_evaluation(result: Mapping[str, Any]) -> None:
    """The request's verdict and, when a response text was given, the response's."""
    chosen = result.get("profile")
    _show_judged(result, "Decision", "request", chosen)
    answer = result.get("response")
    if isinstance(answer, Mapping):
        _show_judged(answer, "Response decision", "response", chosen)


def is_deny(result: Mapping[str, Any]) -> bool:
    """Whether the request, or the response text given with it, is denied."""
    answer = result.get("response")
    answered = isinstance(answer, Mapping) and _action_type(answer) == "deny"
    return _action_type(result) == "deny" or answered


# --- commands --------------------------------------------------------------------------------


@app.command()
def apply(
    file: Path = POLICY_FILE,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Store each policy in FILE as its new version (validated by the gateway).

    Policies are applied in the file's order; the first one refused stops the rest (exit 1)."""
    policies = load_policies(file)
    stored: list[dict[str, Any]] = []
    with policy_client(url, admin_key, data_dir, timeout) as client:
        for n, policy in enumerate(policies):
            try:
                result = client.apply(policy.document)
            except SfctlError as exc:
                left = [p.name for p in policies[n + 1 :]]
                if left:
                    ui.warn(f"not applied: {', '.join(left)}")
                raise _refused(exc, file, policy, several=len(policies) > 1) from None
            stored.append(result)
            if output is Output.table:
                ui.success(ui.literal(applied_line(result)))
    if output is Output.json:
        ui.emit_json({"policies": stored})


def _refused(exc: SfctlError, file: Path, policy: PolicyDocument, *, several: bool) -> SfctlError:
    """A refusal as one line naming the file (and the policy, when the file holds several)."""
    if not isinstance(exc, PolicyRejected):
        return exc
    where = f"{file}: policy {policy.name!r}" if several else str(file)
    return PolicyFileError(f"{where}: {exc.where()}")


@app.command("list")
def list_policies(
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Every policy's active version: mode, what it is bound to, how many rules."""
    with policy_client(url, admin_key, data_dir, timeout) as client:
        policies = client.policies()
    show_listing(
        policies,
        output,
        key="policies",
        empty="No policies yet: sfctl policy apply FILE",
        title="Policies",
        columns=("name", "version", "mode", "bound to", "rules", "updated"),
        rows=_list_rows(policies),
        drop_order=("updated", "rules"),
        wrap=("bound to",),
        hint="sfctl policy show NAME, or -o json",
    )


@app.command()
def show(
    name: str = NAME,
    version: int | None = typer.Option(None, "--version", min=1, help="An older version."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: ShowOutput = typer.Option(
        ShowOutput.yaml, "--output", "-o", help="The document as YAML or JSON."
    ),
    timeout: float = TIMEOUT,
) -> None:
    """The policy document, as `sfctl policy apply` takes it (YAML with a comment on top)."""
    with policy_client(url, admin_key, data_dir, timeout) as client:
        stored = client.policy(name, version)
    document = stored.get("document") or {}
    if output is ShowOutput.json:
        ui.emit_json(document)
        return
    lines = _show_header(stored, latest=version is None)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=88)
    ui.plain("\n".join(lines) + "\n" + text.rstrip("\n"))


@app.command()
def history(
    name: str = NAME,
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Every version of a policy, oldest first, with what made it (created, updated, rollback)."""
    with policy_client(url, admin_key, data_dir, timeout) as client:
        versions = client.versions(name)
    if output is Output.json:
        ui.emit_json({"name": name, "versions": versions})
        return
    rows = [
        (
            v.get("version"),
            "yes" if v.get("active") else "",
            when(v.get("created_at")),
            v.get("note") or "-",
        )
        for v in versions
    ]
    ui.narrow_table(
        f"Policy {name}: {len(rows)} version(s)",
        ("version", "active", "created", "note"),
        rows,
        wrap=("note",),
    )


@app.command()
def rollback(
    name: str = NAME,
    version: int = typer.Argument(..., min=1, help="The version to bring back."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    """Make an older version active again, as a new version copying it."""
    with policy_client(url, admin_key, data_dir, timeout) as client:
        stored = client.rollback(name, version)
    if output is Output.json:
        ui.emit_json(stored)
    else:
        ui.success(ui.literal(applied_line(stored)))


@app.command()
def delete(
    name: str = NAME,
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    timeout: float = TIMEOUT,
) -> None:
    """Delete a policy: it stops applying at once; its history stays. Asked first."""
    with policy_client(url, admin_key, data_dir, timeout) as client:
        active = client.policy(name)  # an unknown name is an error before any question
        version = active.get("version")
        if not yes:
            _confirm_delete(client, name, version)
        client.delete(name)
    ui.success(ui.literal(f"Deleted policy {name} (was at version {version})."))
    ui.info(ui.literal(f"Its history stays: sfctl policy history {name}"))


def _confirm_delete(client: PolicyClient, name: str, version: Any) -> None:
    """Asked on stderr, as `sfctl cache purge` asks; with no answer to read, --yes is needed."""
    question = f"Delete policy {name} (active version {version}) at {client.base_url}?"
    typer.echo(f"{question} [y/N]: ", err=True, nl=False)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # a piped answer is not echoed: end the question's line
        typer.echo("", err=True)
    if not answer:
        raise UsageError("deleting a policy needs confirmation: answer y, or pass --yes")
    if answer.strip().lower() not in ("y", "yes"):
        raise SfctlError("not confirmed: nothing was deleted")


@app.command("test", help=TEST_HELP)
def test_policy(
    file: Path = POLICY_FILE,
    request: Path = typer.Option(
        ..., "--request", help="The request body as JSON (an OpenAI or Anthropic request)."
    ),
    response: str | None = typer.Option(
        None, "--response", help="Judge this response text too (direction: response)."
    ),
    key_id: str | None = typer.Option(None, "--key-id", help="As if sent with this key id."),
    key_team: str | None = typer.Option(None, "--key-team", help="As if from this team."),
    wire: Wire = typer.Option(Wire.openai, "--wire", help="The request's wire format."),
    name: str | None = typer.Option(None, "--name", help="Which policy, when FILE holds several."),
    url: str | None = URL,
    admin_key: str | None = ADMIN_KEY,
    data_dir: Path | None = DATA_DIR,
    output: Output = OUTPUT,
    timeout: float = TIMEOUT,
) -> None:
    policy = _pick(load_policies(file), name, file)
    body: dict[str, Any] = {
        "policy": policy.document,
        "request": load_json_object(request, "request"),
        "wire": wire.value,
    }
    key = {field: value for field, value in (("id", key_id), ("team", key_team)) if value}
    if key:
        body["key"] = key
    if response is not None:
        body["response"] = response
    with policy_client(url, admin_key, data_dir, timeout) as client:
        try:
            result = client.evaluate(body)
        except PolicyRejected as exc:
            if exc.code == INVALID_POLICY:
                raise PolicyFileError(f"{file}: {exc.where()}") from None
            raise SfctlError(f"the gateway refused the dry run: {exc.where()}") from None
    if output is Output.json:
        ui.emit_json(result)
    else:
        _show_evaluation(result)
    if is_deny(result):
        raise typer.Exit(DENY_EXIT)


def _pick(policies: Sequence[PolicyDocument], name: str | None, file: Path) -> PolicyDocument:
    if name is not None:
        for policy in policies:
            if policy.name == name:
                return policy
        raise UsageError(f"--name {name!r}: {file} holds {_names(policies)}")
    if len(policies) > 1:
        raise UsageError(f"{file} holds {_names(policies)}: pick one with --name")
    return policies[0]


def _names(policies: Sequence[PolicyDocument]) -> str:
    names = ", ".join(p.name for p in policies)
    return f"policy {names}" if len(policies) == 1 else f"{len(policies)} policies ({names})"
