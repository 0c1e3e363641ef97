"""The policy condition language: tokens and syntax tree, parsed once when a policy is written.

A condition is a small CEL-like boolean expression over the request context, for example
``key.team == 'finance' && findings.count('payment_card') > 0 && model.startsWith('gpt-4')``.
We parse it ourselves (and `gateway.policy.compile` turns the tree into Python closures) instead
of calling `eval` or binding a native engine: conditions stay data, a bad one is rejected on write
with the column it went wrong at, and evaluation costs microseconds with no extra dependency
(measurements and the comparison with CEL and Cedar: /work/plan/policy_language.md).

Grammar (lowest precedence first; comparisons do not chain)::

    expr    := and ('||' and)*
    and     := cmp ('&&' cmp)*
    cmp     := unary (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') unary)?
    unary   := '!' unary | '-' NUMBER | postfix
    postfix := primary ('.' NAME ('(' args? ')')? | '[' expr ']')*
    primary := NUMBER | STRING | 'true' | 'false' | 'null' | NAME | '(' expr ')' | '[' args? ']'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 4096  # a condition is a line or two; anything longer is a mistake or an attack
MAX_DEPTH = 48  # nesting limit: keeps the recursive parser and the closures shallow


class ExpressionError(Exception):
    """A condition that does not parse or does not type-check, with the 1-based column."""

    def __init__(self, message: str, column: int, hint: str = "") -> None:
        super().__init__(f"{message} at column {column}" + (f"; {hint}" if hint else ""))
        self.message = message
        self.column = column
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "str", "name", "op", "end"
    value: Any
    pos: int  # 0-based offset into the source


# Syntax tree. `pos` is the 0-based offset of the node's own token (the operator, the name).
@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Attr:
    target: Node
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    key: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    target: Node
    method: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    pos: int


Node = Literal | Name | Attr | Index | Call | ListLit | Unary | Binary

_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts '²'
_TWO_CHAR = ("==", "!=", "<=", ">=", "&&", "||")
_ONE_CHAR = "<>!()[],.-"
_MISTAKES = {
    "=": "'=' is not an operator; use '==' to compare",
    "&": "'&' is not an operator; use '&&'",
    "|": "'|' is not an operator; use '||'",
}
_WORD_MISTAKES = {"and": "&&", "or": "||", "not": "!", "True": "true", "False": "false"}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})


def tokenize(source: str) -> list[Token]:
    """Split a condition into tokens; an unknown character is an error at its column."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in _DIGITS:
            i = _number(source, i, tokens)
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (source[i].isalnum() or source[i] == "_"):
                i += 1
            tokens.append(Token("name", source[start:i], start))
        elif ch in "'\"":
            i = _string(source, i, tokens)
        elif source[i : i + 2] in _TWO_CHAR:
            tokens.append(Token("op", source[i : i + 2], i))
            i += 2
        elif ch in _ONE_CHAR:
            tokens.append(Token("op", ch, i))
            i += 1
        elif ch in _MISTAKES:
            raise ExpressionError(_MISTAKES[ch], i + 1)
        else:
            raise ExpressionError(f"unexpected character {ch!r}", i + 1)
    tokens.append(Token("end", None, n))
    return tokens


def _number(source: str, i: int, tokens: list[Token]) -> int:
    start, n = i, len(source)
    while i < n and source[i] in _DIGITS:
        i += 1
    is_float = i + 1 < n and source[i] == "." and source[i + 1] in _DIGITS
    if is_float:
        i += 1
        while i < n and source[i] in _DIGITS:
            i += 1
    if i < n and (source[i].isalpha() or source[i] == "_"):
        raise ExpressionError(f"malformed number {source[start : i + 1]!r}", start + 1)
    text = source[start:i]
    tokens.append(Token("num", float(text) if is_float else int(text), start))
    return i


def _string(source: str, i: int, tokens: list[Token]) -> int:
    quote, start, n = source[i], i, len(source)
    i += 1
    chars: list[str] = []
    while i < n and source[i] != quote:
        if source[i] == "\\" and i + 1 < n:
            # an unknown escape keeps its backslash, so regex patterns read naturally: '\d+'
            chars.append(_ESCAPES.get(source[i + 1], source[i : i + 2]))
            i += 2
        else:
            chars.append(source[i])
            i += 1
    if i >= n:
        raise ExpressionError("unterminated string", start + 1)
    tokens.append(Token("str", "".join(chars), start))
    return i + 1


