"""Request bodies: OpenAI Responses (`/v1/responses`) -> Chat Completions, and -> Anthropic.

The conversation a `previous_response_id` names is resolved by the store, not here: its items come
in as `previous` and are read before the request's own `input`, exactly as the API defines it
(`instructions` are not carried over from the previous response).

Item mapping to chat: `message` items keep their role (`developer` and `system` stay system-like,
`output_text` parts of earlier assistant output become text); `function_call`, `custom_tool_call`
and `tool_search_call` items become `tool_calls` on an assistant message (consecutive calls share
one message); their outputs (`function_call_output`, `custom_tool_call_output`,
`tool_search_output`) become `tool` messages. What each tool type becomes, and how namespaced and
custom calls are named and shaped for chat, is `responses_tools`'s business (see there).
`reasoning` and `web_search_call` items are dropped: chat has no carrier for them and a model
answers without them (a search's findings are in the answer that followed it). Item types that only
exist on OpenAI's servers (`item_reference`, `compaction`, hosted tool calls) raise
`InvalidRequest` naming the parameter: a gateway cannot run them on another provider.

`metadata` belongs to the Response object (it is echoed there) and is not sent upstream: OpenAI's
chat API refuses it unless `store` is on, and the gateway, not the upstream, stores responses.
`store` is likewise the gateway's business and not forwarded.

The Anthropic translation (`responses_to_anthropic`) starts from the chat shape built here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.core.errors import InvalidRequest
from gateway.core.responses_json import as_dict
from gateway.core.responses_tools import (
    CALL_TYPES,
    chat_call,
    chat_tool_choice,
    chat_tools,
    loaded_tools,
    request_tools,
    search_result_text,
)

_DROPPED_ITEMS: Final = frozenset({"reasoning", "web_search_call", "additional_tools"})
_OUTPUT_TYPES: Final = frozenset({"function_call_output", "custom_tool_call_output"})
# Options copied unchanged from a Responses body to a chat body, and back (`copy_options`).
COPIED_OPTIONS: Final = (
    "model",
    "temperature",
    "top_p",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
)


def copy_options(body: Mapping[str, Any], out: dict[str, Any], names: Sequence[str]) -> None:
    """Copy the options `names` that `body` sets (not null) into `out`, unchanged."""
    for name in names:
        if body.get(name) is not None:
            out[name] = body[name]


def _items(value: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be a string or an array of items", param=param)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{param}[{i}]' must be an object", param=f"{param}[{i}]")
    return value


def _image_part(part: Mapping[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise InvalidRequest(
            "input_image needs 'image_url' (file_id is not supported)", param=param
        )
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in ("low", "high", "auto"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: Mapping[str, Any], param: str) -> dict[str, Any]:
    file: dict[str, Any] = {}
    for name in ("file_data", "file_id", "filename"):
        if isinstance(part.get(name), str):
            file[name] = part[name]
    if "file_data" not in file and "file_id" not in file:
        raise InvalidRequest("input_file needs 'file_data' or 'file_id'", param=param)
    return {"type": "file", "file": file}


def _parts(content: Any, param: str, *, texts_only: bool) -> list[dict[str, Any]]:
    """Responses content parts -> chat content parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    out: list[dict[str, Any]] = []
    for i, part in enumerate(_items(content, param)):
        kind, where = part.get("type"), f"{param}[{i}]"
        if kind in ("input_text", "output_text", "text"):
            if not isinstance(part.get("text"), str):
                raise InvalidRequest("a text part needs 'text'", param=where)
            out.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            out.append({"type": "text", "text": str(part.get("refusal") or "")})
        elif kind == "input_image" and not texts_only:
            out.append(_image_part(part, where))
        elif kind == "input_file" and not texts_only:
            out.append(_file_part(part, where))
        else:
            raise InvalidRequest(f"content part {kind!r} cannot be sent here", param=where)
    return out


