"""Constrained decoding on the real SmolLM2: valid for many schemas and seeds.

Random bounded schemas (a seeded generator over enums, consts, bounded
integers, booleans, strings with maxLength, arrays with min/maxItems, nested
closed objects, anyOf unions with const discriminators) are sampled at
temperature 1.0 with different seeds, so the model explores; every output must
validate with jsonschema and fit the schema's token bound (0 invalid).
"""
import json
import random

import jsonschema
import numpy as np
import pytest

from ponder.agent.models import load_model
from ponder.agent.models.constrained import Constraint, Sampler, compile_schema
from ponder.agent.models.schema_bounds import token_bound
from ponder.errors import UsageError

pytestmark = pytest.mark.slow

WORDS = ["alpha", "beta", "gamma", "delta", "search", "answer", "ok", "x y", "é", "不"]


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["enum", "const", "int", "bool", "str", "null"]
    if depth < 2:
        kinds += ["array", "object", "object", "union"]
    kind = rng.choice(kinds if depth else ["array", "object", "object", "union", "str", "enum"])
    if kind == "enum":
        return {"enum": rng.sample(WORDS, rng.randint(1, 4)) + rng.sample([1, 22, None, True], 1)}
    if kind == "const":
        return {"const": rng.choice(WORDS)}
    if kind == "int":
        lo = rng.randint(-50, 50)
        return {"type": "integer", "minimum": lo, "maximum": lo + rng.randint(0, 500)}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "null":
        return {"type": "null"}
    if kind == "str":
        s = {"type": "string", "maxLength": rng.randint(0, 12)}
        if rng.random() < 0.3:
            s["minLength"] = rng.randint(0, s["maxLength"])
        return s
    if kind == "array":
        hi = rng.randint(0, 3)
        return {"type": "array", "items": random_schema(rng, depth + 1),
                "minItems": rng.randint(0, hi), "maxItems": hi}
    if kind == "union":  # tagged union, like an agent's action schema
        tags = rng.sample(["search", "answer", "vm", "think"], rng.randint(2, 3))
        key = rng.choice(["oneOf", "anyOf"])
        return {key: [{"type": "object",
                       "properties": {"kind": {"const": t}, "arg": random_schema(rng, depth + 1)},
                       "required": ["kind", "arg"], "additionalProperties": False}
                      for t in tags]}
    names = rng.sample(["a", "b", "name", "value", "items", "ok", "n"], rng.randint(1, 4))
    props = {n: random_schema(rng, depth + 1) for n in names}
    return {"type": "object", "properties": props,
            "required": [n for n in names if rng.random() < 0.7],
            "additionalProperties": False}


@pytest.fixture(scope="module")
def model():
    return load_model("default")


def test_random_schemas_always_validate(model):
    rng = random.Random(1234)
    invalid, count = [], 0
    for i in range(40):
        schema = random_schema(rng)
        if rng.random() < 0.5 or "type" not in schema:
            schema = {"type": "object", "properties": {"out": schema}, "required": ["out"],
                      "additionalProperties": False}
        bound = token_bound(schema)
        assert bound is not None, schema  # the generator only makes bounded schemas
        messages = [{"role": "user", "content": f"Reply with JSON. Example {i}."}]
        c = model.complete(messages, schema=schema, temperature=1.0, seed=i)
        count += 1
        try:
            jsonschema.validate(json.loads(c.text), schema)
        except (json.JSONDecodeError, jsonschema.ValidationError) as e:
            invalid.append((schema, c.text, str(e)))
        assert c.usage.completion_tokens <= bound, (schema, c.text)
        assert c.finish_reason == "stop"
    assert count == 40 and invalid == []


def test_greedy_output_is_the_same_with_and_without_overlap(model):
    schema = {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20},
        "country": {"enum": ["France", "Germany", "Italy"]}},
        "required": ["city", "country"], "additionalProperties": False}
    messages = [{"role": "user", "content": "Where is the Eiffel tower? Reply in JSON."}]
    a, _ = model.generate(messages, schema=schema, max_tokens=60, overlap=True)
    b, _ = model.generate(messages, schema=schema, max_tokens=60, overlap=False)
    assert a.tokens == b.tokens and a.finish_reason == "stop"
    assert json.loads(model.detokenize(a.tokens))["country"] in ("France", "Germany", "Italy")