def parse(source: str) -> Node:
    """Parse one condition into its syntax tree, or raise ExpressionError with the column."""
    if not source.strip():
        raise ExpressionError("empty condition", 1)
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"condition longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    return _Parser(tokenize(source)).parse()


class _Parser:
    """Recursive descent over the token list; one instance per parse."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self.expr()
        token = self.peek()
        if token.kind == "name" and token.value in _WORD_MISTAKES:
            _name(token)  # raises: "unknown word 'and'; use '&&'"
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.pos + 1)
        return node

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, op: str) -> Token | None:
        token = self.tokens[self.i]
        if token.kind == "op" and token.value == op:
            self.i += 1
            return token
        return None

    def expect(self, op: str) -> Token:
        token = self.accept(op)
        if token is None:
            found = self.peek()
            raise ExpressionError(f"expected '{op}', found {_describe(found)}", found.pos + 1)
        return token

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("condition nested too deeply", self.peek().pos + 1)
        node = self.conjunction()
        while (token := self.accept("||")) is not None:
            node = Binary("||", node, self.conjunction(), token.pos)
        self.depth -= 1
        return node

    def conjunction(self) -> Node:
        node = self.comparison()
        while (token := self.accept("&&")) is not None:
            node = Binary("&&", node, self.comparison(), token.pos)
        return node

    def comparison(self) -> Node:
        left = self.unary()
        token = self.peek()
        if _is_comparison(token):
            self.i += 1
            node = Binary(str(token.value), left, self.unary(), token.pos)
            after = self.peek()
            if _is_comparison(after):
                message = "comparisons do not chain; join them with '&&'"
                raise ExpressionError(message, after.pos + 1)
            return node
        return left

    def unary(self) -> Node:
        token = self.peek()
        if self.accept("!") is not None:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError("condition nested too deeply", token.pos + 1)
            node = Unary("!", self.unary(), token.pos)
            self.depth -= 1
            return node
        if self.accept("-") is not None:
            number = self.next()
            if number.kind != "num":
                raise ExpressionError("'-' goes only before a number", token.pos + 1)
            return Literal(-number.value, token.pos)
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.accept(".") is not None:
                name = self.next()
                if name.kind != "name":
                    raise ExpressionError(
                        f"expected a field name after '.', found {_describe(name)}", name.pos + 1
                    )
                if self.accept("(") is not None:
                    node = Call(node, name.value, self.arguments(")"), name.pos)
                else:
                    node = Attr(node, name.value, name.pos)
            elif (bracket := self.accept("[")) is not None:
                node = Index(node, self.expr(), bracket.pos)
                self.expect("]")
            else:
                return node

    def arguments(self, closing: str) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.accept(closing) is not None:
            return ()
        args.append(self.expr())
        while self.accept(",") is not None:
            args.append(self.expr())
        self.expect(closing)
        return tuple(args)

    def primary(self) -> Node:
        token = self.next()
        if token.kind in ("num", "str"):
            return Literal(token.value, token.pos)
        if token.kind == "name":
            return _name(token)
        if token.kind == "op" and token.value == "(":
            node = self.expr()
            self.expect(")")
            return node
        if token.kind == "op" and token.value == "[":
            return ListLit(self.arguments("]"), token.pos)
        raise ExpressionError(f"unexpected {_describe(token)}", token.pos + 1)


def _name(token: Token) -> Node:
    word = str(token.value)
    if word in ("true", "false"):
        return Literal(word == "true", token.pos)
    if word == "null":
        return Literal(None, token.pos)
    if word in _WORD_MISTAKES:
        raise ExpressionError(f"unknown word '{word}'; use '{_WORD_MISTAKES[word]}'", token.pos + 1)
    return Name(word, token.pos)


def _is_comparison(token: Token) -> bool:
    if token.kind == "op":
        return token.value in COMPARISONS
    return token.kind == "name" and token.value == "in"


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of condition"
    if token.kind == "str":
        return f"string {token.value!r}"
    return f"'{token.value}'"
