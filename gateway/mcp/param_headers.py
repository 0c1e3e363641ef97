"""The modern era's `Mcp-Param-*` check: a tools/call whose tool annotates arguments with
`x-mcp-header` mirrors them in headers (so intermediaries can route on them), and the headers
must agree with the body, as the official SDK server checks (mcp.shared.inbound
.validate_mcp_param_headers). Both present and equal, or both absent; a duplicated header, a
header without its argument, or a malformed base64 sentinel is a HEADER_MISMATCH (400).
A schema whose annotations are invalid validates nothing (conforming clients drop such tools).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDictProxy

from gateway.core.mcp_headers import decode_header_value, header_fields, render, value_at
from gateway.core.mcp_protocol import HEADER_MISMATCH, PARAM_HEADER_PREFIX, RpcError

_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _matches(schema_type: Any, value: Any, rendered: str, decoded: str) -> bool:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    numeric = schema_type == "integer" and not isinstance(value, bool) and integral
    if numeric and _DECIMAL.fullmatch(decoded) is not None:
        whole, _, fraction = decoded.partition(".")
        return not (fraction and set(fraction) != {"0"}) and int(whole) == int(value)
    return decoded == rendered


def check(
    input_schema: Any, arguments: Mapping[str, Any], headers: CIMultiDictProxy[str]
) -> RpcError | None:
    """The first disagreement between the `Mcp-Param-*` headers and the arguments, or None."""
    fields = header_fields(input_schema)
    if not fields:
        return None
    for path, field in fields.items():
        name = PARAM_HEADER_PREFIX + field.token
        sent = headers.getall(name, [])
        value = value_at(arguments, path)
        argument = ".".join(path)
        if len(sent) > 1:
            return RpcError(HEADER_MISMATCH, f"{name} header appears more than once")
        raw = sent[0] if sent else None
        if value is None:
            if raw is not None:
                return RpcError(
                    HEADER_MISMATCH,
                    f"{name} header is present but the request body's {argument!r} argument "
                    "is absent",
                )
            continue
        rendered = render(value)
        if rendered is None:
            if raw is not None:
                return RpcError(
                    HEADER_MISMATCH,
                    f"{name} header does not match the request body's {argument!r} argument",
                )
            continue
        if raw is None:
            return RpcError(
                HEADER_MISMATCH,
                f"{name} header is missing but the request body's {argument!r} argument is present",
            )
        decoded = decode_header_value(raw)
        if decoded is None:
            return RpcError(
                HEADER_MISMATCH, f"{name} header carries a malformed base64 sentinel value"
            )
        if not _matches(field.type, value, rendered, decoded):
            return RpcError(
                HEADER_MISMATCH,
                f"{name} header does not match the request body's {argument!r} argument",
            )
    return None
