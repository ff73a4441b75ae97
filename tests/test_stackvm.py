"""The stack machine against its spec (shared/spec/stackvm.md): every instruction,
the operand order, exact rationals and their rendering, every error type, the
pre-run check, the limits, and the result shape."""
from fractions import Fraction

import pytest

from ponder.tools.stackvm import ERROR_TYPES, VMResult, run
from ponder.tools.stackvm_num import int_str


def ok(program: str, **kw) -> list[str]:
    res = run(program, **kw)
    assert res.error is None, res.error
    return res.to_dict()["stack"]


def err(program: str, type_: str, **kw) -> VMResult:
    res = run(program, **kw)
    assert res.error is not None, f"expected {type_}, got stack {res.stack}"
    assert res.error.type == type_, res.error
    return res


# --------------------------------------------------------------- the language

def test_operand_order_is_a_op_b():
    assert ok("push 5 push 2 sub") == ["3"]
    assert ok("push -5 push -2 sub") == ["-3"]
    assert ok("10 4 div") == ["2.5"]
    assert ok("2 10 pow") == ["1024"]
    assert ok("7 2 idiv 7 2 mod") == ["3", "1"]
    assert ok("3 5 lt 3 5 gt") == ["1", "0"]


def test_bare_literals_comments_whitespace_and_case():
    assert ok("3 4 add") == ok("push 3\npush 4\nadd") == ["7"]
    assert ok("PUSH 3 Push 4 ADD  # three plus four\n# a comment line\n\tdup") == ["7", "7"]
    assert ok("1#comment right after\n2") == ["1", "2"]


def test_literals_are_exact():
    res = run("3.25 -0.5 0.1 0.2 add 007")
    assert res.stack == [Fraction(13, 4), Fraction(-1, 2), Fraction(3, 10), 7]
    assert ok("0.1 0.2 add 0.3 eq") == ["1"]  # never floats
    assert ok("1.50 2.0") == ["1.5", "2"]
    assert type(run("2.0").stack[0]) is int


def test_strings_and_escapes():
    res = run(r'"hello world" "say \"hi\"" "back\\slash" "# not a comment" ""')
    assert res.stack == ["hello world", 'say "hi"', "back\\slash", "# not a comment", ""]
    assert ok('"ab" "cd" add') == ["abcd"]
    assert ok('"a" "a" eq "a" "b" lt "b" "a" ne') == ["1", "1", "1"]


def test_rendering():
    assert ok("13 4 div -1 8 div 1 3 div -2 3 div 10 4 div 1 1024 div") == [
        "3.25", "-0.125", "1/3", "-2/3", "2.5", "0.0009765625"]
    assert ok("1 7 div 7 mul 6 3 div 0 1 sub 0 neg") == ["1", "2", "-1", "0"]
    assert ok("2 100 pow") == [str(2 ** 100)]
    big = ok("7 5000 pow")[0]  # past Python's 4300-digit str() guard
    assert len(big) == 4226 and big == str(7 ** 5000)
    assert ok("3 9000 pow")[0] == str(3 ** 9000)
    assert len(ok("7 11000 pow")[0]) == 9297


