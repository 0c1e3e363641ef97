"""Validate a policy document and compile it once, so that evaluating it per request is cheap.

`compile_policy` is the single gate a policy passes on write (API, file, `sfctl policy apply`):
every problem is reported with where it is, in the document's own terms
(`rules[2].when: unknown field 'modle' at column 5; did you mean 'model'?`), so the operator can
fix it without guessing. What comes out is immutable: the conditions as closures and every
possible decision built in advance, so evaluation allocates nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.core.errors import InvalidRequest
from gateway.policy.conditions import Condition, compile_condition
from gateway.policy.expr import ExpressionError
from gateway.policy.model import Allow, Decision, Inspect, Policy, PolicyContext

_ALLOW = Allow()
_NO_MATCH = "no rule matched: allowed"


class PolicyError(InvalidRequest):
    """A policy that cannot be accepted. `problems` lists every one; the message leads with the
    first. `location` is its path in the document (`rules[2].when`), `column` its column in an
    expression (1-based) when it is in one."""

    default_code = "invalid_policy"

    def __init__(self, problems: Sequence[str], *, location: str = "", column: int | None = None):
        first = problems[0] if problems else "invalid policy"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, param=location or None)
        self.problems = tuple(problems)
        self.location = location
        self.column = column


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    when: str
    condition: Condition
    decision: Decision  # returned as is when the condition holds


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A validated policy ready to evaluate: the source model plus precompiled rules."""

    policy: Policy
    rules: tuple[CompiledRule, ...]
    default: Decision  # no rule matched
    unbound: Decision  # the policy does not apply to this request
    keys: frozenset[str]
    teams: frozenset[str]
    models: frozenset[str]
    model_prefixes: tuple[str, ...]
    everywhere: bool  # bound to nothing in particular: applies to every request
    deciding: tuple[CompiledRule, ...] = ()  # the rules that decide (all but `inspect`)
    inspects: tuple[CompiledRule, ...] = ()  # the `inspect` rules: they choose the profile

    def binds(self, context: PolicyContext) -> bool:
        """Whether this policy applies to the request (any bound key, team or model matches)."""
        if self.everywhere:
            return True
        return (
            context.key.id in self.keys
            or context.key.team in self.teams
            or context.model in self.models
            or (bool(self.model_prefixes) and context.model.startswith(self.model_prefixes))
        )


def compile_policy(raw: Mapping[str, Any]) -> CompiledPolicy:
    """Validate and compile a policy document (parsed YAML or JSON); raise PolicyError if wrong."""
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as error:
        items = _relevant(error.errors())
        problems = [_describe(item) for item in items]
        raise PolicyError(problems, location=_path(tuple(items[0]["loc"]))) from None
    return compile_model(policy)


def compile_model(policy: Policy) -> CompiledPolicy:
    """Compile an already validated Policy (the store keeps models; this re-checks conditions)."""
    rules: list[CompiledRule] = []
    problems: list[tuple[str, str, int]] = []
    shadow = policy.mode == "shadow"
    for index, rule in enumerate(policy.rules):
        location = f"rules[{index}].when"
        try:
            condition = compile_condition(rule.when)
        except ExpressionError as error:
            problems.append((location, f"{location}: {error}", error.column))
            continue
        reason = f"rule '{rule.name}' matched: {rule.when}"
        decision = Decision(rule.action, rule.name, reason, shadow, policy.name, policy.version)
        rules.append(CompiledRule(rule.name, rule.when, condition, decision))
    if problems:
        location, _, column = problems[0]
        raise PolicyError([text for _, text, _ in problems], location=location, column=column)
    binding = policy.bound_to
    prefixes = tuple(m[:-1] for m in binding.models if m.endswith("*"))
    return CompiledPolicy(
        policy=policy,
        rules=tuple(rules),
        default=Decision(_ALLOW, None, _NO_MATCH, shadow, policy.name, policy.version),
        unbound=Decision(
            _ALLOW,
            None,
            "policy not bound to this key, team or model",
            shadow,
            policy.name,
            policy.version,
            bound=False,
        ),
        keys=frozenset(binding.keys),
        teams=frozenset(binding.teams),
        models=frozenset(m for m in binding.models if not m.endswith("*")),
        model_prefixes=prefixes,
        everywhere=not (binding.keys or binding.teams or binding.models),
        deciding=tuple(r for r in rules if not isinstance(r.decision.action, Inspect)),
        inspects=tuple(r for r in rules if isinstance(r.decision.action, Inspect)),
    )


def _path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's ('rules', 2, 'action', 'deny', 'message') as 'rules[2].action.message'."""
    text = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif index >= 2 and loc[index - 1] == "action" and loc[index - 2] != "action":
            continue  # the discriminator tag pydantic inserts ('deny'), not a document key
        else:
            text += f".{part}" if text else part
    return text or "policy"


def _relevant(items: list[Any]) -> list[Any]:
    """Drop pydantic's follow-on `too_short` on a list whose items themselves failed."""
    locs = [tuple(item["loc"]) for item in items]
    kept = [
        item
        for item in items
        if not (
            item["type"] == "too_short"
            and any(
                len(loc) > len(item["loc"]) and loc[: len(item["loc"])] == item["loc"]
                for loc in locs
            )
        )
    ]
    return kept or items


def _describe(item: Any) -> str:
    """One pydantic error as `location: what is wrong`, in the policy author's terms."""
    loc: tuple[int | str, ...] = tuple(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = _path(loc[:-1]) if len(loc) > 1 else "policy"
        return f"{parent}: unknown field '{loc[-1]}'"
    if kind == "missing":
        return f"{_path(loc)}: required"
    if kind == "union_tag_invalid":
        tags = "allow, deny, redact, route, cache, inspect, log"
        tag = item.get("ctx", {}).get("tag", "")
        return f"{_path(loc)}: unknown action '{tag}' (one of {tags})"
    if kind == "union_tag_not_found":
        return f"{_path(loc)}: needs a 'type' (allow, deny, redact, route, cache, inspect, log)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{_path(loc)}: must be a mapping of fields"
    if kind == "tuple_type":
        return f"{_path(loc)}: must be a list"
    if kind == "too_short":
        return f"{_path(loc)}: needs at least {item.get('ctx', {}).get('min_length', 1)} entry"
    if kind == "string_pattern_mismatch":
        pattern = item.get("ctx", {}).get("pattern", "")
        return f"{_path(loc)}: {item['input']!r} does not match {pattern}"
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{_path(loc)}: {message}"
