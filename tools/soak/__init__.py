"""``python -m tools.soak``: minutes of calls, gathers and faults; one JSON line of figures."""
