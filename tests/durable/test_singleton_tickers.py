"""Singleton tickers on a real nats-server with JetStream: three replicas (three Apps, three
connections) run each beat on one of them, the lease a key-value entry with a TTL; a holder
that stops hands over at once, one that dies hands over when its entry expires. Bounded by
``fail_after``; waits are on events, never on sleeps."""

from __future__ import annotations

import signal
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from actorbus import Actor, App, BusError, ticker
from actorbus._cli.acl import derive_permissions, generate
from actorbus._runtime import singleton
from actorbus._transport.cluster import open_cluster
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire import leases as _leases

from ..cli.helpers import actorbus, running
from .test_durable_sinks import _stream_info

INTERVAL = 0.25  # a lease of 1 s (3 intervals, rounded up to whole seconds)


class Beats:
    """Every beat of every replica in this process, and whether two ever overlapped."""

    def __init__(self) -> None:
        self.by: list[str] = []
        self.running = 0
        self.overlapped = False
        self._changed = trio.Event()

    async def wait(self, done: object) -> None:
        while not done():  # type: ignore[operator]
            await self._changed.wait()

    def beat(self, instance: str) -> None:
        self.by.append(instance)
        self._changed.set()
        self._changed = trio.Event()


BEATS = Beats()


class Janitor(Actor):
    hostname = "janitor.example"

    @ticker(seconds=INTERVAL, singleton=True)
    async def sweep(self) -> None:
        BEATS.overlapped |= BEATS.running > 0
        BEATS.running += 1
        try:
            BEATS.beat(self.instance)
            await trio.lowlevel.checkpoint()  # a beat that yields: an overlap would show
        finally:
            BEATS.running -= 1


async def _replicas(stack: AsyncExitStack, url: str, plane: str, **kw: str) -> list[Janitor]:
    out = []
    for _ in range(3):
        app = await stack.enter_async_context(App(bus=url, plane=plane, **kw))
        out.append(await app.add(Janitor()))
    return out


async def _handover(server: EmbeddedServer, plane: str, *, crash: bool) -> tuple[int, int]:
    """Three replicas; the holder stops (or dies); the standby beats the others counted
    before one of them took over, and how many replicas ran beats before the stop."""
    global BEATS
    BEATS = Beats()
    with trio.fail_after(60):
        async with AsyncExitStack() as stack:
            apps = [await stack.enter_async_context(App(bus=server.url, plane=plane))]
            apps += [await stack.enter_async_context(App(bus=server.url, plane=plane))]
            apps += [await stack.enter_async_context(App(bus=server.url, plane=plane))]
            replicas = [await app.add(Janitor()) for app in apps]
            await BEATS.wait(lambda: len(BEATS.by) >= 12)
            holders = set(BEATS.by)
            (holder,) = holders
            index = [r.instance for r in replicas].index(holder)
            rest = [r for r in replicas if r.instance != holder]
            if crash:  # it dies: nothing releases its entry, which must expire on the server
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(singleton.BusLease, "release", _no_release)
                    await apps[index].remove(replicas[index])
            else:
                await apps[index].remove(replicas[index])
            before = [r.stats.tick_standby["sweep"] for r in rest]
            seen = len(BEATS.by)
            await BEATS.wait(lambda: len(BEATS.by) >= seen + 8)
            after = BEATS.by[seen:]
            assert holder not in after
            (new,) = set(after)  # one new holder, which keeps it
            (taker,) = [r for r in rest if r.instance == new]
            waited = taker.stats.tick_standby["sweep"] - before[rest.index(taker)]
    assert not BEATS.overlapped
    return waited, len(holders)


async def _no_release(self: singleton.BusLease) -> None:
    """A holder killed mid-run never gives its lease back."""


async def test_three_replicas_one_runs_and_a_stopped_holder_hands_over_at_once(
    server: EmbeddedServer,
) -> None:
    waited, holders = await _handover(server, "single1", crash=False)
    assert holders == 1
    assert waited <= 2  # released: the next beat of a replica takes it


async def test_a_dead_holder_is_replaced_once_its_lease_expires(server: EmbeddedServer) -> None:
    waited, holders = await _handover(server, "single2", crash=True)
    assert holders == 1
    # The entry lives 1 s (4 beats) after its last renewal, plus the server's expiry sweep.
    assert 1 <= waited <= 12


