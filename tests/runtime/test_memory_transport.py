from actorbus._transport.memory import MemoryBus
from actorbus.testing import check_transport


async def test_memory_transport_conformance() -> None:
    bus = MemoryBus(max_payload=64 * 1024)

    async def connect():  # type: ignore[no-untyped-def]
        return bus.connect()

    await check_transport(connect)
