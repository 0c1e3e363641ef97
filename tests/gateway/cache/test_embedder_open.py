"""open_embedder: what each SMARTFLOW_CACHE_EMBEDDER value gives, and the default."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.cache.embed_http import HttpEmbedder
from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.embed_static import StaticEmbedder
from gateway.cache.embedder import EmbedderUnavailable, model_dir, open_embedder
from gateway.settings import Settings, load_settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"SMARTFLOW_DATA_DIR": str(tmp_path / "data"), **env})


def test_model_dir_defaults_under_the_data_dir(tmp_path: Path) -> None:
    assert model_dir(_settings(tmp_path)) == tmp_path / "data" / "models"
    chosen = _settings(tmp_path, SMARTFLOW_MODEL_DIR=str(tmp_path / "elsewhere"))
    assert model_dir(chosen) == tmp_path / "elsewhere"


async def test_default_is_onnx_when_built(embedding_models: Path, tmp_path: Path) -> None:
    embedder = await open_embedder(_settings(tmp_path, SMARTFLOW_MODEL_DIR=str(embedding_models)))
    assert isinstance(embedder, OnnxEmbedder)
    await embedder.aclose()


async def test_default_is_none_with_one_log_line_when_not_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.cache.embedder"):
        assert await open_embedder(_settings(tmp_path)) is None
    (record,) = caplog.records
    assert "build-models" in record.getMessage()


async def test_none_means_none_even_when_built(embedding_models: Path, tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, SMARTFLOW_MODEL_DIR=str(embedding_models), SMARTFLOW_CACHE_EMBEDDER="none"
    )
    assert await open_embedder(settings) is None


@pytest.mark.parametrize("kind", ["onnx", "static"])
async def test_asked_for_but_not_built_is_unavailable(tmp_path: Path, kind: str) -> None:
    with pytest.raises(EmbedderUnavailable, match="smartflow-gateway build-models"):
        await open_embedder(_settings(tmp_path, SMARTFLOW_CACHE_EMBEDDER=kind))


async def test_static(embedding_models: Path, tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, SMARTFLOW_MODEL_DIR=str(embedding_models), SMARTFLOW_CACHE_EMBEDDER="static"
    )
    embedder = await open_embedder(settings)
    assert isinstance(embedder, StaticEmbedder)
    assert (await embedder.embed(["hi"])).shape == (1, 256)


async def test_http(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        SMARTFLOW_CACHE_EMBEDDER="http",
        SMARTFLOW_CACHE_EMBEDDER_URL="http://127.0.0.1:9/",
    )
    embedder = await open_embedder(settings)
    assert isinstance(embedder, HttpEmbedder)
    assert embedder.name == "http:tei:127.0.0.1:9"
    await embedder.aclose()


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """As on `pip install smartflow` without the semantic extra."""
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name in modules else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


async def test_without_the_semantic_extra_the_default_is_exact_only(
    embedding_models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _without(monkeypatch, "onnxruntime")
    settings = _settings(tmp_path, SMARTFLOW_MODEL_DIR=str(embedding_models))
    with caplog.at_level(logging.INFO, logger="gateway.cache.embedder"):
        assert await open_embedder(settings) is None  # built models, but no runtime: no crash
    assert "onnxruntime not installed" in caplog.text and "smartflow[semantic]" in caplog.text


async def test_an_embedder_asked_for_without_its_runtime_is_refused_clearly(
    embedding_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "onnxruntime", "tokenizers")
    for kind, missing in (("onnx", "onnxruntime, tokenizers"), ("static", "tokenizers")):
        settings = _settings(
            tmp_path, SMARTFLOW_MODEL_DIR=str(embedding_models), SMARTFLOW_CACHE_EMBEDDER=kind
        )
        with pytest.raises(EmbedderUnavailable, match=f"needs {missing}: pip install"):
            await open_embedder(settings)