@pytest.mark.parametrize("program,expected", [
    ("1 2 pop", ["1"]), ("1 2 drop", ["1"]), ("1 dup", ["1", "1"]), ("1 2 swap", ["2", "1"]),
    ("1 2 over", ["1", "2", "1"]), ("1 2 3 rot", ["2", "3", "1"]), ("1 2 3 clear", []),
    ("7 7 depth", ["7", "7", "2"]), ("depth", ["0"]),
    ("2 3 add", ["5"]), ("2 3 sub", ["-1"]), ("2 3 mul", ["6"]), ("2 3 div", ["2/3"]),
    ("-7 2 idiv", ["-4"]), ("-7 2 mod", ["1"]), ("7 -2 mod", ["-1"]),
    ("7.5 2 idiv 7.5 2 mod", ["3", "1.5"]), ("-7.5 2 mod", ["0.5"]), ("1 3 div 1 4 div mod", ["1/12"]),
    ("2 -2 pow", ["0.25"]), ("2 3 div 3 pow", ["8/27"]), ("-2 3 pow", ["-8"]), ("0 0 pow", ["1"]),
    ("-1 1000001 pow 1 -5 pow", ["-1", "1"]),
    ("3 neg -3 neg", ["-3", "3"]), ("-2.5 abs 4 abs", ["2.5", "4"]),
    ("16 sqrt 0 sqrt 9 4 div sqrt", ["4", "0", "1.5"]),
    ("2 sqrt", ["1.41421356237309504880168872421"]),
    ("1 3 div sqrt", ["0.577350269189625764509148780502"]),
    ("2 200 pow 3 mul sqrt", ["2195635245840476761639769790220"]),
    ("3 5 min 3 5 max -1 2 div 0 min", ["3", "5", "-0.5"]),
    ("3.14159 round 2 2.5 round 0 3.5 round 0 -2.5 round 0", ["3.14", "2", "4", "-2"]),
    ("0.125 round 2 0.135 round 2 7 round 3 1 3 div round 5", ["0.12", "0.14", "7", "0.33333"]),
    ("1 1 eq 1 2 eq 1 2 ne 2 2 ne", ["1", "0", "1", "0"]),
    ("1 2 lt 2 2 le 3 2 gt 2 2 ge 2 3 ge", ["1", "1", "1", "1", "0"]),
    ("0.5 1 2 div eq", ["1"]),
    ("0 not 5 not 2 3 and 0 3 and 0 0 or 0 -1 or 0.5 not", ["1", "0", "1", "0", "0", "1", "0"]),
    ("5 store x load x load x mul", ["25"]), ("5 store max load max", ["5"]),
    ("1 jmp skip 2 skip: 3", ["1", "3"]),
    ("0 jz a 1 a: 5 jz b 2 b:", ["2"]), ("1 jnz a 7 a: 0 jnz b 8 b:", ["8"]),
    ("1 halt 2", ["1"]), ("", []),
])
def test_every_instruction(program, expected):
    assert ok(program) == expected


def test_print_output_and_loop():
    res = run('"n:" print 3 store n\nloop:\n  load n print\n  load n 1 sub dup store n\n  jnz loop\n'
              '1 3 div print 2.5 print')
    assert res.error is None
    assert res.output == ["n:", "3", "2", "1", "1/3", "2.5"]
    assert res.stack == []
    assert res.to_dict() == {"stack": [], "output": res.output, "steps": res.steps, "error": None}


def test_steps_count_executed_instructions():
    assert run("1 2 add").steps == 3
    assert run("3 store n l: load n 1 sub dup store n jnz l").steps == 2 + 3 * 6
    assert run("1 halt 2 3").steps == 2
    assert run("1 2 add", max_steps=3).error is None
    assert run("1 add 5").steps == 1  # the failing instruction is not counted


def test_factorial_and_1234_times_5678():
    assert ok("1234 5678 mul") == ["7006652"]
    prog = "1 store acc 25 store n\nl: load acc load n mul store acc load n 1 sub dup store n jnz l\nload acc"
    assert ok(prog) == [str(15511210043330985984000000)]


# ------------------------------------------------------------------- errors

