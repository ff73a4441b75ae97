"""The agent: the plan-act-observe loop, its phases, events, sessions and models."""
