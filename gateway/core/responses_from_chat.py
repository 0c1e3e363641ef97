"""Request bodies, the reverse way: Chat Completions -> Responses (`/v1/responses`).

Used when a chat request is routed to an upstream that speaks only the Responses API; the answer
comes back through `responses_response_to_chat` or `ResponsesToChatStream`. Messages become
input items in order (system and developer messages keep their role and place), assistant tool
calls become `function_call` items and tool messages `function_call_output` items.

`store` is false: the chat API keeps nothing by default and neither should the upstream; chat
`metadata` (which only goes with a stored chat completion) is not sent either. What has
no Responses counterpart and would change the answer if dropped (`n` > 1, `stop`, `logprobs`,
audio, legacy `functions`) raises `InvalidRequest`; sampling knobs without a counterpart
(penalties, seed, logit_bias) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.core.errors import InvalidRequest
from gateway.core.responses_json import as_dict
from gateway.core.responses_request import COPIED_OPTIONS, copy_options, json_schema_fields

_COPIED: Final = (*COPIED_OPTIONS, "parallel_tool_calls")


def _list(value: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidRequest(f"'{param}' must be an array of objects", param=param)
    return value


def _content(content: Any, role: str, param: str) -> str | list[dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    text_type = "output_text" if role == "assistant" else "input_text"
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(_list(content, param)):
        kind, where = part.get("type"), f"{param}[{i}]"
        if kind == "text":
            parts.append({"type": text_type, "text": str(part.get("text") or "")})
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": str(part.get("refusal") or "")})
        elif kind == "image_url" and role == "user":
            image = part.get("image_url")
            url = image if isinstance(image, str) else as_dict(image).get("url")
            detail = as_dict(image).get("detail") or "auto"
            parts.append({"type": "input_image", "image_url": url, "detail": detail})
        elif kind == "file" and role == "user":
            file = as_dict(part.get("file"))
            parts.append({"type": "input_file", **{k: v for k, v in file.items() if v}})
        else:
            raise InvalidRequest(f"content part {kind!r} cannot be sent here", param=where)
    if role != "user" and all(p["type"] == text_type for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _tool_output(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or "") for p in _list(content or [], param))


def chat_messages_to_items(messages: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, message in enumerate(_list(messages, "messages")):
        role, param = message.get("role"), f"messages[{i}]"
        if role in ("system", "developer", "user"):
            content = _content(message.get("content"), role, f"{param}.content")
            items.append({"type": "message", "role": role, "content": content})
        elif role == "assistant":
            if message.get("function_call") is not None:
                raise InvalidRequest("legacy function_call is not supported", param=param)
            content = _content(message.get("content"), role, f"{param}.content")
            if content:
                items.append({"type": "message", "role": "assistant", "content": content})
            for j, call in enumerate(_list(message.get("tool_calls") or [], f"{param}.tool_calls")):
                function = as_dict(call.get("function"))
                if call.get("type", "function") != "function" or not function.get("name"):
                    raise InvalidRequest(
                        "only function tool calls can be sent here",
                        param=f"{param}.tool_calls[{j}]",
                    )
                items.append(
                    {
                        "type": "function_call",
                        "call_id": str(call.get("id") or ""),
                        "name": function["name"],
                        "arguments": str(function.get("arguments") or "{}"),
                    }
                )
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": str(message.get("tool_call_id") or ""),
                    "output": _tool_output(message.get("content"), f"{param}.content"),
                }
            )
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param=f"{param}.role")
    return items


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(_list(tools, "tools")):
        function = as_dict(tool.get("function"))
        if tool.get("type") != "function" or not function.get("name"):
            raise InvalidRequest("only function tools can be sent here", param=f"tools[{i}]")
        flat: dict[str, Any] = {"type": "function", "name": function["name"]}
        if function.get("description"):
            flat["description"] = function["description"]
        flat["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
        flat["strict"] = bool(function.get("strict", False))
        out.append(flat)
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice in ("auto", "none", "required"):
        return choice
    if as_dict(choice).get("type") == "function":
        return {"type": "function", "name": as_dict(choice.get("function")).get("name")}
    raise InvalidRequest("unsupported tool_choice", param="tool_choice")


def _text_format(response_format: Any) -> dict[str, Any] | None:
    kind = as_dict(response_format).get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = as_dict(response_format.get("json_schema"))
        return {"type": "json_schema", **json_schema_fields(schema)}
    raise InvalidRequest(f"response_format {kind!r} is not supported", param="response_format")


def _reject(body: Mapping[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise InvalidRequest("n > 1 cannot be sent to this model", param="n")
    for name in ("stop", "logprobs", "audio", "functions", "function_call"):
        if body.get(name):
            raise InvalidRequest(f"'{name}' cannot be sent to this model", param=name)


def chat_request_to_responses(body: dict[str, Any]) -> dict[str, Any]:
    """`/v1/chat/completions` body -> `/v1/responses` body."""
    _reject(body)
    out: dict[str, Any] = {"input": chat_messages_to_items(body.get("messages")), "store": False}
    copy_options(body, out, _COPIED)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        out["max_output_tokens"] = max_tokens
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            out["tool_choice"] = _tool_choice(body["tool_choice"])
    text: dict[str, Any] = {}
    fmt = _text_format(body.get("response_format"))
    if fmt is not None:
        text["format"] = fmt
    if body.get("verbosity") is not None:
        text["verbosity"] = body["verbosity"]
    if text:
        out["text"] = text
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    if body.get("stream"):
        out["stream"] = True
    return out