def test_mask_forces_the_grammar_even_against_the_model(model):
    """An enum the prompt argues against: the mask still decides."""
    schema = {"enum": ["zebra"]}
    c = model.complete([{"role": "user", "content": "Say hello."}], schema=schema)
    assert c.data == "zebra" and c.text == '"zebra"'


def test_constraint_mask_matches_the_grammar(model):
    c = Constraint(model.lltokenizer(), compile_schema({"type": "boolean"}), model.llama.n_vocab())
    c.fill()
    allowed = np.flatnonzero(c.allowed())
    texts = {model.piece(int(t)) for t in allowed}
    assert texts and all(b"true".startswith(t) or b"false".startswith(t) for t in texts)
    assert all(c.allows(int(t)) for t in allowed[:50])
    t_true = model.llama.tokenize(b"true", add_bos=False)
    for t in t_true:
        c.consume(t)
        c.fill()
    assert c.accepting and c.done


def test_sampler_respects_mask_at_any_temperature(model):
    c = Constraint(model.lltokenizer(), compile_schema({"enum": ["yes", "no"]}),
                   model.llama.n_vocab())
    c.fill()
    logits = np.random.default_rng(0).normal(size=model.llama.n_vocab()).astype(np.float32)
    for temp in (0.0, 0.7, 5.0):
        s = Sampler(temp, rng=np.random.default_rng(1))
        for _ in range(20):
            assert c.allows(s(logits, c))


def test_unsupported_or_invalid_schema_is_a_usage_error():
    with pytest.raises(UsageError):
        compile_schema({"type": "string", "format": "no-such-format"})
    with pytest.raises(UsageError):
        compile_schema({"type": "integer", "minimum": "zero"})


def test_free_decoding_can_ignore_eos_for_benchmarks(model):
    messages = [{"role": "user", "content": "Say hi."}]
    r, _ = model.generate(messages, max_tokens=40, ignore_eos=True)
    assert len(r.tokens) == 40 and not (set(r.tokens) & model.stop)
    assert r.finish_reason == "length"


def test_bench_decode_reports_free_constrained_and_gbnf(model):
    from types import SimpleNamespace

    from ponder.benchmarks.decode import bench_decode

    report = bench_decode(SimpleNamespace(model="default", base_url=None, gpu_layers=None,
                                          ctx=None, tokens=24, repeats=2))
    for key in ("free_tok_s", "constrained_tok_s", "ratio", "gbnf_tok_s", "gbnf_ratio"):
        assert report[key] > 0, key
    # both sides generate the same number of tokens: the schema cannot end early
    assert report["tokens_per_round"]["free"] == report["tokens_per_round"]["constrained"] == [24, 24]


def test_bench_decode_against_a_server_falls_back_to_json_object():
    """A stand-in OpenAI-compatible server that, like llama-cpp-python's, refuses
    json_schema and takes json_object + schema."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from types import SimpleNamespace

    from ponder.benchmarks.decode import bench_decode

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            fmt = (body.get("response_format") or {}).get("type")
            ok = fmt in (None, "json_object")
            payload = json.dumps({"usage": {"completion_tokens": body["max_tokens"]}}).encode()
            self.send_response(200 if ok else 422)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = bench_decode(SimpleNamespace(
            model="m", base_url=f"http://127.0.0.1:{server.server_port}/v1", tokens=8, repeats=2))
    finally:
        server.shutdown()
    assert report["response_format"] == "json_object" and report["ratio"] > 0
    constrained = [b for b in seen if (b.get("response_format") or {}).get("type") == "json_object"]
    assert constrained[-1]["response_format"]["schema"]["required"] == ["items"]
    assert any(b.get("ignore_eos") for b in seen)
