"""Serving the ingress: hypercorn's Trio worker in front of an `Ingress` on its own `App`."""

from __future__ import annotations

import logging
from typing import Any

import trio

from .app import Ingress
from .options import IngressOptions

__all__ = ["hypercorn_config", "serve_asgi", "serve_ingress"]

log = logging.getLogger("actorbus.ingress")

#: The ingress's identity on the bus: under the edge user of `actorbus acl`.
INGRESS_HOSTNAME = "http.actorbus"
#: A gateway in front of busy actors: give them more time to acknowledge than the runtime's
#: default (nobody subscribed still fails at once, from nats-server's no-responders status).
INGRESS_ACK_WINDOW = 1.0


def hypercorn_config(host: str, port: int, options: IngressOptions) -> Any:
    """Hypercorn settings: header and idle timeouts (a slow client cannot hold a connection
    past ``idle_timeout`` before its headers are complete), no access log."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.keep_alive_timeout = options.idle_timeout  # idle, and until the headers are in
    config.read_timeout = int(max(1.0, options.idle_timeout))  # no byte at all for this long
    config.h11_max_incomplete_size = 16 * 1024  # request line and headers
    config.graceful_timeout = 5.0
    config.backlog = 1024
    config.accesslog = None
    config.errorlog = logging.getLogger("actorbus.ingress.http")
    config.wsgi_max_body_size = options.max_body
    config.include_server_header = False
    return config


async def serve_asgi(
    asgi: Any,
    host: str,
    port: int,
    options: IngressOptions,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve any ASGI app with the ingress's server settings; reports the bound port."""
    from hypercorn.trio import serve

    config = hypercorn_config(host, port, options)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, asgi, config)
        bound = int(str(binds[0]).rpartition(":")[2])
        task_status.started(bound)


async def serve_ingress(
    bus: str,
    host: str,
    port: int,
    options: IngressOptions | None = None,
    *,
    plane: str | None = None,
    credentials: Any = None,
    max_budget: float | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect to ``bus`` as ``http.actorbus`` and serve HTTP on ``host:port`` until cancelled.

    Reports the bound port (``port=0`` picks a free one) once it accepts connections."""
    from .._app import App

    options = options if options is not None else IngressOptions()
    extra: dict[str, Any] = {} if max_budget is None else {"max_budget": max_budget}
    async with App(
        bus=bus,
        plane=plane,
        hostname=INGRESS_HOSTNAME,
        credentials=credentials,
        ack_window=INGRESS_ACK_WINDOW,
        **extra,
    ) as app:
        ingress = Ingress(app, options)
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(serve_asgi, ingress, host, port, options)
            shown = f"[{host}]" if ":" in host else host
            log.info("HTTP ingress on http://%s:%d (bus ports %s)", shown, bound,
                     ",".join(str(p) for p in sorted(options.ports)))  # fmt: skip
            task_status.started(bound)
