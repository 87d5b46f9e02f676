"""Stubs of the chain-of-thought project (answer extraction, self-consistency voting)."""
