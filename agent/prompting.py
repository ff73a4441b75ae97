"""Prompt files (prompts/*.md, *.yaml) and the stable system prompt.

- ``system.md``: role, rules, ``{{tools}}`` (the catalog) and ``{{examples}}``.
- ``phases.yaml``: one short instruction per phase, ``str.format`` placeholders.
- ``fewshot.yaml``: the whole cycle on the two seed examples.

The system prompt depends only on the tools, so it is the same for every call
of an Agent: the stable prefix the KV cache keeps. Examples are included when
the agent has all the tools they use; when none fits (custom tools only),
all are included with a note that their tools may differ.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

import yaml


def compact(obj: Any) -> str:
    """JSON as the grammar writes it: no spaces."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=None)
def _text(name: str) -> str:
    return (resources.files("ponder.prompts") / name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def phase_texts() -> dict[str, str]:
    return yaml.safe_load(_text("phases.yaml"))


def instruction(name: str, **values: Any) -> str:
    """A phase instruction (or other fixed text) from phases.yaml, filled in."""
    return phase_texts()[name].format(**values).strip()


def observation_block(n: int, tool: str, text: str) -> str:
    return instruction("observation", n=n, tool=tool, text=text)


def fewshot() -> list[dict]:
    return yaml.safe_load(_text("fewshot.yaml"))


def _type_of(schema: dict) -> str:
    if "enum" in schema:
        return "|".join(compact(v) for v in schema["enum"])
    if "anyOf" in schema:
        return "|".join(_type_of(s) for s in schema["anyOf"])
    t = schema.get("type", "any")
    if t == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    return t if isinstance(t, str) else "|".join(t)


def tool_catalog(tools: Sequence[Any]) -> str:
    lines = []
    for t in tools:
        params = t.parameters or {}
        required = set(params.get("required", []))
        args = []
        for name, prop in params.get("properties", {}).items():
            opt = "" if name in required else "?"
            desc = f" ({prop['description']})" if prop.get("description") else ""
            args.append(f"{name}{opt}: {_type_of(prop)}{desc}")
        lines.append(f"- {t.name}: {t.description.strip()}\n  args: {'; '.join(args) or 'none'}")
    return "\n".join(lines)


def render_example(index: int, example: dict) -> str:
    out = [f"EXAMPLE {index} (tools: {', '.join(example['tools'])})", f"TASK: {example['task']}"]
    n, last_tool = 0, ""
    for turn in example["turns"]:
        (kind, value), = turn.items()
        if kind == "observation":
            n += 1
            out.append(observation_block(n, last_tool, str(value).strip()))
        elif kind == "feedback":
            out.append(instruction("feedback", text=value))
        else:
            if kind == "act" and "tool" in value:
                last_tool = value["tool"]
            out.append(f"PHASE {kind}\n{compact(value)}")
    return "\n".join(out)


def system_prompt(tools: Sequence[Any]) -> str:
    names = {t.name for t in tools}
    examples = fewshot()
    fitting = [e for e in examples if set(e["tools"]) <= names]
    note = ""
    if not fitting:
        fitting, note = examples, "(The examples use tools you may not have; use only your tools.)\n"
    shown = "\n\n".join(render_example(i, e) for i, e in enumerate(fitting, 1))
    return (_text("system.md").replace("{{tools}}", tool_catalog(tools))
            .replace("{{examples}}", f"Examples of the whole cycle:\n{note}\n{shown}").strip())
