"""Request bodies, OpenAI chat/completions <-> Anthropic messages.

What cannot be carried raises `InvalidRequest` (status 400) naming the parameter, rather than
being dropped silently when dropping would change the answer (n > 1, logprobs, audio, server
tools). Knobs that only tune sampling and have no counterpart (penalties, seed, logit_bias, top_k,
thinking budgets, `strict` on tools, which is model-gated on Anthropic) are dropped.

System and developer messages, wherever they are in the conversation, become Anthropic's top-level
`system` in order. Consecutive messages of one role are merged: Anthropic needs alternation.

JSON mode: Anthropic has no `response_format`. Its `output_config.format` accepts a JSON schema
only on recent models and a subset of JSON Schema, so a request naming an older model would fail;
an appended system instruction works on every model. `json_object` and `json_schema` therefore
become a system instruction (with the schema in it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from gateway.core.errors import InvalidRequest
from gateway.core.translate_response import json_text, parse_tool_arguments

_NOT_ID_CHAR: Final = re.compile(r"[^A-Za-z0-9_-]")  # Anthropic tool ids: ^[a-zA-Z0-9_-]+$
_IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_JSON_INSTRUCTION: Final = "Respond with a single valid JSON object only: no prose, no code fences."
_EMPTY_SCHEMA: Final[Mapping[str, Any]] = {"type": "object", "properties": {}}
_OPENAI_TOOL_CHOICE: Final[Mapping[str, str]] = {"auto": "auto", "none": "none", "required": "any"}
_ANTHROPIC_TOOL_CHOICE: Final[Mapping[str, str]] = {
    "auto": "auto",
    "none": "none",
    "any": "required",
}


def _list(value: Any, param: str) -> list[dict[str, Any]]:
    """An array of objects from the client, or a 400 naming the parameter."""
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be an array", param=param)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{param}[{i}]' must be an object", param=f"{param}[{i}]")
    return value


def _obj(value: Any) -> dict[str, Any]:
    """A nested object of the client's body, or an empty one when it is anything else."""
    return value if isinstance(value, dict) else {}


def _data_url(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL."""
    header, comma, data = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        raise InvalidRequest("only base64 data: URLs can be sent to this model", param=param)
    media_type = header[: -len(";base64")].split(";", 1)[0].strip().lower()
    return ("image/jpeg" if media_type == "image/jpg" else media_type), data


# ---------------------------------------------------------------- OpenAI -> Anthropic


def _openai_texts(content: Any, param: str) -> list[dict[str, Any]]:
    """Text-only content (system, tool, assistant): a string or an array of text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for i, part in enumerate(_list(content, param)):
        if part.get("type") not in ("text", "refusal"):
            raise InvalidRequest(f"unsupported content part {part.get('type')!r}", param=param)
        text = part.get("text") if part.get("type") == "text" else part.get("refusal")
        if not isinstance(text, str):
            raise InvalidRequest("a text part needs 'text'", param=f"{param}[{i}]")
        if text:
            blocks.append({"type": "text", "text": text})
    return blocks


def _openai_image(part: Mapping[str, Any], param: str) -> dict[str, Any]:
    image_url = part.get("image_url")  # the object form, or the bare URL some clients send
    url = image_url if isinstance(image_url, str) else _obj(image_url).get("url")
    if not isinstance(url, str):
        raise InvalidRequest("image_url needs 'url'", param=param)
    if url.startswith("data:"):
        media_type, data = _data_url(url, param)
        if media_type not in _IMAGE_TYPES:
            raise InvalidRequest(f"image type {media_type!r} is not supported", param=param)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("image_url must be an http(s) or data: URL", param=param)


def _openai_file(part: Mapping[str, Any], param: str) -> dict[str, Any]:
    file = _obj(part.get("file"))
    data = file.get("file_data")
    if not isinstance(data, str):
        raise InvalidRequest("only inline file_data (not file_id) can be sent here", param=param)
    if data.startswith("data:"):
        media_type, b64 = _data_url(data, param)
    else:
        media_type, b64 = "application/pdf", data
    if media_type != "application/pdf":
        raise InvalidRequest(f"file type {media_type!r} is not supported", param=param)
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type, "data": b64},
    }
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _openai_user_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _openai_texts(content, param)
    blocks = []
    for i, part in enumerate(_list(content, param)):
        kind, where = part.get("type"), f"{param}[{i}]"
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidRequest("a text part needs 'text'", param=where)
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_openai_image(part, where))
        elif kind == "file":
            blocks.append(_openai_file(part, where))
        else:
            raise InvalidRequest(f"content part {kind!r} cannot be sent to this model", param=where)
    return blocks


