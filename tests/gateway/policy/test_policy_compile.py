"""Policy documents: every action, binding and field validated on write, errors located precisely."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.errors import InvalidRequest
from gateway.policy.compile import PolicyError, compile_model, compile_policy
from gateway.policy.model import (
    Allow,
    Cache,
    Deny,
    Inspect,
    KeyInfo,
    Log,
    Policy,
    PolicyContext,
    Redact,
    Route,
)


def doc(*rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "guard", "rules": list(rules), **fields}


def rule(when: Any = "true", action: Any = "allow", name: str = "r") -> dict[str, Any]:
    return {"name": name, "when": when, "action": action}


@pytest.mark.parametrize(
    ("action", "model"),
    [
        ("allow", Allow()),
        ({"type": "allow"}, Allow()),
        ("log", Log()),
        ({"type": "deny", "message": "no cards"}, Deny(message="no cards")),
        ({"type": "redact"}, Redact()),
        (
            {"type": "redact", "types": ["email", "phone"], "replacement": "mask"},
            Redact(types=("email", "phone"), replacement="mask"),
        ),
        ({"type": "route", "model": "gpt-4o-mini"}, Route(model="gpt-4o-mini")),
        ({"type": "cache", "namespace": "finance"}, Cache(namespace="finance")),
        ({"type": "cache", "bypass": True}, Cache(bypass=True)),
        ({"type": "inspect", "profile": "full"}, Inspect(profile="full")),
        ({"type": "inspect", "profile": "reduced"}, Inspect(profile="reduced")),
    ],
)
def test_every_action_is_accepted(action: Any, model: object) -> None:
    compiled = compile_policy(doc(rule(action=action)))
    assert compiled.rules[0].decision.action == model


def test_defaults() -> None:
    policy = compile_policy(doc({"name": "r", "action": "allow"})).policy
    assert policy.version == 1
    assert policy.mode == "enforce"
    assert policy.description == ""
    assert policy.rules[0].when == "true"


INVALID = [
    # (document, first problem, location)
    (
        doc(rule(name="a"), rule(name="b"), rule("key.modle == 'x'", name="c")),
        "rules[2].when: unknown field 'modle' at column 5; key has id, team, metadata",
        "rules[2].when",
    ),
    (
        doc(rule("modle == 'gpt-4o'")),
        "rules[0].when: unknown field 'modle' at column 1; did you mean 'model'?",
        "rules[0].when",
    ),
    (
        doc(rule("tokens > 'x'")),
        "rules[0].when: cannot compare a number with a string at column 8",
        "rules[0].when",
    ),
    (
        doc(rule("key.team = 'x'")),
        "rules[0].when: '=' is not an operator; use '==' to compare at column 10",
        "rules[0].when",
    ),
    (doc(), "rules: needs at least 1 entry", "rules"),
    ({"name": "guard", "rules": "deny"}, "rules: must be a list", "rules"),
    (doc(rule(action=5)), "rules[0].action: must be a mapping of fields", "rules[0].action"),
    (doc(rule(when=5)), "rules[0].when: Input should be a valid string", "rules[0].when"),
    ({"rules": [rule()]}, "name: required", "name"),
    (doc(rule(), name="Guard Rails"), "name: 'Guard Rails' does not match", "name"),
    (doc(rule(), version=0), "version: Input should be greater than or equal to 1", "version"),
    (doc(rule(), mode="dry-run"), "mode: Input should be 'enforce' or 'shadow'", "mode"),
    (doc(rule(), owner="me"), "policy: unknown field 'owner'", "owner"),
    (
        doc({"name": "r", "wehn": "true", "action": "allow"}),
        "rules[0]: unknown field 'wehn'",
        "rules[0].wehn",
    ),
    (doc({"name": "r", "when": "true"}), "rules[0].action: required", "rules[0].action"),
    (doc({"when": "true", "action": "allow"}), "rules[0].name: required", "rules[0].name"),
    (doc(rule(name="a"), rule(name="a")), "rules: duplicate rule name 'a'", "rules"),
    (
        doc(rule(action="block")),
        "rules[0].action: unknown action 'block' (one of allow, deny, redact, route, cache, inspect, log)",
        "rules[0].action",
    ),
    (doc(rule(action={"message": "x"})), "rules[0].action: needs a 'type'", "rules[0].action"),
    (doc(rule(action="deny")), "rules[0].action.message: required", "rules[0].action.message"),
    (
        doc(rule(action={"type": "deny", "message": ""})),
        "rules[0].action.message: String should have at least 1 character",
        "rules[0].action.message",
    ),
    (
        doc(rule(action={"type": "deny", "message": "x", "status": 451})),
        "rules[0].action: unknown field 'status'",
        "rules[0].action.status",
    ),
    (
        doc(rule(action={"type": "route"})),
        "rules[0].action.model: required",
        "rules[0].action.model",
    ),
    (
        doc(rule(action={"type": "cache"})),
        "rules[0].action: give either 'namespace' or 'bypass: true', not both or neither",
        "rules[0].action",
    ),
    (
        doc(rule(action={"type": "cache", "namespace": "n", "bypass": True})),
        "rules[0].action: give either",
        "rules[0].action",
    ),
    (
        doc(rule(action={"type": "inspect", "profile": "partial"})),
        "rules[0].action.profile: Input should be 'full' or 'reduced'",
        "rules[0].action.profile",
    ),
    (
        doc(rule(action={"type": "redact", "replacement": "hash"})),
        "rules[0].action.replacement: Input should be 'mask' or 'placeholder'",
        "rules[0].action.replacement",
    ),
    (
        doc(rule(), bound_to={"groups": ["a"]}),
        "bound_to: unknown field 'groups'",
        "bound_to.groups",
    ),
]


@pytest.mark.parametrize(("raw", "problem", "location"), INVALID)
def test_invalid_documents_are_located(raw: dict[str, Any], problem: str, location: str) -> None:
    with pytest.raises(PolicyError) as raised:
        compile_policy(raw)
    assert raised.value.problems[0].startswith(problem)
    assert raised.value.location == location
    assert isinstance(raised.value, InvalidRequest)
    assert raised.value.code == "invalid_policy"


@pytest.mark.parametrize("raw", [None, [], "policy", 3])
def test_a_document_must_be_a_mapping(raw: Any) -> None:
    with pytest.raises(PolicyError) as raised:
        compile_policy(raw)
    assert raised.value.problems == ("policy: must be a mapping of fields",)
    assert raised.value.location == "policy"


def test_every_problem_is_listed() -> None:
    raw = doc(rule("modle == 1", name="a"), rule("tokens > 'x'", name="b"), rule(name="c"))
    with pytest.raises(PolicyError) as raised:
        compile_policy(raw)
    error = raised.value
    assert [p.split(":")[0] for p in error.problems] == ["rules[0].when", "rules[1].when"]
    assert error.location == "rules[0].when"
    assert error.column == 1
    assert str(error).endswith("(and 1 more)")
    assert error.param == "rules[0].when"


def test_expression_column_is_kept() -> None:
    with pytest.raises(PolicyError) as raised:
        compile_policy(doc(rule("key.modle == 'x'")))
    assert raised.value.column == 5


def test_compile_model_recompiles_a_stored_policy() -> None:
    policy = Policy.model_validate(doc(rule("tokens > 10", action="log")))
    compiled = compile_model(policy)
    assert compiled.policy is policy
    assert compiled.rules[0].condition(PolicyContext(tokens=11)) is True


@pytest.mark.parametrize(
    ("bound_to", "context", "binds"),
    [
        ({}, PolicyContext(), True),
        ({"keys": ["k1"]}, PolicyContext(key=KeyInfo("k1")), True),
        ({"keys": ["k1"]}, PolicyContext(key=KeyInfo("k2")), False),
        ({"teams": ["finance"]}, PolicyContext(key=KeyInfo("k", "finance")), True),
        ({"teams": ["finance"]}, PolicyContext(key=KeyInfo("k", "hr")), False),
        ({"models": ["gpt-4o"]}, PolicyContext(model="gpt-4o"), True),
        ({"models": ["gpt-4o"]}, PolicyContext(model="gpt-4o-mini"), False),
        ({"models": ["gpt-4*"]}, PolicyContext(model="gpt-4o-mini"), True),
        ({"models": ["gpt-4*"]}, PolicyContext(model="gpt-3.5"), False),
        ({"models": ["claude*", "gpt-4o"]}, PolicyContext(model="claude-3"), True),
        ({"teams": ["hr"], "models": ["gpt-4o"]}, PolicyContext(model="gpt-4o"), True),
        ({"teams": ["hr"], "models": ["gpt-4o"]}, PolicyContext(key=KeyInfo("k", "hr")), True),
        ({"teams": ["hr"], "models": ["gpt-4o"]}, PolicyContext(model="o1"), False),
    ],
)
def test_binding(bound_to: dict[str, Any], context: PolicyContext, binds: bool) -> None:
    assert compile_policy(doc(rule(), bound_to=bound_to)).binds(context) is binds


def test_policies_are_immutable() -> None:
    compiled = compile_policy(doc(rule()))
    with pytest.raises(Exception, match="frozen"):
        compiled.policy.rules[0].action.type = "deny"
