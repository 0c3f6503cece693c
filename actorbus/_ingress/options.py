"""What an ingress is allowed to do: open ports, limits, timeouts, CORS origins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .._wire.callstate import DEFAULT_MAX_BODY as _BUS_MAX_BODY

__all__ = [
    "CONTROL_PORT",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONCURRENT",
    "IngressOptions",
    "OptionsError",
    "parse_ports",
]

#: The bus's control plane: never reachable from HTTP, whatever ``--http-ports`` says.
CONTROL_PORT: Final = 888
DEFAULT_PORT: Final = 443
DEFAULT_BUDGET: Final = 20.0  # seconds, when the request has no Request-Timeout header
DEFAULT_MAX_BODY: Final = _BUS_MAX_BODY  # bytes; past it, 413 (the bus's own body limit)
DEFAULT_MAX_CONCURRENT: Final = 1024  # requests in progress; past it, 503 at once
DEFAULT_IDLE_TIMEOUT: Final = 10.0  # seconds a connection may sit idle or send its headers
DEFAULT_BODY_TIMEOUT: Final = 30.0  # seconds the whole body may take to arrive; past it, 408


class OptionsError(ValueError):
    """An ingress option that cannot work (the message is one line, naming the option)."""


@dataclass(frozen=True)
class IngressOptions:
    """Tunables of one ingress. ``ports`` are the bus ports HTTP may reach (443 by default)."""

    ports: frozenset[int] = field(default_factory=lambda: frozenset({DEFAULT_PORT}))
    cors: tuple[str, ...] = ()  # allowed origins; empty = CORS off; "*" = any origin
    max_body: int = DEFAULT_MAX_BODY
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    default_budget: float = DEFAULT_BUDGET
    tracebacks: bool = False  # show remote tracebacks to HTTP callers (debugging only)
    describe_ttl: float = 2.0  # seconds a host's description is reused

    def __post_init__(self) -> None:
        if CONTROL_PORT in self.ports:
            raise OptionsError(
                f"--http-ports: port {CONTROL_PORT} (the control plane) is never open"
            )
        bad = sorted(p for p in self.ports if not 0 < p < 65536)
        if bad:
            raise OptionsError(f"--http-ports: {bad[0]} is not a port number 1..65535")
        if self.max_body < 0:
            raise OptionsError(f"--http-max-body must be >= 0, got {self.max_body}")
        if self.max_concurrent < 1:
            raise OptionsError(f"--http-max-concurrent must be >= 1, got {self.max_concurrent}")
        for origin in self.cors:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise OptionsError(
                    f"--cors {origin!r}: expected an origin such as https://app.example or *"
                )

    def port_open(self, port: int) -> bool:
        return port != CONTROL_PORT and port in self.ports

    def allowed_origin(self, origin: str) -> str | None:
        """The value of Access-Control-Allow-Origin for ``origin``, or None (CORS off)."""
        if not origin or not self.cors:
            return None
        if "*" in self.cors:
            return "*"
        return origin if origin.rstrip("/") in {o.rstrip("/") for o in self.cors} else None


def parse_ports(values: list[str] | None) -> frozenset[int]:
    """``--http-ports 444,417`` (or repeated) → the open ports; 443 stays open."""
    ports = {DEFAULT_PORT}
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                raise OptionsError(f"--http-ports: {part!r} is not a port number")
            ports.add(int(part))
    return frozenset(ports)
