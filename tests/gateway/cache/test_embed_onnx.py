"""The ONNX embedder against sentence-transformers' own output (golden values made once with
sentence-transformers 6.3.0 and torch 2.13.0 on the same weights: fixtures/minilm_golden.json)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from gateway.cache.embed_onnx import MAX_TOKENS, OnnxEmbedder
from gateway.cache.embedder import EmbedderUnavailable

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "minilm_golden.json").read_text())
TEXTS = [item["text"] for item in GOLDEN["sentences"]]
VECTORS = np.array([item["embedding"] for item in GOLDEN["sentences"]], dtype=np.float32)


def test_golden_values_were_made_with_the_same_window() -> None:
    assert GOLDEN["max_seq_length"] == MAX_TOKENS
    assert len(TEXTS) >= 10


def test_batch_matches_sentence_transformers(onnx_embedder: OnnxEmbedder) -> None:
    got = onnx_embedder.embed_sync(TEXTS)
    assert got.shape == (len(TEXTS), 384)
    assert got.dtype == np.float32
    cosines = (got * VECTORS).sum(axis=1)
    for text, cosine in zip(TEXTS, cosines, strict=True):
        assert cosine >= 0.9999, (text[:40], float(cosine))


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_each_sentence_alone_matches_too(onnx_embedder: OnnxEmbedder, index: int) -> None:
    # alone there is no padding: the batch above and this must agree (the mask works)
    (got,) = onnx_embedder.embed_sync([TEXTS[index]])
    assert float(got @ VECTORS[index]) >= 0.9999


def test_rows_are_unit_length(onnx_embedder: OnnxEmbedder) -> None:
    got = onnx_embedder.embed_sync(["a", "a much longer sentence about travel insurance claims"])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_more_texts_than_one_batch_keep_their_order(onnx_embedder: OnnxEmbedder) -> None:
    texts = [f"{'word ' * (i % 7)}question number {i}" for i in range(70)]
    many = onnx_embedder.embed_sync(texts)
    one_by_one = np.vstack([onnx_embedder.embed_sync([t]) for t in texts[::9]])
    np.testing.assert_allclose(many[::9], one_by_one, atol=1e-5)


def test_a_huge_text_is_cut_to_the_window(onnx_embedder: OnnxEmbedder) -> None:
    head = "The invoice total is wrong on my March statement. "
    huge = head * 5_000  # 250 kB
    window = head * 60  # already past 256 tokens
    a, b = onnx_embedder.embed_sync([huge, window])
    assert float(a @ b) >= 0.9999


def test_no_texts_no_rows(onnx_embedder: OnnxEmbedder) -> None:
    assert onnx_embedder.embed_sync([]).shape == (0, 384)
    assert onnx_embedder.name == "onnx:all-MiniLM-L6-v2"
    assert onnx_embedder.dim == 384


async def test_async_embed_leaves_the_event_loop_free(onnx_embedder: OnnxEmbedder) -> None:
    texts = [f"{'lorem ipsum ' * 40} {i}" for i in range(48)]
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    got = await onnx_embedder.embed(texts)
    done.set()
    await task
    assert got.shape == (48, 384)
    # the loop went round many times while the batch ran on the embedder's thread
    assert ticks > 10
    np.testing.assert_allclose(got[:2], onnx_embedder.embed_sync(texts[:2]), atol=1e-5)


async def test_concurrent_embeds_each_get_their_own_rows(onnx_embedder: OnnxEmbedder) -> None:
    texts = TEXTS[:6]
    results = await asyncio.gather(*(onnx_embedder.embed([t]) for t in texts))
    for got, want in zip(results, VECTORS[:6], strict=True):
        assert float(got[0] @ want) >= 0.9999


def test_an_unbuilt_dir_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="smartflow-gateway build-models"):
        OnnxEmbedder.load(tmp_path / "onnx")


def test_a_corrupt_model_is_unavailable_not_a_crash(tmp_path: Path, embedding_models: Path) -> None:
    broken = tmp_path / "onnx"
    broken.mkdir()
    for name in ("tokenizer.json", "manifest.json"):
        (broken / name).write_bytes((embedding_models / "onnx" / name).read_bytes())
    (broken / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(EmbedderUnavailable, match="build-models"):
        OnnxEmbedder.load(broken)
