"""Conditions: what each field, operator and method evaluates to, and what is refused on write."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy.conditions import compile_condition
from gateway.policy.expr import ExpressionError
from gateway.policy.model import FindingStat, KeyInfo, PolicyContext

CONTEXT = PolicyContext(
    key=KeyInfo("key-1", "finance", {"tier": "trial", "cost-center": "cc-7", "limit": 5}),
    model="gpt-4o",
    route="/v1/chat/completions",
    direction="prompt",
    findings={"payment_card": FindingStat(2, 0.99), "email": FindingStat(1, 0.6)},
    tokens=1200,
    cost=0.25,
    hour=22,
    weekday="sat",
    metadata={"app": "ledger", "no_cache": True, "tags": ["a", "b"], "n": 3, "nested": {"x": "y"}},
)

# (condition, expected on CONTEXT): every feature with a case that holds and one that does not
TRUTH = [
    # fields
    ("key.id == 'key-1'", True),
    ("key.id == 'key-2'", False),
    ("key.team == 'finance'", True),
    ("key.team != 'finance'", False),
    ("model == 'gpt-4o'", True),
    ("request.model == 'gpt-4o'", True),
    ("request.model == 'gpt-4'", False),
    ("route == '/v1/chat/completions'", True),
    ("request.route.startsWith('/anthropic')", False),
    ("direction == 'prompt'", True),
    ("direction == 'response'", False),
    ("tokens > 1000", True),
    ("request.tokens > 1200", False),
    ("tokens >= 1200", True),
    ("cost < 0.5", True),
    ("request.cost <= 0.2", False),
    ("hour >= 22", True),
    ("hour < 6", False),
    ("weekday in ['sat', 'sun']", True),
    ("weekday in ['mon', 'tue']", False),
    ("weekday == 'sat'", True),
    # metadata: dynamic, missing is null
    ("metadata.app == 'ledger'", True),
    ("metadata.app == 'other'", False),
    ("metadata.no_cache == true", True),
    ("metadata.no_cache", True),
    ("!metadata.no_cache", False),
    ("metadata.missing == null", True),
    ("metadata.missing == 'x'", False),
    ("metadata.missing", False),
    ("!metadata.missing", True),
    ("metadata.app", False),  # only true is true: a string is not
    ("!metadata.app", True),
    ("metadata['app'] == 'ledger'", True),
    ("key.metadata['cost-center'] == 'cc-7'", True),
    ("key.metadata.tier == 'trial'", True),
    ("key.metadata.tier == 'paid'", False),
    ("metadata.nested.x == 'y'", True),
    ("metadata.app.x == null", True),  # a field of a string is null, not an error
    ("metadata.n > 2", True),
    ("metadata.n > 3", False),
    ("metadata.app > 2", False),  # unlike kinds never order, never raise
    ("metadata.no_cache > 0", False),  # true is not a number
    ("metadata.missing < 1", False),
    ("key.metadata.limit < tokens", True),
    ("metadata.app.startsWith('led')", True),
    ("metadata.n.startsWith('3')", False),
    ("metadata.app.matches('^led')", True),
    ("metadata.n.matches('3')", False),
    ("'a' in metadata.tags", True),
    ("'z' in metadata.tags", False),
    ("'app' in metadata", True),
    ("'nope' in metadata", False),
    ("'x' in metadata.n", False),
    ("metadata.app in ['ledger', 'crm']", True),
    ("metadata.tags in ['ledger']", False),  # unhashable value: not a member
    ("metadata.no_cache in [1]", False),  # true is not 1
    ("metadata.no_cache in [true]", True),
    ("metadata.n in [3, 4]", True),
    ("metadata.no_cache == 1", False),  # true is not 1
    ("metadata.no_cache != 1", True),
    ("metadata.n == 3", True),
    ("metadata.n == 3.0", True),
    ("metadata.n != 3", False),
    ("metadata.app == metadata.app", True),
    (
        "model.matches('^gpt-(4o|4-turbo)+$')",
        True,
    ),  # a repeated group without inner repetition is fine
    ("model.matches('(ab)+')", False),
    ("model.matches('^gpt-\\d')", True),
    ("model.matches('\\d{3}')", False),
    # findings
    ("findings.count('payment_card') > 0", True),
    ("findings.count('iban') > 0", False),
    ("findings.count() == 3", True),
    ("findings.total == 3", True),
    ("findings.total > 3", False),
    ("findings.has('email')", True),
    ("findings.has('aws_access_key')", False),
    ("findings.confidence('payment_card') >= 0.95", True),
    ("findings.confidence('email') >= 0.95", False),
    ("findings.confidence('iban') == 0", True),
    ("'email' in findings.types", True),
    ("'iban' in findings.types", False),
    ("findings.count(metadata.app) == 0", True),
    ("findings.has(key.metadata.tier)", False),
    # string methods
    ("model.startsWith('gpt-4')", True),
    ("model.startsWith('claude')", False),
    ("model.endsWith('4o')", True),
    ("model.endsWith('mini')", False),
    ("model.contains('-4')", True),
    ("model.contains('3.5')", False),
    ("model.matches('^gpt-4(o|-turbo)$')", True),
    ("model.matches('^claude')", False),
    ("model.startsWith(key.team)", False),
    ("route.contains(metadata.missing)", False),
    ("'4o' in model", True),
    ("'4x' in model", False),
    # logic
    ("true", True),
    ("false", False),
    ("!false", True),
    ("true && false", False),
    ("true || false", True),
    ("!(tokens > 1000 && cost > 1)", True),
    ("key.team == 'hr' || model == 'gpt-4o' && tokens > 100", True),
    ("(key.team == 'hr' || model == 'gpt-4o') && tokens > 10000", False),
    # literals and comparisons between values
    ("1 == 1", True),
    ("1 == 2", False),
    ("-1 < 0", True),
    ("'b' > 'a'", True),
    ("tokens == tokens", True),
    ("tokens != tokens", False),
    ("key.team == key.metadata.tier", False),
    ("key.team < model", True),
    ("null == null", True),
    # the reference condition
    (
        "key.team == 'finance' && findings.count('payment_card') > 0 && "
        "request.model.startsWith('gpt-4')",
        True,
    ),
]


@pytest.mark.parametrize(("source", "expected"), TRUTH)
def test_evaluates(source: str, expected: bool) -> None:
    assert compile_condition(source)(CONTEXT) is expected


def test_the_empty_context_is_safe() -> None:
    empty = PolicyContext()
    for source, _ in TRUTH:
        assert compile_condition(source)(empty) in (True, False)


REFUSED = [
    ("modle == 'x'", "unknown field 'modle'", 1, "did you mean 'model'?"),
    ("key.modle == 'x'", "unknown field 'modle'", 5, "key has id, team, metadata"),
    ("key.tema == 'x'", "unknown field 'tema'", 5, "did you mean 'team'?"),
    ("request.modle == 'x'", "unknown field 'modle'", 9, "did you mean 'model'?"),
    ("zzz", "unknown field 'zzz'", 1, "fields: cost, direction, findings"),
    (
        "key == 'x'",
        "'key' is a group of fields (key.id, key.team, key.metadata), not a value",
        1,
        "",
    ),
    ("findings > 0", "'findings' is a group of fields", 1, ""),
    ("findings.count > 0", "findings.count is a method: write findings.count(...)", 10, ""),
    ("findings.cnt('x') > 0", "unknown method 'cnt' on findings", 10, "did you mean 'count'?"),
    (
        "findings.zap('x')",
        "unknown method 'zap' on findings",
        10,
        "methods: count, confidence, has",
    ),
    ("findings.has()", "findings.has() takes one finding type", 10, ""),
    ("findings.count(1) > 0", "a finding type is a string, not a number", 16, ""),
    ("key.len()", "'key' has no method 'len'", 5, ""),
    (
        "model.startswith('x')",
        "unknown method 'startswith' on a string",
        7,
        "did you mean 'startsWith'?",
    ),
    ("model.upper() == 'X'", "unknown method 'upper' on a string", 7, "methods: startsWith"),
    ("model.startsWith()", "startsWith() takes one argument", 7, ""),
    ("model.startsWith(1)", "startsWith() takes a string, not a number", 18, ""),
    ("tokens.startsWith('1')", "a number has no method 'startsWith'", 8, ""),
    ("model.matches(key.team)", "matches() takes a literal pattern", 15, ""),
    ("model.matches('(')", "bad pattern: missing ), unterminated subpattern", 15, ""),
    (
        "metadata.x.matches('(a+)+$')",
        "nested repetition like '(a+)+' can take exponential time",
        20,
        "",
    ),
    ("model.matches('^(\\w*)*x')", "nested repetition", 15, ""),
    ("model.matches('(x{2,})+')", "nested repetition", 15, ""),
    ("model.size == 3", "a string has no field 'size'", 7, ""),
    ("tokens['a'] == 1", "cannot index a number", 7, ""),
    ("metadata[1] == 1", "an index must be a string", 10, ""),
    ("tokens > 'many'", "cannot compare a number with a string", 8, ""),
    ("key.team == 1", "cannot compare a string with a number", 10, ""),
    ("true < false", "'<' compares numbers or strings, not a bool", 1, ""),
    ("tokens > null", "'>' compares numbers or strings, not a null", 10, ""),
    (
        "weekday == 'saturday'",
        "weekday is one of 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', not 'saturday'",
        12,
        "",
    ),
    ("'Sun' == weekday", "weekday is one of", 1, ""),
    ("weekday in ['sat', 'sunday']", "weekday is one of", 12, ""),
    ("direction == 'request'", "direction is one of 'prompt', 'response', not 'request'", 14, ""),
    ("tokens in 5", "'in' needs a list, a map or a string on its right, not a number", 8, ""),
    ("1 in model", "'in' a string needs a string on its left, not a number", 3, ""),
    ("model in [key.team]", "list items must be literals", 11, ""),
    ("tokens", "a condition must be true or false, not a number", 1, ""),
    ("model", "a condition must be true or false, not a string", 1, ""),
    ("!tokens", "expected true or false, found a number", 2, ""),
    ("tokens && true", "expected true or false, found a number", 1, ""),
    ("true || 'x'", "expected true or false, found a string", 9, ""),
]


@pytest.mark.parametrize(("source", "message", "column", "hint"), REFUSED)
def test_refuses_with_column(source: str, message: str, column: int, hint: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_condition(source)
    assert raised.value.message.startswith(message)
    assert raised.value.column == column
    assert raised.value.hint.startswith(hint)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, False),
        ({"model": "gpt-4o"}, False),
        ({"key": KeyInfo(team="finance"), "model": "gpt-4o"}, False),
        (
            {
                "key": KeyInfo(team="finance"),
                "model": "gpt-4o",
                "findings": {"payment_card": FindingStat(1, 0.9)},
            },
            True,
        ),
        (
            {
                "key": KeyInfo(team="finance"),
                "model": "gpt-3.5",
                "findings": {"payment_card": FindingStat(1, 0.9)},
            },
            False,
        ),
    ],
)
def test_reference_condition_over_contexts(context: dict[str, Any], expected: bool) -> None:
    condition = compile_condition(
        "key.team == 'finance' && findings.count('payment_card') > 0 && "
        "request.model.startsWith('gpt-4')"
    )
    assert condition(PolicyContext(**context)) is expected
