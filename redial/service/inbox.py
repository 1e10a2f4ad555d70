"""The consumer task's queue: a deque, and one future it awaits only while the deque is empty."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from redial.core.jobs import CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.core.queue_callbacks import CallbackRequest, RequestAnswer

T = TypeVar("T")


class Inbox:
    """What the consumer task works off, in arrival order: AMI events (with the time each came
    off the socket), logins, operator commands. One future is awaited only while it is empty,
    so a burst of events costs one wake-up of the consumer, not one each."""

    def __init__(self) -> None:
        self._items: deque[tuple[object, float]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_for: object = None

    def __bool__(self) -> bool:
        return bool(self._items)

    def put(self, item: object) -> None:
        """Queue ``item`` with the time it arrived (for the event-lag metric)."""
        self._items.append((item, time.monotonic()))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> tuple[object, float]:
        return self._items.popleft()

    async def wait(self, timeout: float | None, due: object = None) -> None:
        """Until something is put, or ``timeout`` seconds pass (None: no limit).

        ``due`` names the deadline behind ``timeout``: while it stays the same, the timer
        of an earlier wait is kept rather than cancelled and made again at every wake-up.
        """
        if self._items:
            return
        loop = asyncio.get_running_loop()
        if due is None or due != self._timer_for:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None if timeout is None else loop.call_later(timeout, self._ring)
            self._timer_for = due
        self._waiter = waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _ring(self) -> None:
        self._timer, self._timer_for = None, None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class CancelAsk:
    """An operator's cancel, waiting for its answer."""

    redial_id: int
    by: str
    reply: asyncio.Future[CancelAnswer]


@dataclass(frozen=True, slots=True)
class CallbackAsk:
    """A caller's callback request, waiting for its answer."""

    request: CallbackRequest
    reply: asyncio.Future[RequestAnswer]


@dataclass(frozen=True, slots=True)
class PromiseAsk:
    """A promise to make, waiting for its answer."""

    request: PromiseRequest
    reply: asyncio.Future[PromiseAnswer]


async def answer(reply: asyncio.Future[T], work: Callable[[], Awaitable[T]]) -> None:
    """Do ``work`` for a waiting asker and give them its answer (or its error)."""
    if reply.done():
        return  # the asker was told it failed (timed out): never act behind that
    try:
        result = await work()
    except Exception as exc:
        if not reply.done():
            reply.set_exception(exc)
        raise
    if not reply.done():
        reply.set_result(result)
