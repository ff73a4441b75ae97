"""Program text -> checked instruction list (the stack machine's pre-run check).

Every problem found before running (ParseError, UnknownInstruction,
UnknownLabel, DuplicateLabel, and NumberTooLarge for an oversized literal) is
collected, in source order, so the caller can report them all at once.

Choices where the spec is silent:
- label and variable names are case-sensitive (instruction names are not);
- an instruction that takes an operand (push, round, store, load, jmp, jz,
  jnz) takes the next token, wherever it is; a label definition is never taken
  as an operand;
- a string may not span lines, and ``\\"`` and ``\\\\`` are its only escapes;
- a token that starts like a number but is not ``-?digits(.digits)?`` is a
  ParseError (``1_000``, ``1e5``, ``.5``, ``+3``); any other unknown word is an
  UnknownInstruction;
- ``round N`` needs N to be written as plain digits (0, 2, 10).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .stackvm_num import norm, parse_int

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NUMBER_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?\Z")
NUMBERISH_RE = re.compile(r"[-+]?\.?[0-9]")

NO_OPERAND = frozenset(
    "pop drop dup swap over rot clear depth add sub mul div idiv mod pow neg abs "
    "sqrt min max eq ne lt le gt ge not and or print halt".split()
)
NAME_OPERAND = frozenset("store load jmp jz jnz".split())
INSTRUCTIONS = NO_OPERAND | NAME_OPERAND | {"push", "round"}
SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "x": "mul", "/": "div", "//": "idiv", "%": "mod",
           "^": "pow", "**": "pow", "==": "eq", "=": "eq", "!=": "ne", "<": "lt", "<=": "le",
           ">": "gt", ">=": "ge", "!": "not", "&&": "and", "||": "or", "jmpz": "jz",
           "jump": "jmp", "goto": "jmp", "exit": "halt", "stop": "halt", "emit": "print",
           "minus": "sub", "plus": "add", "times": "mul", "negate": "neg", "exp": "pow"}


@dataclass
class Problem:
    """One problem found before running."""

    type: str
    message: str
    line: int
    instruction: str


@dataclass(slots=True)
class Instr:
    op: str  # canonical lower-case name
    arg: Any  # literal value, label index, variable name, places, or None
    line: int
    text: str  # as shown in traces: "push 3", "jmp loop", "add"


@dataclass(slots=True)
class Token:
    kind: str  # "word", "string", "error"
    text: str
    line: int
    value: Any = None  # the string's value, or the error message


def tokenize(program: str) -> list[Token]:
    tokens: list[Token] = []
    for lineno, line in enumerate(program.split("\n"), 1):
        if '"' not in line:  # fast path: no strings on this line
            for text in line.split("#", 1)[0].split():
                tokens.append(Token("word", text, lineno))
            continue
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c.isspace():
                i += 1
            elif c == "#":
                break
            elif c == '"':
                i = _string(line, i, lineno, tokens)
            else:
                j = i
                while j < n and not line[j].isspace() and line[j] != "#":
                    j += 1
                text = line[i:j]
                if '"' in text:
                    tokens.append(Token("error", text, lineno,
                                        f"bad token {text!r}: expected a string to start a token "
                                        f'(put a space before the ")'))
                else:
                    tokens.append(Token("word", text, lineno))
                i = j
    return tokens


def _string(line: str, i: int, lineno: int, tokens: list[Token]) -> int:
    out: list[str] = []
    j, n = i + 1, len(line)
    while j < n:
        c = line[j]
        if c == "\\":
            nxt = line[j + 1] if j + 1 < n else ""
            if nxt not in ('"', "\\"):
                shown = "\\" + nxt if nxt else "\\ at the end of the line"
                end = _skip_token(line, j)
                tokens.append(Token("error", line[i:end], lineno,
                                    f'bad escape {shown} in a string: expected \\" or \\\\'))
                return end
            out.append(nxt)
            j += 2
        elif c == '"':
            end = j + 1
            if end < n and not line[end].isspace() and line[end] != "#":
                stop = _skip_token(line, end)
                tokens.append(Token("error", line[i:stop], lineno,
                                    f"bad token {line[i:stop]!r}: expected a space after the "
                                    "closing quote"))
                return stop
            tokens.append(Token("string", line[i:end], lineno, "".join(out)))
            return end
        else:
            out.append(c)
            j += 1
    tokens.append(Token("error", line[i:], lineno,
                        'unterminated string: expected a closing " on the same line'))
    return n


def _skip_token(line: str, j: int) -> int:
    while j < len(line) and not line[j].isspace():
        j += 1
    return j


def read_number(text: str, max_digits: int) -> tuple[str, Any]:
    """("ok", value) | ("ParseError"/"NumberTooLarge", message) for a word."""
    if len(text) <= min(18, max_digits) and text.isdigit() and text.isascii():
        return "ok", int(text)
    m = NUMBER_RE.match(text)
    if not m:
        return "ParseError", (f"bad number {text!r}: expected digits like 1000, -12 or 3.25 "
                              "(no _, no exponent, no leading + or .)")
    sign, whole, frac = m.group(1), m.group(2).lstrip("0"), (m.group(3) or "").rstrip("0")
    if len(whole) > max_digits or len(frac) > max_digits:
        size = max(len(whole) + len(frac), len(frac) + 1)
        return "NumberTooLarge", (f"number literal with {size} digits: expected at most "
                                  f"{max_digits} digits")
    value: Any = parse_int(whole + frac) if whole + frac else 0
    if frac:
        value = norm(Fraction(value, 10 ** len(frac)))
        if max(value.numerator.bit_length(), value.denominator.bit_length()) * 0.30103 > max_digits:
            return "NumberTooLarge", (f"number literal {text[:20]}... needs more than "
                                      f"{max_digits} digits")
    return "ok", -value if sign else value


def suggest(word: str) -> str:
    low = word.lower()
    if low in SYMBOLS:
        return f"; did you mean {SYMBOLS[low]}?"
    close = difflib.get_close_matches(low, sorted(INSTRUCTIONS), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def compile_program(program: str, max_digits: int) -> tuple[list[Instr], list[Problem]]:
    """Parse and check; returns (instructions, problems in source order)."""
    tokens = tokenize(program)
    code: list[Instr] = []
    problems: list[Problem] = []
    labels: dict[str, tuple[int, int]] = {}  # name -> (instruction index, line)
    jumps: list[Instr] = []
    i = 0

    def problem(type_: str, msg: str, line: int, instr: str) -> None:
        problems.append(Problem(type_, f"{msg} (line {line})", line, instr))

    def literal(tok: Token) -> tuple[str, Any]:
        if tok.kind == "string":
            if len(tok.value) > max_digits:
                return "NumberTooLarge", (f"string literal of {len(tok.value)} characters: "
                                          f"expected at most {max_digits}")
            return "ok", tok.value
        return read_number(tok.text, max_digits)

    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.kind == "word":
            op = tok.text.lower()
            if op in NO_OPERAND:
                code.append(Instr(op, None, tok.line, op))
                continue
        elif tok.kind == "error":
            problem("ParseError", tok.value, tok.line, tok.text)
            continue
        if tok.kind == "string" or NUMBERISH_RE.match(tok.text):
            kind, value = literal(tok)
            if kind == "ok":
                code.append(Instr("push", value, tok.line, f"push {tok.text}"))
            else:
                problem(kind, value, tok.line, tok.text)
            continue
        if tok.text.endswith(":"):
            name = tok.text[:-1]
            if not NAME_RE.match(name):
                problem("ParseError", f"bad label {tok.text!r}: expected a name such as loop: "
                        "(letters, digits and _, not starting with a digit)", tok.line, tok.text)
            elif name in labels:
                first = labels[name][1]
                problem("DuplicateLabel", f"label {name!r} is defined twice: expected it once, "
                        f"found it on line {first} and line {tok.line}", tok.line, tok.text)
            else:
                labels[name] = (len(code), tok.line)
            continue
        if op not in INSTRUCTIONS:
            problem("UnknownInstruction", f"unknown instruction {tok.text!r}: expected an "
                    f"instruction such as add or push, or a literal{suggest(tok.text)}",
                    tok.line, tok.text)
            continue
        # an instruction with an operand
        nxt = tokens[i] if i < len(tokens) else None
        if nxt is not None and nxt.kind == "word" and nxt.text.endswith(":") and len(nxt.text) > 1:
            nxt_shown, nxt = f"the label definition {nxt.text!r}", None
        else:
            nxt_shown = "the end of the program" if nxt is None else repr(nxt.text)
        if nxt is not None:
            i += 1
            if nxt.kind == "error":
                problem("ParseError", nxt.value, nxt.line, nxt.text)
                continue
        if op == "push":
            if nxt is None or (nxt.kind == "word" and not NUMBERISH_RE.match(nxt.text)):
                problem("ParseError", f'push needs a literal after it (a number or a "string"), '
                        f"found {nxt_shown}", tok.line, "push")
                continue
            kind, value = literal(nxt)
            if kind == "ok":
                code.append(Instr("push", value, tok.line, f"push {nxt.text}"))
            else:
                problem(kind, value, nxt.line, nxt.text)
        elif op == "round":
            if nxt is None or nxt.kind != "word" or not nxt.text.isdigit() or not nxt.text.isascii():
                problem("ParseError", "round needs a whole number of decimal places >= 0 after "
                        f"it (e.g. round 2), found {nxt_shown}", tok.line, "round")
                continue
            places = len(nxt.text) > 12 and 10 ** 12 or int(nxt.text)
            code.append(Instr("round", places, tok.line, f"round {nxt.text}"))
        else:  # store / load / jmp / jz / jnz
            if nxt is None or nxt.kind != "word" or not NAME_RE.match(nxt.text):
                what = "variable" if op in ("store", "load") else "label"
                problem("ParseError", f"{op} needs a {what} name after it (e.g. {op} x), "
                        f"found {nxt_shown}", tok.line, op)
                continue
            ins = Instr(op, nxt.text, tok.line, f"{op} {nxt.text}")
            code.append(ins)
            if op in ("jmp", "jz", "jnz"):
                jumps.append(ins)
    for ins in jumps:
        target = labels.get(ins.arg)
        if target is None:
            close = difflib.get_close_matches(ins.arg, list(labels), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problem("UnknownLabel", f"{ins.op} needs a label defined as {ins.arg}: somewhere in "
                    f"the program, found no label {ins.arg!r}{hint}", ins.line, ins.op)
        else:
            ins.arg = (ins.arg, target[0])
    problems.sort(key=lambda p: p.line)  # stable: same-line problems keep source order
    return code, problems
