"""The stack machine: the agent's exact calculator (contract: shared spec stackvm.md).

``run(program)`` checks the whole program first (all parse errors, unknown
instructions and unknown or duplicate labels at once; nothing runs if there is
one), then executes it with exact rationals and returns a ``VMResult``. It
never raises for anything the program does: every failure is a ``VMError``
whose ``type`` is one of the spec's names.

Result values: ``stack`` holds the values themselves (``int`` for integers,
``fractions.Fraction`` otherwise, ``str``), bottom first; ``output`` holds the
printed values as rendered text; ``to_dict()`` is the spec's JSON shape with
every value rendered as a string.

Several pre-run problems make one ``VMError``: ``type``, ``line`` and
``instruction`` are those of the first problem (in source order), ``message``
lists them all ("3 problems found before running (nothing ran): ...; ..."), and
``problems`` keeps each one. ``to_dict()`` keeps to the spec's keys (type,
message, line, instruction, stack), so ``problems`` is Python-only.

Choices where the spec is silent:
- ``steps`` counts instructions that completed (a failing one is not counted;
  at StepLimitExceeded it equals ``max_steps``); the error's ``stack`` (and the
  final stack) is the stack just before the failing instruction;
- ``instruction`` is the lower-case name (``push`` for a bare literal); for a
  pre-run problem it is the offending token as written;
- ``pow`` with a non-integer exponent is a DomainError; comparisons work on
  two numbers or two strings, a mix is a TypeMismatch (``"1" 1 eq`` too);
- extra budgets, all reported with spec types: strings longer than
  ``max_digits`` and more than ``max_output`` printed characters are
  NumberTooLarge; more than ``max_seconds`` of wall time is StepLimitExceeded;
- label and variable names are case-sensitive (see stackvm_parse for parsing).

``VMTool`` is the tool the agent calls (``name = "vm"``); its description
lives in prompts/vm_tool.yaml.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Union

from .stackvm_exec import TRACE_TOP, Limits, Machine, TraceStep
from .stackvm_num import VMFault, render, render_size
from .stackvm_parse import Problem, compile_program

Value = Union[int, Fraction, str]

ERROR_TYPES = (
    "ParseError", "UnknownInstruction", "StackUnderflow", "StackOverflow", "TypeMismatch",
    "DivisionByZero", "UnknownLabel", "DuplicateLabel", "UndefinedVariable",
    "StepLimitExceeded", "NumberTooLarge", "DomainError",
)

MAX_OUTPUT = 1_000_000  # characters printed in all
MAX_SECONDS = 3.0
RENDER_BUDGET = 2_000_000  # characters rendered by one to_dict() before abbreviating


class Renderer:
    """Renders values for ``to_dict``, at most ``budget`` characters in all.

    Rendering a 10,000-digit number costs about a millisecond (CPython's
    int-to-decimal is quadratic), so a hostile program leaving 10,000 distinct
    huge numbers would take many seconds to print. Past the budget, a value
    longer than 64 characters becomes ``<number of about N digits, not
    rendered>`` (or ``<string of N characters, not rendered>``); anything a
    sensible program leaves is far below the budget. Renders are cached per
    object, so a value seen on the stack, the error's stack and the trace
    costs once.
    """

    def __init__(self, budget: int = RENDER_BUDGET):
        self.left = budget
        self.cache: dict[int, str] = {}

    def __call__(self, v: Value) -> str:
        key = id(v)
        s = self.cache.get(key)
        if s is None:
            size = render_size(v)
            if size > self.left and size > 64:
                kind = "string of" if type(v) is str else "number of about"
                unit = "characters" if type(v) is str else "digits"
                s = f"<{kind} {size} {unit}, not rendered>"
            else:
                s = render(v)
                self.left -= len(s)
            self.cache[key] = s
        return s


@dataclass
class VMError:
    type: str  # one of ERROR_TYPES
    message: str  # names the instruction, the line, what was expected and what was found
    line: int | None
    instruction: str | None
    stack: list[Value] = field(default_factory=list)  # the stack when it happened
    problems: list[Problem] = field(default_factory=list)  # pre-run problems (all of them)

    def to_dict(self, renderer: Renderer | None = None) -> dict[str, Any]:
        r = renderer or Renderer()
        return {"type": self.type, "message": self.message, "line": self.line,
                "instruction": self.instruction, "stack": [r(v) for v in self.stack]}

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass
class VMResult:
    stack: list[Value]
    output: list[str]
    steps: int
    error: VMError | None = None
    trace: list[TraceStep] = field(default_factory=list)
    trace_omitted: int = 0  # steps left out of ``trace`` (it keeps the first and last 1000)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, *, with_trace: bool = False) -> dict[str, Any]:
        """The spec's JSON object; ``with_trace`` adds a ``trace`` list."""
        r = Renderer()
        stack = [r(v) for v in reversed(self.stack)][::-1]  # the top gets the budget first
        d: dict[str, Any] = {
            "stack": stack,
            "output": list(self.output),
            "steps": self.steps,
            "error": None if self.error is None else self.error.to_dict(r),
        }
        if with_trace:
            d["trace"] = [trace_dict(t, r) for t in self.trace]
            if self.trace_omitted:
                d["trace_omitted"] = self.trace_omitted
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(**kw), ensure_ascii=False)


