"""``ponder bench decode|agent``: see how fast ponder runs on your model."""
from __future__ import annotations

import json

from .common import add_model_options


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure decoding and agent speed on a model")
    bsub = p.add_subparsers(dest="bench", metavar="WHAT", required=True)
    d = bsub.add_parser("decode", help="tokens/s free vs grammar-constrained, same model, same run")
    add_model_options(d)
    d.add_argument("--tokens", type=int, default=128, help="tokens to generate per measurement")
    d.add_argument("--repeats", type=int, default=3, help="alternating free/constrained rounds")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_decode)
    a = bsub.add_parser("agent", help="end-to-end agent timing vs the raw model time it used")
    add_model_options(a)
    a.add_argument("--no-langchain", action="store_true", help="skip the LangChain comparison")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_agent)


def _print(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k:<28} {v}")
        else:
            print(f"{key:<30} {value}")


def _decode(args) -> int:
    from ..benchmarks.decode import bench_decode

    _print(bench_decode(args), args.json)
    return 0


def _agent(args) -> int:
    from ..benchmarks.agent import bench_agent

    _print(bench_agent(args), args.json)
    return 0
