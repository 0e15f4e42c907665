"""The fan-out hub on its own: bounded queues, slow clients dropped, never blocking the others."""

from __future__ import annotations

import asyncio

import pytest

from cedetect.models import Alert
from server.hub import SERVER_SHUTDOWN, SLOW_CONSUMER, AlertHub
from tests.server.factories import make_alert


def test_every_subscriber_gets_every_alert_in_order() -> None:
    async def scenario() -> list[list[Alert | None]]:
        hub = AlertHub(queue_size=8)
        subs = [hub.subscribe() for _ in range(3)]
        alerts = [make_alert(title=f"alert {i}") for i in range(5)]
        for alert in alerts:
            hub.publish(alert)
        received = [[await s.next() for _ in alerts] for s in subs]
        assert all(r == alerts for r in received)
        return received

    assert len(asyncio.run(scenario())) == 3


def test_a_slow_subscriber_is_dropped_and_the_others_keep_up() -> None:
    async def scenario() -> None:
        hub = AlertHub(queue_size=4)
        slow = hub.subscribe()
        fast = hub.subscribe()
        for i in range(10):
            hub.publish(make_alert(title=f"alert {i}"))
            got = await fast.next()  # the fast client reads as it goes
            assert got is not None
            assert got.title == f"alert {i}"
        # The slow one never read: dropped after its queue filled, with nothing left to read.
        assert slow.ended_reason == SLOW_CONSUMER
        assert await slow.next() is None
        assert hub.client_count == 1
        assert hub.dropped_clients == 1
        hub.publish(make_alert(title="after"))
        got = await fast.next()
        assert got is not None
        assert got.title == "after"

    asyncio.run(scenario())


def test_close_ends_waiting_subscribers() -> None:
    async def scenario() -> None:
        hub = AlertHub()
        sub = hub.subscribe()
        waiting = asyncio.create_task(sub.next())
        await asyncio.sleep(0)
        hub.close()
        assert await asyncio.wait_for(waiting, timeout=5) is None
        assert sub.ended_reason == SERVER_SHUTDOWN
        late = hub.subscribe()
        assert await late.next() is None
        assert hub.client_count == 0

    asyncio.run(scenario())


def test_unsubscribed_clients_get_nothing() -> None:
    async def scenario() -> None:
        hub = AlertHub()
        sub = hub.subscribe()
        hub.unsubscribe(sub)
        hub.publish(make_alert())
        assert sub.pending == 0
        assert hub.client_count == 0

    asyncio.run(scenario())


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        AlertHub(queue_size=0)
