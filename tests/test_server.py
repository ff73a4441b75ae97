"""OpenAIServerModel against a real ``python -m llama_cpp.server`` (SmolLM2),
plus a tiny local HTTP server for the failure modes a real one will not show
on demand (a transient 503/429, a server that ignores schemas, other servers'
usage fields)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest

from conftest import free_port
from ponder.agent.models.base import Model
from ponder.agent.models.openai_server import OpenAIServerModel, normalize_base_url
from ponder.errors import FormatError, ModelError

ASK = [{"role": "user", "content": "Say hello to Alice in one short sentence."}]


@pytest.fixture(scope="module")
def model(llama_cpp_server):
    m = OpenAIServerModel(base_url=llama_cpp_server, timeout=60, retries=1, backoff=0.05)
    yield m
    m.close()


# -- a scripted local HTTP server -----------------------------------------------------
class Stub:
    """Answers each request with the next scripted reply; records request bodies.

    A reply is ``(status, body_dict, headers)``, or ``"proxy"`` to forward the
    request to ``upstream`` (a real server) and relay its answer."""

    def __init__(self, replies, upstream: str | None = None):
        self.replies, self.upstream, self.bodies = list(replies), upstream, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._answer(None)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                self._answer(raw)

            def _answer(self, raw):
                stub.bodies.append(json.loads(raw) if raw else None)
                reply = stub.replies.pop(0) if len(stub.replies) > 1 else stub.replies[0]
                if reply == "proxy":
                    status, payload, headers = stub._forward(self.command, self.path, raw)
                else:
                    status, body, headers = reply
                    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"content-type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _forward(self, method, path, raw):
        root = self.upstream.removesuffix("/v1")
        req = urllib.request.Request(root + path, data=raw, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read(), {"content-type": resp.headers["content-type"]}
        except urllib.error.HTTPError as e:
            return e.code, e.read(), {}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def canned(content: str, usage: dict | None = None, **extra) -> tuple:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}], **extra}
    if usage is not None:
        body["usage"] = usage
    return (200, body, {})


@pytest.fixture
def stub():
    made = []

    def make(replies, upstream=None):
        made.append(Stub(replies, upstream))
        return made[-1]

    yield make
    for s in made:
        s.close()


# -- against the real server ------------------------------------------------------------
def test_free_completion_reports_usage(model):
    assert isinstance(model, Model)
    out = model.complete(ASK, max_tokens=24)
    assert out.text.strip() and out.data is None
    assert out.finish_reason in ("stop", "length")
    u = out.usage
    assert u.calls == 1 and 0 < u.completion_tokens <= 24
    assert u.prompt_tokens > 5 and u.prompt_eval_tokens == u.prompt_tokens
    assert u.model_seconds > 0


SCHEMAS = {
    "enum": ({"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}},
              "required": ["color"], "additionalProperties": False},
             "Pick a color for the sky."),
    "nested": ({"type": "object", "additionalProperties": False, "required": ["person"],
                "properties": {"person": {
                    "type": "object", "additionalProperties": False, "required": ["name", "age"],
                    "properties": {"name": {"type": "string", "maxLength": 20},
                                   "age": {"type": "integer", "minimum": 0, "maximum": 120}}}}},
               "Describe Alice, who is 30 years old."),
    "array": ({"type": "object", "additionalProperties": False, "required": ["fruits"],
               "properties": {"fruits": {"type": "array", "minItems": 2, "maxItems": 3,
                                         "items": {"type": "string", "maxLength": 12}}}},
              "List some fruits."),
    "maxlength": ({"type": "object", "additionalProperties": False, "required": ["title"],
                   "properties": {"title": {"type": "string", "maxLength": 8}}},
                  "Write a long title for a book about the history of the Roman empire."),
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_schema_constrained_output_is_valid(model, name):
    schema, question = SCHEMAS[name]
    out = model.complete([{"role": "user", "content": question}], schema=schema)
    jsonschema.validate(out.data, schema)
    assert json.loads(out.text) == out.data
    assert out.finish_reason == "stop"
    # llama-cpp-python's server refuses the json_schema form; the fallback is remembered
    assert model.response_format_type == "json_object"


def test_format_fallback_is_detected_once(llama_cpp_server, stub):
    proxy = stub(["proxy"], upstream=llama_cpp_server)
    m = OpenAIServerModel(base_url=proxy.base, retries=0)
    schema = SCHEMAS["enum"][0]
    for _ in range(2):
        jsonschema.validate(m.complete(ASK, schema=schema).data, schema)
    posts = [b for b in proxy.bodies if b]  # None: the GET /models resolving "default"
    assert [b["response_format"]["type"] for b in posts] == ["json_schema", "json_object",
                                                             "json_object"]
    assert posts[0]["response_format"]["json_schema"]["schema"] == schema
    assert posts[1]["response_format"]["schema"] == schema


def test_streaming_calls_on_text_and_matches(model):
    pieces: list[str] = []
    out = model.complete(ASK, max_tokens=20, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == out.text
    assert out.usage.completion_tokens == len(pieces)  # one token per delta on llama.cpp
    assert out.usage.prompt_tokens > 0
    schema = SCHEMAS["nested"][0]
    pieces.clear()
    out = model.complete([{"role": "user", "content": SCHEMAS["nested"][1]}], schema=schema,
                         on_text=pieces.append)
    assert "".join(pieces) == out.text
    jsonschema.validate(out.data, schema)


def test_server_message_surfaces_on_4xx(model):
    too_long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ModelError) as e:
        model.complete(too_long, max_tokens=8)
    assert "400" in str(e.value) and "context" in str(e.value)


def test_list_models_and_default_name(model, llama_cpp_server):
    ids = model.list_models()
    assert ids and ids[0].endswith(".gguf")
    fresh = OpenAIServerModel(base_url=llama_cpp_server.removesuffix("/v1"))
    fresh.complete(ASK, max_tokens=2)
    assert fresh.name == ids[0]


def test_retry_after_transient_503_reaches_the_real_server(llama_cpp_server, stub):
    fail = (503, {"error": {"message": "loading model"}}, {"Retry-After": "0"})
    busy = (429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
    proxy = stub([fail, busy, "proxy"], upstream=llama_cpp_server)
    m = OpenAIServerModel(base_url=proxy.base, model="x", retries=3, backoff=0.01)
    out = m.complete(ASK, max_tokens=4)
    assert out.text and len(proxy.bodies) == 3


# -- failure modes (local stub server) -----------------------------------------------------
def test_dead_port_fails_fast_with_a_hint():
    m = OpenAIServerModel(base_url=f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as e:
        m.complete(ASK)  # "default" first asks GET /models: that fails, with the same message
    assert time.monotonic() - t0 < 5
    msg = str(e.value)
    assert "cannot reach the model server" in msg and "llama_cpp.server" in msg
    assert "3 attempts" in msg


def test_retries_are_bounded_and_4xx_is_not_retried(stub):
    down = stub([(503, {"error": {"message": "overloaded"}}, {})])
    m = OpenAIServerModel(base_url=down.base, model="x", retries=2, backoff=0.01)
    with pytest.raises(ModelError, match="overloaded"):
        m.complete(ASK)
    assert len(down.bodies) == 3
    bad = stub([(400, {"error": {"message": "temperature must be <= 2"}}, {})])
    m = OpenAIServerModel(base_url=bad.base, model="x", retries=2, backoff=0.01)
    with pytest.raises(ModelError, match="temperature must be <= 2"):
        m.complete(ASK, temperature=5)
    assert len(bad.bodies) == 1


@pytest.mark.parametrize("content", ["not json at all", '{"color": "purple"}'])
def test_server_ignoring_the_schema_raises_format_error(stub, content):
    s = stub([canned(content)])
    m = OpenAIServerModel(base_url=s.base, model="x", retries=0)
    with pytest.raises(FormatError) as e:
        m.complete(ASK, schema=SCHEMAS["enum"][0])
    assert e.value.text == content
    assert s.bodies[0]["response_format"]["type"] == "json_schema"
    assert s.bodies[0]["max_tokens"] > 5  # a bound from the schema, not the server default


def test_usage_from_llama_server_timings_and_cached_tokens(stub):
    s = stub([canned("hi", {"prompt_tokens": 50, "completion_tokens": 2}, timings={"prompt_n": 7}),
              canned("hi", {"prompt_tokens": 50, "completion_tokens": 2,
                            "prompt_tokens_details": {"cached_tokens": 40}})])
    m = OpenAIServerModel(base_url=s.base, model="x", retries=0)
    u = m.complete(ASK).usage
    assert (u.prompt_tokens, u.prompt_eval_tokens, u.completion_tokens) == (50, 7, 2)
    u = m.complete(ASK).usage
    assert (u.prompt_tokens, u.prompt_eval_tokens) == (50, 10)


def test_stream_usage_and_errors(stub):
    events = [{"choices": [{"delta": {"content": "a"}}]},
              {"choices": [{"delta": {"content": "b"}, "finish_reason": "length"}]},
              {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}]
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    s = stub([(200, sse.encode(), {"content-type": "text/event-stream"}),
              (200, b'data: {"error": {"message": "slot died"}}\n\n',
               {"content-type": "text/event-stream"}),
              canned("whole", {"prompt_tokens": 3, "completion_tokens": 1})])
    m = OpenAIServerModel(base_url=s.base, model="x", retries=0, api_key="k")
    got: list[str] = []
    out = m.complete(ASK, on_text=got.append)
    assert got == ["a", "b"] and out.text == "ab" and out.finish_reason == "length"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (9, 2)
    assert s.bodies[0]["stream"] is True
    with pytest.raises(ModelError, match="slot died"):
        m.complete(ASK, on_text=got.append)
    got.clear()  # a server that ignores "stream" and answers with one JSON body
    out = m.complete(ASK, on_text=got.append)
    assert got == ["whole"] and out.text == "whole" and out.usage.completion_tokens == 1


def test_base_url_normalization():
    assert normalize_base_url("http://h:8080") == "http://h:8080/v1"
    assert normalize_base_url("http://h:8080/v1/") == "http://h:8080/v1"
    assert normalize_base_url("localhost:11434") == "http://localhost:11434/v1"
    assert normalize_base_url("https://x.org/openai/v1") == "https://x.org/openai/v1"


def test_default_name_without_models_endpoint(stub):
    s = stub([(404, {"detail": "Not Found"}, {}), canned('{"color": "red"}')])
    m = OpenAIServerModel(base_url=s.base, retries=0)
    out = m.complete(ASK, schema=SCHEMAS["enum"][0])
    assert out.data == {"color": "red"} and m.name == "default"
    assert s.bodies[1]["model"] == "default"
