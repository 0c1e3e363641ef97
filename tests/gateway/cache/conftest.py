"""Session fixtures for the semantic cache's tests: the embedding models, built once.

CI builds them once (.ci/run: `smartflow-gateway build-models`) and exports SMARTFLOW_MODEL_DIR;
without it, the session builds them into a pytest tmp dir (~25 s: the ONNX conversion, then the
static distillation). Either way the build is the real `build_models` the command runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.embed_static import StaticEmbedder
from gateway.cache.model_build import build_models


@pytest.fixture(scope="session")
def embedding_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model dir holding onnx/ and static/ (SMARTFLOW_MODEL_DIR when set: checked, and built
    there when it is empty)."""
    configured = os.environ.get("SMARTFLOW_MODEL_DIR")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("models")
    build_models(directory, static=True)
    return directory


@pytest.fixture(scope="session")
def onnx_embedder(embedding_models: Path) -> Iterator[OnnxEmbedder]:
    """all-MiniLM-L6-v2 in ONNX (name "onnx:all-MiniLM-L6-v2", dim 384)."""
    embedder = OnnxEmbedder.load(embedding_models / "onnx")
    yield embedder
    asyncio.run(embedder.aclose())


@pytest.fixture(scope="session")
def static_embedder(embedding_models: Path) -> Iterator[StaticEmbedder]:
    """The static embedder distilled from it (name "static:all-MiniLM-L6-v2-256", dim 256)."""
    embedder = StaticEmbedder.load(embedding_models / "static")
    yield embedder
    asyncio.run(embedder.aclose())
