"""A deterministic fake LLM that speaks the OpenAI and Anthropic wire formats.

`mockllm.content` builds responses (pure functions; the gateway's `mock` provider calls them
in-process). `mockllm.server` serves them over HTTP (`sfctl mock-upstream`). This package is a leaf:
it imports nothing from gateway, sfctl or loadtest.
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