ERROR_CASES = [
    ("1 1_000", "ParseError", 1, "1_000"),
    ("1e5", "ParseError", 1, "1e5"), ("+3", "ParseError", 1, "+3"), (".5", "ParseError", 1, ".5"),
    ("5.", "ParseError", 1, "5."), ('"open', "ParseError", 1, '"open'),
    ('"a\\nb"', "ParseError", 1, '"a\\nb"'), ('"ab"cd', "ParseError", 1, '"ab"cd'),
    ("\npush", "ParseError", 2, "push"), ("push add", "ParseError", 1, "push"),
    ("round", "ParseError", 1, "round"), ("1 round -1", "ParseError", 1, "round"),
    ("1 round 1.5", "ParseError", 1, "round"), ("store 1", "ParseError", 1, "store"),
    ("load", "ParseError", 1, "load"), ("jmp", "ParseError", 1, "jmp"), ("9x:", "ParseError", 1, "9x:"),
    ("1 2 plus", "UnknownInstruction", 1, "plus"), ("1\n2 +", "UnknownInstruction", 2, "+"),
    ("jmp nowhere", "UnknownLabel", 1, "jmp"), ("1\njz nowhere", "UnknownLabel", 2, "jz"),
    ("a:\n1\na:", "DuplicateLabel", 3, "a:"),
    ("1\n2\nadd\nsub", "StackUnderflow", 4, "sub"), ("pop", "StackUnderflow", 1, "pop"),
    ("1 2 rot", "StackUnderflow", 1, "rot"), ("print", "StackUnderflow", 1, "print"),
    ("jz x x:", "StackUnderflow", 1, "jz"), ("store v", "StackUnderflow", 1, "store"),
    ("1 \"a\" add", "TypeMismatch", 1, "add"), ('"a" 2 mul', "TypeMismatch", 1, "mul"),
    ('"a" neg', "TypeMismatch", 1, "neg"), ('"a" "b" sub', "TypeMismatch", 1, "sub"),
    ('"1" 1 eq', "TypeMismatch", 1, "eq"), ('"a" jz x x:', "TypeMismatch", 1, "jz"),
    ('"a" "b" min', "TypeMismatch", 1, "min"), ('"a" round 2', "TypeMismatch", 1, "round"),
    ('"a" not', "TypeMismatch", 1, "not"), ('1 "a" and', "TypeMismatch", 1, "and"),
    ('2 "a" pow', "TypeMismatch", 1, "pow"), ('"a" sqrt', "TypeMismatch", 1, "sqrt"),
    ("1 0 div", "DivisionByZero", 1, "div"), ("1 0 idiv", "DivisionByZero", 1, "idiv"),
    ("1.5 0 mod", "DivisionByZero", 1, "mod"), ("0 -1 pow", "DivisionByZero", 1, "pow"),
    ("load x", "UndefinedVariable", 1, "load"),
    ("l: jmp l", "StepLimitExceeded", 1, "jmp"),
    ("10 1000000000 pow", "NumberTooLarge", 1, "pow"),
    ("-4 sqrt", "DomainError", 1, "sqrt"), ("2 0.5 pow", "DomainError", 1, "pow"),
    ("l: 1 jmp l", "StackOverflow", 1, "push"),
]


@pytest.mark.parametrize("program,type_,line,instruction", ERROR_CASES)
def test_every_error_type(program, type_, line, instruction):
    res = err(program, type_)
    e = res.error
    assert (e.line, e.instruction) == (line, instruction)
    assert f"(line {line})" in e.message
    if type_ not in ("ParseError", "UnknownInstruction", "DuplicateLabel"):
        assert e.message.startswith(instruction + " ")
    d = res.to_dict()["error"]
    assert list(d) == ["type", "message", "line", "instruction", "stack"]


def test_all_error_types_are_covered():
    assert {case[1] for case in ERROR_CASES} == set(ERROR_TYPES)


def test_messages_say_expected_and_found():
    assert run("1 2 add\n3 mul\nsub").error.message == "sub needs 2 values, the stack has 1 (line 3)"
    assert run("dup").error.message == "dup needs 1 value, the stack has 0 (line 1)"
    assert run('1 "x" sub').error.message == 'sub needs two numbers, found number 1 and string "x" (line 1)'
    assert run("5 0 div").error.message == "div needs a nonzero divisor, found 0 (line 1)"
    assert "found number -4" in run("-4 sqrt").error.message
    assert "did you mean add" in run("1 2 +").error.message
    assert "did you mean swap" in run("1 2 swp").error.message
    assert "100 values" in run("l: 1 jmp l", max_stack=100).error.message


def test_failing_instruction_leaves_the_stack_as_it_was():
    res = run("7 1 2 3 rot 5 0 div")
    assert res.to_dict()["stack"] == ["7", "2", "3", "1", "5", "0"]
    assert res.error.stack == res.stack
    assert res.to_dict()["error"]["stack"] == ["7", "2", "3", "1", "5", "0"]
    res = run('3 store x "a" 1 print print 4 load y')
    assert res.output == ["1", "a"] and res.to_dict()["stack"] == ["4"]


def test_pre_run_check_reports_everything_and_runs_nothing():
    prog = 'x: "hi" print\nfoo 1_000\njmp nowhere\nx:\npush dup\n1 0 div'
    res = run(prog)
    e = res.error
    assert res.output == [] and res.stack == [] and res.steps == 0
    assert [(p.type, p.line) for p in e.problems] == [
        ("UnknownInstruction", 2), ("ParseError", 2), ("UnknownLabel", 3),
        ("DuplicateLabel", 4), ("ParseError", 5)]
    assert (e.type, e.line, e.instruction) == ("UnknownInstruction", 2, "foo")
    assert e.message.startswith("5 problems found before running (nothing ran): ")
    for p in e.problems:
        assert p.message in e.message
    one = run("1 2 plus")
    assert one.error.message.startswith("unknown instruction 'plus'") and len(one.error.problems) == 1


