"""How many tokens can a JSON value matching a schema take? And compact JSON.

A completion that is cut off by ``max_tokens`` is not valid JSON, so a
constrained call must be allowed at least as many tokens as the longest value
the schema permits. ``token_bound(schema)`` gives a sound upper bound, or
``None`` when the schema allows values of any length (a string without
``maxLength``, a number, an array without ``maxItems``, an object that allows
additional properties, a recursive ``$ref``).

The bound counts BYTES of the compact JSON text (``COMPACT_JSON``: no
whitespace, ``,`` and ``:`` separators), because every token the decoder can
emit inside JSON carries at least one byte. A string character of unknown
content counts as 6 bytes (a control character's ``\\uXXXX`` escape;
printable characters are raw UTF-8, at most 4 bytes, since COMPACT_JSON turns
off general ``\\u`` escapes), so the bound is generous but never too small.
One more token is added for the end-of-sequence token that some values
(top-level numbers, strings) need to stop.

Choices where JSON Schema is silent:
- sibling keywords next to ``anyOf``/``oneOf``/``allOf``/``$ref`` apply too, so
  the bound is the smallest bound among them (a value must satisfy all);
- ``integer`` uses its decimal digits (llguidance never writes exponents or
  leading zeros for integers); ``"-0"`` is allowed for, so at least 2 bytes;
- ``format`` with a fixed-width form (date, uuid, ipv4, ipv6) is bounded.
"""
from __future__ import annotations

import json
import math
from typing import Any

# llguidance JSON options: compact output, so small models cannot ramble
# whitespace, and a bound that counts only the value's own bytes.
COMPACT_JSON: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ",",
    "key_separator": ":",
    # printable characters are written as UTF-8, never as \uXXXX escapes
    # (llguidance's default, made explicit because the bounds rely on it)
    "json_allow_general_unicode_escapes": False,
}

_FORMAT_BYTES = {"date": 10, "uuid": 36, "ipv4": 15, "ipv6": 45}
_MAX_BYTES_PER_CHAR = 6


def token_bound(schema: Any) -> int | None:
    """Upper bound on the tokens of any compact JSON value valid for ``schema``,
    including a final end-of-sequence token; ``None`` when unbounded."""
    b = _Bounder(schema).bound(schema, ())
    return None if b is None else b + 1


def effective_max_tokens(schema: dict | None, max_tokens: int | None, default: int) -> int:
    """The token limit for one call: enough for the longest valid value.

    With a bounded schema: ``max(bound, max_tokens)``, so that a caller's lower
    cap never truncates an object (a truncated object is a failure, not a
    shorter answer). Unbounded or no schema: ``max_tokens`` or ``default``.
    """
    bound = token_bound(schema) if schema is not None else None
    if bound is None:
        return max_tokens or default
    return max(bound, max_tokens or 0)


def _char_bytes(c: str) -> int:
    if " " <= c < "\x7f":
        return 2 if c in '"\\' else 1
    if c < " " or c == "\x7f":
        return 6  # \uXXXX (or a 2-byte escape like \n)
    return len(c.encode("utf-8"))  # printable non-ASCII: raw UTF-8 under COMPACT_JSON


def string_bytes(text: str) -> int:
    """Bytes of ``text`` as a JSON string literal, at most, under COMPACT_JSON."""
    return 2 + sum(_char_bytes(c) for c in text)


def value_bytes(value: Any) -> int:
    """Bytes of a JSON value written under COMPACT_JSON, at most."""
    if isinstance(value, str):
        return string_bytes(value)
    if isinstance(value, dict):
        inner = [string_bytes(k) + 1 + value_bytes(v) for k, v in value.items()]
        return 2 + sum(inner) + max(len(inner) - 1, 0)
    if isinstance(value, list):
        inner = [value_bytes(v) for v in value]
        return 2 + sum(inner) + max(len(inner) - 1, 0)
    return len(json.dumps(value))


def _smallest(*bounds: int | None) -> int | None:
    known = [b for b in bounds if b is not None]
    return min(known) if known else None


def _largest(bounds: list[int | None]) -> int | None:
    if any(b is None for b in bounds):
        return None
    return max(bounds) if bounds else 0


class _Bounder:
    def __init__(self, root: Any):
        self.root = root

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise KeyError(ref)
        node = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def bound(self, s: Any, refs: tuple[str, ...]) -> int | None:
        if s is True or s == {}:
            return None
        if s is False:
            return 0
        if not isinstance(s, dict):
            return None
        own = self.own(s, refs)
        combined: list[int | None] = [own]
        if "$ref" in s:
            ref = s["$ref"]
            if ref in refs:
                combined.append(None)  # recursive: unbounded unless siblings bound it
            else:
                try:
                    combined.append(self.bound(self.resolve(ref), refs + (ref,)))
                except (KeyError, IndexError, ValueError):
                    combined.append(None)
        for key in ("anyOf", "oneOf"):
            if key in s:
                combined.append(_largest([self.bound(b, refs) for b in s[key]]))
        for sub in s.get("allOf", []):
            combined.append(self.bound(sub, refs))
        return _smallest(*combined)

    def own(self, s: dict, refs: tuple[str, ...]) -> int | None:
        """Bound from this node's own keywords (not the combinators)."""
        if "const" in s:
            return value_bytes(s["const"])
        if "enum" in s:
            return max((value_bytes(v) for v in s["enum"]), default=0)
        types = s.get("type")
        if types is None:
            return None
        if isinstance(types, str):
            types = [types]
        return _largest([self.typed(t, s, refs) for t in types])

    def typed(self, t: str, s: dict, refs: tuple[str, ...]) -> int | None:
        if t == "null":
            return 4
        if t == "boolean":
            return 5
        if t == "integer":
            return _integer_bytes(s)
        if t == "number":
            return None
        if t == "string":
            if "maxLength" in s:
                return 2 + _MAX_BYTES_PER_CHAR * int(s["maxLength"])
            width = _FORMAT_BYTES.get(s.get("format", ""))
            return None if width is None else 2 + width
        if t == "array":
            return self.array(s, refs)
        if t == "object":
            return self.object(s, refs)
        return None

    def array(self, s: dict, refs: tuple[str, ...]) -> int | None:
        prefix = s.get("prefixItems", [])
        items = s.get("items", True)
        n = s.get("maxItems")
        if items is False:
            n = len(prefix) if n is None else min(n, len(prefix))
        if n is None:
            return None
        n = int(n)
        parts = [self.bound(prefix[i] if i < len(prefix) else items, refs) for i in range(n)]
        if any(p is None for p in parts):
            return None
        return 2 + sum(parts) + max(n - 1, 0)  # type: ignore[arg-type]

    def object(self, s: dict, refs: tuple[str, ...]) -> int | None:
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        closed = (extra is False or s.get("unevaluatedProperties") is False) and not s.get(
            "patternProperties")
        if not closed:
            return 2 if s.get("maxProperties") == 0 else None
        parts = [self.bound(v, refs) for v in props.values()]
        if any(p is None for p in parts):
            return None
        keys = sum(string_bytes(k) + 1 for k in props)
        return 2 + keys + sum(parts) + max(len(parts) - 1, 0)  # type: ignore[arg-type]


def _integer_bytes(s: dict) -> int | None:
    lo = s.get("minimum", s.get("exclusiveMinimum"))
    hi = s.get("maximum", s.get("exclusiveMaximum"))
    if lo is None or hi is None:
        return None
    if isinstance(lo, bool) or isinstance(hi, bool):  # draft-4 style booleans
        return None
    return max(len(str(math.floor(lo))), len(str(math.ceil(hi))), 2)
