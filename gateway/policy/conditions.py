"""Type-check a parsed condition against the context's fields and turn it into closures.

Every field, method and literal is checked when the policy is written, so a typo (`key.modle`)
or a nonsense comparison (`tokens > 'many'`, `weekday == 'saturday'`) is an error with its
column, not a rule that silently never matches. The result is a tree of small Python closures:
no `eval`, no interpretation of the tree per request. Evaluation is total: a missing metadata
value is `null`, and a comparison between values of different kinds is simply false.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy import expr
from gateway.policy.expr import ExpressionError
from gateway.policy.model import DIRECTIONS, WEEKDAYS, FindingStat, PolicyContext

Getter = Callable[[PolicyContext], Any]
Condition = Callable[[PolicyContext], bool]

STRING, NUMBER, BOOL, LIST, MAP, ANY, NULL, GROUP = (
    "string", "number", "bool", "list", "map", "any", "null", "group",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Typed:
    fn: Getter
    type: str
    const: bool = False
    value: Any = None
    choices: tuple[str, ...] = ()  # the only values a field can take (weekday, direction)
    label: str = ""  # the field's dotted name, for messages


def _total(c: PolicyContext) -> int:
    return sum(stat.count for stat in c.findings.values())


_FIELDS: dict[str, tuple[Getter, str, tuple[str, ...]]] = {
    "key.id": (lambda c: c.key.id, STRING, ()),
    "key.team": (lambda c: c.key.team, STRING, ()),
    "key.metadata": (lambda c: c.key.metadata, MAP, ()),
    "model": (lambda c: c.model, STRING, ()),
    "route": (lambda c: c.route, STRING, ()),
    "direction": (lambda c: c.direction, STRING, DIRECTIONS),
    "tokens": (lambda c: c.tokens, NUMBER, ()),
    "cost": (lambda c: c.cost, NUMBER, ()),
    "hour": (lambda c: c.hour, NUMBER, ()),
    "weekday": (lambda c: c.weekday, STRING, WEEKDAYS),
    "metadata": (lambda c: c.metadata, MAP, ()),
    "findings.total": (_total, NUMBER, ()),
    "findings.types": (lambda c: tuple(c.findings), LIST, ()),
}
# `request.*` reads the same values as the top-level names (CEL-style policies write them so).
for _alias in ("model", "route", "tokens", "cost", "metadata"):
    _FIELDS[f"request.{_alias}"] = _FIELDS[_alias]
_GROUPS = ("key", "request", "findings")
_TOP = sorted({name.split(".")[0] for name in _FIELDS})
_STRING_METHODS = ("startsWith", "endsWith", "contains", "matches")
_FINDINGS_METHODS = ("count", "confidence", "has")
# A repeated group that itself repeats (`(a+)+`, `(\w*)*`, `(x{2,})+`): the classic catastrophic
# backtracking shape. Request metadata is client-controlled, so such a pattern is refused on write.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compile_condition(source: str) -> Condition:
    """Parse and check one condition; raise ExpressionError (message, column) if it is wrong."""
    typed = _compile(expr.parse(source))
    if typed.type not in (BOOL, ANY):
        raise ExpressionError(f"a condition must be true or false, not a {typed.type}", 1)
    if typed.const:
        value = typed.value is True
        return lambda c: value
    return _as_bool(typed)


def _fail(message: str, node: expr.Node, hint: str = "") -> ExpressionError:
    return ExpressionError(message, node.pos + 1, hint)


def _whole(message: str, node: expr.Node) -> ExpressionError:
    """An error about an operand as a whole: point at where it starts (`key.team`, not `team`)."""
    while isinstance(node, expr.Attr | expr.Index | expr.Call | expr.Binary):
        node = node.left if isinstance(node, expr.Binary) else node.target
    return ExpressionError(message, node.pos + 1)


def _hint(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _field(path: str, node: expr.Node) -> _Typed:
    getter, kind, choices = _FIELDS[path]
    return _Typed(getter, kind, choices=choices, label=path)


def _compile(node: expr.Node) -> _Typed:
    match node:
        case expr.Literal(value=value):
            kind = {bool: BOOL, str: STRING, int: NUMBER, float: NUMBER}.get(type(value), NULL)
            return _Typed(lambda c: value, kind, const=True, value=value)
        case expr.Name(name=name):
            return _name(name, node)
        case expr.Attr():
            return _attribute(node)
        case expr.Index(target=target, key=key):
            container, index = _value(target), _value(key)
            if container.type not in (MAP, ANY):
                raise _fail(f"cannot index a {container.type}", node)
            if index.type not in (STRING, ANY):
                raise _whole("an index must be a string", key)
            get, at = container.fn, index.fn
            return _Typed(lambda c: _lookup(get(c), at(c)), ANY)
        case expr.Call():
            return _call(node)
        case expr.ListLit(items=items):
            values = tuple(_constant(item) for item in items)
            return _Typed(lambda c: values, LIST, const=True, value=values)
        case expr.Unary(operand=operand):
            fn = _as_bool(_boolean(operand))  # `!x` holds exactly when `x` does not
            return _Typed(lambda c: not fn(c), BOOL)
        case expr.Binary(op="&&" | "||"):
            return _logic(node)
        case expr.Binary():
            return _compare(node)
    raise _fail("unsupported expression", node)  # pragma: no cover - the parser makes no others


def _name(name: str, node: expr.Node) -> _Typed:
    if name in _GROUPS:
        return _Typed(lambda c: None, GROUP, value=name, label=name)
    if name in _FIELDS:
        return _field(name, node)
    raise _fail(f"unknown field '{name}'", node, _hint(name, _TOP) or f"fields: {', '.join(_TOP)}")


def _value(node: expr.Node) -> _Typed:
    """Compile a node that must be a value, not a group of fields such as `key`."""
    typed = _compile(node)
    if typed.type == GROUP:
        fields = ", ".join(p for p in _FIELDS if p.startswith(f"{typed.value}."))
        raise _fail(f"'{typed.value}' is a group of fields ({fields}), not a value", node)
    return typed


def _constant(node: expr.Node) -> Any:
    if not isinstance(node, expr.Literal):
        raise _whole("list items must be literals", node)
    return node.value


def _lookup(container: Any, key: Any) -> Any:
    return container.get(key) if isinstance(container, Mapping) else None


def _attribute(node: expr.Attr) -> _Typed:
    target = _compile(node.target)
    if target.type == GROUP:
        path = f"{target.value}.{node.name}"
        if path in _FIELDS:
            return _field(path, node)
        if target.value == "findings" and node.name in _FINDINGS_METHODS:
            raise _fail(f"findings.{node.name} is a method: write findings.{node.name}(...)", node)
        names = [p.split(".", 1)[1] for p in _FIELDS if p.startswith(f"{target.value}.")]
        hint = _hint(node.name, names) or f"{target.value} has {', '.join(names)}"
        raise _fail(f"unknown field '{node.name}'", node, hint)
    if target.type in (MAP, ANY):
        get, name = target.fn, node.name
        return _Typed(lambda c: _lookup(get(c), name), ANY)
    raise _fail(f"a {target.type} has no field '{node.name}'", node)


def _call(node: expr.Call) -> _Typed:
    target = _compile(node.target)
    if target.type == GROUP and target.value == "findings":
        return _findings_call(node)
    if target.type == GROUP:
        raise _fail(f"'{target.value}' has no method '{node.method}'", node)
    if target.type not in (STRING, ANY):
        raise _fail(f"a {target.type} has no method '{node.method}'", node)
    if node.method not in _STRING_METHODS:
        hint = _hint(node.method, _STRING_METHODS) or f"methods: {', '.join(_STRING_METHODS)}"
        raise _fail(f"unknown method '{node.method}' on a string", node, hint)
    if len(node.args) != 1:
        raise _fail(f"{node.method}() takes one argument", node)
    arg = _value(node.args[0])
    if arg.type not in (STRING, ANY):
        raise _whole(f"{node.method}() takes a string, not a {arg.type}", node.args[0])
    return _string_method(node, target, arg)


def _string_method(node: expr.Call, target: _Typed, arg: _Typed) -> _Typed:
    get = target.fn
    if node.method == "matches":
        if not arg.const:
            raise _whole("matches() takes a literal pattern", node.args[0])
        if _NESTED_QUANTIFIER.search(arg.value):
            message = "nested repetition like '(a+)+' can take exponential time; simplify it"
            raise _whole(message, node.args[0])
        try:
            pattern = re.compile(arg.value)
        except re.error as error:
            raise _whole(f"bad pattern: {error}", node.args[0]) from None
        search = pattern.search
        return _Typed(lambda c: _is_str(v := get(c)) and search(v) is not None, BOOL)
    method = {"startsWith": str.startswith, "endsWith": str.endswith, "contains": str.__contains__}
    fn = method[node.method]
    if arg.const and target.type == STRING:
        value = arg.value
        return _Typed(lambda c: fn(get(c), value), BOOL)
    other = arg.fn
    return _Typed(lambda c: _is_str(v := get(c)) and _is_str(w := other(c)) and fn(v, w), BOOL)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _findings_call(node: expr.Call) -> _Typed:
    method = node.method
    if method not in _FINDINGS_METHODS:
        hint = _hint(method, _FINDINGS_METHODS) or f"methods: {', '.join(_FINDINGS_METHODS)}"
        raise _fail(f"unknown method '{method}' on findings", node, hint)
    if method == "count" and not node.args:
        return _Typed(_total, NUMBER)
    if len(node.args) != 1:
        raise _fail(f"findings.{method}() takes one finding type", node)
    arg = _value(node.args[0])
    if arg.type not in (STRING, ANY):
        raise _whole(f"a finding type is a string, not a {arg.type}", node.args[0])
    name = arg.fn
    if method == "has":
        return _Typed(lambda c: name(c) in c.findings, BOOL)
    pick = _count if method == "count" else _confidence
    if arg.const:
        kind = arg.value
        return _Typed(lambda c: pick(c.findings.get(kind)), NUMBER)
    return _Typed(lambda c: pick(_lookup(c.findings, name(c))), NUMBER)


def _count(stat: FindingStat | None) -> int:
    return 0 if stat is None else stat.count


def _confidence(stat: FindingStat | None) -> float:
    return 0.0 if stat is None else stat.confidence


def _boolean(node: expr.Node) -> _Typed:
    typed = _value(node)
    if typed.type not in (BOOL, ANY):
        raise _whole(f"expected true or false, found a {typed.type}", node)
    return typed


def _as_bool(typed: _Typed) -> Condition:
    fn = typed.fn
    return fn if typed.type == BOOL else (lambda c: fn(c) is True)


def _logic(node: expr.Binary) -> _Typed:
    left, right = _as_bool(_boolean(node.left)), _as_bool(_boolean(node.right))
    if node.op == "&&":
        return _Typed(lambda c: left(c) and right(c), BOOL)
    return _Typed(lambda c: left(c) or right(c), BOOL)


def _compare(node: expr.Binary) -> _Typed:
    left, right = _value(node.left), _value(node.right)
    _check_choices(left, right, node.right)
    _check_choices(right, left, node.left)
    if node.op == "in":
        return _membership(node, left, right)
    if node.op in ("==", "!="):
        if _definite(left) and _definite(right) and left.type != right.type:
            raise _fail(f"cannot compare a {left.type} with a {right.type}", node)
        fa, fb = left.fn, right.fn
        if ANY in (left.type, right.type):
            if node.op == "==":
                return _Typed(lambda c: _equal(fa(c), fb(c)), BOOL)
            return _Typed(lambda c: not _equal(fa(c), fb(c)), BOOL)
        if right.const:
            value = right.value
            if node.op == "==":
                return _Typed(lambda c: fa(c) == value, BOOL)
            return _Typed(lambda c: fa(c) != value, BOOL)
        if node.op == "==":
            return _Typed(lambda c: fa(c) == fb(c), BOOL)
        return _Typed(lambda c: fa(c) != fb(c), BOOL)
    return _ordering(node, left, right)


def _equal(a: Any, b: Any) -> bool:
    """Equality for metadata values: true is not 1 here, unlike in Python."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _definite(typed: _Typed) -> bool:
    return typed.type not in (ANY, NULL)


