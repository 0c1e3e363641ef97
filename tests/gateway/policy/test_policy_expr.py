"""The condition parser: what parses into which tree, and syntax errors with their column."""

from __future__ import annotations

import pytest

from gateway.policy.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    Attr,
    Binary,
    Call,
    ExpressionError,
    Index,
    ListLit,
    Literal,
    Name,
    Unary,
    parse,
    tokenize,
)


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("true", Literal(True, 0)),
        ("false", Literal(False, 0)),
        ("null", Literal(None, 0)),
        ("42", Literal(42, 0)),
        ("4.5", Literal(4.5, 0)),
        ("-3", Literal(-3, 0)),
        ("'a b'", Literal("a b", 0)),
        ('"it\\\'s"', Literal("it's", 0)),
        ("'tab\\there'", Literal("tab\there", 0)),
        ("'\\d+\\.\\w'", Literal("\\d+\\.\\w", 0)),
        ("'a\\\\b'", Literal("a\\b", 0)),
        ("model", Name("model", 0)),
        ("key.team", Attr(Name("key", 0), "team", 4)),
        ("metadata['cost-center']", Index(Name("metadata", 0), Literal("cost-center", 9), 8)),
        ("model.startsWith('gpt')", Call(Name("model", 0), "startsWith", (Literal("gpt", 17),), 6)),
        ("findings.count()", Call(Name("findings", 0), "count", (), 9)),
        ("[1, 'a']", ListLit((Literal(1, 1), Literal("a", 4)), 0)),
        ("[]", ListLit((), 0)),
        ("!x", Unary("!", Name("x", 1), 0)),
        ("a == 1", Binary("==", Name("a", 0), Literal(1, 5), 2)),
        ("a in [1]", Binary("in", Name("a", 0), ListLit((Literal(1, 6),), 5), 2)),
        ("a <= 2", Binary("<=", Name("a", 0), Literal(2, 5), 2)),
        # && binds tighter than ||
        (
            "a || b && c",
            Binary("||", Name("a", 0), Binary("&&", Name("b", 5), Name("c", 10), 7), 2),
        ),
        (
            "(a || b) && c",
            Binary("&&", Binary("||", Name("a", 1), Name("b", 6), 3), Name("c", 12), 9),
        ),
        ("  tokens  ", Name("tokens", 2)),
    ],
)
def test_parses(source: str, tree: object) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("", "empty condition", 1),
        ("   ", "empty condition", 1),
        ("key.team = 'x'", "'=' is not an operator; use '==' to compare", 10),
        ("a & b", "'&' is not an operator; use '&&'", 3),
        ("a | b", "'|' is not an operator; use '||'", 3),
        ("a and b", "unknown word 'and'; use '&&'", 3),
        ("a or b", "unknown word 'or'; use '||'", 3),
        ("not a", "unknown word 'not'; use '!'", 1),
        ("True", "unknown word 'True'; use 'true'", 1),
        ("a == 'open", "unterminated string", 6),
        ("'a\\'", "unterminated string", 1),
        ("a == 12ab", "malformed number '12a'", 6),
        ("a # b", "unexpected character '#'", 3),
        ("a == ²", "unexpected character '²'", 6),  # only ASCII digits make numbers
        ("a ==", "unexpected end of condition", 5),
        ("key.team == 'x' &&", "unexpected end of condition", 19),
        ("(a || b", "expected ')', found end of condition", 8),
        ("a b", "unexpected 'b'", 3),
        ("a < b < c", "comparisons do not chain; join them with '&&'", 7),
        ("key.", "expected a field name after '.', found end of condition", 5),
        ("key.'x'", "expected a field name after '.', found string 'x'", 5),
        ("m.startsWith('a'", "expected ')', found end of condition", 17),
        ("metadata['a'", "expected ']', found end of condition", 13),
        ("- a", "'-' goes only before a number", 1),
        (")", "unexpected ')'", 1),
    ],
)
def test_syntax_errors_name_the_column(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as raised:
        parse(source)
    assert (raised.value.message, raised.value.column) == (message, column)
    assert str(raised.value).startswith(f"{message} at column {column}")


def test_and_is_a_plain_name_to_the_tokenizer() -> None:
    # `and` is rejected only where a word is read as a value
    assert parse("and_more") == Name("and_more", 0)
    with pytest.raises(ExpressionError, match="use '&&'"):
        parse("and")


def test_limits_length_and_depth() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse("a" * (MAX_LENGTH + 1))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("!" * (MAX_DEPTH + 1) + "a")
    assert parse("(" * 10 + "a" + ")" * 10) == Name("a", 10)


def test_tokens_carry_offsets() -> None:
    kinds = [(t.kind, t.value, t.pos) for t in tokenize("a>=1.5")]
    assert kinds == [("name", "a", 0), ("op", ">=", 1), ("num", 1.5, 3), ("end", None, 6)]
