"""A deterministic fake LLM that speaks the OpenAI and Anthropic wire formats.

`mockllm.content` builds responses (pure functions; the gateway's `mock` provider calls them
in-process). `mockllm.server` serves them over HTTP (`sfctl mock-upstream`). This package is a leaf:
it imports nothing from gateway, sfctl or loadtest.

Tools: a reply calls a tool only when a real model would be expected to (`mockllm.tool_use` has the
rules): `tool_choice` forces it, or the last user turn asks for a tool by name ("use get_weather",
"call the get_weather tool"). A tool result is always answered with text, and sub-agent tools
(`Task`, `Agent`, ...) are never called unless `tool_choice` names them, so agent loops end.
"""

from mockllm.content import (
    DEFAULT_MODELS,
    MockRequestError,
    anthropic_count_tokens,
    anthropic_message,
    anthropic_message_stream,
    openai_chat,
    openai_chat_stream,
    openai_completion,
    openai_completion_stream,
    openai_embeddings,
    openai_models,
)

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
