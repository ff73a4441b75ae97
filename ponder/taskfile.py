"""Task files (cli.md "Task files") and scoring answers against ``expected``.

Formats, detected by extension and then by content:
- ``.yaml`` / ``.yml``: a list of tasks, or ``{tasks: [...]}``;
- ``.jsonl`` / ``.ndjson``: one JSON object per line (blank lines and lines
  starting with ``#`` are skipped);
- ``.json``: a JSON list, ``{"tasks": [...]}``, or JSON lines;
- anything else: JSON lines when every non-blank line is a JSON object, else YAML.

Each task: ``question`` (required, a non-empty string); ``id`` (optional,
default: the 1-based line number for JSON lines, the 1-based position for
YAML, as a string); ``tools`` (optional list of known tool names);
``expected`` (optional: string, list of strings, or number); ``max_steps``
(optional positive integer). Unknown keys are an error (a typo such as
``expect:`` would otherwise silently disable scoring). Every error is a
``UsageError`` that names the file and the line (JSON lines) or the task
index and id (YAML).

Scoring (``score(answer, expected)``):
- string: it appears in the answer, case-insensitively (whitespace runs are
  treated as one space on both sides);
- list of strings: every one appears;
- number: some number written in the answer equals it within 1e-6 relative
  (``math.isclose(a, e, rel_tol=1e-6)``; an expected 0 needs ``abs(a) <= 1e-12``).
  Numbers are read as written: optional sign, digits with optional comma thousands separators
  (``1,234,567``), optional decimals and exponent (``4.8e8``). A number-only
  answer such as ``481406683`` is the common case.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

KNOWN_TOOLS = ("search", "retrieve", "vm")
TASK_KEYS = ("id", "question", "tools", "expected", "max_steps")
REL_TOL = 1e-6


@dataclass
class Task:
    id: str
    question: str
    tools: list[str] | None = None
    expected: Any = None  # str | list[str] | int | float | None
    max_steps: int | None = None
    where: str = ""  # "line 3" / "task 2 (id 'x')": for messages

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "question": self.question}
        for k in ("tools", "expected", "max_steps"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d


@dataclass
class TaskFile:
    path: str
    tasks: list[Task] = field(default_factory=list)


def load_tasks(path: str | Path, known_tools: tuple[str, ...] = KNOWN_TOOLS) -> list[Task]:
    """Read and validate a task file; raises ``UsageError`` naming the problem."""
    p = Path(path)
    if str(path) == "-":
        import sys

        text, name = sys.stdin.read(), "<stdin>"
    else:
        if not p.exists():
            raise UsageError(f"task file {str(path)!r} does not exist (give the path of a .yaml or .jsonl task file)")
        if p.is_dir():
            raise UsageError(f"{str(path)!r} is a folder; give the path of a .yaml or .jsonl task file")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read task file {str(path)!r}: {e}") from None
        name = str(path)
    return parse_tasks(text, name, known_tools)


def parse_tasks(text: str, name: str = "<tasks>",
                known_tools: tuple[str, ...] = KNOWN_TOOLS) -> list[Task]:
    fmt = _detect(text, name)
    if fmt == "jsonl":
        raw = _parse_jsonl(text, name)
    else:
        raw = _parse_structured(text, name, fmt)
    tasks = [_validate(item, default_id, where, name, known_tools) for item, default_id, where in raw]
    if not tasks:
        raise UsageError(f"{name}: no tasks found (expected a YAML list of tasks or one JSON object per line)")
    seen: dict[str, str] = {}
    for t in tasks:
        if t.id in seen:
            raise UsageError(f"{name}: {t.where}: duplicate id {t.id!r} (also {seen[t.id]}); ids must be unique")
        seen[t.id] = t.where
    return tasks


def _detect(text: str, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    stripped = text.lstrip()
    if suffix == ".json":
        try:
            json.loads(text)
            return "json"
        except json.JSONDecodeError:
            return "jsonl" if stripped.startswith("{") else "json"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if lines and all(ln.startswith("{") for ln in lines):
        if len(lines) > 1 or _is_json(lines[0]):
            return "jsonl"
    return "yaml"


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _parse_jsonl(text: str, name: str) -> list[tuple[Any, str, str]]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            item = json.loads(s)
        except json.JSONDecodeError as e:
            raise UsageError(f"{name}: line {number}: not valid JSON ({e.msg} at column {e.colno}); "
                             "each line must be one JSON object such as {\"question\": \"...\"}") from None
        out.append((item, str(number), f"line {number}"))
    return out


def _parse_structured(text: str, name: str, fmt: str) -> list[tuple[Any, str, str]]:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{name}: line {e.lineno}: not valid JSON ({e.msg})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
            if ctx and cmark is not None:
                problem += f"; {ctx} at line {cmark.line + 1}"
            raise UsageError(f"{name}: {where}not valid YAML ({problem})") from None
    if isinstance(data, dict) and "tasks" in data:
        data = data["tasks"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise UsageError(f"{name}: expected a list of tasks (or {{tasks: [...]}}), "
                         f"got a {type(data).__name__}")
    return [(item, str(i), f"task {i}") for i, item in enumerate(data, 1)]


def _validate(item: Any, default_id: str, where: str, name: str,
              known_tools: tuple[str, ...]) -> Task:
    def fail(msg: str) -> UsageError:
        return UsageError(f"{name}: {where}: {msg}")

    if not isinstance(item, dict):
        raise fail(f"a task must be a mapping with a 'question', got {_kind(item)}")
    tid = item.get("id", default_id)
    if isinstance(tid, bool) or not isinstance(tid, (str, int)) or str(tid).strip() == "":
        raise fail(f"'id' must be a non-empty string or number, got {_kind(tid)}")
    tid = str(tid)
    if "id" in item:
        where = f"{where} (id {tid!r})"
    unknown = sorted(set(item) - set(TASK_KEYS))
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TASK_KEYS)}")
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise fail("'question' is required and must be a non-empty string")
    tools = item.get("tools")
    if tools is not None:
        if isinstance(tools, str):
            tools = [t.strip() for t in tools.split(",") if t.strip()]
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise fail(f"'tools' must be a list of tool names ({', '.join(known_tools)})")
        for t in tools:
            if t.strip().lower() not in known_tools:
                raise fail(f"unknown tool {t!r}; choose from {', '.join(known_tools)}")
        tools = [t.strip().lower() for t in tools]
    expected = item.get("expected")
    if expected is not None:
        ok = (isinstance(expected, str)
              or (isinstance(expected, (int, float)) and not isinstance(expected, bool)
                  and math.isfinite(expected))
              or (isinstance(expected, list) and expected and all(isinstance(e, str) for e in expected)))
        if not ok:
            raise fail("'expected' must be a string, a non-empty list of strings, or a number, "
                       f"got {_kind(expected)}")
    max_steps = item.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise fail(f"'max_steps' must be a positive whole number, got {max_steps!r}")
    return Task(id=tid, question=question.strip(), tools=tools, expected=expected,
                max_steps=max_steps, where=where)


def _kind(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__}"
    return repr(value)


# -- scoring -----------------------------------------------------------------
_NUMBER = re.compile(
    r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])"
    r"|(?<![\w.])[-+−]?\.\d+(?:[eE][-+]?\d+)?")


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` (see the module docstring)."""
    out = []
    for m in _NUMBER.finditer(text or ""):
        s = m.group(0).replace(",", "").replace("−", "-")
        try:
            out.append(float(s))
        except ValueError:
            continue
    return out


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def score(answer: str | None, expected: Any) -> bool | None:
    """True/False when ``expected`` is set, None otherwise (see the module docstring)."""
    if expected is None:
        return None
    if answer is None:
        return False
    if isinstance(expected, str):
        return _norm(expected) in _norm(answer)
    if isinstance(expected, list):
        return all(_norm(e) in _norm(answer) for e in expected)
    target = float(expected)
    return any(math.isclose(n, target, rel_tol=REL_TOL, abs_tol=1e-12) for n in numbers_in(answer))