def trace_dict(t: TraceStep, renderer: Renderer | None = None) -> dict[str, Any]:
    r = renderer or Renderer()
    return {"step": t.step, "line": t.line, "instruction": t.instruction,
            "stack": [r(v) for v in t.top], "depth": t.depth}


def trace_line(t: TraceStep, width: int = 60, values: int = TRACE_TOP) -> str:
    """``step 3  line 2  sub  -> [5, 3]`` (the stack after the step, bottom first;
    at most ``values`` values from the top, each clipped to about ``width``)."""
    top = t.top[-values:]
    vals = [show_short(v, width) for v in top]
    more = f"... {t.depth - len(top)} more, " if t.depth > len(top) else ""
    return f"step {t.step}  line {t.line}  {t.instruction}  -> [{more}{', '.join(vals)}]"


def run(program: str, *, max_steps: int = 100_000, max_stack: int = 10_000,
        max_digits: int = 10_000, trace: bool = False, max_output: int = MAX_OUTPUT,
        max_seconds: float | None = MAX_SECONDS) -> VMResult:
    """Check and run a stack-machine program; never raises for program errors.

    ``max_digits`` bounds every numerator and denominator (and string length);
    ``max_output`` the printed characters in all; ``max_seconds`` the wall time
    (StepLimitExceeded when passed). ``trace=True`` records each step.
    """
    if not isinstance(program, str):
        raise TypeError(f"program must be a str, not {type(program).__name__}")
    for name, v in (("max_steps", max_steps), ("max_stack", max_stack),
                    ("max_digits", max_digits), ("max_output", max_output)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    code, problems = compile_program(program, max_digits)
    if problems:
        first = problems[0]
        msg = first.message if len(problems) == 1 else (
            f"{len(problems)} problems found before running (nothing ran): "
            + "; ".join(p.message for p in problems))
        return VMResult([], [], 0, VMError(first.type, msg, first.line, first.instruction,
                                           [], problems))
    m = Machine(code, Limits(max_steps, max_stack, max_digits, max_output, max_seconds))
    error = None
    try:
        m.run(trace)
    except VMFault as e:
        ins = code[e.pc]  # type: ignore[attr-defined]
        error = VMError(e.type, f"{ins.op} {e.detail} (line {ins.line})", ins.line, ins.op,
                        list(m.stack))
    steps = m.trace_head + list(m.trace_tail)
    omitted = max(0, m.steps - len(steps)) if trace else 0
    return VMResult(list(m.stack), m.output, m.steps, error, steps, omitted)


# ------------------------------------------------------------------ the tool

def show(v: Value) -> str:
    """A value for the model: numbers rendered, strings quoted."""
    return json.dumps(v, ensure_ascii=False) if type(v) is str else render(v)


def show_short(v: Value, width: int) -> str:
    """``show`` clipped to about ``width`` characters, never rendering a huge number."""
    size = render_size(v)
    if type(v) is not str and size > 20 * width:
        return f"<number of about {size} digits>"
    return clip(show(v), width)


def clip(s: str, width: int) -> str:
    return s if len(s) <= width else f"{s[: width // 2]}...{s[-(width // 4):]} ({len(s)} chars)"


def _show_values(values: list[Value], budget: int = 600, width: int = 300) -> str:
    parts: list[str] = []
    used = 0
    for i, v in enumerate(reversed(values)):  # keep the top of the stack
        s = show_short(v, width)
        used += len(s) + 2
        if used > budget and parts:
            parts.append(f"... {len(values) - i} more below")
            break
        parts.append(s)
    return "[" + ", ".join(reversed(parts)) + "]"


def _load_description() -> str:
    import importlib.resources

    import yaml

    text = (importlib.resources.files("ponder.prompts") / "vm_tool.yaml").read_text("utf-8")
    return str(yaml.safe_load(text)["description"]).strip()


class VMTool:
    """The stack machine as an agent tool: ``vm(program, trace=False) -> str``."""

    name = "vm"
    parameters = {
        "type": "object",
        "properties": {"program": {"type": "string", "maxLength": 1200},
                       "trace": {"type": "boolean"}},
        "required": ["program"],
        "additionalProperties": False,
    }
    max_trace_lines = 30  # trace lines in one observation (first third, then the last ones)
    max_chars = 4000  # the whole observation

    def __init__(self, **limits: Any):
        self.limits = limits  # passed to run(): max_steps, max_stack, max_digits, ...
        self.description = _load_description()

    def __call__(self, program: str = "", trace: bool = False, **_: Any) -> str:
        try:
            res = run(program, trace=bool(trace), **self.limits)
        except Exception as e:  # never crash the agent; report what happened
            return f"vm failed unexpectedly: {type(e).__name__}: {e}"
        return self.observe(res, trace=bool(trace))

    def observe(self, res: VMResult, trace: bool = False) -> str:
        """The observation: error (if any), output, stack, then the trace.

        Bounded: the stack and the output show the top/first values within
        ~600 characters each; the trace keeps its first and last steps within
        ``max_trace_lines`` and the whole text within ``max_chars``."""
        lines: list[str] = []
        if res.error is not None:
            lines.append(f"error {res.error.type}: {clip(res.error.message, 1500)}")
        if res.output:
            shown, used = [], 0
            for o in res.output:
                shown.append(clip(o, 200))
                used += len(shown[-1]) + 3
                if used > 600:
                    break
            rest = len(res.output) - len(shown)
            lines.append("output: " + " | ".join(shown) + (f" | ... {rest} more" if rest else ""))
        if res.error is None:
            lines.append(f"stack: {_show_values(res.stack)}  ({res.steps} steps)")
        elif not res.error.problems:
            lines.append(f"stack at the error: {_show_values(res.error.stack)}")
            if not trace:
                lines.append("(run again with trace=true to see the stack after each step)")
        if trace and res.trace:
            steps = [trace_line(t, width=40, values=6) for t in res.trace]
            total = res.steps if res.error is None or not res.error.problems else 0
            k = self.max_trace_lines
            room = self.max_chars - sum(len(x) + 1 for x in lines) - 100
            while k > 6 and (len(steps) > k and sum(map(len, steps[:k])) > room
                             or len(steps) <= k and sum(map(len, steps)) > room):
                k -= 3
            if len(steps) > k:
                head = k // 3
                hidden = max(total, len(steps)) - k
                steps = steps[:head] + [f"... {hidden} steps not shown ..."] + steps[-(k - head):]
            lines.append("trace (stack after each step, bottom first):")
            lines.extend(steps)
        text = "\n".join(lines)
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + " ..."
        return text


__all__ = ["run", "VMResult", "VMError", "VMTool", "ERROR_TYPES", "TraceStep", "Problem"]
