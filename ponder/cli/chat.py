"""``ponder chat``: the interactive REPL (ponder/repl.py).

Sessions are kept in ``$PONDER_HOME/sessions.db`` (default
``~/.local/share/ponder``), input history in ``$PONDER_HOME/history``.
``--continue`` appends to the last session and re-applies the lessons its
feedback taught (the model's transcript itself is not restored).
"""
from __future__ import annotations

import argparse
import sys

from .common import add_agent_options, load_model_from_args, make_agent, parse_tools


def register(sub) -> None:
    p = sub.add_parser("chat", help="interactive REPL: type tasks, watch the agent work")
    p.add_argument("--continue", dest="cont", action="store_true",
                   help="continue the last saved session (its lessons apply again)")
    p.add_argument("--db", default=None, metavar="FILE",
                   help="session database (default: $PONDER_HOME/sessions.db)")
    add_agent_options(p)
    p.set_defaults(func=chat)


def chat(args: argparse.Namespace) -> int:
    from ..agent.session import SessionStore
    from ..repl import Repl

    parse_tools(args.tools)
    store = SessionStore(args.db)
    try:
        if sys.stderr.isatty():
            print("loading the model...", file=sys.stderr, flush=True)
        model = load_model_from_args(args)
        agent = make_agent(args, model=model)
        session_id = store.last_session() if args.cont else None
        lessons = 0
        if session_id is not None:
            for turn in store.turns(session_id):
                for e in store.events(turn.id):
                    if e.get("type") == "lesson":
                        agent.lessons.append(f"{str(e.get('what_went_wrong', '')).rstrip('.')}; "
                                             f"next time: {e.get('do_differently', '')}")
                        lessons += 1
        else:
            session_id = store.new_session()
        tools = ", ".join(t.name for t in agent.tools) or "none"
        print(f"ponder chat: model {getattr(model, 'name', '?')}, tools {tools}, "
              f"introspect {agent.introspect}; session {session_id}"
              + (f" (continued, {lessons} lesson(s))" if args.cont else "")
              + ". /help for commands, Ctrl-D to quit.", flush=True)
        return Repl(agent, store, session_id).loop()
    finally:
        store.close()
