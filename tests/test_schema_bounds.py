"""Token bounds from JSON schemas: exact on small cases, never below a real value."""
import json

import jsonschema
import pytest

from ponder.agent.models.schema_bounds import (
    COMPACT_JSON, effective_max_tokens, string_bytes, token_bound, value_bytes)


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("schema,expected", [
    ({"type": "boolean"}, 5 + 1),
    ({"type": "null"}, 4 + 1),
    ({"enum": ["a", "bcd", 7]}, len(b'"bcd"') + 1),
    ({"const": {"k": [1, 2]}}, len(b'{"k":[1,2]}') + 1),
    ({"type": "integer", "minimum": -5, "maximum": 1200}, 4 + 1),
    ({"type": "integer", "minimum": 0, "maximum": 9}, 2 + 1),  # "-0" is a valid integer
    ({"type": "string", "maxLength": 3}, 2 + 6 * 3 + 1),
    ({"type": "string", "format": "uuid"}, 38 + 1),
    ({"type": "array", "items": {"type": "boolean"}, "maxItems": 3}, 2 + 3 * 5 + 2 + 1),
    ({"type": "array", "prefixItems": [{"const": 1}, {"const": 22}], "items": False}, len(b"[1,22]") + 1),
    ({"type": "object", "properties": {"a": {"type": "boolean"}, "bb": {"type": "null"}},
      "additionalProperties": False}, len(b'{"a":false,"bb":null}') + 1),
    ({"anyOf": [{"const": "x"}, {"type": "integer", "minimum": 0, "maximum": 99999}]}, 5 + 1),
    ({"type": "string", "maxLength": 100, "enum": ["no", "yes"]}, 5 + 1),  # siblings: smallest
])
def test_exact_small_bounds(schema, expected):
    assert token_bound(schema) == expected


@pytest.mark.parametrize("schema", [
    {}, True, {"type": "string"}, {"type": "number", "minimum": 0, "maximum": 1},
    {"type": "integer", "minimum": 0}, {"type": "array", "items": {"type": "boolean"}},
    {"type": "object", "properties": {"a": {"type": "boolean"}}},  # additional properties allowed
    {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    {"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}},
                     "additionalProperties": False}}, "$ref": "#/$defs/n"},
    {"type": ["boolean", "string"]},
])
def test_unbounded_schemas_give_none(schema):
    assert token_bound(schema) is None


def test_refs_resolve_and_bound():
    schema = {"$defs": {"flag": {"type": "boolean"}},
              "type": "array", "items": {"$ref": "#/$defs/flag"}, "maxItems": 2}
    assert token_bound(schema) == 2 + 5 + 1 + 5 + 1


ACTION = {
    "type": "object",
    "properties": {
        "thought": {"type": "string", "maxLength": 20},
        "action": {"oneOf": [
            {"type": "object", "properties": {"tool": {"const": "search"},
                                              "query": {"type": "string", "maxLength": 12}},
             "required": ["tool", "query"], "additionalProperties": False},
            {"type": "object", "properties": {"tool": {"const": "answer"},
                                              "text": {"type": "string", "maxLength": 30}},
             "required": ["tool", "text"], "additionalProperties": False},
        ]},
        "scores": {"type": "array", "items": {"type": "integer", "minimum": -100, "maximum": 100},
                   "minItems": 1, "maxItems": 4},
    },
    "required": ["thought", "action"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("value", [
    {"thought": "é" * 20, "action": {"tool": "answer", "text": "\n\"\\" * 10},
     "scores": [-100, -100, -100, -100]},
    {"thought": "\x01" * 20, "action": {"tool": "search", "query": "😀" * 12}, "scores": [0]},
])
def test_bound_covers_worst_case_values(value):
    jsonschema.validate(value, ACTION)
    bound = token_bound(ACTION)
    # every token carries at least one byte; control characters may be \\u-escaped
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in compact(value).decode())
    assert len(compact(value)) < bound and len(escaped.encode()) < bound


def test_string_and_value_bytes_are_upper_bounds():
    # under COMPACT_JSON printable characters are raw UTF-8; control ones may be \\uXXXX
    for text in ["plain", 'q"uote', "back\\slash", "tab\t", "ünï", "😀", "\x01\x1f"]:
        assert string_bytes(text) >= len(json.dumps(text, ensure_ascii=False).encode())
    assert string_bytes("\x01\n") == 2 + 6 + 6 and string_bytes("😀") == 2 + 4
    assert value_bytes({"a": [1, None, True]}) == len(b'{"a":[1,null,true]}')


def test_effective_max_tokens_never_truncates_a_bounded_schema():
    bound = token_bound(ACTION)
    assert effective_max_tokens(ACTION, None, default=4096) == bound
    assert effective_max_tokens(ACTION, 5, default=4096) == bound  # a low cap is raised
    assert effective_max_tokens(ACTION, bound + 50, default=4096) == bound + 50
    assert effective_max_tokens({"type": "string"}, None, default=777) == 777
    assert effective_max_tokens({"type": "string"}, 10, default=777) == 10
    assert effective_max_tokens(None, None, default=9) == 9


def test_compact_options_disable_free_whitespace():
    assert COMPACT_JSON["whitespace_flexible"] is False
    assert COMPACT_JSON["item_separator"] == "," and COMPACT_JSON["key_separator"] == ":"
