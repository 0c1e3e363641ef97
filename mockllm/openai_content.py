"""OpenAI wire shapes: chat completions, legacy completions, models.

Reply text is a function of `messages` (chat) or the prompt (completions) only, not of the model,
so the same prompt gives the same words whichever model is asked. Whether a reply calls a tool
follows `mockllm.tool_use` (a forcing `tool_choice`, or a user turn that asks for a tool by name);
the answer to a tool result is text that quotes it. Stream frames are assembled
from byte templates rather than one orjson.dumps per chunk: the mock provider and the standalone
server both sit on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mockllm import tool_use
from mockllm.text import (
    DEFAULT_MODELS,
    MockRequestError,
    StreamFrames,
    content_tokens,
    count_tokens,
    digest,
    id_hex,
    json_pieces,
    json_tokens,
    positive_int,
    reply,
    require_bool,
    require_model,
    schema_value,
    stop_list,
    sub_digest,
    tool_answer,
)

__all__ = [
    "chat",
    "chat_stream_frames",
    "completion",
    "completion_stream_frames",
    "model_list",
    "usage",
]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FINGERPRINT = "fp_mock"
_DONE = b"data: [DONE]\n\n"
_TAIL_NULL_USAGE = b'],"usage":null}\n\n'
_CHOICE_END = b'},"logprobs":null,"finish_reason":null}'


@dataclass(frozen=True, slots=True)
class _Choice:
    """One generated choice: text tokens, or a tool call whose arguments arrive in pieces."""

    tokens: list[str]
    finish_reason: str
    tool_name: str | None = None
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class _ChatPlan:
    model: str
    seed: bytes
    choices: list[_Choice]
    prompt_tokens: int
    include_usage: bool

    @property
    def completion_tokens(self) -> int:
        return sum(len(c.tokens) for c in self.choices)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# --- chat ------------------------------------------------------------------------------------


def chat(body: dict[str, Any], *, created: int) -> dict[str, Any]:
    plan = _plan_chat(body, stream=False)
    choices = []
    for index, choice in enumerate(plan.choices):
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if choice.tool_name is None:
            message["content"] = "".join(choice.tokens)
        else:
            message["tool_calls"] = [
                {
                    "id": choice.tool_call_id,
                    "type": "function",
                    "function": {"name": choice.tool_name, "arguments": "".join(choice.tokens)},
                }
            ]
        message["annotations"] = []
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
        )
    return {
        "id": f"chatcmpl-{id_hex(plan.seed, created)}",
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "choices": choices,
        "usage": usage(plan.prompt_tokens, plan.completion_tokens),
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }


def chat_stream_frames(body: dict[str, Any], *, created: int) -> StreamFrames:
    plan = _plan_chat(body, stream=True)
    head = (
        b'data: {"id":"chatcmpl-'
        + id_hex(plan.seed, created).encode()
        + b'","object":"chat.completion.chunk","created":'
        + str(created).encode()
        + b',"model":'
        + orjson.dumps(plan.model)
        + b',"service_tier":"default","system_fingerprint":"'
        + _FINGERPRINT.encode()
        + b'","choices":['
    )
    frames: list[bytes] = []
    for index, choice in enumerate(plan.choices):
        if choice.tool_name is None:
            delta = b'{"role":"assistant","content":"","refusal":null}'
        else:
            call = {
                "index": 0,
                "id": choice.tool_call_id,
                "type": "function",
                "function": {"name": choice.tool_name, "arguments": ""},
            }
            delta = (
                b'{"role":"assistant","content":null,"tool_calls":['
                + orjson.dumps(call)
                + b'],"refusal":null}'
            )
        frames.append(_chunk(head, index, delta))
    first_token = len(frames)
    for index, choice in enumerate(plan.choices):
        opening = b'{"index":' + str(index).encode() + b',"delta":{'
        if choice.tool_name is None:
            opening += b'"content":'
            closing = _CHOICE_END
        else:
            opening += b'"tool_calls":[{"index":0,"function":{"arguments":'
            closing = b"}}]" + _CHOICE_END
        frames.extend(
            head + opening + orjson.dumps(tok) + closing + _TAIL_NULL_USAGE for tok in choice.tokens
        )
    token_count = len(frames) - first_token
    for index, choice in enumerate(plan.choices):
        frames.append(
            head
            + b'{"index":'
            + str(index).encode()
            + b',"delta":{},"logprobs":null,"finish_reason":"'
            + choice.finish_reason.encode()
            + b'"}'
            + _TAIL_NULL_USAGE
        )
    if plan.include_usage:
        frames.append(
            head
            + b'],"usage":'
            + orjson.dumps(usage(plan.prompt_tokens, plan.completion_tokens))
            + b"}\n\n"
        )
    frames.append(_DONE)
    return StreamFrames(frames, first_token, token_count)


def _chunk(head: bytes, index: int, delta: bytes) -> bytes:
    opening = b'{"index":' + str(index).encode() + b',"delta":'
    return head + opening + delta + _CHOICE_END[1:] + _TAIL_NULL_USAGE


def _plan_chat(body: dict[str, Any], *, stream: bool) -> _ChatPlan:
    model = require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MockRequestError("messages must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise MockRequestError(
                f"messages[{i}] must be an object with a valid role", param=f"messages[{i}]"
            )
    limit = positive_int(body, "max_completion_tokens") or positive_int(body, "max_tokens")
    n = positive_int(body, "n", upper=128) or 1
    stop = stop_list(body.get("stop"), "stop", allow_str=True)
    include_usage = _include_usage(body, stream)
    tool = _pick_tool(body, messages)
    json_schema = _json_schema(body.get("response_format"))
    seed = digest(messages)
    result = _tool_result(messages)
    choices: list[_Choice] = []
    for i in range(n):
        choice_seed = sub_digest(seed, i)
        if tool is not None:
            choices.append(_tool_choice(choice_seed, tool, limit))
        elif json_schema is not None:
            choices.append(_json_choice(choice_seed, json_schema, limit))
        else:
            text = (
                reply(choice_seed, limit, stop)
                if result is None
                else tool_answer(choice_seed, *result, limit, stop)
            )
            choices.append(_Choice(text.tokens, "length" if text.truncated else "stop"))
    prompt_tokens = _chat_prompt_tokens(messages, body.get("tools"))
    return _ChatPlan(model, seed, choices, prompt_tokens, include_usage)


def _include_usage(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise MockRequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if not isinstance(options, dict):
        raise MockRequestError("stream_options must be an object", param="stream_options")
    return options.get("include_usage") is True


def _chat_prompt_tokens(messages: list[dict[str, Any]], tools: Any) -> int:
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 4 + content_tokens(message.get("content"))
        name = message.get("name")
        if isinstance(name, str):
            total += count_tokens(name)
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    total += count_tokens(str(fn.get("name", "")))
                    total += count_tokens(str(fn.get("arguments", "")))
    return total + json_tokens(tools)


def _pick_tool(body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """(name, parameters schema) of the tool to call, or None when the reply should be text.

    When to call is `mockllm.tool_use`'s rule, shared with the Anthropic wire.
    """
    tools = body.get("tools")
    tool_choice = body.get("tool_choice")
    if tools is None:
        if tool_choice not in (None, "none"):
            raise MockRequestError(
                "tool_choice is only allowed when tools are specified", param="tool_choice"
            )
        return None
    if not isinstance(tools, list) or not tools:
        raise MockRequestError("tools must be a non-empty array", param="tools")
    functions: dict[str, Any] = {}
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise MockRequestError(
                f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ...}}}}",
                param=f"tools[{i}]",
            )
        functions.setdefault(fn["name"], fn.get("parameters") or {"type": "object"})
    mode: tool_use.Mode = "required"
    forced: str | None = None
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if name not in functions:
            raise MockRequestError(
                f"tool_choice names a tool that is not in tools: {name!r}", param="tool_choice"
            )
        forced = str(name)
    elif tool_choice in (None, "auto"):
        mode = "auto"
    elif tool_choice == "none":
        mode = "none"
    elif tool_choice != "required":
        raise MockRequestError(f"invalid tool_choice: {tool_choice!r}", param="tool_choice")
    chosen = tool_use.choose_tool(list(functions), mode, forced, _user_text(messages[-1]))
    return None if chosen is None else (chosen, functions[chosen])


def _user_text(message: dict[str, Any]) -> str | None:
    """The text of a user turn (its text parts joined), or None for any other role."""
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _tool_result(messages: list[dict[str, Any]]) -> tuple[str | None, str] | None:
    """(tool name, result text) when the last message is a tool result, else None."""
    last = messages[-1]
    if last.get("role") not in ("tool", "function"):
        return None
    text = _user_text({**last, "role": "user"}) or ""
    if last.get("role") == "function":
        name = last.get("name")
        return (name if isinstance(name, str) else None), text
    call_id = last.get("tool_call_id")
    for message in reversed(messages[:-1]):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        for call in calls if isinstance(calls, list) else ():
            fn = call.get("function") if isinstance(call, dict) else None
            if call.get("id") == call_id and isinstance(fn, dict):
                name = fn.get("name")
                return (name if isinstance(name, str) else None), text
    return None, text


def _tool_choice(seed: bytes, tool: tuple[str, Any], limit: int | None) -> _Choice:
    name, schema = tool
    args = schema_value(schema, seed)
    if not isinstance(args, dict):
        args = {}
    pieces = [piece for piece, _ in json_pieces(args)]
    finish = "tool_calls"
    if limit is not None and limit < len(pieces):
        pieces, finish = pieces[:limit], "length"
    return _Choice(pieces, finish, name, f"call_{seed[48:60].hex()}")


def _json_schema(response_format: Any) -> Any:
    """The schema a JSON-mode reply must fit ({} for json_object), or None for text."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise MockRequestError(
                "response_format.json_schema must be an object with a name",
                param="response_format",
            )
        return spec.get("schema") or {}
    raise MockRequestError(
        "response_format.type must be 'text', 'json_object' or 'json_schema'",
        param="response_format",
    )


