"""The command line edge: ``actorbus run/call/ping/trace``, the supervisor and target loading."""

from .main import main

__all__ = ["main"]
