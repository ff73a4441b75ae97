"""``ponder bench decode``: tokens/s free vs grammar-constrained, one run.

Rounds alternate (free, constrained, constrained without the overlap thread,
GBNF, llama-cpp-python free; then again) on the same prompt, so machine noise hits all sides alike. Each round generates a
fixed number of tokens (``--tokens``):
- free: our decode loop with no grammar and the end-of-turn tokens banned;
- constrained: the same loop under an llguidance mask for a schema that cannot
  end early (an array of at least ``--tokens`` strings), so both sides
  generate the same count;
- gbnf: llama-cpp-python's own grammar sampler (GBNF from the same schema),
  the baseline this replaces; ``llama_cpp_free_tok_s`` is its free path, a
  check that our loop is not slower than the library's.
``mask_ms_per_token`` is the mask computation time per token (measured in the
rounds without overlap); ``mask_wait_ms_per_token`` is what is left of it on
the critical path with the overlap thread. Rates count decode time only (from the first sampled token to the last); the
prompt is cached after the first round. ``ratio`` = constrained / free: the
median over rounds of each round's ratio (pairs taken side by side, so a
noisy machine moves both); the ``*_tok_s`` values are medians.

With ``--base-url`` the same is measured against an OpenAI-compatible server:
free vs ``response_format`` json_schema, each round timing one request.
"""
from __future__ import annotations

import json
import statistics
import time
from typing import Any

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name as many different fruits and vegetables as you can."},
]


def bench_schema(n_tokens: int) -> dict:
    """A schema whose values take at least ``n_tokens`` tokens (see module doc)."""
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "string", "maxLength": 40},
                                 "minItems": n_tokens}},
        "required": ["items"],
        "additionalProperties": False,
    }


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 1) if xs else 0.0


def bench_decode(args: Any) -> dict:
    n = int(getattr(args, "tokens", 128) or 128)
    repeats = int(getattr(args, "repeats", 3) or 3)
    if getattr(args, "base_url", None):
        return _bench_server(args, n, repeats)
    from ..agent.models import load_model

    model = load_model(getattr(args, "model", "default"), gpu_layers=getattr(args, "gpu_layers", None),
                       n_ctx=getattr(args, "ctx", None))
    schema = bench_schema(n)
    gbnf = _gbnf(schema)
    model.generate(PROMPT, max_tokens=4)  # warm up: prompt into the KV cache, tokenizer built
    model.generate(PROMPT, schema=schema, max_tokens=4)
    rates: dict[str, list[float]] = {"free": [], "constrained": [], "constrained_no_overlap": [],
                                     "gbnf": [], "llama_cpp_free": []}
    counts: dict[str, list[int]] = {k: [] for k in rates}
    mask_wait, mask_time = [], []
    for _ in range(repeats):
        r, _u = model.generate(PROMPT, max_tokens=n, ignore_eos=True)
        rates["free"].append(len(r.tokens) / r.seconds)
        counts["free"].append(len(r.tokens))
        r, _u = model.generate(PROMPT, schema=schema, max_tokens=n)
        rates["constrained"].append(len(r.tokens) / r.seconds)
        counts["constrained"].append(len(r.tokens))
        mask_wait.append(r.mask_wait_seconds / max(len(r.tokens), 1))
        r, _u = model.generate(PROMPT, schema=schema, max_tokens=n, overlap=False)
        rates["constrained_no_overlap"].append(len(r.tokens) / r.seconds)
        mask_time.append(r.mask_wait_seconds / max(len(r.tokens), 1))
        counts["constrained_no_overlap"].append(len(r.tokens))
        for key, grammar in (("gbnf", gbnf), ("llama_cpp_free", None)):
            k, secs = _llama_cpp_generate(model, grammar, n)
            rates[key].append(k / secs)
            counts[key].append(k)
    free, con, gb = (_median(rates[k]) for k in ("free", "constrained", "gbnf"))
    return {
        "model": model.name,
        "backend": "llama-cpp-python in-process" + (" (GPU offload)" if model.gpu else " (CPU)"),
        "n_tokens": n,
        "rounds": repeats,
        "free_tok_s": free,
        "constrained_tok_s": con,
        "ratio": _paired_ratio(rates["constrained"], rates["free"]),
        "gbnf_tok_s": gb,
        "gbnf_ratio": _paired_ratio(rates["gbnf"], rates["free"]),
        "no_overlap_tok_s": _median(rates["constrained_no_overlap"]),
        "no_overlap_ratio": _paired_ratio(rates["constrained_no_overlap"], rates["free"]),
        "llama_cpp_free_tok_s": _median(rates["llama_cpp_free"]),
        "mask_ms_per_token": round(1000 * statistics.median(mask_time), 3),
        "mask_wait_ms_per_token": round(1000 * statistics.median(mask_wait), 3),
        "tokens_per_round": {k: v for k, v in counts.items()},
        "rounds_tok_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
    }