def _tool_id(value: Any, param: str) -> str:
    """A tool call id Anthropic accepts (letters, digits, `_` and `-`).

    Some OpenAI-compatible servers use ids such as `functions.get_weather:0`; the same rewrite
    applies to the call and to its result, so they still pair up.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequest("a tool call id is required", param=param)
    return _NOT_ID_CHAR.sub("_", value)


def _openai_assistant_blocks(message: Mapping[str, Any], param: str) -> list[dict[str, Any]]:
    if message.get("function_call") is not None:
        raise InvalidRequest("legacy function_call is not supported: use tool_calls", param=param)
    blocks = _openai_texts(message.get("content"), f"{param}.content")
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        blocks.append({"type": "text", "text": message["refusal"]})
    for i, call in enumerate(_list(message.get("tool_calls") or [], f"{param}.tool_calls")):
        where = f"{param}.tool_calls[{i}]"
        function = call.get("function")
        if call.get("type", "function") != "function" or not isinstance(function, dict):
            raise InvalidRequest("only function tool calls can be sent to this model", param=where)
        arguments = parse_tool_arguments(function.get("arguments"))
        if arguments is None:
            raise InvalidRequest("tool call arguments must be a JSON object", param=where)
        call_id, name = _tool_id(call.get("id"), where), function.get("name")
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return blocks


def _openai_tool_result(message: Mapping[str, Any], param: str) -> dict[str, Any]:
    call_id = _tool_id(message.get("tool_call_id"), param)
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        block["content"] = content
    else:
        block["content"] = _openai_texts(content, f"{param}.content")
    return block


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic needs alternating roles: a message of the previous one's role is merged into it."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _finish_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        blocks = message["content"]
        if message["role"] == "user":  # tool results must open the user turn that answers them
            blocks.sort(key=lambda block: block["type"] != "tool_result")
        if len(blocks) == 1 and blocks[0].keys() == {"type", "text"}:
            message["content"] = blocks[0]["text"]
    return messages


def _openai_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(_list(tools, "tools")):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise InvalidRequest("only function tools can be sent here", param=f"tools[{i}]")
        converted: dict[str, Any] = {
            "name": function.get("name"),
            "input_schema": function.get("parameters") or dict(_EMPTY_SCHEMA),
        }
        if function.get("description"):
            converted["description"] = function["description"]
        out.append(converted)
    return out


def _openai_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, str) and choice in _OPENAI_TOOL_CHOICE:
        out: dict[str, Any] = {"type": _OPENAI_TOOL_CHOICE[choice]}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": _obj(choice.get("function")).get("name")}
    elif choice is None:
        out = {"type": "auto"} if parallel is False else {}
    else:
        raise InvalidRequest("unsupported tool_choice", param="tool_choice")
    if parallel is False and out.get("type") != "none":
        out["disable_parallel_tool_use"] = True
    return out or None


def _format_instruction(response_format: Any) -> str | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return _JSON_INSTRUCTION
    if kind == "json_schema":
        schema = _obj(response_format.get("json_schema")).get("schema") or {}
        return f"{_JSON_INSTRUCTION} It must conform to this JSON Schema:\n" + json_text(schema)
    return None


def _sampling_to_anthropic(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Sampling and delivery options shared by chat and legacy completions."""
    if body.get("n") not in (None, 1):
        raise InvalidRequest("n > 1 cannot be sent to this model", param="n")
    temperature = body.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float):
            raise InvalidRequest("temperature must be a number", param="temperature")
        out["temperature"] = min(max(temperature, 0), 1)  # OpenAI's range is 0-2, Anthropic's 0-1
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = stop
    if body.get("stream") is not None:
        out["stream"] = bool(body["stream"])
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}


