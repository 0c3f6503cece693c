import pytest

from actorbus import App, HttpResponse, RemoteError

from .site import Site


async def test_the_site_on_the_bus(app: App) -> None:
    await app.add(Site())
    site = app.client(Site)
    page = await site.home()
    assert isinstance(page, HttpResponse) and "fetch(" in page.body
    assert page.content_type.startswith("text/html")
    assert [await site.visit(), await site.visit()] == [1, 2]
    assert await site.note(name="welcome") == "Hello from an actor."
    with pytest.raises(RemoteError, match="no note"):
        await site.note(name="missing")
    moved = await site.old_home()
    assert (moved.status, moved.headers) == (301, {"Location": "/site.example/"})
