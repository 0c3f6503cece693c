"""Test helpers for actorbus users and for transports: the conformance suite and the plugin."""

from ._conformance import Inbox as Inbox
from ._conformance import check_transport as check_transport

__all__ = ["Inbox", "check_transport"]
