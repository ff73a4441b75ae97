"""The fast embedder (ONNX fp32 / int8) against the torch reference: same vectors, same ranking."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ponder.tools import embeddings
from ponder.tools.read import load_file
from ponder.tools.retrieve import CHUNK_OVERLAP, CHUNK_SIZE

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
LABELS = json.loads((Path(__file__).parent / "retrieval_labels.json").read_text())


@pytest.fixture(scope="module")
def embedders():
    """One of each variant for the whole module (loading torch is the slow part)."""
    return {kind: embeddings.get_embedder(kind) for kind in embeddings.KINDS}


@pytest.fixture(scope="module")
def samples():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = [c for f in sorted(CORPUS.iterdir()) for c in splitter.split_text(load_file(f).text)]
    return chunks + [q["query"] for q in LABELS] + ["x", "AMD", "a " * 400]


def test_vectors_are_unit_length_and_shaped(embedders, samples):
    for kind, emb in embedders.items():
        vecs = emb.embed(samples)
        assert vecs.shape == (len(samples), embeddings.DIM), kind
        assert vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert embedders["onnx"].embed([]).shape == (0, embeddings.DIM)


def test_fast_paths_match_torch(embedders, samples):
    ref = embedders["torch"].embed(samples)
    fp32 = np.sum(embedders["onnx"].embed(samples) * ref, axis=1)
    int8 = np.sum(embedders["onnx-int8"].embed(samples) * ref, axis=1)
    assert fp32.min() > 0.9999, fp32.min()
    assert int8.min() > 0.99, int8.min()


def test_batching_does_not_change_vectors(embedders, samples):
    """fp32: batching (length-sorted, padded) is exact. int8: activation scales are per batch
    (dynamic quantization), so a text's vector moves a little with its batch-mates."""
    for kind, tol in (("onnx", 0.99999), ("onnx-int8", 0.995)):
        emb = embedders[kind]
        together = emb.embed(samples)
        alone = np.stack([emb.embed([s])[0] for s in samples[:6]])
        assert np.sum(together[:6] * alone, axis=1).min() > tol, kind


def top1_hit_rate(emb) -> float:
    """Documents embedded whole-chunk-wise; a query hits if its best chunk is in the labelled file."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    names, texts = [], []
    for f in sorted(CORPUS.iterdir()):
        for c in splitter.split_text(load_file(f).text):
            names.append(f.name)
            texts.append(c)
    docs = emb.embed(texts)
    queries = emb.embed([q["query"] for q in LABELS])
    best = np.argmax(queries @ docs.T, axis=1)
    return float(np.mean([names[b] == q["doc"] for b, q in zip(best, LABELS)]))


def test_top1_hit_rate_is_kept(embedders):
    rates = {kind: top1_hit_rate(emb) for kind, emb in embedders.items()}
    print("top-1 hit rate:", rates)
    assert rates["torch"] >= 0.8
    assert rates["onnx-int8"] >= rates["torch"] - 0.1
    assert rates["onnx"] == rates["torch"]


def test_export_is_cached_by_weights_hash(embedders):
    path = embeddings.onnx_path("onnx-int8")
    assert path.is_file() and embeddings.weights_hash()[:16] in str(path)
    before = path.stat().st_mtime_ns
    assert embeddings.onnx_path("onnx-int8").stat().st_mtime_ns == before  # not rebuilt
    assert embeddings.get_embedder("onnx-int8") is embedders["onnx-int8"]  # one per process


def test_unknown_kind_is_a_usage_error():
    from ponder.errors import UsageError

    with pytest.raises(UsageError):
        embeddings.get_embedder("word2vec")
