"""Properties: a condition either compiles or fails with ExpressionError, and what compiles is total.

Conditions come from operators (and, through metadata, values from clients), so the parser must
never crash with anything but a located ExpressionError, and a compiled condition must return a
bool for every context instead of raising on the request path.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.conditions import compile_condition
from gateway.policy.expr import ExpressionError
from gateway.policy.model import FindingStat, KeyInfo, PolicyContext

PIECES = [
    "key.team", "key.id", "key.metadata.tier", "key.metadata['x']", "model", "route", "tokens",
    "cost", "hour", "weekday", "direction", "metadata.a", "metadata.b.c", "metadata['n']",
    "request.model", "findings.count('email')", "findings.count()", "findings.has('iban')",
    "findings.confidence('email')", "findings.total", "findings.types", "model.startsWith('g')",
    "metadata.a.matches('^x')", "metadata.a.contains(model)", "'sat'", "'x'", "1", "2.5", "-3",
    "true", "false", "null", "['sat', 'sun']", "[1, 'a', true]", "==", "!=", "<", "<=", ">",
    ">=", " in ", "&&", "||", "!", "(", ")", "[", "]", ".", ",", "=", "'", "modle", "key",
]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["c", "x"]), st.integers(0, 3), max_size=2),
)
CONTEXTS = st.builds(
    PolicyContext,
    key=st.builds(KeyInfo, id=st.text(max_size=3), team=st.sampled_from(["", "finance"]),
                  metadata=st.dictionaries(st.sampled_from(["tier", "x"]), VALUES, max_size=2)),
    model=st.sampled_from(["", "gpt-4o", "claude"]),
    findings=st.dictionaries(st.sampled_from(["email", "iban"]),
                             st.builds(FindingStat, st.integers(0, 3), st.floats(0, 1)), max_size=2),
    tokens=st.integers(0, 10**6),
    cost=st.floats(0, 100),
    hour=st.integers(0, 23),
    weekday=st.sampled_from(["mon", "sat"]),
    metadata=st.dictionaries(st.sampled_from(["a", "b", "n"]), VALUES, max_size=3),
)  # fmt: skip


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=9), CONTEXTS)
def test_compiles_or_fails_cleanly_and_evaluation_is_total(
    pieces: list[str], context: PolicyContext
) -> None:
    source = " ".join(pieces)
    try:
        condition = compile_condition(source)
    except ExpressionError as error:
        assert 1 <= error.column <= len(source) + 1
        return
    assert condition(context) in (True, False)
    assert condition(PolicyContext()) in (True, False)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_parser(source: str) -> None:
    try:
        compile_condition(source)
    except ExpressionError as error:
        assert error.column >= 1
