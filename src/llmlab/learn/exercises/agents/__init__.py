"""Stubs of the agents project (the ReAct parser, the safe calculator)."""
