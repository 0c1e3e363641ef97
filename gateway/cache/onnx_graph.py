"""all-MiniLM-L6-v2 (a 6-layer BERT) written out as an ONNX graph with `onnx.helper`, no torch.

The weights come from the model's safetensors file (read here with numpy: the format is an
8-byte header length, a JSON header, then the raw little-endian tensors). The graph computes
what sentence-transformers computes for this model: BERT's encoder, mean pooling over the
attention mask, then L2 normalisation, so the gateway runs one onnxruntime call per batch and
gets unit vectors back. A second output, `mean_pooled`, is the pooled vector before
normalisation: the static embedder is distilled from it.

Inputs: `input_ids` and `attention_mask`, int64 [batch, seq]. token_type_ids are always 0 for
one-segment inputs, so the type-0 row is folded into the position table.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET: Final = 17  # LayerNormalization is standard from 17 on
_DTYPES: Final = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
_MASK_NEG: Final = -1.0e9  # added to the scores of padding positions before the softmax


class WeightsError(ValueError):
    """The safetensors file is not the BERT this converter knows."""


@dataclass(frozen=True, slots=True)
class BertConfig:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    eps: float
    vocab: int
    max_positions: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BertConfig:
        if raw.get("hidden_act", "gelu") != "gelu":
            raise WeightsError(f"unsupported activation {raw.get('hidden_act')!r}")
        return cls(
            hidden=int(raw["hidden_size"]),
            layers=int(raw["num_hidden_layers"]),
            heads=int(raw["num_attention_heads"]),
            intermediate=int(raw["intermediate_size"]),
            eps=float(raw.get("layer_norm_eps", 1e-12)),
            vocab=int(raw["vocab_size"]),
            max_positions=int(raw["max_position_embeddings"]),
        )


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors blob as a numpy array (copies: the blob can be freed)."""
    if len(data) < 8:
        raise WeightsError("not a safetensors file: too short")
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise WeightsError(f"{name}: unsupported dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        array = np.frombuffer(
            data, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=base + start
        )
        tensors[name] = array.reshape(meta["shape"]).astype(
            np.float32 if dtype != np.int64 else dtype
        )
    return tensors


class _Builder:
    """Accumulates nodes and initializers; each helper returns its output's name."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, name: str, transpose: bool = False) -> str:
        if name not in self.weights:
            raise WeightsError(f"missing tensor {name}")
        value = self.weights[name]
        return self.const(name, np.ascontiguousarray(value.T if transpose else value))

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self.fresh(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x: str, prefix: str) -> str:
        y = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [y, self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            axis=-1,
            epsilon=eps,
        )


def _attention(b: _Builder, x: str, mask_add: str, prefix: str, cfg: BertConfig) -> str:
    head_dim = cfg.hidden // cfg.heads
    split = b.const(f"{prefix}.split_shape", np.array([0, 0, cfg.heads, head_dim], np.int64))
    merge = b.const(f"{prefix}.merge_shape", np.array([0, 0, cfg.hidden], np.int64))

    def heads(name: str, perm: list[int]) -> str:
        y = b.linear(x, f"{prefix}.self.{name}")
        return b.op("Transpose", [b.op("Reshape", [y, split])], perm=perm)

    q = heads("query", [0, 2, 1, 3])  # [B, H, S, D]
    k = heads("key", [0, 2, 3, 1])  # [B, H, D, S]
    v = heads("value", [0, 2, 1, 3])
    scale = b.const(f"{prefix}.scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    scores = b.op("Add", [b.op("Mul", [b.op("MatMul", [q, k]), scale]), mask_add])
    probs = b.op("Softmax", [scores], axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, merge])
    out = b.linear(ctx, f"{prefix}.output.dense")
    return b.layer_norm(b.op("Add", [out, x]), f"{prefix}.output.LayerNorm", cfg.eps)


def _gelu(b: _Builder, x: str) -> str:
    """BERT's exact GELU: 0.5 x (1 + erf(x / sqrt 2)); onnxruntime fuses it into one kernel."""
    inv_sqrt2 = b.const(b.fresh("inv_sqrt2"), np.array(1.0 / math.sqrt(2.0), np.float32))
    one = b.const(b.fresh("one"), np.array(1.0, np.float32))
    half = b.const(b.fresh("half"), np.array(0.5, np.float32))
    erf = b.op("Erf", [b.op("Mul", [x, inv_sqrt2])])
    return b.op("Mul", [b.op("Mul", [x, half]), b.op("Add", [erf, one])])


