"""`sfctl up` builds the semantic cache's ONNX model once, when it can, and says what the cache
will do."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfctl import semantic_model


def test_cache_off_and_explicit_embedders_build_nothing(tmp_path: Path) -> None:
    assert "off" in semantic_model.prepare({"SMARTFLOW_CACHE": "off"}, tmp_path)
    assert "exact only" in semantic_model.prepare({"SMARTFLOW_CACHE_EMBEDDER": "none"}, tmp_path)
    line = semantic_model.prepare({"SMARTFLOW_CACHE_EMBEDDER": "static"}, tmp_path)
    assert "semantic" in line and "static" in line
    assert not (tmp_path / "models").exists()


def test_without_the_packages_it_says_how_to_enable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_model, "_installed", lambda module: module != "onnxruntime")
    line = semantic_model.prepare({}, tmp_path)
    assert line.startswith("Response cache: exact only")
    assert semantic_model.ENABLE_HINT in line
    assert not (tmp_path / "models").exists()


def test_builds_the_onnx_model_once_into_the_data_dir(tmp_path: Path) -> None:
    first = semantic_model.prepare({}, tmp_path)
    assert "built just now" in first
    assert (tmp_path / "models" / "onnx" / "manifest.json").is_file()
    assert not (tmp_path / "models" / "static").exists()  # the static model is opt-in
    second = semantic_model.prepare({}, tmp_path)
    assert "semantic" in second and "built just now" not in second


def test_smartflow_model_dir_is_where_the_gateway_looks(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    env = {"SMARTFLOW_MODEL_DIR": str(elsewhere)}
    assert semantic_model.model_dir(env, tmp_path) == elsewhere
    assert semantic_model.model_dir({}, tmp_path) == tmp_path / "models"
