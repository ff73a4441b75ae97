"""``ponder vm [--json] [--trace] (PROGRAM | -f FILE | -)``: the stack machine on its own.

Plain output: the printed lines, then the final stack, one value per line
(bottom first); a program error goes to stderr as ``error: Type: message``
(after the output and the stack at the error). ``--json`` prints exactly the
spec's object on stdout, error included. ``--trace`` shows the stack after
each step: in plain mode as lines before the output, with ``--json`` as an
extra ``trace`` list in the object. Exit 0 ok, 1 program error, 2 bad usage.

Several words are joined with spaces, so ``ponder vm 3 4 add`` works.
"""
from __future__ import annotations

import json
import sys

from ..errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("vm", help="run a stack-machine program (exact arithmetic)",
                       description="Run a stack-machine program: exact rationals, typed errors.")
    p.add_argument("program", nargs="*", metavar="PROGRAM",
                   help="the program text, or - to read it from stdin")
    p.add_argument("-f", "--file", metavar="FILE", help="read the program from FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trace", action="store_true", help="show the stack after each step")
    p.add_argument("--max-steps", type=int, default=100_000, metavar="N")
    p.add_argument("--max-stack", type=int, default=10_000, metavar="N")
    p.add_argument("--max-digits", type=int, default=10_000, metavar="N")
    p.set_defaults(func=_vm)


def _read_program(args) -> str:
    words = list(args.program)
    if args.file is not None:
        if words:
            raise UsageError("vm: give PROGRAM, -f FILE or -, not both")
        if args.file == "-":
            return sys.stdin.read()
        try:
            with open(args.file, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            raise UsageError(f"vm: no such file: {args.file}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"vm: cannot read {args.file}: {e}") from None
    if words == ["-"]:
        return sys.stdin.read()
    if not words:
        raise UsageError("vm: no program: give PROGRAM, -f FILE or - (stdin)")
    return " ".join(words)


def _vm(args) -> int:
    from ..tools.stackvm import Renderer, run, trace_line

    program = _read_program(args)
    for name in ("max_steps", "max_stack", "max_digits"):
        if getattr(args, name) < 1:
            raise UsageError(f"vm: --{name.replace('_', '-')} must be at least 1")
    res = run(program, max_steps=args.max_steps, max_stack=args.max_stack,
              max_digits=args.max_digits, trace=args.trace)
    if args.json:
        print(json.dumps(res.to_dict(with_trace=args.trace), ensure_ascii=False))
        return 0 if res.ok else 1
    out = sys.stdout
    if args.trace:
        for t in res.trace[: len(res.trace) // 2] if res.trace_omitted else res.trace:
            out.write(trace_line(t, width=200) + "\n")
        if res.trace_omitted:
            out.write(f"... {res.trace_omitted} steps not shown ...\n")
            for t in res.trace[len(res.trace) // 2:]:
                out.write(trace_line(t, width=200) + "\n")
    for line in res.output:
        out.write(line + "\n")
    render = Renderer()
    for text in [render(v) for v in reversed(res.stack)][::-1]:  # the top gets the budget first
        out.write(text + "\n")
    out.flush()
    if res.error is not None:
        print(f"error: {res.error.type}: {res.error.message}", file=sys.stderr)
        return 1
    return 0
