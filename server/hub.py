"""Fan-out of live alerts to the connected WebSocket clients.

Each client gets a :class:`Subscription` with its own bounded queue.  :meth:`AlertHub.publish`
never waits: a client whose queue is full is a slow consumer and is dropped (its stream ends with
the reason ``slow_consumer``) so that it can never hold back the others.  Everything runs on the
event loop thread, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import logging

from cedetect.models import Alert

log = logging.getLogger(__name__)

#: Reasons a subscription ends, also used as WebSocket close reasons.
SLOW_CONSUMER = "slow_consumer"
SERVER_SHUTDOWN = "server_shutdown"


class Subscription:
    """One client's view of the stream: alerts in publication order, then ``None`` once ended."""

    def __init__(self, queue_size: int) -> None:
        self._queue: asyncio.Queue[Alert | None] = asyncio.Queue(maxsize=queue_size + 1)
        self._capacity = queue_size
        self.ended_reason: str | None = None

    def _offer(self, alert: Alert) -> bool:
        """Queue ``alert``; False when the client is too far behind (the queue is full)."""
        if self.ended_reason is not None:
            return True
        if self._queue.qsize() >= self._capacity:
            return False
        self._queue.put_nowait(alert)
        return True

    def _end(self, reason: str) -> None:
        if self.ended_reason is not None:
            return
        self.ended_reason = reason
        # Drop what the client will never read and wake it with the end marker; one slot is
        # always kept free for the marker.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self) -> Alert | None:
        """The next alert, or ``None`` once the subscription has ended (see ``ended_reason``)."""
        if self.ended_reason is not None and self._queue.empty():
            return None
        return await self._queue.get()

    @property
    def pending(self) -> int:
        return self._queue.qsize()


class AlertHub:
    def __init__(self, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._closed = False
        self.published = 0
        self.dropped_clients = 0

    def subscribe(self) -> Subscription:
        subscription = Subscription(self._queue_size)
        if self._closed:
            subscription._end(SERVER_SHUTDOWN)
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, alert: Alert) -> None:
        """Hand ``alert`` to every subscriber without waiting; drop those that are full."""
        self.published += 1
        for subscription in list(self._subscribers):
            if not subscription._offer(alert):
                self._subscribers.discard(subscription)
                subscription._end(SLOW_CONSUMER)
                self.dropped_clients += 1
                log.warning("dropped a live alert client that fell %d alerts behind", self._queue_size)

    def close(self) -> None:
        """End every subscription (server shutdown); later subscriptions end at once."""
        self._closed = True
        for subscription in list(self._subscribers):
            subscription._end(SERVER_SHUTDOWN)
        self._subscribers.clear()

    @property
    def client_count(self) -> int:
        return len(self._subscribers)