def _json_choice(seed: bytes, schema: Any, limit: int | None) -> _Choice:
    if schema:
        value = schema_value(schema, seed)
        obj = value if isinstance(value, dict) else {"value": value}
    else:
        obj = {"reply": reply(seed, None, words_only=True).text, "tag": seed[:2].hex()}
    pieces = [piece for piece, _ in json_pieces(obj)]
    if limit is not None and limit < len(pieces):
        return _Choice(pieces[:limit], "length")
    return _Choice(pieces, "stop")


# --- legacy completions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompletionPlan:
    model: str
    seed: bytes
    texts: list[tuple[str, list[str], str]]  # (echoed prompt, tokens, finish_reason) per choice
    prompt_tokens: int
    include_usage: bool

    @property
    def completion_tokens(self) -> int:
        return sum(len(tokens) for _, tokens, _ in self.texts)


def completion(body: dict[str, Any], *, created: int) -> dict[str, Any]:
    plan = _plan_completion(body, stream=False)
    return {
        "id": f"cmpl-{id_hex(plan.seed, created)}",
        "object": "text_completion",
        "created": created,
        "model": plan.model,
        "system_fingerprint": _FINGERPRINT,
        "choices": [
            {"text": echo + "".join(tokens), "index": i, "logprobs": None, "finish_reason": fin}
            for i, (echo, tokens, fin) in enumerate(plan.texts)
        ],
        "usage": usage(plan.prompt_tokens, plan.completion_tokens),
    }


