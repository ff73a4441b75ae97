"""The stack machine's execution loop.

Each instruction is compiled to a closure ``f(pc) -> next pc`` over the stack,
so the loop is ``pc = code[pc](pc)``: one call per step, no per-step
allocation, integers stay Python ints. Instructions are atomic: they read
their operands with ``st[-1]``/``st[-2]`` before changing anything, so a
failing instruction leaves the stack as it was. That is also why a missing
operand can be detected for free (IndexError) and reported as StackUnderflow.

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
from functools import lru_cache
from fractions import Fraction
from typing import Any, Callable

from .stackvm_num import (VMFault, check_size, describe, norm, power, render, render_size,
                          round_to, square_root)
from .stackvm_parse import Instr

CHECK_EVERY = 1024
TRACE_HEAD = 1000
TRACE_TAIL = 1000
TRACE_TOP = 16  # stack values kept per trace step (the top ones)

# values each instruction reads (for StackUnderflow) and whether it pushes more than it pops
ARITY = {"pop": 1, "drop": 1, "dup": 1, "swap": 2, "over": 2, "rot": 3, "clear": 0, "depth": 0,
         "neg": 1, "abs": 1, "sqrt": 1, "round": 1, "not": 1, "store": 1, "jz": 1, "jnz": 1,
         "print": 1, "push": 0, "load": 0, "jmp": 0, "halt": 0}
TEXT_OK = {"add", "eq", "ne", "lt", "le", "gt", "ge"}  # also work on two strings


@lru_cache(maxsize=8)
def _power_of_ten(k: int) -> int:
    return 10 ** k  # 10**10000 costs about a millisecond: compute it once


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
        self.fns = self._compile()
        self.loops = any(ins.op in ("jmp", "jz", "jnz") for ins in code)

    # ------------------------------------------------------------------ loop
    def run(self, trace: bool = False) -> None:
        """Run to the end; raises VMFault (with ``.pc``) on a program error."""
        fns, n = self.fns, len(self.fns)
        max_steps = self.lim.max_steps
        deadline = None if self.lim.max_seconds is None else time.monotonic() + self.lim.max_seconds
        steps, pc = self.steps, self.pc
        check = min(max_steps, steps + CHECK_EVERY)
        st = self.stack
        try:
            while pc < n:
                if steps >= check:
                    if steps >= max_steps:
                        hint = " (an endless loop?)" if self.loops else ""
                        raise VMFault("StepLimitExceeded", f"would be step {steps + 1}: expected "
                                      f"at most {max_steps} steps{hint}")
                    if deadline is not None and time.monotonic() > deadline:
                        raise VMFault("StepLimitExceeded", f"is step {steps + 1} after "
                                      f"{self.lim.max_seconds:g} s: expected to finish within "
                                      f"{self.lim.max_seconds:g} s (numbers too big to be quick?)")
                    check = min(max_steps, steps + CHECK_EVERY)
                steps += 1
                nxt = fns[pc](pc)
                if trace:
                    self._record(steps, pc, st)
                pc = nxt
        except Exception as e:
            self.steps, self.pc = steps - (not isinstance(e, VMFault) or e.type != "StepLimitExceeded"), pc
            raise self._explain(e, pc) from None
        self.steps, self.pc = steps, pc

    def _record(self, step: int, pc: int, st: list) -> None:
        ins = self.code[pc]
        entry = TraceStep(step, ins.line, ins.text, tuple(st[-TRACE_TOP:]), len(st))
        if len(self.trace_head) < TRACE_HEAD:
            self.trace_head.append(entry)
        else:
            self.trace_tail.append(entry)

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

    # -------------------------------------------------------- instructions
    def _compile(self) -> list[Callable[[int], int]]:
        st, variables, output = self.stack, self.vars, self.output
        max_stack, max_digits = self.lim.max_stack, self.lim.max_digits
        LIM = _power_of_ten(max_digits)
        append = st.append

        def overflow():
            return VMFault("StackOverflow", f"needs room for 1 more value: expected at most "
                           f"{max_stack} values, the stack has {len(st)}")

        def big(r):  # slow path for non-int results: Fraction or string
            if type(r) is str:
                if len(r) > max_digits:
                    raise VMFault("NumberTooLarge", f"would make a string of {len(r)} characters:"
                                  f" expected at most {max_digits}")
                return r
            return check_size(r, LIM, max_digits)

        def binop(f):
            """Numeric binary op on ints (fast) or rationals."""
            def op(pc):
                b = st[-1]
                a = st[-2]
                if type(a) is int and type(b) is int:
                    r = f(a, b)
                    if -LIM < r < LIM:
                        del st[-1]
                        st[-1] = r
                        return pc + 1
                    r = check_size(r, LIM, max_digits)
                elif type(a) is str or type(b) is str:
                    raise TypeError
                else:
                    r = big(f(a, b))
                del st[-1]
                st[-1] = r
                return pc + 1
            return op

        def add(pc):
            b = st[-1]
            a = st[-2]
            r = a + b
            if type(r) is not int:
                r = big(r)
            elif not -LIM < r < LIM:
                r = check_size(r, LIM, max_digits)
            del st[-1]
            st[-1] = r
            return pc + 1

        def div(pc):
            b = st[-1]
            a = st[-2]
            if type(a) is str or type(b) is str:
                raise TypeError
            r = Fraction(a, b) if type(a) is int and type(b) is int else a / b
            del st[-1]
            st[-1] = big(norm(r))
            return pc + 1

        def rational(f):  # idiv, mod, min, max: numbers only; results checked all the same
            def op(pc):
                b = st[-1]
                a = st[-2]
                if type(a) is str or type(b) is str:
                    raise TypeError
                r = f(a, b)
                r = big(norm(r)) if type(r) is not int else check_size(r, LIM, max_digits)
                del st[-1]
                st[-1] = r
                return pc + 1
            return op

        def compare(f):  # numbers with numbers, strings with strings
            def op(pc):
                b = st[-1]
                a = st[-2]
                if (type(a) is str) is not (type(b) is str):
                    raise TypeError
                del st[-1]
                st[-1] = 1 if f(a, b) else 0
                return pc + 1
            return op

        def unary(f):
            def op(pc):
                x = st[-1]
                if type(x) is str:
                    raise TypeError
                st[-1] = f(x)
                return pc + 1
            return op

        def pop(pc):
            del st[-1]
            return pc + 1

        def copy(depth):  # dup (1), over (2)
            def op(pc):
                x = st[-depth]
                if len(st) >= max_stack:
                    raise overflow()
                append(x)
                return pc + 1
            return op

        def swap(pc):
            st[-1], st[-2] = st[-2], st[-1]
            return pc + 1

        def rot(pc):
            a = st[-3]
            del st[-3]
            append(a)
            return pc + 1

        def clear(pc):
            st.clear()
            return pc + 1

        def depth(pc):
            if len(st) >= max_stack:
                raise overflow()
            append(len(st))
            return pc + 1

        def logic(f):
            def op(pc):
                b = st[-1]
                a = st[-2]
                if type(a) is str or type(b) is str:
                    raise TypeError
                del st[-1]
                st[-1] = 1 if f(a != 0, b != 0) else 0
                return pc + 1
            return op

        def not_(pc):
            x = st[-1]
            if type(x) is str:
                raise TypeError
            st[-1] = 1 if x == 0 else 0
            return pc + 1

        def print_(pc):
            x = st[-1]
            size = render_size(x)
            if self.out_chars + size > self.lim.max_output:
                text = render(x) if size < 4 * self.lim.max_output else None
                if text is None or self.out_chars + len(text) > self.lim.max_output:
                    raise VMFault("NumberTooLarge", f"would print more than {self.lim.max_output}"
                                  f" characters in all: expected at most {self.lim.max_output}")
            else:
                text = render(x)
            self.out_chars += len(text)
            output.append(text)
            del st[-1]
            return pc + 1

        def halt(pc):
            return len(self.fns)

        def sqrt(pc):
            x = st[-1]
            if type(x) is str:
                raise TypeError
            st[-1] = square_root(x, LIM, max_digits)
            return pc + 1

        def pow_(pc):
            b = st[-1]
            a = st[-2]
            if type(a) is str:
                raise TypeError
            r = power(a, b, LIM, max_digits)
            del st[-1]
            st[-1] = r
            return pc + 1

        table: dict[str, Callable[[int], int]] = {
            "pop": pop, "drop": pop, "dup": copy(1), "swap": swap, "over": copy(2), "rot": rot,
            "clear": clear, "depth": depth, "add": add,
            "sub": binop(lambda a, b: a - b), "mul": binop(lambda a, b: a * b),
            "div": div, "idiv": rational(lambda a, b: a // b), "mod": rational(lambda a, b: a % b),
            "pow": pow_, "neg": unary(lambda x: -x), "abs": unary(abs), "sqrt": sqrt,
            "min": rational(min), "max": rational(max),
            "eq": compare(lambda a, b: a == b), "ne": compare(lambda a, b: a != b),
            "lt": compare(lambda a, b: a < b), "le": compare(lambda a, b: a <= b),
            "gt": compare(lambda a, b: a > b), "ge": compare(lambda a, b: a >= b),
            "not": not_, "and": logic(lambda a, b: a and b), "or": logic(lambda a, b: a or b),
            "print": print_, "halt": halt,
        }

        def push(v):
            def op(pc):
                if len(st) >= max_stack:
                    raise overflow()
                append(v)
                return pc + 1
            return op

        def round_(places):
            def op(pc):
                x = st[-1]
                if type(x) is str:
                    raise TypeError
                st[-1] = round_to(x, places, LIM, max_digits)
                return pc + 1
            return op

        def store(name):
            def op(pc):
                variables[name] = st[-1]
                del st[-1]
                return pc + 1
            return op

        def load(name):
            def op(pc):
                try:
                    v = variables[name]
                except KeyError:
                    raise VMFault("UndefinedVariable", f"needs a value stored in {name!r} first "
                                  f"(store {name}), found no variable {name!r}") from None
                if len(st) >= max_stack:
                    raise overflow()
                append(v)
                return pc + 1
            return op

        def jmp(target):
            def op(pc):
                return target
            return op

        def jz(target, when_zero=True):
            def op(pc):
                x = st[-1]
                if type(x) is str:
                    raise TypeError
                del st[-1]
                return target if (x == 0) is when_zero else pc + 1
            return op

        fns: list[Callable[[int], int]] = []
        for ins in self.code:
            if ins.op in table:
                fns.append(table[ins.op])
            elif ins.op == "push":
                fns.append(push(ins.arg))
            elif ins.op == "round":
                fns.append(round_(ins.arg))
            elif ins.op == "store":
                fns.append(store(ins.arg))
            elif ins.op == "load":
                fns.append(load(ins.arg))
            elif ins.op == "jmp":
                fns.append(jmp(ins.arg[1]))
            else:
                fns.append(jz(ins.arg[1], ins.op == "jz"))
        return fns
