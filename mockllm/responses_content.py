"""OpenAI Responses API shapes (`POST /v1/responses`): a whole `Response`, or its typed events.

A Responses request is read as the chat conversation it amounts to, the same mapping a gateway
translating to chat uses: `instructions` become a system message, `message` items keep their
role (text-only content becomes one string), consecutive `function_call` items become one
assistant message's `tool_calls`, a `function_call_output` becomes a `tool` message, `reasoning`
items are dropped. The answer is then `openai_content.chat`'s for that conversation, so the words,
the tool-use rules (`mockllm.tool_use`: a tool is called only when `tool_choice` forces it or the
last user turn asks for it; a tool result is answered with text) and the JSON-mode values are
the chat endpoint's, and a gateway that translates a Responses request to chat gets the same reply
as one that forwards it here.

The mock keeps no state, so what only OpenAI's servers could resolve is refused with a 400:
`previous_response_id` (a gateway must send the whole conversation instead; refusing it makes a
leak visible in tests), `conversation`, `prompt`, `background`, `item_reference` items. As on
OpenAI, a `function_call_output` must follow its `function_call` in the input and every call must
have its output. Hosted tools (web search, file search, ...) are accepted, echoed, never called.

Events come in OpenAI's order, `sequence_number` from 0: `response.created`,
`response.in_progress`, `response.output_item.added`, for a message `response.content_part.added`,
`response.output_text.delta`s, `response.output_text.done`, `response.content_part.done`, for a
call `response.function_call_arguments.delta`s and `.done`; then `response.output_item.done` and
`response.completed` (`response.incomplete` when `max_output_tokens` cut the reply) carrying the
whole response. Each is framed `event: <type>` + `data: <json>`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from mockllm import openai_content
from mockllm.text import MockRequestError, StreamFrames, positive_int, require_model

__all__ = ["response", "response_stream_frames"]

_ROLES: Final = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS: Final = frozenset({"input_text", "output_text", "text"})
_SIMPLE_CHOICES: Final = frozenset({"auto", "none", "required"})
_STATELESS: Final = (
    ("conversation", "conversations"),
    ("prompt", "stored prompts"),
)
# OpenAI refuses a smaller max_output_tokens.
_MIN_OUTPUT_TOKENS: Final = 16
_WORDS = re.compile(r"\s*\S+|\s+")
_ARGUMENT_PIECE: Final = 4  # characters per function-call arguments delta, like json_pieces


@dataclass(frozen=True, slots=True)
class _Plan:
    body: dict[str, Any]
    response_id: str
    created: int
    model: str
    item: dict[str, Any]  # the one output item, finished
    pieces: list[str]  # its text or arguments, one delta each
    incomplete: bool  # max_output_tokens cut it
    usage: dict[str, Any]


# --- the whole response ---------------------------------------------------------------------


def response(body: dict[str, Any], *, created: int, serial: int = 0) -> dict[str, Any]:
    """A `Response` object. `serial` keeps ids unique when one prompt is asked twice at once."""
    plan = _plan(body, created, serial)
    return _response(plan, _status(plan), [plan.item], plan.usage)


def response_stream_frames(body: dict[str, Any], *, created: int, serial: int = 0) -> StreamFrames:
    """The typed SSE events of the same answer; their deltas joined are `response`'s text."""
    plan = _plan(body, created, serial)
    stream = _Events()
    running = _response(plan, "in_progress", [], None)
    stream.add("response.created", response=running)
    stream.add("response.in_progress", response=running)
    item, index = plan.item, 0
    if item["type"] == "message":
        stream.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        where: dict[str, Any] = {"item_id": item["id"], "output_index": index, "content_index": 0}
        part = item["content"][0]
        stream.add("response.content_part.added", **where, part={**part, "text": ""})
        first = len(stream.frames)
        stream.deltas("response.output_text.delta", where, plan.pieces, b',"logprobs":[]}')
        stream.add("response.output_text.done", **where, text=part["text"], logprobs=[])
        stream.add("response.content_part.done", **where, part=part)
    else:
        stream.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        where = {"item_id": item["id"], "output_index": index}
        first = len(stream.frames)
        stream.deltas("response.function_call_arguments.delta", where, plan.pieces, b"}")
        stream.add("response.function_call_arguments.done", **where, arguments=item["arguments"])
    stream.add("response.output_item.done", output_index=index, item=item)
    status = _status(plan)
    kind = "response.completed" if status == "completed" else "response.incomplete"
    stream.add(kind, response=_response(plan, status, [item], plan.usage))
    return StreamFrames(stream.frames, first, len(plan.pieces))