def _layer(b: _Builder, x: str, mask_add: str, index: int, cfg: BertConfig) -> str:
    prefix = f"encoder.layer.{index}"
    x = _attention(b, x, mask_add, f"{prefix}.attention", cfg)
    h = _gelu(b, b.linear(x, f"{prefix}.intermediate.dense"))
    out = b.linear(h, f"{prefix}.output.dense")
    return b.layer_norm(b.op("Add", [out, x]), f"{prefix}.output.LayerNorm", cfg.eps)


def _embeddings(b: _Builder, ids: str, cfg: BertConfig) -> str:
    w = b.weights
    positions = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    table = b.const("embeddings.position_plus_type", positions.astype(np.float32))
    seq_len = b.op(
        "Slice",
        [
            b.op("Shape", [ids]),
            b.const("c_one", np.array([1], np.int64)),
            b.const("c_two", np.array([2], np.int64)),
        ],
    )
    zero = b.const("c_zero", np.array([0], np.int64))
    pos = b.op("Slice", [table, zero, seq_len, zero])  # [S, H]
    words = b.op("Gather", [b.weight("embeddings.word_embeddings.weight"), ids], axis=0)
    return b.layer_norm(b.op("Add", [words, pos]), "embeddings.LayerNorm", cfg.eps)


def build_model(weights: Mapping[str, np.ndarray], cfg: BertConfig) -> onnx.ModelProto:
    """The whole graph: embeddings, encoder, masked mean pooling, L2 normalisation."""
    b = _Builder(weights)
    ids, mask = "input_ids", "attention_mask"
    mask_f = b.op("Cast", [mask], to=TensorProto.FLOAT)  # [B, S]
    axes_12 = b.const("c_axes_12", np.array([1, 2], np.int64))
    keep = b.op("Unsqueeze", [mask_f, axes_12])  # [B, 1, 1, S]
    one = b.const("c_onef", np.array(1.0, np.float32))
    neg = b.const("c_mask_neg", np.array(_MASK_NEG, np.float32))
    mask_add = b.op("Mul", [b.op("Sub", [one, keep]), neg])
    x = _embeddings(b, ids, cfg)
    for index in range(cfg.layers):
        x = _layer(b, x, mask_add, index, cfg)
    # masked mean over the sequence, as sentence-transformers' Pooling(mean) does
    mask_3d = b.op("Unsqueeze", [mask_f, b.const("c_axes_2", np.array([2], np.int64))])
    axis_1 = b.const("c_axis_1", np.array([1], np.int64))
    summed = b.op("ReduceSum", [b.op("Mul", [x, mask_3d]), axis_1], keepdims=0)
    count = b.op("ReduceSum", [mask_3d, axis_1], keepdims=0)
    count = b.op("Max", [count, b.const("c_min_count", np.array(1e-9, np.float32))])
    pooled = b.op("Div", [summed, count])
    b.nodes.append(helper.make_node("Identity", [pooled], ["mean_pooled"]))
    norm = b.op("ReduceL2", [pooled], axes=[1], keepdims=1)  # axes: an attribute in opset 17
    norm = b.op("Max", [norm, b.const("c_min_norm", np.array(1e-12, np.float32))])
    b.nodes.append(helper.make_node("Div", [pooled, norm], ["sentence_embedding"]))
    graph = helper.make_graph(
        b.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", cfg.hidden]
            ),
            helper.make_tensor_value_info("mean_pooled", TensorProto.FLOAT, ["batch", cfg.hidden]),
        ],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="smartflow"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