def test_labels_and_variables_are_case_sensitive():
    err("Loop: jmp loop", "UnknownLabel")
    err("1 store X load x", "UndefinedVariable")
    assert ok("1 store X load X") == ["1"]


# -------------------------------------------------------------------- limits

def test_step_limit():
    res = err("l: jmp l", "StepLimitExceeded", max_steps=50)
    assert res.steps == 50
    assert "expected at most 50 steps" in res.error.message
    assert run("1 2 3", max_steps=3).error is None
    err("1 2 3", "StepLimitExceeded", max_steps=2)


def test_stack_limit():
    res = err("l: 1 jmp l", "StackOverflow", max_stack=10)
    assert len(res.stack) == 10
    err("1 dup dup", "StackOverflow", max_stack=2)
    err("1 2 over", "StackOverflow", max_stack=2)
    err("1 2 depth", "StackOverflow", max_stack=2)
    err("1 store x 1 2 load x", "StackOverflow", max_stack=2)
    assert ok("1 2", max_stack=2) == ["1", "2"]


def test_number_size_limit():
    assert ok("10 9 pow", max_digits=10) == ["1000000000"]
    err("10 10 pow", "NumberTooLarge", max_digits=10)
    err("9999999999 1 add", "NumberTooLarge", max_digits=10)
    err("1 3 div 1 7 div add 1 11 div add", "NumberTooLarge", max_digits=2)
    err("12345678901", "NumberTooLarge", max_digits=10)  # a literal: reported before running
    err("1 3 div round 12", "NumberTooLarge", max_digits=10)
    assert ok("1 4 div round 1000", max_digits=10) == ["0.25"]
    assert ok("1 4 div round 99999999999999999999", max_digits=10) == ["0.25"]
    err('"abc" dup add dup add', "NumberTooLarge", max_digits=10)
    err('"' + "x" * 11 + '"', "NumberTooLarge", max_digits=10)
    err("1 l: dup print jmp l", "NumberTooLarge", max_output=100)


@pytest.mark.parametrize("program", [
    "10 1000000000 pow", "2 -99999999999 pow", "2 3 div 123456789 pow", "1.5 1000000000 pow",
    "2 l: dup mul jmp l", "1 l: dup add jmp l", '"ab" l: dup add jmp l', "l: 1 jmp l",
    "l: jmp l", "1 3 div round 999999999999", "7 9000 pow sqrt 7 9000 pow 1 add div sqrt",
])
@pytest.mark.timeout(30)  # a hang fails here; these end in milliseconds (no timing asserted)
def test_hostile_programs_end_with_a_typed_error(program):
    res = run(program)
    res.to_dict()
    assert res.error is None or res.error.type in ERROR_TYPES


def test_time_limit_stops_heavy_big_number_work():
    res = run("1 3 2000 pow div 1 7 2000 pow div l: over over add drop jmp l", max_seconds=0.2)
    assert res.error.type == "StepLimitExceeded" and "0.2 s" in res.error.message


def test_huge_stack_renders_within_a_budget():
    res = run("7 11000 pow l: dup 1 add jmp l")
    assert res.error.type == "StackOverflow"
    d = res.to_dict()
    assert len(d["stack"]) == 10_000 and d["stack"][-1] == int_str(7 ** 11000 + 9998)
    assert d["stack"][0].startswith("<number of about")


# --------------------------------------------------------------------- trace

def test_trace_shows_line_instruction_and_stack_after():
    res = run("push 5\npush 2\nsub\n0 div", trace=True)
    assert [(t.step, t.line, t.instruction, t.top) for t in res.trace] == [
        (1, 1, "push 5", (5,)), (2, 2, "push 2", (5, 2)), (3, 3, "sub", (3,)), (4, 4, "push 0", (3, 0))]
    assert res.error.type == "DivisionByZero"
    assert run("1 2", trace=False).trace == []
    long = run("l: 1 drop jmp l", trace=True, max_steps=9000)
    assert len(long.trace) == 2000 and long.trace_omitted == 7000
    assert long.trace[-1].step == 9000
