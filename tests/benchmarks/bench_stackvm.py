"""Stack machine speed: simple integer instructions per second.

Run: .venv/bin/python tests/benchmarks/bench_stackvm.py [--repeats N]
(a script, not a test: timings are never asserted in CI)

Three programs, all integer-only:
- loop: a countdown loop (load/sub/dup/store/jnz: jumps and variables);
- straight: 200,000 instructions of push/add/mul/sub/dup/swap/drop, no jumps;
- stack: a loop of stack shuffles and comparisons.
Reports instructions/s for run() as a whole (parse + check + execute) and for
the execution alone (the Machine loop), best of N repeats.
"""
from __future__ import annotations

import argparse
import time

from ponder.tools.stackvm import run
from ponder.tools.stackvm_exec import Limits, Machine
from ponder.tools.stackvm_parse import compile_program

LOOP = """
200000 store n
loop:
  load n 1 sub dup store n
  jnz loop
"""
STRAIGHT = "0\n" + "1 2 add 3 mul 7 sub dup add 5 swap drop add\n" * 15_385  # 13 a line
STACK = """
0 store i
top:
  1 2 over over lt swap drop add dup mul drop
  load i 1 add dup store i 50000 lt
  jnz top
"""
BIG = 10_000_000


def bench(name: str, program: str, repeats: int) -> dict:
    best_total = best_exec = float("inf")
    steps = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run(program, max_steps=BIG)
        best_total = min(best_total, time.perf_counter() - t0)
        assert res.error is None, res.error
        steps = res.steps
        code, _ = compile_program(program, 10_000)
        m = Machine(code, Limits(BIG, 10_000, 10_000, 1_000_000, None))
        t0 = time.perf_counter()
        m.run()
        best_exec = min(best_exec, time.perf_counter() - t0)
    return {"program": name, "steps": steps, "run_ips": steps / best_total,
            "exec_ips": steps / best_exec}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'program':<10} {'steps':>9} {'run() instr/s':>15} {'exec instr/s':>15}")
    for name, prog in (("loop", LOOP), ("straight", STRAIGHT), ("stack", STACK)):
        r = bench(name, prog, args.repeats)
        print(f"{r['program']:<10} {r['steps']:>9} {r['run_ips']:>15,.0f} {r['exec_ips']:>15,.0f}")


if __name__ == "__main__":
    main()
