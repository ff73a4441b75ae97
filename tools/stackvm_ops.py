"""The stack machine's instructions: one closure ``f(pc) -> next pc`` each.

Closures over the machine's stack make a step one call with no allocation.
Every instruction reads its operands (``st[-1]``, ``st[-2]``) before changing
anything, so a failing one leaves the stack as it was; a missing operand shows
up as IndexError (StackUnderflow) and a string where a number belongs as
TypeError (TypeMismatch): the machine turns both into typed errors.
Integers take a fast path that stays in Python ints; rationals and strings
take the slower, fully checked one.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from .stackvm_num import VMFault, check_size, norm, power, render, render_size, round_to, square_root

if TYPE_CHECKING:
    from .stackvm_exec import Machine


@lru_cache(maxsize=8)
def _power_of_ten(k: int) -> int:
    return 10 ** k  # 10**10000 costs about a millisecond: compute it once


def compile_handlers(m: Machine) -> list[Callable[[int], int]]:
    """One handler per instruction of ``m.code``, bound to ``m``'s state."""
    st, variables, output, lim = m.stack, m.vars, m.output, m.lim
    max_stack, max_digits = lim.max_stack, lim.max_digits
    end = len(m.code)
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
        if m.out_chars + size > lim.max_output:
            text = render(x) if size < 4 * lim.max_output else None
            if text is None or m.out_chars + len(text) > lim.max_output:
                raise VMFault("NumberTooLarge", f"would print more than {lim.max_output}"
                              f" characters in all: expected at most {lim.max_output}")
        else:
            text = render(x)
        m.out_chars += len(text)
        output.append(text)
        del st[-1]
        return pc + 1

    def halt(pc):
        return end

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
    for ins in m.code:
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