def _reject_unsupported_openai(body: Mapping[str, Any]) -> None:
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise InvalidRequest(f"legacy '{legacy}' is not supported: use tools", param=legacy)
    if body.get("logprobs") or body.get("top_logprobs"):
        raise InvalidRequest("logprobs are not available from this model", param="logprobs")
    if "audio" in (body.get("modalities") or ()):
        raise InvalidRequest("audio output is not available from this model", param="modalities")


def _openai_messages(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, alternating Anthropic messages) from OpenAI `messages`."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(_list(body.get("messages"), "messages")):
        role, param = message.get("role"), f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_openai_texts(message.get("content"), f"{param}.content"))
        elif role == "user":
            blocks = _openai_user_blocks(message.get("content"), f"{param}.content")
            _append(messages, "user", blocks)
        elif role == "assistant":
            _append(messages, "assistant", _openai_assistant_blocks(message, param))
        elif role == "tool":
            _append(messages, "user", [_openai_tool_result(message, param)])
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param=f"{param}.role")
    return system, _finish_messages(messages)


def openai_request_to_anthropic(
    body: dict[str, Any], *, default_max_tokens: int = 4096
) -> dict[str, Any]:
    """`/v1/chat/completions` body -> `/v1/messages` body."""
    _reject_unsupported_openai(body)
    system, messages = _openai_messages(body)
    instruction = _format_instruction(body.get("response_format"))
    if instruction:
        system.append({"type": "text", "text": instruction})
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": max_tokens,
        "messages": messages,
    }
    if system:
        out["system"] = system[0]["text"] if len(system) == 1 else system
    _sampling_to_anthropic(body, out)
    if body.get("tools"):
        out["tools"] = _openai_tools(body["tools"])
        choice = _openai_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            out["tool_choice"] = choice
    return out


