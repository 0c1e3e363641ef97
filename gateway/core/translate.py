"""Wire-format translation between OpenAI and Anthropic: the module the rest of the gateway calls.

A request in one format may be routed to an upstream that speaks the other; the pipeline translates
the request on the way out and the response (whole, or stream event by event) on the way back.
Everything here is pure: ids and timestamps are passed in. Inputs that cannot be carried across
raise `gateway.core.errors.InvalidRequest`. The work is split by kind of payload:
`translate_request`, `translate_response` (with usage, stop reasons, errors) and `translate_stream`.
"""

from __future__ import annotations

from gateway.core.translate_request import (
    anthropic_request_to_openai,
    openai_completion_request_to_anthropic,
    openai_request_to_anthropic,
)
from gateway.core.translate_response import (
    anthropic_error_to_openai,
    anthropic_response_to_openai,
    anthropic_response_to_openai_completion,
    anthropic_usage_to_openai,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
    openai_usage_to_anthropic,
)
from gateway.core.translate_stream import (
    DONE,
    AnthropicToOpenAICompletionStream,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
)

__all__ = [
    "DONE",
    "AnthropicToOpenAICompletionStream",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "anthropic_error_to_openai",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "anthropic_response_to_openai_completion",
    "anthropic_usage_to_openai",
    "openai_completion_request_to_anthropic",
    "openai_error_to_anthropic",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "openai_usage_to_anthropic",
]
