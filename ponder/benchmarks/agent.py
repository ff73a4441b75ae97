"""``ponder bench agent``: one fixed agent task, ponder vs a classic LangChain ReAct agent.

The task: "What is 48271 multiplied by 9973?" with the ``vm`` tool, on ONE
loaded model, both sides in the same process, one after the other.

ponder side (``Agent(model, tools=["vm"])``, ``--introspect`` as given):
- ``wall_seconds`` vs ``model_seconds`` (summed ``Usage.model_seconds``):
  ``overhead_ratio`` = wall / model, goal <= 1.05;
- ``prompt_eval_tokens`` (tokens the backend evaluated) vs
  ``transcript_tokens`` (the final transcript's length): ``kv_ratio``, goal
  <= 1.2 (an append-only transcript evaluates each token about once).

LangChain side: the installed langchain (1.x) no longer ships the classic
text-parsing ReAct agent (``create_react_agent``/``AgentExecutor`` moved to
``langchain-classic``, not installed), so this is that agent rebuilt from
langchain_core parts: the classic ReAct prompt (hwchase17/react) as a
``PromptTemplate``, a ``langchain_core`` ``LLM`` wrapping ponder's Model
doing FREE (unconstrained) generation, an output parser with the classic
``ReActSingleInputOutputParser`` rules that raises ``OutputParserException``,
and the AgentExecutor loop with ``handle_parsing_errors=True`` (a parse
failure becomes the "Invalid Format" observation and the loop goes on).
``parse_failures`` counts the ``OutputParserException``s. ponder's Model has
no stop sequences, so the LLM wrapper cuts the text at ``\\nObservation``
afterwards and caps a step at 256 tokens: tokens generated past the stop are
still paid for (counted in ``completion_tokens`` and seconds).
"""
from __future__ import annotations

import re
import time
from typing import Any

TASK = "What is 48271 multiplied by 9973?"
EXPECTED = 481406683
MAX_STEPS = 6

REACT_PROMPT = """Answer the following questions as best you can. You have access to the following tools:

{tools}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!

Question: {input}
Thought:{agent_scratchpad}"""

FINAL = "Final Answer:"
ACTION_RE = re.compile(r"Action\s*\d*\s*:[\s]*(.*?)[\s]*Action\s*\d*\s*Input\s*\d*\s*:[\s]*(.*)", re.DOTALL)


def bench_agent(args: Any) -> dict:
    from ..cli.common import load_model_from_args
    from ..taskfile import score

    model = load_model_from_args(args)
    report: dict[str, Any] = {"task": TASK, "model": getattr(model, "name", "?")}
    report["ponder"] = _ponder_side(model, getattr(args, "introspect", "full") or "full", score)
    if not getattr(args, "no_langchain", False):
        try:
            report["langchain_react"] = _langchain_side(model, score)
        except ImportError as e:
            report["langchain_react"] = {"skipped": f"langchain-core is not installed ({e.name})"}
        p, lc = report["ponder"], report["langchain_react"]
        if "skipped" not in lc:
            report["side_by_side"] = {
                "prompt_eval_tokens (ponder / langchain)": f"{p['prompt_eval_tokens']} / {lc['prompt_eval_tokens']}",
                "completion_tokens (ponder / langchain)": f"{p['completion_tokens']} / {lc['completion_tokens']}",
                "seconds (ponder / langchain)": f"{p['wall_seconds']} / {lc['wall_seconds']}",
                "parse failures (ponder / langchain)": f"{p['format_failures']} / {lc['parse_failures']}",
                "correct (ponder / langchain)": f"{p['correct']} / {lc['correct']}",
            }
    return report


def _ponder_side(model: Any, introspect: str, score: Any) -> dict:
    from ..agent.loop import Agent

    agent = Agent(model=model, tools=["vm"], introspect=introspect, max_steps=MAX_STEPS)
    start = time.perf_counter()
    r = agent.run(TASK)
    wall = time.perf_counter() - start
    u = r.usage
    return {
        "answer": r.answer, "correct": bool(score(r.answer, EXPECTED)), "stop_reason": r.stop_reason,
        "steps": r.steps, "model_calls": u.calls,
        "wall_seconds": round(wall, 2), "model_seconds": round(u.model_seconds, 2),
        "overhead_ratio (goal <= 1.05)": round(wall / u.model_seconds, 3) if u.model_seconds else None,
        "prompt_tokens": u.prompt_tokens, "prompt_eval_tokens": u.prompt_eval_tokens,
        "transcript_tokens": r.transcript_tokens,
        "kv_ratio (goal <= 1.2)": r.kv_ratio,
        "completion_tokens": u.completion_tokens, "format_failures": r.format_failures,
    }


