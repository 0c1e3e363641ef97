"""`smartflow-gateway build-models`: the real command, its idempotence and its errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.model_build import build_onnx, default_source, main


def _gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_second_run_does_nothing(
    embedding_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.stat().st_mtime_ns for p in embedding_models.rglob("*") if p.is_file()}
    assert main(["--dir", str(embedding_models)]) == 0
    out = capsys.readouterr().out
    assert "onnx: up to date" in out
    assert "static: up to date" in out
    after = {p: p.stat().st_mtime_ns for p in embedding_models.rglob("*") if p.is_file()}
    assert after == before


def test_the_subcommand_builds_into_smartflow_model_dir(tmp_path: Path) -> None:
    target = tmp_path / "models"
    done = _gateway("build-models", "--no-static", env={"SMARTFLOW_MODEL_DIR": str(target)})
    assert done.returncode == 0, done.stderr
    assert "onnx: built in" in done.stdout
    assert not (target / "static").exists()
    manifest = json.loads((target / "onnx" / "manifest.json").read_text())
    assert manifest["dim"] == 384
    assert manifest["max_tokens"] == 256
    assert len(manifest["source_sha256"]) == 64
    assert set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    assert not [p.name for p in tmp_path.rglob(".*tmp-*")]  # no staging left behind
    (vector,) = OnnxEmbedder.load(target / "onnx").embed_sync(["it works"])
    assert vector.shape == (384,)


def test_a_damaged_build_is_rebuilt(tmp_path: Path, embedding_models: Path) -> None:
    shutil.copytree(embedding_models / "onnx", tmp_path / "onnx")
    (tmp_path / "onnx" / "tokenizer.json").write_text("{}")
    step = build_onnx(tmp_path, default_source())
    assert step.built
    assert (tmp_path / "onnx" / "tokenizer.json").read_bytes() == (
        embedding_models / "onnx" / "tokenizer.json"
    ).read_bytes()
    assert not build_onnx(tmp_path, default_source()).built


def test_weights_from_an_extracted_directory(tmp_path: Path, embedding_models: Path) -> None:
    source = tmp_path / "src"
    with zipfile.ZipFile(default_source()) as archive:
        archive.extractall(source)
    step = build_onnx(tmp_path / "out", source)
    assert step.built
    built = json.loads((tmp_path / "out" / "onnx" / "manifest.json").read_text())
    reference = json.loads((embedding_models / "onnx" / "manifest.json").read_text())
    assert built["files"] == reference["files"]  # the conversion is deterministic


def test_a_source_without_weights_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "model.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("config.json", "{}")
    done = _gateway("build-models", "--dir", str(tmp_path / "m"), "--source", str(bad))
    assert done.returncode == 1
    assert done.stderr.startswith("smartflow-gateway build-models:")
    assert "model.safetensors" in done.stderr
    assert "Traceback" not in done.stderr
    missing = _gateway(
        "build-models", "--dir", str(tmp_path / "m"), "--source", str(tmp_path / "nope.zip")
    )
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    done = _gateway(
        "build-models", env={"SMARTFLOW_CACHE_EMBEDDER": "bogus", "SMARTFLOW_MODEL_DIR": ""}
    )
    assert done.returncode == 2
    assert "SMARTFLOW_CACHE_EMBEDDER" in done.stderr
