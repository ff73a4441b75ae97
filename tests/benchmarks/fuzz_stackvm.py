"""Fuzz the stack machine: run many generated programs, count crashes.

Run: .venv/bin/python tests/benchmarks/fuzz_stackvm.py [--n 1000000] [--workers 2] [--seed 0]
(a script, not collected by pytest)

A crash is anything other than a clean result: an exception escaping
``run()``, ``to_dict()``/JSON or the tool's observation, an error type not in
the spec, or a result that breaks its invariants (values of the wrong type,
stack past the limit, steps past the limit). Programs mix valid instructions,
literals of every kind (small/huge/decimal/negative numbers, strings with
escapes), labels and jumps (so loops happen), operand mistakes and garbage
tokens, with small limits so every limit is hit often. The slowest program
is reported too. Reproduce a crash with ``--n 1 --seed S`` using the printed
program text.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from fractions import Fraction
from multiprocessing import Pool

from ponder.tools.stackvm import ERROR_TYPES, VMTool, run
from ponder.tools.stackvm_parse import INSTRUCTIONS

PLAIN = sorted(INSTRUCTIONS - {"push", "round", "store", "load", "jmp", "jz", "jnz"})
LABELS = ["a", "b", "loop", "end"]
VARS = ["x", "y", "n"]
GARBAGE = ["1_000", "1e5", ".5", "+3", "5.", "-", "+", "foo", '"open', '"a\\nb"', '"ab"c', "9x:",
           ":", "push", "round", "round -1", "round 1.5", "store", "load 3", "jmp end:", "#", "\t",
           "ADD", "Dup", "é", "٣", "\x00", '"\\\\"', '"\\""', "jz", "x:y"]
LIMITS = dict(max_steps=400, max_stack=48, max_digits=120, max_output=4000, max_seconds=5.0)


def literal(r: random.Random) -> str:
    k = r.random()
    if k < 0.45:
        return str(r.randint(-20, 20))
    if k < 0.6:
        return str(r.randint(-10 ** 12, 10 ** 12))
    if k < 0.75:
        return f"{r.randint(-999, 999)}.{r.randint(0, 9999):0{r.randint(1, 4)}d}"
    if k < 0.8:
        return str(r.randint(10 ** 100, 10 ** 130))  # near and past max_digits
    if k < 0.9:
        return r.choice(['"x"', '"hello world"', '""', '"q\\"u"', '"back\\\\"', '"# no comment"'])
    return r.choice(["0", "0.0", "-0", "1", "-1", "2", "0.5"])


def token(r: random.Random, clean: bool) -> str:
    k = r.random() * (0.87 if clean else 1.0)
    if k < 0.45:
        return r.choice(PLAIN)
    if k < 0.7:
        return literal(r)
    if k < 0.76:
        return f"{r.choice(['store', 'load'])} {r.choice(VARS)}"
    if k < 0.84:
        return f"{r.choice(['jmp', 'jz', 'jnz', 'jnz', 'jz'])} {r.choice(LABELS)}"
    if k < 0.87:
        return f"round {r.randint(0, 30)}"
    if k < 0.91:
        return r.choice(LABELS) + ":"
    if k < 0.98:
        return r.choice(GARBAGE)
    return "".join(r.choice("ab1-.\"#: \\\n") for _ in range(r.randint(1, 6)))


def program(r: random.Random) -> str:
    """Two thirds are clean (no garbage; every label used is defined once, so
    they run), the rest may have any pre-run problem."""
    clean = r.random() < 0.67
    toks = [literal(r) for _ in range(r.randint(0, 3))]
    toks += [token(r, clean) for _ in range(r.randint(0, 30))]
    if clean:
        used = {t.split()[1] for t in toks if t.split()[0] in ("jmp", "jz", "jnz")}
        for name in used:
            toks.insert(r.randint(0, len(toks)), name + ":")
    out, line = [], []
    for t in toks:
        line.append(t)
        if r.random() < 0.3:
            out.append(" ".join(line))
            line = []
    out.append(" ".join(line))
    return "\n".join(out)


def check(prog: str, tool: VMTool) -> str | None:
    """None if fine, else a description of the crash."""
    try:
        res = run(prog, **LIMITS)
        d = json.loads(json.dumps(res.to_dict()))
        tool.observe(res)
    except Exception as e:  # noqa: BLE001 - counting crashes is the point
        return f"{type(e).__name__}: {e}"
    if list(d) != ["stack", "output", "steps", "error"]:
        return f"bad keys {list(d)}"
    if res.error is not None and res.error.type not in ERROR_TYPES:
        return f"unknown error type {res.error.type}"
    if res.steps > LIMITS["max_steps"] or len(res.stack) > LIMITS["max_stack"]:
        return f"limit broken: steps={res.steps} depth={len(res.stack)}"
    for v in res.stack:
        if type(v) not in (int, Fraction, str) or (type(v) is Fraction and v.denominator == 1):
            return f"bad value {v!r}"
    return None


def chunk(args: tuple[int, int]) -> dict:
    seed, n = args
    r = random.Random(seed)
    tool = VMTool(**LIMITS)
    crashes, errors, slowest = [], {}, (0.0, "")
    for _ in range(n):
        prog = program(r)
        t = time.perf_counter()
        problem = check(prog, tool)
        dt = time.perf_counter() - t
        if dt > slowest[0]:
            slowest = (dt, prog)
        if problem:
            crashes.append((problem, prog))
        else:
            res = run(prog, **LIMITS) if r.random() < 0.01 else None  # sample the outcome mix
            if res is not None:
                key = res.error.type if res.error else "ok"
                errors[key] = errors.get(key, 0) + 1
    return {"crashes": crashes, "errors": errors, "slowest": slowest, "n": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=20_000)
    args = ap.parse_args()
    jobs, left, seed = [], args.n, args.seed
    while left > 0:
        jobs.append((seed, min(args.chunk, left)))
        left -= args.chunk
        seed += 1
    t0 = time.perf_counter()
    crashes, errors, slowest, done = [], {}, (0.0, ""), 0
    with Pool(args.workers) as pool:
        for res in pool.imap_unordered(chunk, jobs):
            crashes += res["crashes"]
            for k, v in res["errors"].items():
                errors[k] = errors.get(k, 0) + v
            slowest = max(slowest, res["slowest"])
            done += res["n"]
            print(f"  {done:,} programs, {len(crashes)} crashes, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    print(f"programs: {done:,}")
    print(f"crashes: {len(crashes)}")
    print(f"seconds: {time.perf_counter() - t0:.1f}")
    print(f"slowest program: {slowest[0] * 1000:.1f} ms: {slowest[1][:200]!r}")
    print(f"outcome mix (sampled): {dict(sorted(errors.items(), key=lambda kv: -kv[1]))}")
    for problem, prog in crashes[:10]:
        print(f"CRASH {problem}\n  program: {prog!r}")


if __name__ == "__main__":
    main()
