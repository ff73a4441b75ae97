"""One real run on the embedded SmolLM2-135M: the loop completes with no format
failure (every phase is grammar-constrained). The answer itself may be weak."""
from __future__ import annotations

import pytest

from ponder.agent.events import EVENT_TYPES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent():
    pytest.importorskip("llama_cpp")
    from ponder import Agent

    # max_tokens bounds the run's generation so the test stays short on 2 cores
    return Agent(model="default", tools=["vm"], max_steps=3, max_tokens=300)


def test_smollm2_run_completes_without_format_failures(agent, tmp_path):
    result = agent.run("What is 48271 multiplied by 9973?")
    kinds = [e.type for e in result.events]
    assert result.stop_reason in ("answered", "max_steps", "max_tokens")
    assert result.format_failures == 0 and "error" not in kinds
    assert kinds[:2] == ["task", "plan"] and kinds[-1] == "final"
    assert set(kinds) <= set(EVENT_TYPES)
    for i, kind in enumerate(kinds):
        if kind == "tool_call":
            assert kinds[i + 1] == "observation"
    assert result.usage.calls >= 2 and result.transcript_tokens > 0
    # the append-only transcript keeps the prompt evaluation near one pass
    assert result.kv_ratio is not None and result.kv_ratio <= 1.2
