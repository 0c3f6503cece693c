"""Hostile input: frame generators for the fuzz tests and ``python -m tools.fuzz``."""
