"""Property tests for the stack machine (hypothesis, bounded so CI stays fast):
random programs only ever end in a typed VM error, algebraic round trips hold
exactly, and rendering reads back to the same value."""
import json
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ponder.tools.stackvm import ERROR_TYPES, run
from ponder.tools.stackvm_num import int_str, render
from ponder.tools.stackvm_parse import INSTRUCTIONS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ints = st.integers(-10 ** 30, 10 ** 30)
decimals = st.builds(lambda n, k: f"{'-' if n < 0 else ''}{abs(n) // 10 ** k}.{abs(n) % 10 ** k:0{k}d}",
                     st.integers(-10 ** 12, 10 ** 12), st.integers(1, 6))
literals = st.one_of(ints.map(str), decimals)
LABELS = ["a", "b", "c"]
token = st.one_of(
    st.sampled_from(sorted(INSTRUCTIONS - {"push", "round", "store", "load", "jmp", "jz", "jnz"})),
    literals,
    st.sampled_from(['"x"', '"hello world"', '""', '"q\\"uote"']),
    st.builds(lambda op, name: f"{op} {name}", st.sampled_from(["store", "load"]), st.sampled_from("xyz")),
    st.builds(lambda op, name: f"{op} {name}", st.sampled_from(["jmp", "jz", "jnz"]), st.sampled_from(LABELS)),
    st.builds(lambda name: f"{name}:", st.sampled_from(LABELS)),
    st.builds(lambda n: f"round {n}", st.integers(0, 40)),
    st.sampled_from(["push", "round -1", "1_000", "foo", '"open', "+", "0 div", "10 99999 pow"]),
)
programs = st.lists(token, max_size=40).map(lambda ts: "\n".join(" ".join(ts[i:i + 3]) for i in range(0, len(ts), 3)))


def value(literal: str) -> Fraction:
    return Fraction(literal)  # Fraction reads "3.25" exactly, never via float


def check_result(res) -> None:
    if res.error is not None:
        assert res.error.type in ERROR_TYPES
        assert isinstance(res.error.line, int) and f"(line " in res.error.message
    d = json.loads(json.dumps(res.to_dict()))
    assert list(d) == ["stack", "output", "steps", "error"]
    assert all(isinstance(v, str) for v in d["stack"] + d["output"])


@FAST
@given(programs)
def test_random_programs_only_end_in_typed_errors(program):
    check_result(run(program, max_steps=2000, max_digits=200, trace=True))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises(program):
    check_result(run(program, max_steps=500))


@FAST
@given(literals, literals)
def test_add_then_sub_gives_a_back(a, b):
    res = run(f"{a} {b} add {b} sub")
    assert res.stack == [value(a)]
    assert res.to_dict()["stack"] == [render(value(a))]


@FAST
@given(literals, literals)
def test_arithmetic_matches_exact_fractions(a, b):
    x, y = value(a), value(b)
    assert run(f"{a} {b} sub").stack == [x - y]  # a b sub is a - b
    assert run(f"{a} {b} mul").stack == [x * y]
    assert run(f"{a} {b} lt {a} {b} ge").stack == [int(x < y), int(x >= y)]
    assert run(f"{a} {b} min {a} {b} max").stack == [min(x, y), max(x, y)]
    if y != 0:
        assert run(f"{a} {b} div").stack == [x / y]
        assert run(f"{a} {b} mul {b} div").stack == [x]
        # floor division and remainder fit together, on rationals too
        assert run(f"{a} {b} idiv {b} mul {a} {b} mod add").stack == [x]
        assert run(f"{a} {b} idiv {a} {b} mod").stack == [x // y, x % y]
    else:
        assert run(f"{a} {b} div").error.type == "DivisionByZero"


@FAST
@given(literals, literals)
def test_stack_shuffles_round_trip(a, b):
    assert run(f"{a} {b} swap swap").stack == [value(a), value(b)]
    assert run(f"{a} neg neg {a} abs {a} neg abs eq").stack == [value(a), 1]
    assert run(f"{a} {b} {a} rot rot rot").stack == [value(a), value(b), value(a)]
    assert run(f"{a} {b} over over drop drop").stack == [value(a), value(b)]


@FAST
@given(literals)
def test_square_root_of_a_square_is_exact(a):
    assert run(f"{a} dup mul sqrt").stack == [abs(value(a))]


@FAST
@given(st.integers(1, 10 ** 40), st.integers(-6, 6))
def test_inexact_square_roots_have_30_significant_digits(n, shift):
    x = Fraction(n) * Fraction(10) ** shift
    res = run(f"{n} 10 {shift} pow mul sqrt")
    (r,) = res.stack
    if (r * r) == x:
        return
    digits = Decimal(r.numerator) / Decimal(r.denominator) if isinstance(r, Fraction) else Decimal(r)
    assert len(digits.normalize().as_tuple().digits) <= 30
    assert abs(r * r - x) / x < Fraction(1, 10 ** 28)


@FAST
@given(st.integers(-10 ** 20, 10 ** 20), st.integers(1, 10 ** 8))
def test_rendering_reads_back_to_the_same_value(n, d):
    v = Fraction(n, d)
    text = render(v if v.denominator != 1 else v.numerator)
    if "/" in text:
        num, den = text.split("/")
        assert run(f"{num} {den} div").stack == [v]
    else:
        assert run(text).stack == [v]


@settings(max_examples=25, deadline=None)
@given(st.integers(10 ** 4000, 10 ** 9000))
def test_big_integers_render_exactly(n):
    assert int_str(n) == str(Decimal(n)) and int_str(-n) == "-" + str(Decimal(n))
    assert run(int_str(n)).stack == [n]
