"""VectorIndex: exact numpy search, the move to usearch HNSW above the threshold and back."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.vector_index import VectorIndex, as_vector

DIM = 32


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute(vectors: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    scored = sorted(vectors.items(), key=lambda kv: -float(kv[1] @ query))
    return [key for key, _ in scored[:k]]


def test_exact_search_orders_by_cosine() -> None:
    rng = np.random.default_rng(1)
    data = unit(rng, 200)
    index = VectorIndex(DIM, ann_threshold=10_000)
    vectors = {f"k{i}": data[i] for i in range(200)}
    for key, v in vectors.items():
        index.add(key, v)
    assert len(index) == 200
    for q in unit(rng, 20):
        found = index.search(q, 5)
        assert [key for key, _ in found] == brute(vectors, q, 5)
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(float(vectors[found[0][0]] @ q), abs=1e-5)


def test_search_of_a_stored_vector_finds_itself_with_cosine_one() -> None:
    rng = np.random.default_rng(2)
    data = unit(rng, 50)
    index = VectorIndex(DIM, ann_threshold=1000)
    for i, v in enumerate(data):
        index.add(f"k{i}", v.tobytes())  # bytes, as an entry's record holds them
    key, score = index.search(data[17], 1)[0]
    assert key == "k17"
    assert score == pytest.approx(1.0, abs=1e-5)


def test_k_larger_than_the_set_and_empty_index() -> None:
    index = VectorIndex(DIM, ann_threshold=100)
    q = unit(np.random.default_rng(3), 1)[0]
    assert index.search(q, 5) == []
    index.add("a", q)
    assert [key for key, _ in index.search(q, 5)] == ["a"]
    assert index.search(q, 0) == []


def test_remove_swaps_the_last_row_in_and_replace_keeps_one_row() -> None:
    rng = np.random.default_rng(4)
    data = unit(rng, 300)
    index = VectorIndex(DIM, ann_threshold=10_000)
    vectors = {f"k{i}": data[i] for i in range(300)}
    for key, v in vectors.items():
        index.add(key, v)
    for i in range(0, 300, 3):
        index.remove(f"k{i}")
        del vectors[f"k{i}"]
    index.remove("never-there")
    replacement = unit(rng, 1)[0]
    index.add("k1", replacement)
    vectors["k1"] = replacement
    assert len(index) == len(vectors) == 200
    for q in [*unit(rng, 10), replacement]:
        assert [key for key, _ in index.search(q, 7)] == brute(vectors, q, 7)
    for key in list(vectors):
        index.remove(key)
    assert len(index) == 0
    assert index.search(replacement, 3) == []


def test_wrong_dimension_is_refused() -> None:
    index = VectorIndex(DIM, ann_threshold=10)
    with pytest.raises(ValueError, match="dimensions"):
        index.add("a", np.zeros(DIM + 1, dtype=np.float32))
    with pytest.raises(ValueError, match="dimensions"):
        as_vector(b"\x00" * 12, DIM)


def test_moves_to_hnsw_above_the_threshold_keeping_changes_made_during_the_build() -> None:
    rng = np.random.default_rng(5)
    data = unit(rng, 400)
    index = VectorIndex(DIM, ann_threshold=300)
    vectors: dict[str, np.ndarray] = {}
    for i in range(301):
        index.add(f"k{i}", data[i])
        vectors[f"k{i}"] = data[i]
    # the graph builds in a thread; exact search answers meanwhile and changes are recorded
    for i in range(301, 400):
        index.add(f"k{i}", data[i])
        vectors[f"k{i}"] = data[i]
    for i in range(0, 60):
        index.remove(f"k{i}")
        del vectors[f"k{i}"]
    index.add("k100", data[0])
    vectors["k100"] = data[0]
    assert index.wait_built(timeout_s=60)
    assert index.uses_ann
    assert len(index) == len(vectors) == 340
    for key, v in vectors.items():
        assert index.search(v, 1)[0][0] == key if key != "k100" else True
    assert index.search(data[0], 1)[0][0] == "k100"
    assert index.search(data[0], 1)[0][1] == pytest.approx(1.0, abs=1e-4)
    assert all(key in index for key in vectors)
    assert "k5" not in index


def test_hnsw_finds_a_paraphrase_like_neighbour() -> None:
    rng = np.random.default_rng(6)
    data = unit(rng, 2000)
    index = VectorIndex(DIM, ann_threshold=1000)
    for i, v in enumerate(data):
        index.add(f"k{i}", v)
    assert index.wait_built(timeout_s=120)
    noise = unit(rng, 50)
    picks = rng.integers(0, 2000, 50)
    found = 0
    for pick, n in zip(picks, noise, strict=True):
        q = data[pick] + 0.3 * n
        q /= np.linalg.norm(q)
        found += index.search(q, 1)[0][0] == f"k{pick}"
    assert found >= 48


def test_moves_back_to_exact_search_when_it_shrinks_below_half() -> None:
    rng = np.random.default_rng(7)
    data = unit(rng, 250)
    index = VectorIndex(DIM, ann_threshold=200)
    vectors = {f"k{i}": data[i] for i in range(250)}
    for key, v in vectors.items():
        index.add(key, v)
    assert index.wait_built(timeout_s=60)
    for i in range(160):
        index.remove(f"k{i}")
        del vectors[f"k{i}"]
    assert not index.uses_ann
    assert len(index) == 90
    for q in unit(rng, 10):
        assert [key for key, _ in index.search(q, 5)] == brute(vectors, q, 5)
    index.add("new", data[0])
    assert index.search(data[0], 1)[0][0] == "new"


def test_shrinking_during_a_build_abandons_it() -> None:
    rng = np.random.default_rng(8)
    data = unit(rng, 101)
    index = VectorIndex(DIM, ann_threshold=100)
    for i, v in enumerate(data):
        index.add(f"k{i}", v)
    for i in range(60):
        index.remove(f"k{i}")
    assert not index.wait_built(timeout_s=60)
    assert len(index) == 41
    assert index.search(data[70], 1)[0][0] == "k70"