def _simple(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only content becomes one string: what every OpenAI-compatible server reads."""
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)
    return parts


def _message(item: Mapping[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise InvalidRequest(f"unsupported message role {role!r}", param=f"{param}.role")
    texts_only = role != "user"
    parts = _parts(item.get("content"), f"{param}.content", texts_only=texts_only)
    return {"role": role, "content": _simple(parts)}


def _call(item: Mapping[str, Any], param: str) -> dict[str, Any]:
    """A call item (function, custom tool or client tool search) -> a chat tool call."""
    kind = item.get("type")
    call_id = item.get("call_id")
    named = kind == "tool_search_call" or (isinstance(item.get("name"), str) and item["name"])
    if not isinstance(call_id, str) or not call_id or not named:
        needs = "'call_id'" if kind == "tool_search_call" else "'call_id' and 'name'"
        raise InvalidRequest(f"a {kind} item needs {needs}", param=param)
    name, arguments = chat_call(item)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _function_output(
    item: Mapping[str, Any], param: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the tool message, the images and files of the output, which a tool message cannot hold)."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"a {item.get('type')} item needs 'call_id'", param=param)
    if item.get("type") == "tool_search_output":
        text = search_result_text(loaded_tools([item], param))
        return {"role": "tool", "tool_call_id": call_id, "content": text}, []
    output = item.get("output")
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": call_id, "content": output}, []
    parts = _parts(output, f"{param}.output", texts_only=False)
    texts = [part for part in parts if part["type"] == "text"]
    extras = [part for part in parts if part["type"] != "text"]
    message = {"role": "tool", "tool_call_id": call_id, "content": _simple(texts)}
    return message, extras


def _add_call(messages: list[dict[str, Any]], call: dict[str, Any]) -> None:
    """Consecutive function calls (after the assistant's text, if any) share one message."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        if "tool_calls" in last:
            last["tool_calls"].append(call)
            return
        if isinstance(last.get("content"), str):
            last["tool_calls"] = [call]
            return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def items_to_chat_messages(items: Sequence[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    """Responses input items -> chat `messages` (no system message for `instructions`).

    Images and files in function call outputs move to a user message right after the run of tool
    messages (chat tool messages carry text only, and nothing may come between a call's results).
    """
    messages: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    for i, item in enumerate(_items(list(items), param)):
        kind, where = item.get("type", "message"), f"{param}[{i}]"
        if not isinstance(kind, str):
            raise InvalidRequest("an item's 'type' must be a string", param=f"{where}.type")
        if extras and kind not in _OUTPUT_TYPES:
            messages.append({"role": "user", "content": extras})
            extras = []
        if kind == "message":
            messages.append(_message(item, where))
        elif kind in CALL_TYPES:
            _add_call(messages, _call(item, where))
        elif kind in _OUTPUT_TYPES or kind == "tool_search_output":
            message, more = _function_output(item, where)
            messages.append(message)
            extras.extend(more)
        elif kind not in _DROPPED_ITEMS:
            raise InvalidRequest(f"input item type {kind!r} cannot be sent here", param=where)
    if extras:
        messages.append({"role": "user", "content": extras})
    return messages


def json_schema_fields(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema output format's fields, the same in both APIs (Responses `text.format` holds
    them next to its type, chat `response_format` under `json_schema`)."""
    fields: dict[str, Any] = {"name": schema.get("name") or "output"}
    fields["schema"] = schema.get("schema") or {}
    copy_options(schema, fields, ("description", "strict"))
    return fields


def _response_format(text: Mapping[str, Any]) -> dict[str, Any] | None:
    fmt = as_dict(text.get("format"))
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": json_schema_fields(fmt)}
    raise InvalidRequest(f"text.format type {kind!r} is not supported", param="text.format")


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    if body.get("background"):
        raise InvalidRequest("background responses are not supported", param="background")
    for name in ("conversation", "prompt"):
        if body.get(name) is not None:
            raise InvalidRequest(f"'{name}' is not supported by this gateway", param=name)


def input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if value is None:
        return []
    return _items(value, "input")


def responses_request_to_chat(
    body: dict[str, Any], *, previous: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """`/v1/responses` body (+ the stored items of `previous_response_id`) -> chat body."""
    _reject_unsupported(body)
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages.extend(items_to_chat_messages(instructions, "instructions"))
    messages.extend(items_to_chat_messages(previous, "previous_response_id"))
    inputs = input_items(body)
    messages.extend(items_to_chat_messages(inputs, "input"))
    if not messages:
        raise InvalidRequest("'input' is required", param="input")
    out: dict[str, Any] = {"messages": messages}
    _options(body, out)
    loaded = [*loaded_tools(previous, "previous_response_id"), *loaded_tools(inputs, "input")]
    _tool_options(body, out, loaded)
    return out


def _tool_options(
    body: Mapping[str, Any], out: dict[str, Any], loaded: list[tuple[dict[str, Any], str]]
) -> None:
    """The chat tools (the request's, then those loaded by tool searches), and the tool choice
    and parallelism, which mean nothing without tools (every tool may have been dropped)."""
    sent = request_tools(body)
    tools, refs = chat_tools([*sent, *loaded])
    choice = body.get("tool_choice")
    if not tools:
        if sent and choice not in (None, "auto", "none"):
            chat_tool_choice(choice, refs)  # names the dropped tool it forces, if it does
            raise InvalidRequest(
                "tool_choice asks for a tool, and no tool sent can run on this model",
                param="tool_choice",
            )
        return
    out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = chat_tool_choice(choice, refs)
    if body.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = bool(body["parallel_tool_calls"])


def _options(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Everything but the messages and tools: sampling, limits, output format, reasoning, stream."""
    copy_options(body, out, COPIED_OPTIONS)
    if body.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = body["max_output_tokens"]
    text = as_dict(body.get("text"))
    response_format = _response_format(text)
    if response_format is not None:
        out["response_format"] = response_format
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]
    effort = as_dict(body.get("reasoning")).get("effort")
    if isinstance(effort, str):
        out["reasoning_effort"] = effort
    if isinstance(body.get("top_logprobs"), int) and body["top_logprobs"] > 0:
        out["logprobs"] = True
        out["top_logprobs"] = body["top_logprobs"]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
