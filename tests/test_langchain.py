"""LangChain interop with real LangChain objects: LangChain tools inside a ponder
Agent, and a ponder Agent inside a LangChain chain (the loop runs on ScriptedModel)."""
from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")

from langchain_core.runnables import Runnable, RunnableLambda  # noqa: E402
from langchain_core.tools import StructuredTool, ToolException  # noqa: E402
from langchain_core.tools import tool as lc_tool  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from ponder import Agent  # noqa: E402
from ponder.integrations.langchain import AgentRunnable, as_runnable, from_langchain_tool  # noqa: E402
from ponder.testing import ScriptedModel  # noqa: E402
from ponder.tools import resolve_tools  # noqa: E402

CALLS: list = []


@lc_tool
def population(city: str, year: int = 2020) -> str:
    """Population of a city in a given year."""
    CALLS.append((city, year))
    return f"{city} had 2,100,000 people in {year}."


class FlightArgs(BaseModel):
    origin: str = Field(description="IATA code")
    dest: str = Field(description="IATA code")


def _flights(origin: str, dest: str) -> dict:
    if origin == dest:
        raise ToolException("origin and destination are the same")
    return {"flights": [f"{origin}-{dest} 09:00"]}


flights = StructuredTool.from_function(_flights, name="flights", description="Flights between airports.",
                                       args_schema=FlightArgs, handle_tool_error=False)


def test_schema_and_call_of_a_decorated_tool():
    t = from_langchain_tool(population)
    assert t.name == "population" and "Population of a city" in t.description
    props = t.parameters["properties"]
    assert props["city"]["type"] == "string" and props["city"]["maxLength"] > 0
    assert props["year"]["type"] == "integer"
    assert "city" in t.parameters["required"]
    assert t(city="Paris", year=2021) == "Paris had 2,100,000 people in 2021."


def test_structured_tool_results_and_errors_become_text():
    t = resolve_tools([flights])[0]
    assert t.parameters["required"] == ["origin", "dest"]
    assert t(origin="CDG", dest="JFK") == '{"flights": ["CDG-JFK 09:00"]}'
    from ponder.tools import ToolError

    with pytest.raises(ToolError, match="the same"):
        t(origin="CDG", dest="CDG")


def _tool_then_answer(tool: str, args: dict, answer: str) -> list:
    return [{"goal": "look it up", "steps": [{"do": "call the tool", "tool": tool},
                                             {"do": "answer", "tool": "answer"}]},
            {"tool": tool, "args": args},
            {"answer": answer, "cites": [1]}]


def test_agent_calls_langchain_tools():
    CALLS.clear()
    model = ScriptedModel(_tool_then_answer("population", {"city": "Paris", "year": 2020},
                                            "About 2.1 million."))
    agent = Agent(model=model, tools=[population, flights, "vm"], introspect="off")
    assert [t.name for t in agent.tools] == ["population", "flights", "vm"]
    r = agent.run("How many people lived in Paris in 2020?")
    assert r.answer == "About 2.1 million." and r.steps == 1
    assert CALLS == [("Paris", 2020)]
    obs = [e for e in r.events if e.type == "observation"][0]
    assert obs.content["text"] == "Paris had 2,100,000 people in 2020." and obs.content["ok"]
    # the action grammar offered the LangChain tool's own argument schema
    act_schema = model.calls[1]["schema"]
    assert any(o.get("properties", {}).get("tool", {}).get("const") == "flights"
               for o in act_schema["anyOf"])


def test_a_failing_langchain_tool_is_an_observation():
    model = ScriptedModel(_tool_then_answer("flights", {"origin": "CDG", "dest": "CDG"}, "No flights."))
    r = Agent(model=model, tools=[flights], introspect="off").run("Flights CDG to CDG?")
    obs = [e for e in r.events if e.type == "observation"][0]
    assert obs.content["ok"] is False and "the same" in obs.content["text"]
    assert r.answer == "No flights."


def _answer_only(answer: str) -> list:
    return [{"goal": "answer", "steps": [{"do": "answer", "tool": "answer"}]},
            {"answer": answer, "cites": []}]


def test_agent_as_a_runnable_in_a_chain():
    model = ScriptedModel(_answer_only("Paris") + _answer_only("Rome"))
    runnable = as_runnable(Agent(model=model, tools=["vm"], introspect="off"))
    assert isinstance(runnable, Runnable) and isinstance(runnable, AgentRunnable)
    chain = RunnableLambda(lambda country: f"What is the capital of {country}?") | runnable
    assert chain.invoke("France") == "Paris"
    assert "TASK: What is the capital of France?" in model.calls[0]["messages"][-1]["content"]
    out = (RunnableLambda(lambda c: {"input": f"Capital of {c}?"}) | runnable).invoke("Italy")
    assert out["output"] == "Rome" and out["stop_reason"] == "answered" and out["steps"] == 0


def test_runnable_batch_runs_one_at_a_time():
    model = ScriptedModel(_answer_only("A") + _answer_only("B"))
    runnable = as_runnable(Agent(model=model, tools=["vm"], introspect="off"))
    assert runnable.batch(["first?", "second?"]) == ["A", "B"]
