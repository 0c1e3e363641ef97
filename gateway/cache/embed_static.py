"""A static embedder: one precomputed vector per vocabulary token, averaged. No neural network
runs at request time, so a sentence costs tens of microseconds instead of milliseconds.

The table is distilled from the ONNX model the way model2vec does it: every token of the
vocabulary goes through the transformer alone (`[CLS] token [SEP]`, mean-pooled), PCA keeps the
first 256 directions, and a Zipf-law estimate of each token's frequency (vocabulary order stands
in for frequency rank) down-weights frequent tokens (SIF: a / (a + p)). Embedding is then:
tokenise without special tokens, mean of the tokens' rows, normalise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from gateway.cache.embedder import BUILD_HINT, EmbedderUnavailable, Vectors, normalize_rows

PCA_DIMS: Final = 256
SIF_COEFFICIENT: Final = 1e-4
MAX_CHARS: Final = 20_000
MANIFEST_FORMAT: Final = 1
TABLE: Final = "embeddings.npy"
FILES: Final = (TABLE, "tokenizer.json", "manifest.json")
DISTILL_BATCH: Final = 512


def is_built(directory: Path) -> bool:
    return all((directory / name).is_file() for name in FILES)


class StaticEmbedder:
    """Token-table embedder: ~100x faster than the ONNX model, a little less discerning."""

    dim: int
    name: str
    contextual: bool

    def __init__(self, table: npt.NDArray[np.float32], tokenizer: Tokenizer, name: str) -> None:
        self._table = table
        self._tokenizer = tokenizer
        self.dim = int(table.shape[1])
        self.name = name
        self.contextual = False

    @classmethod
    def load(cls, directory: Path) -> StaticEmbedder:
        if not is_built(directory):
            raise EmbedderUnavailable(f"no static embedding model in {directory}: {BUILD_HINT}")
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            if manifest.get("format") != MANIFEST_FORMAT:
                raise EmbedderUnavailable(
                    f"the static model in {directory} is of another format: {BUILD_HINT}"
                )
            table = np.load(directory / TABLE, allow_pickle=False).astype(np.float32)
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"cannot load {directory}: {exc}; {BUILD_HINT}") from exc
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(np.ascontiguousarray(table), tokenizer, str(manifest["name"]))

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Mean of the token rows per text, normalised; a text with no tokens gives a zero row."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(
            [text[:MAX_CHARS] for text in texts], add_special_tokens=False
        )
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                out[row] = self._table[encoding.ids].mean(axis=0)
        return normalize_rows(out)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        # tens of microseconds a text: a thread hop would cost more than it saves, except for
        # large batches
        if sum(len(text) for text in texts) < 4_000:
            return self.embed_sync(texts)
        return await asyncio.to_thread(self.embed_sync, list(texts))

    async def aclose(self) -> None:
        return None


def token_weights(vocab_size: int, sif: float = SIF_COEFFICIENT) -> npt.NDArray[np.float32]:
    """SIF weights from Zipf's law over vocabulary order, as model2vec estimates frequencies."""
    inv_rank = 1.0 / np.arange(2, vocab_size + 2, dtype=np.float64)
    proba = inv_rank / inv_rank.sum()
    weights: npt.NDArray[np.float32] = (sif / (sif + proba)).astype(np.float32)
    return weights


def pca(
    rows: npt.NDArray[np.float32], fit_mask: npt.NDArray[np.bool_], dims: int
) -> npt.NDArray[np.float32]:
    """All rows projected on the top `dims` principal directions of the `fit_mask` rows."""
    fit = rows[fit_mask].astype(np.float64)
    mean = fit.mean(axis=0)
    centred = fit - mean
    cov = centred.T @ centred / max(len(fit) - 1, 1)
    values, vectors = np.linalg.eigh(cov)
    top = vectors[:, np.argsort(values)[::-1][:dims]]
    # a fixed sign per direction (largest loading positive): the same build twice gives the
    # same table
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(top.shape[1])])
    top *= np.where(signs == 0, 1.0, signs)
    projected: npt.NDArray[np.float32] = ((rows.astype(np.float64) - mean) @ top).astype(np.float32)
    return projected


RunPooled = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], Vectors]


def distill(run_pooled: RunPooled, tokenizer_path: Path, dims: int = PCA_DIMS) -> Vectors:
    """The static table. `run_pooled(ids, mask)` is the ONNX model's raw mean-pooled output
    (embed_onnx.OnnxEmbedder.pooled_ids)."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    pooled = np.zeros((0, 0), dtype=np.float32)
    for start in range(0, size, DISTILL_BATCH):
        ids = np.arange(start, min(start + DISTILL_BATCH, size), dtype=np.int64)
        batch = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        out = run_pooled(batch, np.ones_like(batch))
        if start == 0:
            pooled = np.zeros((size, out.shape[1]), dtype=np.float32)
        pooled[ids] = out
    names = {token_id: token for token, token_id in vocab.items()}
    # fit the directions on real tokens only: [unusedN] and the specials never occur in text
    fit_mask = np.array(
        [not names.get(i, "[unused]").startswith("[") for i in range(size)], dtype=np.bool_
    )
    table = pca(pooled, fit_mask, min(dims, pooled.shape[1]))
    return table * token_weights(size)[:, None]