def _langchain_side(model: Any, score: Any) -> dict:
    from langchain_core.exceptions import OutputParserException
    from langchain_core.prompts import PromptTemplate

    from ..tools.stackvm import VMTool

    llm, parser, vm = _llm(model), _parser(), VMTool()
    prompt = PromptTemplate.from_template(REACT_PROMPT)
    tools_text = f"vm: {' '.join(vm.description.split())[:600]} (Action Input: the program text)"
    scratchpad, answer, failures, steps = "", None, 0, 0
    start = time.perf_counter()
    for _ in range(MAX_STEPS + 2):
        text = llm.invoke(prompt.format(tools=tools_text, tool_names="vm", input=TASK,
                                        agent_scratchpad=scratchpad), stop=["\nObservation"])
        try:
            kind, value = parser.invoke(text)
        except OutputParserException as e:
            failures += 1
            scratchpad += f"{text}\nObservation: Invalid Format: {str(e).splitlines()[0][:120]}\nThought:"
            continue
        if kind == "finish":
            answer = value
            break
        tool, tool_input = value
        steps += 1
        obs = vm(program=tool_input.strip().strip('"')) if tool == "vm" else f"{tool} is not a valid tool, try vm."
        scratchpad += f"{text}\nObservation: {obs}\nThought:"
        if steps >= MAX_STEPS:
            break
    wall = time.perf_counter() - start
    u = llm.usage
    return {
        "answer": answer, "correct": bool(score(answer, EXPECTED)), "steps": steps,
        "model_calls": u["calls"], "wall_seconds": round(wall, 2), "model_seconds": round(u["model_seconds"], 2),
        "prompt_tokens": u["prompt_tokens"], "prompt_eval_tokens": u["prompt_eval_tokens"],
        "completion_tokens": u["completion_tokens"], "parse_failures": failures,
    }


def _llm(model: Any):
    """A langchain_core LLM over ponder's Model, free generation, usage summed in ``.usage``."""
    from langchain_core.language_models.llms import LLM

    class PonderLLM(LLM):
        model: Any
        usage: dict = {}

        @property
        def _llm_type(self) -> str:
            return "ponder"

        def _call(self, prompt: str, stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> str:
            c = self.model.complete([{"role": "user", "content": prompt}], schema=None, max_tokens=256,
                                    temperature=0.0)
            for k, v in c.usage.as_dict().items():
                self.usage[k] = self.usage.get(k, 0) + v
            text = c.text
            for s in stop or []:
                text = text.split(s)[0]
            return text

    return PonderLLM(model=model, usage={})


def _parser():
    """The classic ReActSingleInputOutputParser rules, on langchain_core."""
    from langchain_core.exceptions import OutputParserException
    from langchain_core.output_parsers import BaseOutputParser

    class ReActParser(BaseOutputParser):
        def parse(self, text: str):
            includes_answer = FINAL in text
            m = ACTION_RE.search(text)
            if m and includes_answer:
                raise OutputParserException(f"Parsing LLM output produced both a final answer and a "
                                            f"parse-able action: {text[:200]}")
            if m:
                return ("action", (m.group(1).strip(), m.group(2).strip(" ").strip('"')))
            if includes_answer:
                return ("finish", text.split(FINAL)[-1].strip())
            if not re.search(r"Action\s*\d*\s*:[\s]*(.*?)", text, re.DOTALL):
                raise OutputParserException(f"Could not parse LLM output: `{text[:200]}`: "
                                            "Invalid Format: Missing 'Action:' after 'Thought:'")
            raise OutputParserException(f"Could not parse LLM output: `{text[:200]}`: "
                                        "Invalid Format: Missing 'Action Input:' after 'Action:'")

    return ReActParser()
