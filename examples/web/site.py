"""A web page served by an actor through the HTTP ingress: HTML, a redirect, path arguments.

Run it with ``actorbus run examples/web --http localhost:8080`` and open
http://localhost:8080/site.example/ in a browser.
"""

from __future__ import annotations

from typing import Any

from actorbus import Actor, HTTPError, HttpResponse, endpoint

HOME = """<!doctype html>
<html><head><meta charset="utf-8"><title>site.example</title></head>
<body>
<h1>site.example</h1>
<p>Visits: <span id="visits">?</span></p>
<script>
fetch("/site.example/visit", {method: "POST"})
  .then(r => r.json())
  .then(n => { document.getElementById("visits").textContent = n; });
</script>
</body></html>
"""


class Site(Actor):
    """Serves a page whose script calls another endpoint of the same actor."""

    hostname = "site.example"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.visits = 0
        self.notes = {"welcome": "Hello from an actor."}

    @endpoint("GET /")
    async def home(self) -> HttpResponse:
        """The page (HTML, not JSON: the ingress sends it as it is)."""
        return HttpResponse(HOME, content_type="text/html; charset=utf-8")

    @endpoint
    async def visit(self) -> int:
        """Counts a visit; the page's script calls it."""
        self.visits += 1
        return self.visits

    @endpoint("GET /notes/{name}")
    async def note(self, name: str) -> str:
        """One note, named in the path."""
        if name not in self.notes:
            raise HTTPError(404, f"no note {name!r}")
        return self.notes[name]

    @endpoint("GET /index.html")
    async def old_home(self) -> HttpResponse:
        """Where the page used to be: a redirect."""
        return HttpResponse("", status=301, headers={"Location": "/site.example/"})
