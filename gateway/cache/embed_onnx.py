"""all-MiniLM-L6-v2 in process: the Hugging Face tokenizer, then the ONNX graph that
`smartflow-gateway build-models` wrote (gateway/cache/onnx_graph.py), run by onnxruntime.

The graph already mean-pools and normalises, so one `run` per batch gives the cache its unit
vectors, matching sentence-transformers to a cosine of 0.9999+ (tests/gateway/cache: golden
values). The async `embed` runs on one worker thread owned by the embedder: onnxruntime releases
the GIL, so the event loop keeps serving while a batch runs, and requests queue for the model
instead of fighting over the machine's cores.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from gateway.cache.embedder import BUILD_HINT, EmbedderUnavailable, Vectors

MODEL_NAME: Final = "all-MiniLM-L6-v2"
MAX_TOKENS: Final = 256  # sentence-transformers' max_seq_length for this model
#: characters kept before tokenising: far past 256 tokens for any text, so the result is the
#: same, but a megabyte prompt costs no megabyte of tokenising
MAX_CHARS: Final = 20_000
BATCH: Final = 32  # texts per onnxruntime call when a caller sends many
PAD_SLACK: Final = 1.3  # texts share a call while the longest is at most ~1.3x the shortest
MANIFEST_FORMAT: Final = 1
FILES: Final = ("model.onnx", "tokenizer.json", "manifest.json")


def is_built(directory: Path) -> bool:
    """All of the ONNX build's files are there (build-models writes the manifest last)."""
    return all((directory / name).is_file() for name in FILES)


def load_tokenizer(path: Path, max_tokens: int | None) -> Tokenizer:
    """BERT's WordPiece tokenizer, truncated to `max_tokens` (None: no truncation), unpadded:
    the embedder pads each batch itself."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    if max_tokens is not None:
        tokenizer.enable_truncation(max_tokens)
    return tokenizer


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting worker threads: the machine's cores also serve the event loop
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEmbedder:
    """The reference embedder: slowest of the local two (a few ms a sentence), most exact."""

    dim: int
    name: str
    contextual: bool

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, dim: int) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.dim = dim
        self.name = f"onnx:{MODEL_NAME}"
        self.contextual = True
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def load(cls, directory: Path, *, threads: int = 1) -> OnnxEmbedder:
        """Open a build-models output directory; EmbedderUnavailable when it is not built."""
        if not is_built(directory):
            raise EmbedderUnavailable(f"no ONNX embedding model in {directory}: {BUILD_HINT}")
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            if manifest.get("format") != MANIFEST_FORMAT:
                raise EmbedderUnavailable(
                    f"the ONNX model in {directory} is of another format: {BUILD_HINT}"
                )
            session = ort.InferenceSession(
                str(directory / "model.onnx"),
                sess_options=session_options(threads),
                providers=["CPUExecutionProvider"],
            )
            tokenizer = load_tokenizer(directory / "tokenizer.json", MAX_TOKENS)
        # onnxruntime's own errors (InvalidProtobuf, NoSuchFile, Fail) share no base but Exception
        except Exception as exc:
            raise EmbedderUnavailable(f"cannot load {directory}: {exc}; {BUILD_HINT}") from exc
        return cls(session, tokenizer, int(manifest["dim"]))

    def _groups(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices in batches of similar token counts: a batch costs its longest text times
        its size, so a short question is not padded to the length of its long context."""
        groups: list[list[int]] = []
        for index in sorted(range(len(lengths)), key=lengths.__getitem__):
            group = groups[-1] if groups else None
            if (
                group is None
                or len(group) >= BATCH
                or lengths[index] > PAD_SLACK * lengths[group[0]] + 4
            ):
                groups.append([index])
            else:
                group.append(index)
        return groups

    def pooled_ids(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        """The raw mean-pooled output for token ids as given (the static distillation)."""
        (out,) = self._session.run(["mean_pooled"], {"input_ids": ids, "attention_mask": mask})
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking: for scripts, benchmarks and the model build; `embed` runs it on a thread."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch([text[:MAX_CHARS] for text in texts])
        lengths = [len(encoding.ids) for encoding in encodings]
        for group in self._groups(lengths):
            width = max(lengths[i] for i in group)
            ids = np.zeros((len(group), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, index in enumerate(group):
                ids[row, : lengths[index]] = encodings[index].ids
                mask[row, : lengths[index]] = 1
            (vectors,) = self._session.run(
                ["sentence_embedding"], {"input_ids": ids, "attention_mask": mask}
            )
            out[group] = vectors
        return out

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-onnx")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.embed_sync, list(texts)
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
