"""The static embedder distilled from the ONNX model: shape, determinism, and that it keeps
the teacher's sense of what is close (ranking of paraphrases over unrelated questions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.cache.embed_onnx import OnnxEmbedder
from gateway.cache.embed_static import PCA_DIMS, StaticEmbedder, pca, token_weights
from gateway.cache.embedder import EmbedderUnavailable

PAIRS = [
    (
        "How do I reset my online banking password?",
        "I forgot my internet banking password, how can I change it?",
    ),
    (
        "Can I carry over unused vacation days to next year?",
        "Do leftover annual leave days roll over into the next year?",
    ),
    ("My laptop cannot connect to the VPN", "The VPN won't connect on my work laptop"),
    (
        "What is the baggage allowance on international flights?",
        "How many bags can I check on an international flight?",
    ),
    (
        "How long does a refund take to reach my card?",
        "When will the refund show up on my credit card?",
    ),
]


def test_shape_name_and_unit_rows(static_embedder: StaticEmbedder) -> None:
    got = static_embedder.embed_sync(["hello there", "a question about my pension contributions"])
    assert got.shape == (2, PCA_DIMS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert static_embedder.name == "static:all-MiniLM-L6-v2-256"
    assert static_embedder.dim == PCA_DIMS


def test_empty_text_gives_a_zero_row_and_no_texts_no_rows(static_embedder: StaticEmbedder) -> None:
    got = static_embedder.embed_sync(["", "x"])
    assert not got[0].any()
    assert static_embedder.embed_sync([]).shape == (0, PCA_DIMS)


def test_batch_equals_one_by_one(static_embedder: StaticEmbedder) -> None:
    texts = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    batch = static_embedder.embed_sync(texts)
    alone = np.vstack([static_embedder.embed_sync([t]) for t in texts])
    np.testing.assert_allclose(batch, alone, atol=1e-6)


async def test_async_embed_equals_sync(static_embedder: StaticEmbedder) -> None:
    short = ["what is my balance"]
    long = ["word " * 2_000]  # past the inline limit: runs on a thread
    np.testing.assert_allclose(
        await static_embedder.embed(short), static_embedder.embed_sync(short)
    )
    np.testing.assert_allclose(await static_embedder.embed(long), static_embedder.embed_sync(long))


@pytest.mark.parametrize(("question", "paraphrase"), PAIRS)
def test_a_paraphrase_is_closer_than_every_other_question(
    static_embedder: StaticEmbedder, onnx_embedder: OnnxEmbedder, question: str, paraphrase: str
) -> None:
    others = [b for a, b in PAIRS if a != question]
    for embedder in (static_embedder, onnx_embedder):
        q, p, *rest = embedder.embed_sync([question, paraphrase, *others])
        assert float(q @ p) > max(float(q @ r) for r in rest), embedder.name


def test_the_manifest_records_the_teacher(embedding_models: Path) -> None:
    static = json.loads((embedding_models / "static" / "manifest.json").read_text())
    onnx = json.loads((embedding_models / "onnx" / "manifest.json").read_text())
    assert static["onnx_sha256"] == onnx["files"]["model.onnx"]
    assert static["dim"] == PCA_DIMS


def test_pca_keeps_the_top_directions_with_a_fixed_sign() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(500, 3)) * np.array([10.0, 3.0, 0.1])
    rows = (base @ np.linalg.qr(rng.normal(size=(3, 3)))[0]).astype(np.float32)
    mask = np.ones(len(rows), dtype=np.bool_)
    projected = pca(rows, mask, 2)
    assert projected.shape == (500, 2)
    variances = projected.var(axis=0)
    assert variances[0] > variances[1] > 1.0
    np.testing.assert_allclose(pca(rows, mask, 2), projected)  # deterministic


def test_zipf_weights_grow_with_rank() -> None:
    weights = token_weights(30_000)
    assert weights[0] < 0.01 < weights[1_000] < weights[-1] < 1.0
    assert np.all(np.diff(weights) > 0)


def test_an_unbuilt_dir_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="smartflow-gateway build-models"):
        StaticEmbedder.load(tmp_path / "static")