def _paired_ratio(side: list[float], free: list[float]) -> float:
    """Median over rounds of side/free, each round against its own free run."""
    pairs = [a / b for a, b in zip(side, free) if b]
    return round(statistics.median(pairs), 3) if pairs else 0.0


def _gbnf(schema: dict):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def _llama_cpp_generate(model: Any, grammar: Any, n: int) -> tuple[int, float]:
    """llama-cpp-python's own ``Llama.generate`` (C sampler chain, GBNF grammar
    when given): tokens generated and decode seconds (first token to last)."""
    llama = model.llama
    with model._lock:
        prompt = model.tokenize_prompt(PROMPT)
        timed, start = 0, None
        for token in llama.generate(prompt, temp=0.0, grammar=grammar, reset=True):
            if grammar is not None and token in model.stop:
                break
            if start is None:  # the first token: the prompt was just evaluated
                start = time.perf_counter()
                continue
            timed += 1
            if timed >= n - 1:
                break
        return max(timed, 1), max(time.perf_counter() - (start or 0.0), 1e-9)


def _bench_server(args: Any, n: int, repeats: int) -> dict:
    """Free vs response_format-constrained against an OpenAI-compatible server.

    ``response_format`` is sent OpenAI-style (``json_schema``: llama-server,
    vLLM, Ollama); a server that refuses it gets ``json_object`` + ``schema``
    (llama-cpp-python's server). Free rounds ask for ``ignore_eos`` (servers
    that ignore it may stop early; rates use the reported completion tokens).
    """
    import httpx

    from ..errors import ModelError

    base = args.base_url.rstrip("/")
    schema = bench_schema(n)
    body = {"model": args.model, "messages": PROMPT, "max_tokens": n, "temperature": 0.0}
    formats = [{"type": "json_schema", "json_schema": {"name": "bench", "schema": schema}},
               {"type": "json_object", "schema": schema}]
    rates: dict[str, list[float]] = {"free": [], "constrained": []}

    def timed(client: httpx.Client, payload: dict) -> float:
        t0 = time.perf_counter()
        resp = client.post(f"{base}/chat/completions", json=payload)
        resp.raise_for_status()
        secs = time.perf_counter() - t0
        got = (resp.json().get("usage") or {}).get("completion_tokens") or n
        return got / secs

    try:
        with httpx.Client(timeout=600) as client:
            timed(client, {**body, "max_tokens": 1})
            for fmt in formats:  # find the response_format this server takes
                try:
                    timed(client, {**body, "max_tokens": 2, "response_format": fmt})
                    break
                except httpx.HTTPStatusError:
                    continue
            else:
                raise ModelError(f"the server at {base} accepts no JSON-schema response_format")
            for _ in range(repeats):
                rates["free"].append(timed(client, {**body, "ignore_eos": True}))
                rates["constrained"].append(timed(client, {**body, "response_format": fmt}))
    except httpx.HTTPError as e:
        raise ModelError(f"the server at {base} failed: {e}") from None
    free, con = _median(rates["free"]), _median(rates["constrained"])
    return {
        "model": args.model,
        "backend": f"OpenAI-compatible server at {base}",
        "n_tokens": n,
        "rounds": repeats,
        "free_tok_s": free,
        "constrained_tok_s": con,
        "ratio": _paired_ratio(rates["constrained"], rates["free"]),
        "response_format": fmt["type"],
        "note": "server rates include prompt processing and HTTP time per request",
        "rounds_tok_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
    }