def completion_stream_frames(body: dict[str, Any], *, created: int) -> StreamFrames:
    plan = _plan_completion(body, stream=True)
    head = (
        b'data: {"id":"cmpl-'
        + id_hex(plan.seed, created).encode()
        + b'","object":"text_completion","created":'
        + str(created).encode()
        + b',"choices":['
    )
    tail = b'],"model":' + orjson.dumps(plan.model) + b',"system_fingerprint":"fp_mock"'
    end = tail + b',"usage":null}\n\n'
    frames: list[bytes] = []
    for i, (echo, _, _) in enumerate(plan.texts):
        if echo:
            frames.append(head + _text_choice(echo, i, None) + end)
    first_token = len(frames)
    for i, (_, tokens, _) in enumerate(plan.texts):
        frames.extend(head + _text_choice(tok, i, None) + end for tok in tokens)
    token_count = len(frames) - first_token
    for i, (_, _, finish) in enumerate(plan.texts):
        frames.append(head + _text_choice("", i, finish) + end)
    if plan.include_usage:
        frames.append(
            head
            + tail
            + b',"usage":'
            + orjson.dumps(usage(plan.prompt_tokens, plan.completion_tokens))
            + b"}\n\n"
        )
    frames.append(_DONE)
    return StreamFrames(frames, first_token, token_count)


def _text_choice(text: str, index: int, finish: str | None) -> bytes:
    return (
        b'{"text":'
        + orjson.dumps(text)
        + b',"index":'
        + str(index).encode()
        + b',"logprobs":null,"finish_reason":'
        + (b"null" if finish is None else b'"' + finish.encode() + b'"')
        + b"}"
    )


def _plan_completion(body: dict[str, Any], *, stream: bool) -> _CompletionPlan:
    model = require_model(body)
    prompts = _prompts(body.get("prompt"))
    limit = positive_int(body, "max_tokens")
    n = positive_int(body, "n", upper=128) or 1
    stop = stop_list(body.get("stop"), "stop", allow_str=True)
    echo = require_bool(body, "echo")
    include_usage = _include_usage(body, stream)
    seed = digest(prompts)
    texts: list[tuple[str, list[str], str]] = []
    prompt_tokens = 0
    for p, prompt in enumerate(prompts):
        prompt_seed = sub_digest(seed, p + 1) if len(prompts) > 1 else seed
        prompt_tokens += count_tokens(prompt) if isinstance(prompt, str) else len(prompt)
        echoed = prompt if echo and isinstance(prompt, str) else ""
        for i in range(n):
            text = reply(sub_digest(prompt_seed, i), limit, stop)
            texts.append((echoed, text.tokens, "length" if text.truncated else "stop"))
    return _CompletionPlan(model, seed, texts, prompt_tokens, include_usage)


def _prompts(prompt: Any) -> list[str | list[int]]:
    """prompt as a list of prompts: str, list[str], list[int] (one token array), list[list[int]]."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return [prompt]
        if all(isinstance(p, list) and p and all(isinstance(t, int) for t in p) for p in prompt):
            return list(prompt)
    raise MockRequestError(
        "prompt must be a string, an array of strings, or token arrays", param="prompt"
    )


# --- models ----------------------------------------------------------------------------------


def model_list(*, created: int, models: Sequence[str] = DEFAULT_MODELS) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "anthropic" if name.startswith("claude") else "openai",
            }
            for name in models
        ],
    }
