"""`bus_errors`: transport failures leave `App` and ``app.add`` as one-line `BusError`s."""

from __future__ import annotations

import pytest

from actorbus import BusError
from actorbus._runtime.errors import bus_errors
from actorbus._transport.base import TransportError


def test_a_lone_transport_error_even_in_nested_groups() -> None:
    inner = ExceptionGroup("b", [TransportError("flush interrupted:\n gone")])
    with (
        pytest.raises(BusError, match=r"^cannot start x: flush interrupted: gone$") as info,
        bus_errors("cannot start x"),
    ):
        raise ExceptionGroup("a", [inner])
    assert isinstance(info.value.__cause__, TransportError)


def test_several_transport_errors_give_the_first() -> None:
    with pytest.raises(BusError, match=r"^first$"), bus_errors():
        raise ExceptionGroup("g", [TransportError("first"), TransportError("second")])


def test_anything_else_passes_unchanged() -> None:
    with pytest.raises(ExceptionGroup), bus_errors():
        raise ExceptionGroup("g", [TransportError("t"), ValueError("v")])
    with pytest.raises(KeyError), bus_errors():
        raise KeyError("k")
