"""The semantic cache's in-process hot paths, each next to a baseline measured in the same run:

- VectorIndex.search (k=5) at 1k / 10k / 100k random unit vectors of 384 dims: exact numpy
  (the baseline) against usearch HNSW, with HNSW's recall@5 against the exact answer, and what
  the one-off switch to HNSW costs (building the graph from the matrix);
- LocalCache: get (exact hit), put (with an eviction once full) and candidates (semantic lookup
  in a namespace holding many scopes), against a plain dict lookup.

Medians over rounds, arms interleaved in each round (rotating order).

    python benchmarks/bench_vector_index.py [--sizes 1000,10000,100000] [--rounds 7] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from gateway.cache.entry import CacheEntry, SemanticRecord
from gateway.cache.local_store import LocalCache
from gateway.cache.vector_index import VectorIndex

DIM = 384
Step = Callable[[int], float]  # runs n operations, returns the seconds they took


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def measure(arms: dict[str, Step], ops: int, rounds: int) -> dict[str, float]:
    """Median microseconds per operation of each arm."""
    samples: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for name in names:
        arms[name](max(ops // 10, 5))
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            samples[name].append(arms[name](ops) / ops * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def search_step(index: VectorIndex, queries: np.ndarray) -> Step:
    def step(ops: int) -> float:
        started = time.perf_counter()
        for i in range(ops):
            index.search(queries[i % len(queries)], 5)
        return time.perf_counter() - started

    return step


def bench_index(size: int, rounds: int, queries_n: int, rng: np.random.Generator) -> None:
    data = unit_vectors(rng, size)
    # queries near stored vectors, as a paraphrase is near its original
    picks = rng.integers(0, size, queries_n)
    queries = data[picks] + 0.5 * unit_vectors(rng, queries_n)  # cosine ~0.89
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = VectorIndex(DIM, ann_threshold=size + 1)
    for i in range(size):
        exact.add(f"k{i}", data[i])
    ann = VectorIndex(DIM, ann_threshold=size - 1)
    for i in range(size - 1):
        ann.add(f"k{i}", data[i])
    started = time.perf_counter()
    ann.add(f"k{size - 1}", data[size - 1])  # crosses the threshold: starts the graph's build
    stall_s = time.perf_counter() - started  # what the event loop waits for: the snapshot
    started = time.perf_counter()
    assert ann.wait_built()
    build_s = time.perf_counter() - started  # in a thread, exact search serving meanwhile
    assert ann.uses_ann and not exact.uses_ann
    planted = 0
    for pick, q in zip(picks, queries, strict=True):
        planted += ann.search(q, 1)[0][0] == f"k{pick}"
    hits = 0
    for q in queries:
        want = {key for key, _ in exact.search(q, 5)}
        hits += len(want & {key for key, _ in ann.search(q, 5)})
    recall = hits / (5 * queries_n)
    figures = measure(
        {"numpy": search_step(exact, queries), "usearch": search_step(ann, queries)},
        max(20, min(2000, 2_000_000 // size)),
        rounds,
    )
    print(
        f"{size:>7} vectors  numpy {figures['numpy']:>9.1f} us   usearch {figures['usearch']:>7.1f}"
        f" us   ratio {figures['usearch'] / figures['numpy']:>5.2f}x   recall@5 {recall:.3f}"
        f"   planted@1 {planted / queries_n:.3f}   build {build_s:>6.1f} s (thread)"
        f"   loop stall {stall_s * 1e3:.1f} ms"
    )


def entry(i: int, scope: int, vector: np.ndarray, now: float, prefix: str = "e") -> CacheEntry:
    return CacheEntry(
        key=f"{prefix}{i:08d}",
        normalized_key=f"n{prefix}{i:08d}",
        namespace="ns",
        model="gpt-4o-mini",
        wire="openai",
        route="chat",
        response=b'{"id":"x","choices":[]}' * 20,
        prompt_tokens=100,
        completion_tokens=50,
        cost_usd=0.001,
        created_at=now,
        expires_at=now + 86_400,
        semantic=SemanticRecord(
            scope_key=f"scope{scope}",
            context_key="",
            recent_key="",
            needs_context=False,
            question=f"question {i}",
            context="",
            question_vector=vector.tobytes(),
            context_vector=None,
            embedder="onnx:all-MiniLM-L6-v2",
        ),
    )


def bench_local(rounds: int, rng: np.random.Generator) -> None:
    now = time.time()
    capacity, scopes = 10_000, 100
    vectors = unit_vectors(rng, capacity * 2)
    cache = LocalCache(
        max_entries_per_namespace=capacity, max_entries=capacity * 5, clock=lambda: now
    )
    entries = [entry(i, i % scopes, vectors[i], now) for i in range(capacity * 2)]
    for e in entries[:capacity]:
        cache.put(e)
    table = {e.key: e for e in entries[:capacity]}
    keys = [e.key for e in entries[:capacity]]
    spare = iter(entries[capacity:] * 1000)  # each put of a new key evicts the oldest

    def get(ops: int) -> float:
        started = time.perf_counter()
        for i in range(ops):
            cache.get(keys[(i * 7919) % capacity])
        return time.perf_counter() - started

    def dict_get(ops: int) -> float:
        started = time.perf_counter()
        for i in range(ops):
            table.get(keys[(i * 7919) % capacity])
        return time.perf_counter() - started

    def put(ops: int) -> float:
        batch = [next(spare) for _ in range(ops)]
        started = time.perf_counter()
        for e in batch:
            cache.put(e)
        return time.perf_counter() - started

    queries = vectors[:200]
    one_scope = LocalCache(
        max_entries_per_namespace=capacity, max_entries=capacity * 5, clock=lambda: now
    )
    for i in range(capacity):
        one_scope.put(entry(i, 0, vectors[i], now))

    def candidates_one_scope(ops: int) -> float:
        started = time.perf_counter()
        for i in range(ops):
            one_scope.candidates("ns", "scope0", "onnx:all-MiniLM-L6-v2", queries[i % 200], 5)
        return time.perf_counter() - started

    def candidates(ops: int) -> float:
        started = time.perf_counter()
        for i in range(ops):
            cache.candidates(
                "ns", f"scope{i % scopes}", "onnx:all-MiniLM-L6-v2", queries[i % 200], 5
            )
        return time.perf_counter() - started

    figures = measure(
        {
            "dict": dict_get,
            "get": get,
            "put": put,
            "candidates": candidates,
            "candidates-1-scope": candidates_one_scope,
        },
        2000,
        rounds,
    )
    base = figures["dict"]
    print(f"\nLocalCache, {capacity} entries in one namespace over {scopes} scopes")
    print("  (candidates: 100 entries per scope; candidates-1-scope: all 10k in one scope)")
    for arm in ("get", "put", "candidates", "candidates-1-scope"):
        print(
            f"  {arm:<18} {figures[arm]:>8.2f} us   baseline dict.get {base:>6.3f} us   "
            f"ratio {figures[arm] / base:>7.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    print(f"load avg {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, dim {DIM}, k=5\n")
    for size in (int(s) for s in args.sizes.split(",")):
        bench_index(size, args.rounds, args.queries, rng)
    if not args.skip_local:
        bench_local(args.rounds, rng)


if __name__ == "__main__":
    main()