def openai_completion_request_to_anthropic(
    body: dict[str, Any], *, default_max_tokens: int = 4096
) -> dict[str, Any]:
    """`/v1/completions` body -> `/v1/messages` body: the prompt becomes one user message."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("prompt must be one non-empty string for this model", param="prompt")
    for name in ("echo", "suffix", "logprobs"):
        if body.get(name):
            raise InvalidRequest(f"'{name}' is not available from this model", param=name)
    if body.get("best_of") not in (None, 1):
        raise InvalidRequest("best_of > 1 cannot be sent to this model", param="best_of")
    out: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": body.get("max_tokens") or default_max_tokens,
        "messages": [{"role": "user", "content": prompt}],
    }
    _sampling_to_anthropic(body, out)
    return out


# ---------------------------------------------------------------- Anthropic -> OpenAI


def _text_content(texts: list[str]) -> str | list[dict[str, Any]]:
    """One text stays a string (what every OpenAI-compatible server reads); several, text parts."""
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": text} for text in texts]


def _anthropic_image(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    source = _obj(block.get("source"))
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise InvalidRequest("only base64 and url image sources can be sent here", param=param)
    return {"type": "image_url", "image_url": {"url": url}}


def _anthropic_document(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    source = _obj(block.get("source"))
    if source.get("type") == "text":
        return {"type": "text", "text": source.get("data") or ""}
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        file = {"file_data": f"data:application/pdf;base64,{source.get('data')}"}
        file["filename"] = block.get("title") or "document.pdf"
        return {"type": "file", "file": file}
    raise InvalidRequest("only text and base64 PDF documents can be sent here", param=param)


def _anthropic_user(content: Any, param: str) -> list[dict[str, Any]]:
    """One Anthropic user turn -> tool messages (its tool results) then one user message.

    OpenAI tool messages carry text only, so images and documents inside a tool result move to the
    user message that follows them, where the model still sees them right after the result.
    """
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_extras: list[dict[str, Any]] = []  # images and documents from tool results
    for i, block in enumerate(_list(content, param)):
        kind, where = block.get("type"), f"{param}[{i}]"
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind == "image":
            parts.append(_anthropic_image(block, where))
        elif kind == "document":
            parts.append(_anthropic_document(block, where))
        elif kind == "tool_result":
            result = block.get("content")
            texts = [result] if isinstance(result, str) else []
            items = _list(result, f"{where}.content") if isinstance(result, list) else []
            for j, item in enumerate(items):
                if item.get("type") == "text":
                    texts.append(item.get("text") or "")
                elif item.get("type") == "image":
                    tool_extras.append(_anthropic_image(item, f"{where}.content[{j}]"))
                else:
                    tool_extras.append(_anthropic_document(item, f"{where}.content[{j}]"))
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": _text_content(texts) if texts else "",
                }
            )
        else:
            raise InvalidRequest(f"content block {kind!r} cannot be sent here", param=where)
    parts = tool_extras + parts
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        tool_messages.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return tool_messages


def _anthropic_assistant(content: Any, param: str) -> dict[str, Any] | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(_list(content, param)):
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = json_text(block.get("input") or {})
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):  # reasoning has no OpenAI carrier
            where = f"{param}[{i}]"
            raise InvalidRequest(f"content block {kind!r} cannot be sent here", param=where)
    if not texts and not calls:
        return None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": _text_content(texts) if texts else None,
    }
    if calls:
        message["tool_calls"] = calls
    return message


def _anthropic_system(system: Any) -> str | list[dict[str, Any]]:
    if isinstance(system, str):
        return system
    return _text_content([block.get("text") or "" for block in _list(system, "system")])


def _anthropic_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(_list(tools, "tools")):
        if tool.get("type") not in (None, "custom"):
            kind, where = tool.get("type"), f"tools[{i}]"
            raise InvalidRequest(f"server tool {kind!r} cannot run on this model", param=where)
        function: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or dict(_EMPTY_SCHEMA)
        out.append({"type": "function", "function": function})
    return out


def _anthropic_tool_choice(choice: Mapping[str, Any], out: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif isinstance(kind, str) and kind in _ANTHROPIC_TOOL_CHOICE:
        out["tool_choice"] = _ANTHROPIC_TOOL_CHOICE[kind]
    else:
        raise InvalidRequest("unsupported tool_choice", param="tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def _iter_messages(body: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for i, message in enumerate(_list(body.get("messages"), "messages")):
        role, param = message.get("role"), f"messages[{i}].content"
        if role == "user":
            yield from _anthropic_user(message.get("content"), param)
        elif role == "assistant":
            converted = _anthropic_assistant(message.get("content"), param)
            if converted is not None:
                yield converted
        elif role == "system":  # instructions between the turns (Claude Code 2.1 sends some)
            yield {"role": "system", "content": _anthropic_system(message.get("content"))}
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param=f"messages[{i}].role")


def anthropic_request_to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """`/v1/messages` body -> `/v1/chat/completions` body.

    `max_tokens` becomes `max_completion_tokens`, the current OpenAI name (reasoning models refuse
    `max_tokens`). A streamed request asks for usage in the last chunk, so the translated stream can
    report `output_tokens`.
    """
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _anthropic_system(body["system"])})
    messages.extend(_iter_messages(body))
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    user = _obj(body.get("metadata")).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    output_format = _obj(body.get("output_config")).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        schema = output_format.get("schema") or {}
        json_schema = {"name": "output", "schema": schema}
        out["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    if body.get("tools"):
        out["tools"] = _anthropic_tools(body["tools"])
        if isinstance(body.get("tool_choice"), dict):
            _anthropic_tool_choice(body["tool_choice"], out)
    return out
