"""Typed proxies: ``self.client(Users).delete_user(...)`` and ``.multicast.hello(...)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import pathargs as _pathargs
from .caller import Caller
from .declarations import HandlerSpec
from .gathering import Gathering
from .shapes import Declares

Declared = type[Declares]

__all__ = ["Client", "MulticastClient"]


def _endpoint(cls: Declared, name: str) -> HandlerSpec:
    spec = cls._endpoints.get(name)
    if spec is None:
        known = ", ".join(sorted(cls._endpoints)) or "none"
        raise AttributeError(f"{cls.__name__} has no endpoint {name!r} (endpoints: {known})")
    return spec


class Client:
    """Calls the endpoints of one actor class; one replica answers each call."""

    def __init__(self, caller: Caller, cls: Declared, *, instance: str | None = None) -> None:
        if not isinstance(cls, type) or not callable(getattr(cls, "host", None)):
            got = f"the {type(cls).__name__} {cls!r}" if not isinstance(cls, type) else repr(cls)
            raise TypeError(f"client() takes an actor or API class such as Users, got {got}")
        self._caller = caller
        self._cls = cls
        self._host = cls.host()
        self._instance = instance

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        # Built once per proxy and name, then found as a plain attribute (the hot path).
        spec = _endpoint(self._cls, name)
        sig = spec.signature
        caller, host, instance = self._caller, self._host, self._instance
        method, port, path = _pathargs.request_route(spec)

        async def call(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(args, kwargs)
            where = path if path is not None else _pathargs.fill(spec, bound)
            body = sig.encode(bound)
            return await caller.call(
                host, port, method, where, body, sig.decode_result, instance=instance
            )

        call.__name__ = name
        call.__doc__ = spec.func.__doc__
        setattr(self, name, call)
        return call

    def replica(self, instance: str) -> Client:
        """The same proxy addressed to one replica by its instance id."""
        return Client(self._caller, self._cls, instance=instance)

    @property
    def multicast(self) -> MulticastClient:
        """Every replica of the host answers; iterate the returned `Gathering`."""
        return MulticastClient(self._caller, self._cls)

    def __repr__(self) -> str:
        return f"<Client {self._cls.__name__} at {self._host}>"


class MulticastClient:
    """``client.multicast.name(**kwargs)`` → a `Gathering` of every replica's `Reply`."""

    def __init__(self, caller: Caller, cls: Declared) -> None:
        self._caller = caller
        self._cls = cls

    def __getattr__(self, name: str) -> Callable[..., Gathering]:
        spec = _endpoint(self._cls, name)
        sig = spec.signature
        caller, host = self._caller, self._cls.host()
        method, port, path = _pathargs.request_route(spec)

        def multicast_call(*args: Any, **kwargs: Any) -> Gathering:
            bound = sig.bind(args, kwargs)
            body = sig.encode(bound)
            return caller.multicast(
                host,
                port,
                method,
                path if path is not None else _pathargs.fill(spec, bound),
                body,
                sig.decode_result,
                every_replica=True,
            )

        multicast_call.__name__ = name
        return multicast_call