async def test_a_holder_sigkilled_under_actorbus_run_is_replaced(server: EmbeddedServer) -> None:
    global BEATS
    BEATS = Beats()
    plane = "single4"
    args = ("tests.durable.singleton_proc:Janitor", "--nats", server.url, "--plane", plane)
    with trio.fail_after(90):
        async with running(*args) as holder:
            await holder.wait_stdout("BEAT ")  # it holds the lease
            async with AsyncExitStack() as stack:
                rest = await _replicas(stack, server.url, plane)
                while min(r.stats.tick_standby["sweep"] for r in rest) < 4:
                    await holder._changed.wait()  # it keeps beating meanwhile
                assert BEATS.by == []
                holder.signal(signal.SIGKILL)  # no release: its entry must expire
                await holder.wait()
                await BEATS.wait(lambda: len(BEATS.by) >= 4)
    assert len(set(BEATS.by)) == 1 and not BEATS.overlapped


async def test_three_replicas_on_three_nodes_of_a_cluster(plane: str) -> None:
    """The bucket has 3 replicas there; a direct get may be answered by a follower, which can
    only make a replica skip a beat: the compare-and-set write decides."""
    global BEATS
    BEATS = Beats()
    async with open_cluster(3) as cluster:
        with trio.fail_after(90):
            async with AsyncExitStack() as stack:
                for url in cluster.urls:
                    app = await stack.enter_async_context(App(bus=url, plane=plane))
                    await app.add(Janitor())
                await BEATS.wait(lambda: len(BEATS.by) >= 8)
                info = await _stream_info(app, _leases.stream(plane))
    assert info["config"]["num_replicas"] == 3
    assert len(set(BEATS.by)) == 1 and not BEATS.overlapped


async def test_a_server_without_jetstream_refuses_a_singleton_ticker_in_one_line() -> None:
    with EmbeddedServer(jetstream=False) as plain, trio.fail_after(30):
        async with App(bus=plain.url, plane="nojs2") as app:
            with pytest.raises(BusError) as caught:
                await app.add(Janitor())
            assert app.actors == []
    assert str(caught.value) == (
        "janitor.example: singleton tickers need JetStream: start nats-server with -js"
    )


async def test_actorbus_run_against_a_server_without_jetstream_says_so_and_exits_5() -> None:
    with EmbeddedServer(jetstream=False) as plain:
        done = await actorbus("run", f"{__name__}:Janitor", "--nats", plain.url)
    assert done.returncode == 5
    assert done.stderr.decode() == (
        "actorbus: singleton tickers need JetStream: start nats-server with -js\n"
    )


async def test_the_nats_py_client_refuses_singleton_tickers_naming_the_default(
    server: EmbeddedServer,
) -> None:
    with trio.fail_after(30):
        async with App(bus=server.url, plane="natspy2", nats_client="nats-py") as app:
            with pytest.raises(BusError) as caught:
                await app.add(Janitor())
    assert str(caught.value) == (
        "janitor.example: singleton tickers run on the default NATS client, not nats-py: unset "
        "ACTORBUS_NATS_CLIENT (or pass nats_client='native')"
    )


def test_the_acl_grants_exactly_the_hosts_own_lease_keys() -> None:
    class Other(Actor):
        hostname = "other.example"

        @ticker(seconds=1)
        async def sweep(self) -> None: ...

    perms, _ = derive_permissions([Janitor, Other], plane="p")
    stream, bucket = _leases.stream("p"), _leases.bucket("p")
    keys = f"$KV.{bucket}.janitor~example.*"
    janitor = perms["janitor.example"]
    assert [s for s in janitor.publish if "$KV" in s or "$JS" in s] == [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.CREATE.{stream}",
        f"$JS.API.STREAM.UPDATE.{stream}",
        keys,
        f"$JS.API.DIRECT.GET.{stream}.{keys}",
    ]
    assert "p.js.example.janitor.>" in janitor.subscribe
    assert _leases.key_subject("p", "janitor.example", "sweep") == keys[:-1] + "sweep"
    other = perms["other.example"]  # a plain ticker needs no JetStream
    assert not [s for s in other.publish if s.startswith(("$JS", "$KV"))]


async def test_singleton_tickers_under_the_generated_acl(tmp_path: Path) -> None:
    global BEATS
    BEATS = Beats()
    plane = "single3"
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    generate([Janitor], str(conf), str(creds), plane=plane)
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server, trio.fail_after(60):
        async with AsyncExitStack() as stack:
            await _replicas(stack, server.url, plane, credentials=str(creds))
            await BEATS.wait(lambda: len(BEATS.by) >= 8)
    assert len(set(BEATS.by)) == 1 and not BEATS.overlapped
