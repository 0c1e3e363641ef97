"""The embedder the semantic cache uses, chosen from settings, behind one small protocol.

Three kinds: `onnx` (all-MiniLM-L6-v2 run by onnxruntime in process), `static` (a table of token
vectors distilled from it: much faster, less exact) and `http` (a sidecar: Text Embeddings
Inference or any OpenAI-compatible /v1/embeddings). Local models are built ahead of time by
`smartflow-gateway build-models`; the gateway never builds one on a request path, so a missing
model is an EmbedderUnavailable that says which command to run.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from gateway.settings import Settings

log = logging.getLogger(__name__)

BUILD_HINT: Final = (
    "run `smartflow-gateway build-models` (or set SMARTFLOW_MODEL_DIR to a built dir)"
)

Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(Exception):
    """No embeddings can be had: the model is not built, or the sidecar is down or refused.
    The message says what to do; the cache then serves exact hits only."""


class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out. Vectors of different `name`s are
    never compared: the name is stored with every cached vector."""

    name: str
    dim: int
    # Whether its vectors of two conversations' earlier turns may be compared. A static
    # embedder (a mean of word vectors) scores two contexts that share most words as near-equal
    # even when the one word that differs is the point ("finance drive" / "production
    # database"): with it, contexts must be equal (or small talk) for a semantic hit.
    contextual: bool

    async def embed(self, texts: Sequence[str]) -> Vectors: ...

    async def aclose(self) -> None: ...


def model_dir(settings: Settings) -> Path:
    """Where build-models writes and the local embedders read: SMARTFLOW_MODEL_DIR, else
    <data dir>/models."""
    if settings.cache.model_dir is not None:
        return settings.cache.model_dir
    return settings.data_dir / "models"


def normalize_rows(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero), as float32, C-contiguous."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(out / norms, dtype=np.float32)


SEMANTIC_EXTRA_HINT = "pip install 'smartflow[semantic]'"


def _missing_runtime(*modules: str) -> str:
    """The embedders' native libraries that are not installed ("" when all are)."""
    return ", ".join(dict.fromkeys(m for m in modules if importlib.util.find_spec(m) is None))


async def open_embedder(settings: Settings) -> Embedder | None:
    """The embedder the settings ask for. None means exact caching only: the kind is `none`, or
    no kind was set and no ONNX model is built (one log line says so). A kind that was asked
    for but cannot be had raises EmbedderUnavailable."""
    kind = settings.cache.embedder
    if kind == "none":
        return None
    if kind == "http":
        from gateway.cache.embed_http import HttpEmbedder

        return HttpEmbedder.from_settings(settings)
    directory = model_dir(settings)
    missing = _missing_runtime("tokenizers" if kind == "static" else "onnxruntime", "tokenizers")
    if missing:
        if kind is None:  # nothing asked for: the exact phases serve alone
            log.info("semantic cache off: %s not installed (%s)", missing, SEMANTIC_EXTRA_HINT)
            return None
        raise EmbedderUnavailable(f"the {kind} embedder needs {missing}: {SEMANTIC_EXTRA_HINT}")
    if kind == "static":
        from gateway.cache.embed_static import StaticEmbedder

        return StaticEmbedder.load(directory / "static")
    from gateway.cache.embed_onnx import OnnxEmbedder, is_built

    if kind is None and not is_built(directory / "onnx"):
        log.info(
            "semantic cache off: no embedder set and no ONNX model in %s; %s",
            directory / "onnx",
            BUILD_HINT,
        )
        return None
    return OnnxEmbedder.load(directory / "onnx")
