"""The HTTP ingress: browsers, curl and other services reach the actors over HTTP.

``METHOD /<hostname>[:<port>]/<path>?<query>`` becomes a bus request through an ordinary `App`
(the edge's identity), so the ingress knows nothing of frames or subjects. Served by hypercorn's
Trio worker (`server.serve_ingress`); the ASGI app itself is `Ingress`.
"""

from .app import Ingress
from .options import IngressOptions, OptionsError
from .serving import serve_ingress

__all__ = ["Ingress", "IngressOptions", "OptionsError", "serve_ingress"]
