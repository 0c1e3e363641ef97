"""An embedding sidecar over HTTP, for sites that run their embedding model as a service.

Two request shapes:
  tei     Hugging Face Text Embeddings Inference: POST {url}/embed {"inputs": [...]}
          -> [[float, ...], ...]
  openai  any OpenAI-compatible server: POST {url}/v1/embeddings {"model", "input": [...]}
          -> {"data": [{"index": i, "embedding": [...]}, ...]}
The API key, when the sidecar needs one, is read from the environment variable that
SMARTFLOW_CACHE_EMBEDDER_KEY_ENV names, at start, and only ever sent as a bearer token (never
logged, never in an error). Any failure (refused, timeout, non-2xx, a body of the wrong shape)
is EmbedderUnavailable: the request then goes on without the semantic phase.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson

from gateway.cache.embedder import EmbedderUnavailable, Vectors, normalize_rows
from gateway.settings import Settings, SidecarApi

DEFAULT_TIMEOUT_S: Final = 2.0
MAX_CHARS: Final = 20_000  # per text: sidecars truncate to their own window anyway


class HttpEmbedder:
    """A client of one sidecar. The dimension is learnt from the first answer (0 until then)."""

    dim: int
    name: str
    contextual = True  # a sidecar serves contextual models (TEI, OpenAI embeddings)

    def __init__(
        self,
        url: str,
        *,
        api: SidecarApi = "tei",
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._base = url.rstrip("/")
        self._api = api
        self._model = model
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        host = urlsplit(self._base).netloc or self._base
        # the model is part of the name: vectors of two sidecar models are never compared
        self.name = f"http:{api}:{host}" + (f":{model}" if model else "")
        self.dim = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpEmbedder:
        cache = settings.cache
        if not cache.embedder_url:
            raise EmbedderUnavailable(
                "SMARTFLOW_CACHE_EMBEDDER=http needs SMARTFLOW_CACHE_EMBEDDER_URL"
            )
        key: str | None = None
        if cache.embedder_key_env:
            key = os.environ.get(cache.embedder_key_env) or None
            if key is None:
                raise EmbedderUnavailable(
                    f"SMARTFLOW_CACHE_EMBEDDER_KEY_ENV names {cache.embedder_key_env}, "
                    "which is not set"
                )
        if cache.embedder_api == "openai" and not cache.embedder_model:
            raise EmbedderUnavailable(
                "SMARTFLOW_CACHE_EMBEDDER_API=openai needs SMARTFLOW_CACHE_EMBEDDER_MODEL"
            )
        return cls(
            cache.embedder_url, api=cache.embedder_api, model=cache.embedder_model, api_key=key
        )

    def _request(self, texts: Sequence[str]) -> tuple[str, bytes]:
        inputs = [text[:MAX_CHARS] for text in texts]
        if self._api == "tei":
            return f"{self._base}/embed", orjson.dumps({"inputs": inputs, "truncate": True})
        return f"{self._base}/v1/embeddings", orjson.dumps(
            {"model": self._model, "input": inputs, "encoding_format": "float"}
        )

    def _rows(self, body: Any, count: int) -> list[Any]:
        if self._api == "tei":
            rows = body
        else:
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise EmbedderUnavailable(f"{self.name}: the answer has no data list")
            rows = [
                item.get("embedding")
                for item in sorted(data, key=lambda item: int(item.get("index", 0)))
            ]
        if not isinstance(rows, list) or len(rows) != count:
            raise EmbedderUnavailable(f"{self.name}: expected {count} embeddings in the answer")
        return rows

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url, payload = self._request(texts)
        try:
            async with self._session.post(url, data=payload, headers=self._headers) as response:
                raw = await response.read()
                if response.status >= 300:
                    raise EmbedderUnavailable(f"{self.name}: HTTP {response.status}")
            body = orjson.loads(raw)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise EmbedderUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        try:
            vectors = np.asarray(self._rows(body, len(texts)), dtype=np.float32)
        except (TypeError, ValueError, AttributeError) as exc:
            raise EmbedderUnavailable(f"{self.name}: the answer is not a list of vectors") from exc
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderUnavailable(f"{self.name}: the answer is not a list of vectors")
        if self.dim and vectors.shape[1] != self.dim:
            raise EmbedderUnavailable(
                f"{self.name}: dimension changed from {self.dim} to {vectors.shape[1]}"
            )
        self.dim = int(vectors.shape[1])
        return normalize_rows(vectors)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
