"""Ingest speed (chunks/s) for each embedder variant side by side, and query latency.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--chunks 384] [--rounds 2] [--json]

Every variant embeds the same chunks (langchain splitter, 600 chars / 80
overlap, the same settings as ``ponder ingest``), in interleaved rounds so
load from other processes hits all of them alike; the best round counts.
Then one real ``ingest`` (chromadb included) with the default embedder, and
the latency of ``retrieve`` (query embedding + chromadb search) over the
labelled queries.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench_chunks(n: int) -> list[str]:
    """Prose-heavy chunks: the example corpus, then package descriptions from site-packages."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ponder.tools.read import load_file
    from ponder.tools.retrieve import CHUNK_OVERLAP, CHUNK_SIZE

    split = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_text
    chunks = [c for f in sorted((ROOT / "examples" / "corpus").iterdir()) for c in split(load_file(f).text)]
    site = next(p for p in sys.path if p.endswith("site-packages"))
    for meta in sorted(glob.glob(os.path.join(site, "*.dist-info", "METADATA"))):
        body = Path(meta).read_text(errors="ignore").split("\n\n", 1)[-1]
        chunks += split(body)
        if len(chunks) >= n:
            break
    return chunks[:n]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from ponder.tools import embeddings as E
    from ponder.tools import retrieve as rt

    chunks = bench_chunks(args.chunks)
    tok = E._tokenizer(10_000)
    ntok = [len(e.ids) for e in tok.encode_batch(chunks)]
    variants = {
        "torch seq256 (baseline)": E.TorchEmbedder(max_seq_length=256),
        "torch seq128": E.TorchEmbedder(max_seq_length=128),
        "onnx fp32 fused seq256": E.OnnxEmbedder(kind="onnx", max_seq_length=256),
        "onnx int8 seq256": E.OnnxEmbedder(kind="onnx-int8", max_seq_length=256),
        "onnx int8 seq128": E.OnnxEmbedder(kind="onnx-int8", max_seq_length=128),
    }
    for emb in variants.values():
        emb.embed(chunks[:8])  # warm up
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, emb in variants.items():
            t = time.perf_counter()
            emb.embed(chunks)
            rates[name].append(len(chunks) / (time.perf_counter() - t))
    best = {k: max(v) for k, v in rates.items()}
    base = best["torch seq256 (baseline)"]

    labels = json.loads((ROOT / "tests" / "retrieval_labels.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for i in range(0, len(chunks), 8):
            (docs / f"doc{i:04d}.txt").write_text("\n\n".join(chunks[i:i + 8]))
        for f in (ROOT / "examples" / "corpus").iterdir():
            (docs / f.name).write_bytes(f.read_bytes())
        stats = rt.ingest([str(docs)], store=store, progress=False, embedder=E.get_embedder())
        lat = []
        for item in labels * 2:
            t = time.perf_counter()
            rt.retrieve(item["query"], 4, store=store)
            lat.append((time.perf_counter() - t) * 1000)
    report = {
        "cpus": os.cpu_count(), "load_avg": os.getloadavg()[0], "chunks": len(chunks),
        "mean_tokens": round(statistics.mean(ntok), 1), "tokens_over_128": sum(n > 128 for n in ntok),
        "chunks_per_s": {k: round(v, 1) for k, v in best.items()},
        "speedup_vs_baseline": {k: round(v / base, 2) for k, v in best.items()},
        "ingest_end_to_end": {"embedder": stats.embedder, "chunks": stats.chunks_added,
                              "chunks_per_s_embedding": round(stats.chunks_per_s, 1),
                              "chunks_per_s_total": round(stats.chunks_added / stats.seconds, 1)},
        "query_latency_ms": {"median": round(statistics.median(lat), 1),
                             "p90": round(sorted(lat)[int(0.9 * len(lat)) - 1], 1)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{len(chunks)} chunks, mean {report['mean_tokens']} tokens, {os.cpu_count()} CPUs, "
          f"load average {report['load_avg']:.1f}")
    for k in variants:
        print(f"  {k:26s} {best[k]:7.1f} chunks/s  x{best[k] / base:4.2f}   rounds: "
              + " ".join(f"{r:.1f}" for r in rates[k]))
    e2e = report["ingest_end_to_end"]
    print(f"ingest end to end ({e2e['embedder']}): {e2e['chunks_per_s_total']} chunks/s "
          f"({e2e['chunks_per_s_embedding']} embedding only)")
    print(f"retrieve latency: median {report['query_latency_ms']['median']} ms, "
          f"p90 {report['query_latency_ms']['p90']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
