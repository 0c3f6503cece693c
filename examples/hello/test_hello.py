from actorbus import App

from .hello import Hello, main


async def test_hello(app: App) -> None:
    await app.add(Hello())
    assert await app.client(Hello).hello(name="you") == "Hello, you!"


async def test_hello_config() -> None:
    async with App(Hello(config={"greeting": "Hi"})) as app:
        assert await app.client(Hello).hello() == "Hi, world!"


async def test_main_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    await main()
    assert capsys.readouterr().out.splitlines() == ["Hello, world!", "Hello, actorbus!"]
