"""The stack machine's execution loop.

Each instruction is compiled to a closure ``f(pc) -> next pc`` over the stack
(stackvm_ops), so the loop is ``pc = code[pc](pc)``: one call per step, no
per-step allocation. Exceptions from a step (IndexError, TypeError,
ZeroDivisionError, VMFault) become typed errors here; any other exception is
a bug in the machine and propagates (the fuzz script counts those).

Budgets besides the spec's limits (documented choices):
- output: the printed text may total at most ``max_output`` characters;
- strings: at most ``max_digits`` characters (both reported as NumberTooLarge);
- time: ``max_seconds`` of wall time, checked every 1024 steps, reported as
  StepLimitExceeded; it only matters for programs doing heavy big-number work.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .stackvm_num import VMFault, describe
from .stackvm_ops import compile_handlers
from .stackvm_parse import Instr

CHECK_EVERY = 1024
TRACE_HEAD = 1000
TRACE_TAIL = 1000
TRACE_TOP = 16  # stack values kept per trace step (the top ones)

# values each instruction reads (for StackUnderflow messages); 2 when not listed
ARITY = {"pop": 1, "drop": 1, "dup": 1, "swap": 2, "over": 2, "rot": 3, "clear": 0, "depth": 0,
         "neg": 1, "abs": 1, "sqrt": 1, "round": 1, "not": 1, "store": 1, "jz": 1, "jnz": 1,
         "print": 1, "push": 0, "load": 0, "jmp": 0, "halt": 0}
TEXT_OK = {"add", "eq", "ne", "lt", "le", "gt", "ge"}  # also work on two strings


@dataclass
class TraceStep:
    step: int
    line: int
    instruction: str
    top: tuple  # the top values after the step, bottom first
    depth: int  # the full stack depth after the step


@dataclass
class Limits:
    max_steps: int
    max_stack: int
    max_digits: int
    max_output: int
    max_seconds: float | None


class Machine:
    def __init__(self, code: list[Instr], limits: Limits):
        self.code = code
        self.lim = limits
        self.stack: list[Any] = []
        self.output: list[str] = []
        self.vars: dict[str, Any] = {}
        self.steps = 0
        self.pc = 0
        self.out_chars = 0
        self.trace_head: list[TraceStep] = []
        self.trace_tail: deque[TraceStep] = deque(maxlen=TRACE_TAIL)
        self.traced_steps = 0
        self.fns = compile_handlers(self)
        self.loops = any(ins.op in ("jmp", "jz", "jnz") for ins in code)

    # ------------------------------------------------------------------ loop
    def run(self, trace: bool = False) -> None:
        """Run to the end; raises VMFault (with ``.pc``) on a program error."""
        fns = [self._traced(f, i) for i, f in enumerate(self.fns)] if trace else self.fns
        n, max_steps = len(fns), self.lim.max_steps
        deadline = None if self.lim.max_seconds is None else time.monotonic() + self.lim.max_seconds
        steps, pc = self.steps, self.pc
        check = min(max_steps, steps + CHECK_EVERY)
        try:
            while pc < n:
                if steps >= check:  # every CHECK_EVERY steps, and at the step limit
                    check = self._checkpoint(steps, deadline)
                steps += 1
                pc = fns[pc](pc)
        except Exception as e:
            self.steps, self.pc = steps - (not isinstance(e, VMFault) or e.type != "StepLimitExceeded"), pc
            raise self._explain(e, pc) from None
        self.steps, self.pc = steps, pc

    def _checkpoint(self, steps: int, deadline: float | None) -> int:
        max_steps = self.lim.max_steps
        if steps >= max_steps:
            hint = " (an endless loop?)" if self.loops else ""
            raise VMFault("StepLimitExceeded", f"would be step {steps + 1}: expected "
                          f"at most {max_steps} steps{hint}")
        if deadline is not None and time.monotonic() > deadline:
            secs = f"{self.lim.max_seconds:g} s"
            raise VMFault("StepLimitExceeded", f"is step {steps + 1} after {secs}: expected to "
                          f"finish within {secs} (numbers too big to be quick?)")
        return min(max_steps, steps + CHECK_EVERY)

    def _traced(self, f: Callable[[int], int], pc: int) -> Callable[[int], int]:
        ins, st = self.code[pc], self.stack

        def op(pc: int) -> int:
            nxt = f(pc)
            self.traced_steps += 1
            entry = TraceStep(self.traced_steps, ins.line, ins.text, tuple(st[-TRACE_TOP:]), len(st))
            if len(self.trace_head) < TRACE_HEAD:
                self.trace_head.append(entry)
            else:
                self.trace_tail.append(entry)
            return nxt
        return op

    def _explain(self, e: Exception, pc: int) -> VMFault:
        """Turn any exception raised by instruction ``pc`` into a typed VMFault."""
        ins = self.code[pc]
        st = self.stack
        if isinstance(e, VMFault):
            fault = e
        elif isinstance(e, IndexError) and len(st) < ARITY.get(ins.op, 2):
            k = ARITY.get(ins.op, 2)
            fault = VMFault("StackUnderflow",
                            f"needs {k} value{'s' if k != 1 else ''}, the stack has {len(st)}")
        elif isinstance(e, ZeroDivisionError):
            fault = VMFault("DivisionByZero", "needs a nonzero divisor, found 0")
        elif isinstance(e, TypeError) and self._mistyped(ins.op, st):
            fault = VMFault("TypeMismatch", self._mistyped(ins.op, st))
        else:
            raise e  # a bug in the machine, not in the program
        fault.pc = pc  # type: ignore[attr-defined]
        return fault

    @staticmethod
    def _mistyped(op: str, st: list) -> str | None:
        if ARITY.get(op, 2) == 1:
            return f"needs a number, found {describe(st[-1])}" if type(st[-1]) is str else None
        a, b = st[-2], st[-1]
        if type(a) is not str and type(b) is not str:
            return None
        if op in TEXT_OK and type(a) is str and type(b) is str:
            return None
        want = "two numbers or two strings" if op in TEXT_OK else "two numbers"
        return f"needs {want}, found {describe(a)} and {describe(b)}"