class _Events:
    """Numbers and frames events; deltas (the hot path) are assembled from byte templates."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n")

    def deltas(self, kind: str, where: dict[str, Any], pieces: list[str], end: bytes) -> None:
        head = b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode()
        head += b'","sequence_number":'
        middle = b"," + orjson.dumps(where)[1:-1] + b',"delta":'
        tail = end + b"\n\n"
        start = len(self.frames)
        self.frames.extend(
            head + str(start + i).encode() + middle + orjson.dumps(piece) + tail
            for i, piece in enumerate(pieces)
        )


def _status(plan: _Plan) -> str:
    return "incomplete" if plan.incomplete else "completed"


def _response(
    plan: _Plan, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    """The Response object, echoing the request's settings with OpenAI's defaults."""
    body = plan.body
    text = _dict(body.get("text"))
    reasoning = _dict(body.get("reasoning"))
    metadata = body.get("metadata")
    tier = body.get("service_tier")
    return {
        "id": plan.response_id,
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": plan.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default" if tier in (None, "auto") else tier,
        "store": body.get("store") is not False,
        "temperature": _number(body, "temperature", 1.0),
        "text": {
            "format": text.get("format") or {"type": "text"},
            "verbosity": text.get("verbosity") or "medium",
        },
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": [_echo_tool(t) for t in body.get("tools") or []],
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": _number(body, "top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": usage,
        "user": body.get("user"),
        "metadata": metadata if isinstance(metadata, dict) else {},
        "completed_at": plan.created if status == "completed" else None,
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return tool
    return {
        "type": "function",
        "name": tool["name"],
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") is not False,  # the Responses API's default is strict
    }


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    return default if value is None else float(value)


# --- reading the request ----------------------------------------------------------------------


def _plan(body: dict[str, Any], created: int, serial: int) -> _Plan:
    model = require_model(body)
    _refuse_stateful(body)
    _check_options(body)
    chat_body: dict[str, Any] = {"model": model, "messages": _messages(body)}
    limit = positive_int(body, "max_output_tokens")
    if limit is not None:
        if limit < _MIN_OUTPUT_TOKENS:
            raise MockRequestError(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                f"{_MIN_OUTPUT_TOKENS}, but got {limit} instead.",
                param="max_output_tokens",
            )
        chat_body["max_completion_tokens"] = limit
    _add_tools(body, chat_body)
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat_body["response_format"] = response_format
    completion = openai_content.chat(chat_body, created=created)
    choice = completion["choices"][0]
    message = choice["message"]
    tag = completion["id"].removeprefix("chatcmpl-")
    # 48 hex digits like OpenAI's ids: the prompt and time (chat's id), and the serial.
    suffix = hashlib.blake2b(f"{tag}:{serial}".encode(), digest_size=24).hexdigest()
    incomplete = choice["finish_reason"] == "length"
    status = "incomplete" if incomplete else "completed"
    item: dict[str, Any]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        arguments = call["function"]["arguments"]
        item = {
            "id": f"fc_{suffix}",
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call["id"],
            "name": call["function"]["name"],
        }
        pieces = [
            arguments[i : i + _ARGUMENT_PIECE] for i in range(0, len(arguments), _ARGUMENT_PIECE)
        ]
    else:
        text = message["content"] or ""
        part: dict[str, Any] = {
            "type": "output_text",
            "annotations": [],
            "logprobs": [],
            "text": text,
        }
        item = {
            "id": f"msg_{suffix}",
            "type": "message",
            "status": status,
            "content": [part],
            "role": "assistant",
        }
        pieces = _WORDS.findall(text)
    usage = completion["usage"]
    prompt, output = usage["prompt_tokens"], usage["completion_tokens"]
    return _Plan(
        body=body,
        response_id=f"resp_{suffix}",
        created=created,
        model=model,
        item=item,
        pieces=pieces,
        incomplete=incomplete,
        usage={
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + output,
        },
    )


def _refuse_stateful(body: dict[str, Any]) -> None:
    previous = body.get("previous_response_id")
    if previous is not None:
        raise MockRequestError(
            f"Previous response with id '{previous}' not found. (This mock upstream stores no "
            "responses: send the whole conversation in 'input'.)",
            param="previous_response_id",
        )
    for name, what in _STATELESS:
        if body.get(name) is not None:
            raise MockRequestError(f"This mock upstream has no {what}: '{name}'.", param=name)
    if body.get("background"):
        raise MockRequestError(
            "This mock upstream does not run background responses.", param="background"
        )


def _check_options(body: dict[str, Any]) -> None:
    for name, upper in (("temperature", 2.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper
        ):
            raise MockRequestError(
                f"Invalid '{name}': expected a number between 0 and {upper:g}.", param=name
            )
    top_logprobs = body.get("top_logprobs")
    if top_logprobs is not None and (
        isinstance(top_logprobs, bool)
        or not isinstance(top_logprobs, int)
        or not 0 <= top_logprobs <= 20
    ):
        raise MockRequestError(
            "Invalid 'top_logprobs': expected an integer between 0 and 20.", param="top_logprobs"
        )
    for name in ("parallel_tool_calls", "store"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise MockRequestError(f"Invalid '{name}': expected a boolean.", param=name)
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise MockRequestError(
            "Invalid 'metadata': expected an object of strings.", param="metadata"
        )
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise MockRequestError("Invalid 'instructions': expected a string.", param="instructions")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    value = body.get("input")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    elif isinstance(value, list) and value:
        _add_items(value, messages)
    else:
        raise MockRequestError(
            "Invalid 'input': expected a string or a non-empty array of input items.",
            param="input",
        )
    return messages


def _add_items(items: list[Any], messages: list[dict[str, Any]]) -> None:
    """Input items -> chat messages, checking calls and outputs pair up as OpenAI does."""
    open_calls: dict[str, str] = {}  # call_id -> where its function_call item is
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise MockRequestError(f"Invalid '{where}': expected an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = _function_call(item, where)
            open_calls[call["id"]] = where
            _add_call(messages, call)
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or call_id not in open_calls:
                raise MockRequestError(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            del open_calls[call_id]
            messages.append(_function_output(item, call_id, where))
        elif kind == "item_reference":
            raise MockRequestError(
                "This mock upstream stores no items: send the item itself, not a reference.",
                param=where,
            )
        elif kind != "reasoning":
            raise MockRequestError(
                f"Invalid value: '{kind}'. This mock upstream reads message, function_call, "
                "function_call_output and reasoning items.",
                param=f"{where}.type",
            )
    if open_calls:
        call_id = next(iter(open_calls))
        raise MockRequestError(f"No tool output found for function call {call_id}.", param="input")


def _message(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        raise MockRequestError(
            f"Invalid value: {role!r}. Supported values are: 'user', 'assistant', 'system', and "
            "'developer'.",
            param=f"{where}.role",
        )
    return {"role": role, "content": _content(item.get("content"), f"{where}.content")}


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    """Text-only content becomes one string (what chat servers read), else chat parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise MockRequestError(
            f"Invalid '{where}': expected a string or an array of content parts.", param=where
        )
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        at = f"{where}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image" and (part.get("image_url") or part.get("file_id")):
            parts.append(
                {"type": "image_url", "image_url": {"url": part.get("image_url") or "file"}}
            )
        elif kind == "input_file" and (part.get("file_data") or part.get("file_id")):
            parts.append({"type": "file", "file": {"file_id": part.get("file_id") or "inline"}})
        else:
            raise MockRequestError(f"Invalid content part '{at}' ({kind!r}).", param=at)
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _function_call(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not (isinstance(call_id, str) and call_id and isinstance(name, str) and name):
        raise MockRequestError("A function_call item needs 'call_id' and 'name'.", param=where)
    if not isinstance(arguments, str):
        raise MockRequestError(
            f"Invalid '{where}.arguments': expected a string.", param=f"{where}.arguments"
        )
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _add_call(messages: list[dict[str, Any]], call: dict[str, Any]) -> None:
    """Consecutive calls (after the assistant's text, if any) share one assistant message."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        if "tool_calls" in last:
            last["tool_calls"].append(call)
            return
        if isinstance(last.get("content"), str):
            last["tool_calls"] = [call]
            return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _function_output(item: Mapping[str, Any], call_id: str, where: str) -> dict[str, Any]:
    output = item.get("output")
    content = output if isinstance(output, str) else _content(output, f"{where}.output")
    if not isinstance(content, str):  # a tool message holds text: images count as their text
        content = "".join(p["text"] for p in content if p["type"] == "text")
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _add_tools(body: dict[str, Any], chat_body: dict[str, Any]) -> None:
    """Function tools and tool_choice in chat's shape; hosted tools are left out (never called)."""
    tools = body.get("tools")
    functions: list[dict[str, Any]] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise MockRequestError("Invalid 'tools': expected an array.", param="tools")
        for i, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if not isinstance(kind, str):
                raise MockRequestError(
                    f"Invalid 'tools[{i}]': expected an object with a type.", param=f"tools[{i}]"
                )
            if kind != "function":
                continue
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise MockRequestError(
                    f"Missing required parameter: 'tools[{i}].name'.", param=f"tools[{i}].name"
                )
            parameters = tool.get("parameters") or {"type": "object", "properties": {}}
            functions.append(
                {"type": "function", "function": {"name": tool["name"], "parameters": parameters}}
            )
    choice = _tool_choice(body.get("tool_choice"), functions)
    if functions:
        chat_body["tools"] = functions
    if choice is not None:
        chat_body["tool_choice"] = choice


def _tool_choice(choice: Any, functions: list[dict[str, Any]]) -> Any:
    """Responses tool_choice -> chat's; `allowed_tools` narrows `functions` in place."""
    if choice is None or (isinstance(choice, str) and choice in _SIMPLE_CHOICES):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools" and choice.get("mode", "auto") in ("auto", "required"):
        allowed = choice.get("tools")
        names = (
            {t.get("name") for t in allowed if isinstance(t, dict) and t.get("type") == "function"}
            if isinstance(allowed, list)
            else set()
        )
        functions[:] = [f for f in functions if f["function"]["name"] in names]
        return choice.get("mode", "auto") if functions else None
    raise MockRequestError(
        f"Invalid 'tool_choice': {choice!r}. This mock upstream takes 'auto', 'none', "
        "'required', a function or allowed_tools; it never runs hosted tools.",
        param="tool_choice",
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(text, dict) or (fmt is not None and not isinstance(fmt, dict)):
        raise MockRequestError("Invalid 'text': expected {'format': {...}}.", param="text")
    fmt = fmt or {}
    kind = fmt.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name, schema = fmt.get("name"), fmt.get("schema")
        if not isinstance(name, str) or not name:
            raise MockRequestError(
                "Missing required parameter: 'text.format.name'.", param="text.format.name"
            )
        if not isinstance(schema, dict):
            raise MockRequestError(
                "Missing required parameter: 'text.format.schema'.", param="text.format.schema"
            )
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    raise MockRequestError(
        f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object', 'json_schema'.",
        param="text.format.type",
    )
