"""A multi-hop question: find a person, then facts about them, citing what was read.

    python examples/amd_ceo.py                                  # offline corpus, embedded model
    python examples/amd_ceo.py --search-backend ddg             # the live web (needs network)
    python examples/amd_ceo.py --model path/to/better.gguf      # or PONDER_MODEL=...

Offline (the default when examples/corpus exists) it searches the shipped
corpus with the local FTS5 backend: `--search-backend local --corpus examples/corpus`.
The embedded 135M model is weak at multi-hop questions; a 3B+ GGUF does much better.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ponder import Agent

QUESTION = "Who is the current CEO of AMD, what education do they have, where did they study?"
CORPUS = Path(__file__).resolve().parent / "corpus"


def line(event) -> str:
    c = dict(event.content)
    if event.type == "observation":
        c["text"] = c["text"][:160].replace("\n", " ") + ("..." if len(c["text"]) > 160 else "")
    if event.type == "final":
        c = {k: c[k] for k in ("answer", "ok", "stop_reason", "steps", "seconds", "kv_ratio")}
    return f"[{event.step}] {event.type}: {json.dumps(c, ensure_ascii=False)}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("question", nargs="?", default=QUESTION)
    p.add_argument("--model", default=os.environ.get("PONDER_MODEL", "default"))
    p.add_argument("--base-url", default=os.environ.get("PONDER_BASE_URL"))
    p.add_argument("--search-backend", choices=("ddg", "local"), default=None)
    p.add_argument("--corpus", default=str(CORPUS))
    p.add_argument("--introspect", choices=("off", "plan", "full"), default="full")
    p.add_argument("--max-steps", type=int, default=6)
    p.add_argument("--trace", default=None, help="write every event as JSON lines")
    args = p.parse_args()
    backend = args.search_backend or ("local" if Path(args.corpus).is_dir() else "ddg")
    agent = Agent(model=args.model, base_url=args.base_url, tools=["search"],
                  search_backend=backend, corpus=args.corpus if backend == "local" else None,
                  introspect=args.introspect, max_steps=args.max_steps, trace=args.trace)
    print(f"search backend: {backend}; tools: {[t.name for t in agent.tools]}")
    print(f"TASK: {args.question}")
    for event in agent.stream(args.question):
        print(line(event), flush=True)
    r = agent.last_result
    print(f"\nanswer: {r.answer}\ncited observations: {r.cites}  stop: {r.stop_reason}")
    return 0 if r.answer else 1


if __name__ == "__main__":
    raise SystemExit(main())