def _check_choices(field: _Typed, other: _Typed, other_node: expr.Node) -> None:
    """`weekday == 'saturday'` can never hold: say so on write."""
    if not field.choices or not other.const:
        return
    values = other.value if isinstance(other.value, tuple) else (other.value,)
    for value in values:
        if value not in field.choices:
            allowed = ", ".join(f"'{choice}'" for choice in field.choices)
            raise _whole(f"{field.label} is one of {allowed}, not {value!r}", other_node)


def _ordering(node: expr.Binary, left: _Typed, right: _Typed) -> _Typed:
    order = _ORDER[node.op]
    for side, typed in ((node.left, left), (node.right, right)):
        if typed.type not in (NUMBER, STRING, ANY):
            raise _whole(f"'{node.op}' compares numbers or strings, not a {typed.type}", side)
    if _definite(left) and _definite(right) and left.type != right.type:
        raise _fail(f"cannot compare a {left.type} with a {right.type}", node)
    fa, fb = left.fn, right.fn
    if ANY not in (left.type, right.type):
        if right.const:
            value = right.value
            return _Typed(lambda c: order(fa(c), value), BOOL)
        return _Typed(lambda c: order(fa(c), fb(c)), BOOL)
    return _Typed(lambda c: _safe_order(order, fa(c), fb(c)), BOOL)


