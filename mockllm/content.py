"""The deterministic fake LLM's responses, as plain dicts and SSE frames. Pure: no I/O, no clock.

The gateway's in-process `mock` provider and `mockllm.server` both call these. Reply text depends
on the prompt only (chat `messages`; Anthropic `system` + `messages`; the completions `prompt`),
never on the model name, so one prompt gives the same words from every model. Object ids also come
from the prompt, mixed with `created` where the caller passes it. When a reply calls a tool is
`mockllm.tool_use`'s rule (a forcing `tool_choice`, or a user turn that asks for a tool by name).

Embeddings live here too: a unit vector per input text, from SHAKE-256 of the text, so equal texts
embed equally and different texts (similar ones included) point in unrelated directions. The
default size is the model's (3072 for text-embedding-3-large, else 1536), `dimensions` overrides.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import sys
from array import array
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import orjson

from mockllm import anthropic_content, openai_content
from mockllm.text import DEFAULT_MODELS, MockRequestError, count_tokens, positive_int, require_model

__all__ = [
    "DEFAULT_MODELS",
    "MockRequestError",
    "anthropic_count_tokens",
    "anthropic_message",
    "anthropic_message_stream",
    "openai_chat",
    "openai_chat_stream",
    "openai_completion",
    "openai_completion_stream",
    "openai_embeddings",
    "openai_models",
]

_MAX_DIMENSIONS = 8192
_FIXED_DIMENSION_MODELS = frozenset({"text-embedding-ada-002"})


def openai_chat(body: dict[str, Any], *, created: int) -> dict[str, Any]:
    """A `chat.completion` object (n choices, text, tool call or JSON mode; see tool_use)."""
    return openai_content.chat(body, created=created)


def openai_chat_stream(body: dict[str, Any], *, created: int) -> list[bytes]:
    """Complete `chat.completion.chunk` SSE frames, ending with `data: [DONE]`."""
    return openai_content.chat_stream_frames(body, created=created).frames


def openai_completion(body: dict[str, Any], *, created: int) -> dict[str, Any]:
    """A legacy `text_completion` object; one choice per prompt and n."""
    return openai_content.completion(body, created=created)


def openai_completion_stream(body: dict[str, Any], *, created: int) -> list[bytes]:
    return openai_content.completion_stream_frames(body, created=created).frames


def openai_models(*, created: int, models: Sequence[str] = DEFAULT_MODELS) -> dict[str, Any]:
    return openai_content.model_list(created=created, models=models)


def anthropic_message(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API `message` object (text or one tool_use block; see tool_use)."""
    return anthropic_content.message(body)


def anthropic_message_stream(body: dict[str, Any]) -> list[bytes]:
    """The Messages API event stream: message_start, content_block_start, ping, deltas,
    content_block_stop, message_delta, message_stop."""
    return anthropic_content.message_stream_frames(body).frames


def anthropic_count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/messages/count_tokens: {"input_tokens": n}."""
    return anthropic_content.count_input_tokens(body)


# --- embeddings ------------------------------------------------------------------------------


def openai_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """An embeddings `list`. Vectors are float lists, or base64 little-endian float32 as the
    openai SDK asks for by default; both decode to the same float32 values."""
    model = require_model(body)
    inputs = _embedding_inputs(body.get("input"))
    dimensions = positive_int(body, "dimensions", upper=_MAX_DIMENSIONS)
    if dimensions is not None and model in _FIXED_DIMENSION_MODELS:
        raise MockRequestError(
            "This model does not support specifying dimensions.", param="dimensions"
        )
    dims = dimensions or (3072 if model == "text-embedding-3-large" else 1536)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise MockRequestError(
            "encoding_format must be 'float' or 'base64'", param="encoding_format"
        )
    data: list[dict[str, Any]] = []
    prompt_tokens = 0
    for index, (key, tokens) in enumerate(inputs):
        prompt_tokens += tokens
        vector = _unit_vector_le(key, dims)
        embedding: Any
        if encoding == "base64":
            embedding = base64.b64encode(vector).decode("ascii")
        else:
            embedding = _floats(vector)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def _embedding_inputs(value: Any) -> list[tuple[bytes, int]]:
    """(hash key, token count) per input: str, list[str], list[int], list[list[int]]."""
    if isinstance(value, str) or (
        isinstance(value, list)
        and value
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    ):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > 2048:
        raise MockRequestError(
            "input must be a non-empty string or array (at most 2048 items)", param="input"
        )
    out: list[tuple[bytes, int]] = []
    for item in value:
        if isinstance(item, str) and item:
            out.append((item.encode(), count_tokens(item)))
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            out.append((orjson.dumps(item), len(item)))
        else:
            raise MockRequestError(
                "input items must be non-empty strings or token arrays", param="input"
            )
    return out


def _pair_table(dims: int) -> tuple[bytes, ...]:
    """256 float32 pairs (cos a, sin a) * sqrt(2 / dims), little-endian, 8 bytes each.

    A vector made of dims/2 such pairs has norm exactly 1 whatever pairs are picked, so a unit
    vector costs one byte lookup per pair and no per-component arithmetic in Python.
    """
    scale = math.sqrt(2.0 / dims)
    steps = [2.0 * math.pi * k / 256 for k in range(256)]
    floats = array("f", [v * scale for a in steps for v in (math.cos(a), math.sin(a))])
    if sys.byteorder == "big":
        floats.byteswap()
    packed = floats.tobytes()
    return tuple(packed[i : i + 8] for i in range(0, len(packed), 8))


_PAIR_TABLES = MappingProxyType({d: _pair_table(d) for d in (256, 512, 768, 1024, 1536, 3072)})


def _unit_vector_le(key: bytes, dims: int) -> bytes:
    """A deterministic unit vector for key, as little-endian float32 bytes."""
    table = _PAIR_TABLES.get(dims) or _pair_table(dims)
    raw = hashlib.shake_256(key).digest(dims // 2 + 1)
    packed = b"".join([table[b] for b in raw[: dims // 2]])
    if dims % 2:  # the odd component carries the remaining 1/dims of the squared norm
        last = math.sqrt(1.0 / dims) * (1.0 if raw[-1] & 1 else -1.0)
        packed += struct.pack("<f", last)
    return packed


def _floats(packed_le: bytes) -> list[float]:
    values = array("f", packed_le)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()
