"""Tests for redial.service.inbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from redial.service.inbox import Inbox


class TestInbox:
    """What the consumer waits on: woken by an item or its deadline, and by nothing else."""

    async def test_put_wakes_the_waiter(self) -> None:
        """An item put while the consumer waits wakes it at once, without a timer."""
        inbox = Inbox()
        waiting = asyncio.ensure_future(inbox.wait(None))
        await asyncio.sleep(0)
        assert not waiting.done()
        inbox.put("event")
        await asyncio.wait_for(waiting, 1)
        assert inbox.take()[0] == "event"

    async def test_deadline_wakes_the_waiter(self) -> None:
        """Nothing put: the wait ends when its timeout passes."""
        inbox = Inbox()
        await asyncio.wait_for(inbox.wait(0.01, due=1.0), 1)
        assert not inbox

    async def test_timer_kept_while_the_deadline_stays(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Waits for the same deadline share one timer; a new deadline makes a new one."""
        loop = asyncio.get_running_loop()
        made: list[float] = []
        call_later = loop.call_later

        def counting(delay: float, *args: Any) -> asyncio.TimerHandle:
            made.append(delay)
            return call_later(delay, *args)

        monkeypatch.setattr(loop, "call_later", counting)
        inbox = Inbox()
        for n in range(3):
            waiting = asyncio.ensure_future(inbox.wait(60.0, due=100.0))
            await asyncio.sleep(0)
            inbox.put(n)
            await waiting
            inbox.take()
        assert made == [60.0]
        waiting = asyncio.ensure_future(inbox.wait(30.0, due=70.0))
        await asyncio.sleep(0)
        inbox.put("x")
        await waiting
        assert made == [60.0, 30.0]
