import pytest

from actorbus import App, BadRequest, RemoteError

from .calculator import Calculator, Vector, main


async def test_typed_calls(app: App) -> None:
    await app.add(Calculator())
    calc = app.client(Calculator)
    assert await calc.add(a=2, b=3) == 5
    assert await calc.divide(a=1, b=4) == 0.25
    assert await calc.vector_sum(vectors=[Vector(1, 2), Vector(3, 4)]) == Vector(4, 6)


async def test_bad_request_is_raised_on_the_caller(app: App) -> None:
    await app.add(Calculator())
    with pytest.raises(BadRequest, match=r"Expected `int`, got `str`"):
        await app.client(Calculator).add(a="two", b=3)
    with pytest.raises(BadRequest, match="missing required field `b`"):
        await app.client(Calculator).add(a=1)


async def test_http_error_status_crosses_the_bus(app: App) -> None:
    await app.add(Calculator())
    with pytest.raises(RemoteError) as info:
        await app.client(Calculator).divide(a=1, b=0)
    assert info.value.status == 422
    assert info.value.message == "division by zero"


async def test_main_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    await main()
    out = capsys.readouterr().out
    assert "add(2, 3) = 5" in out
    assert "RemoteError 422: division by zero" in out
