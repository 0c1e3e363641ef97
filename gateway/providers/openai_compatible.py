"""Self-hosted OpenAI-compatible servers: vLLM, TGI, Ollama, llama.cpp server.

Same wire and URLs as OpenAI; the key is optional, and some of these servers reject
`stream_options`, so it is dropped for those that say they do not support it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from gateway.providers.base import UpstreamRequest
from gateway.providers.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    kind = "openai-compatible"
    # vLLM, TGI, Ollama and the like serve chat; a Responses request is translated to it.
    native_responses = False
    default_base_url: ClassVar[str | None] = None  # required: validated in ProviderConfig

    def prepare_body(self, request: UpstreamRequest) -> Mapping[str, object]:
        body = request.body
        if self.config.supports_stream_options or "stream_options" not in body:
            return body
        return {key: value for key, value in body.items() if key != "stream_options"}
