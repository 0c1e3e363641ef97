"""Nearest questions by cosine, in process: exact numpy search for small sets, HNSW for large.

Vectors are L2-normalised float32 (the embedders guarantee it), so cosine is a dot product.
Below `ann_threshold` entries a contiguous matrix and one matrix-vector product is exact and, at
these sizes, as fast as any graph (benchmarks/bench_vector_index.py). Above it the index moves
once to usearch's HNSW (metric cos), whose search cost grows with log n instead of n; it moves
back to the matrix when it shrinks below half the threshold, so a set hovering around the
threshold does not rebuild on every add. Ids are the cache's exact keys.

Not thread-safe: one index belongs to one event loop.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger("smartflow.cache")

Vector = npt.NDArray[np.float32]

_INITIAL_ROWS: Final = 64
_HNSW_EXPANSION_SEARCH: Final = 64
_BUILD_CHUNK: Final = 1024  # vectors per usearch call while building in the background


def as_vector(raw: bytes | npt.ArrayLike, dim: int) -> Vector:
    """A float32 vector of `dim` from bytes (an entry's record) or anything array-like."""
    if isinstance(raw, bytes | bytearray | memoryview):
        vector = np.frombuffer(raw, dtype=np.float32)
    else:
        vector = np.asarray(raw, dtype=np.float32).reshape(-1)
    if vector.shape != (dim,):
        raise ValueError(f"vector of {vector.shape[0]} dimensions, the index has {dim}")
    return vector


@dataclass(slots=True)
class _Build:
    labels: dict[str, int]  # the snapshot's keys and their labels in the new graph
    changed: set[str] = field(default_factory=set)  # keys added or replaced since the snapshot
    future: concurrent.futures.Future[Index] = field(default_factory=concurrent.futures.Future)


class VectorIndex:
    """Keys to vectors; `search` returns the k most similar keys with their cosine, best first."""

    def __init__(self, dim: int, *, ann_threshold: int) -> None:
        if dim <= 0 or ann_threshold <= 0:
            raise ValueError("dim and ann_threshold must be positive")
        self.dim = dim
        self.ann_threshold = ann_threshold
        # exact mode: row i of the matrix holds the vector of _keys[i]
        self._matrix: Vector = np.zeros((_INITIAL_ROWS, dim), dtype=np.float32)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        # HNSW mode: usearch wants integer labels
        self._hnsw: Index | None = None
        self._labels: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._next_label = itertools.count()
        self._build: _Build | None = None  # an HNSW graph being built in a thread
        self._ann_failed = False

    def __len__(self) -> int:
        return len(self._labels) if self._hnsw is not None else len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in (self._labels if self._hnsw is not None else self._rows)

    @property
    def uses_ann(self) -> bool:
        return self._hnsw is not None

    def add(self, key: str, vector: npt.ArrayLike) -> None:
        """Adds or replaces the vector of `key`."""
        row = as_vector(vector, self.dim)
        if self._hnsw is not None:
            self._hnsw_add(key, row)
            return
        position = self._rows.get(key)
        if position is None:
            position = len(self._keys)
            if position == self._matrix.shape[0]:
                grown = np.zeros((position * 2, self.dim), dtype=np.float32)
                grown[:position] = self._matrix
                self._matrix = grown
            self._keys.append(key)
            self._rows[key] = position
        self._matrix[position] = row
        if self._build is not None:
            self._build.changed.add(key)
            if self._build.future.done():
                self._take_build()
        elif len(self._keys) > self.ann_threshold and not self._ann_failed:
            self._start_build()

    def remove(self, key: str) -> None:
        """Forgets `key` (nothing when it is not there)."""
        if self._hnsw is not None:
            label = self._labels.pop(key, None)
            if label is not None:
                del self._names[label]
                self._hnsw.remove(label)
                if len(self._labels) < self.ann_threshold // 2:
                    self._to_matrix()
            return
        position = self._rows.pop(key, None)
        if position is None:
            return
        if self._build is not None:
            self._build.changed.discard(key)
            if len(self._keys) <= self.ann_threshold // 2:
                self._build = None  # shrank while building: the graph is not wanted any more
        last = len(self._keys) - 1
        if position != last:  # swap-remove: the last row fills the hole
            moved = self._keys[last]
            self._matrix[position] = self._matrix[last]
            self._keys[position] = moved
            self._rows[moved] = position
        self._keys.pop()
        if last < self._matrix.shape[0] // 4 and self._matrix.shape[0] > _INITIAL_ROWS:
            self._matrix = self._matrix[: max(self._matrix.shape[0] // 2, _INITIAL_ROWS)].copy()

    def search(self, vector: npt.ArrayLike, k: int) -> list[tuple[str, float]]:
        """The k keys whose vectors have the highest cosine with `vector`, best first."""
        query = as_vector(vector, self.dim)
        if k <= 0 or len(self) == 0:
            return []
        if self._hnsw is not None:
            matches = self._hnsw.search(query, k)
            names = self._names
            return [
                (names[int(label)], 1.0 - float(distance))
                for label, distance in zip(matches.keys, matches.distances, strict=True)
                if int(label) in names
            ]
        if self._build is not None and self._build.future.done():
            self._take_build()
            return self.search(query, k)
        count = len(self._keys)
        scores = self._matrix[:count] @ query
        if k < count:
            best = np.argpartition(scores, count - k)[count - k :]
            best = best[np.argsort(scores[best])[::-1]]
        else:
            best = np.argsort(scores)[::-1]
        keys = self._keys
        return [(keys[i], float(scores[i])) for i in best.tolist()]

    def _new_hnsw(self) -> Index:
        from usearch.index import Index

        return Index(
            ndim=self.dim, metric="cos", dtype="f32", expansion_search=_HNSW_EXPANSION_SEARCH
        )

    def _hnsw_add(self, key: str, row: Vector) -> None:
        assert self._hnsw is not None
        old = self._labels.get(key)
        if old is not None:
            self._hnsw.remove(old)
            del self._names[old]
        label = next(self._next_label)
        self._hnsw.add(label, row)
        self._labels[key] = label
        self._names[label] = key

    def _start_build(self) -> None:
        """Builds the HNSW graph from a snapshot of the matrix in a thread (seconds for tens of
        thousands of vectors: never on the event loop); exact search serves meanwhile, and keys
        added or removed during the build are applied when it is taken over (`_take_build`)."""
        count = len(self._keys)
        labels = np.fromiter(
            (next(self._next_label) for _ in range(count)), dtype=np.uint64, count=count
        )
        snapshot = self._matrix[:count].copy()
        build = _Build(dict(zip(self._keys, labels.tolist(), strict=True)))
        index = self._new_hnsw()

        def run() -> None:
            try:
                for start in range(0, count, _BUILD_CHUNK):  # releases the GIL per chunk
                    end = min(start + _BUILD_CHUNK, count)
                    index.add(labels[start:end], snapshot[start:end], threads=1)
            except BaseException as error:  # reported where the build is taken over
                build.future.set_exception(error)
            else:
                build.future.set_result(index)

        self._build = build
        threading.Thread(target=run, name="vector-index-build", daemon=True).start()

    def _take_build(self) -> None:
        """Switches to the finished graph, applying what changed since its snapshot."""
        build = self._build
        assert build is not None
        self._build = None
        error = build.future.exception()
        if error is not None:
            log.warning("building the HNSW index failed, exact search continues: %s", error)
            self._ann_failed = True
            return
        index = build.future.result()
        labels = build.labels
        for key, label in list(labels.items()):
            if key not in self._rows or key in build.changed:
                index.remove(label)
                del labels[key]
        for key in build.changed:
            position = self._rows.get(key)
            if position is not None:
                label = next(self._next_label)
                index.add(label, self._matrix[position])
                labels[key] = label
        self._hnsw = index
        self._labels = labels
        self._names = {label: key for key, label in labels.items()}
        self._keys, self._rows = [], {}
        self._matrix = np.zeros((_INITIAL_ROWS, self.dim), dtype=np.float32)

    def wait_built(self, timeout_s: float | None = None) -> bool:
        """Blocks until a running HNSW build is taken over (scripts and tests); True when the
        index then searches the graph."""
        if self._build is not None:
            concurrent.futures.wait([self._build.future], timeout=timeout_s)
            if self._build.future.done():
                self._take_build()
        return self._hnsw is not None

    def _to_matrix(self) -> None:
        """Back to exact search once the set has shrunk well below the threshold."""
        assert self._hnsw is not None
        keys = list(self._labels)
        rows = max(_INITIAL_ROWS, 1 << max(len(keys) - 1, 1).bit_length())
        matrix = np.zeros((rows, self.dim), dtype=np.float32)
        if keys:
            labels = np.array([self._labels[key] for key in keys], dtype=np.uint64)
            matrix[: len(keys)] = np.asarray(self._hnsw.get(labels), dtype=np.float32)
        self._matrix = matrix
        self._keys = keys
        self._rows = {key: i for i, key in enumerate(keys)}
        self._hnsw = None
        self._labels, self._names = {}, {}