def _safe_order(order: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    """Order only like with like (numbers, or strings); anything else is false, never an error."""
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return order(a, b)
    return isinstance(a, str) and isinstance(b, str) and order(a, b)


def _membership(node: expr.Binary, left: _Typed, right: _Typed) -> _Typed:
    if right.type not in (LIST, MAP, STRING, ANY):
        raise _fail(f"'in' needs a list, a map or a string on its right, not a {right.type}", node)
    if right.type == STRING and left.type not in (STRING, ANY):
        raise _fail(f"'in' a string needs a string on its left, not a {left.type}", node)
    fa, fb = left.fn, right.fn
    if right.const:
        members = frozenset(v for v in right.value if not isinstance(v, bool))
        flags = tuple(v for v in right.value if isinstance(v, bool))
        return _Typed(lambda c: _in_constant(fa(c), members, flags), BOOL)
    return _Typed(lambda c: _contains(fb(c), fa(c)), BOOL)


def _in_constant(value: Any, members: frozenset[Any], flags: tuple[bool, ...]) -> bool:
    if isinstance(value, bool):  # true is not 1 here, unlike in Python
        return value in flags
    try:
        return value in members
    except TypeError:  # unhashable metadata value (a list, a map): not a member
        return False


def _contains(container: Any, value: Any) -> bool:
    if isinstance(container, str):
        return isinstance(value, str) and value in container
    if isinstance(container, Mapping | tuple | list):
        try:
            return value in container
        except TypeError:
            return False
    return False
