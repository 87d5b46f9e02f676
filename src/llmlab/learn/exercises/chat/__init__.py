"""Stubs of project 5, the local chatbot: per-channel int8 quantise / dequantise, the context-window
planner."""
