"""Tests for redial.engine: the core driven by recorded traffic and a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redial.ami import events as ev
from redial.ami.actions import Action
from redial.clock import ManualClock
from redial.config import Settings, parse_settings
from redial.engine import Engine, LinkUp
from redial.exceptions import AmiError, AmiNotConnected, AmiRefused, AmiTimeout
from redial.redials import Outcome, RedialState
from redial.replay import load_frames
from redial.store import Store

START = 1_800_000_000.0


class FakeOriginator:
    """Records Originates; can be told to fail the next ones like the AMI link would."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.fail_with: list[AmiError] = []
        self.pauses: list[tuple[str, bool, str]] = []

    async def originate(self, action: Action) -> None:
        self.actions.append(action)
        if self.fail_with:
            raise self.fail_with.pop(0)

    async def pause(self, interface: str, paused: bool, reason: str) -> None:
        self.pauses.append((interface, paused, reason))


def settings(window: float = 20) -> Settings:
    return parse_settings({"policy": {"callback_window": window}}, env={})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "redial.sqlite3")
    yield store
    await store.close()


async def feed(engine: Engine, clock: ManualClock, path: Path) -> None:
    for frame in load_frames(path):
        clock.advance(0.01)
        event = ev.decode(frame)
        if event is not None:
            await engine.handle(event)
        await engine.tick()


def inbound(number: str, uid: str = "9.1") -> ev.NewChannel:
    return ev.NewChannel(ev.ChannelRef("PJSIP/trunk-09", uid, uid), number, "from-trunk", "100")


class TestDropToRedial:
    """A drop waits out the window, then exactly one Originate goes out."""

    async def test_one_originate_after_window(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = Engine(settings(20), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        (redial,) = engine.open_redials
        assert redial.state is RedialState.WAITING and originator.actions == []
        clock.advance(19)
        await engine.tick()
        assert originator.actions == []
        clock.advance(2)
        await engine.tick()
        await engine.tick()
        assert len(originator.actions) == 1
        assert engine.open_redials[0].state is RedialState.ORIGINATING

    async def test_normal_end_no_redial(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = Engine(settings(0), store, originator, clock)
        for name in ("normal_customer_hangup.ami", "normal_agent_hangup.ami"):
            await feed(engine, clock, corpus / "asterisk22" / name)
        clock.advance(100)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials == []
        assert {row["reason"] for row in await store.history()} == {"normal_end"}

    async def test_customer_called_back_cancels(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = Engine(settings(20), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_bye_q850_41.ami")
        clock.advance(5)
        await engine.handle(inbound("5551234"))
        clock.advance(60)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials == []
        (row,) = await store.history()
        assert row["outcome"] == "customer_called_back"

    async def test_other_caller_does_not_cancel(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = Engine(settings(20), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_bye_q850_41.ami")
        await engine.handle(inbound("5559999"))
        clock.advance(60)
        await engine.tick()
        assert len(originator.actions) == 1

    async def test_replayed_drop_is_not_redialled_twice(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = Engine(settings(0), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        clock.advance(5)
        await engine.tick()
        assert len(originator.actions) == 1


class TestRestart:
    """What a restarted daemon does with what the last run left open."""

    async def test_waiting_redial_carried_out_once(self, corpus: Path, tmp_path: Path) -> None:
        clock = ManualClock(START)
        store = await Store.open(tmp_path / "r.sqlite3")
        first = FakeOriginator()
        engine = Engine(settings(20), store, first, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        await store.close()  # the daemon dies inside the window

        store = await Store.open(tmp_path / "r.sqlite3")
        second = FakeOriginator()
        engine = Engine(settings(20), store, second, clock)
        await engine.resume()
        clock.advance(30)
        await engine.tick()
        await engine.tick()
        await store.close()
        assert first.actions == [] and len(second.actions) == 1

    async def test_in_flight_redial_never_resent(self, corpus: Path, tmp_path: Path) -> None:
        clock = ManualClock(START)
        store = await Store.open(tmp_path / "r.sqlite3")
        engine = Engine(settings(0), store, FakeOriginator(), clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        clock.advance(1)
        await engine.tick()
        (redial,) = engine.open_redials
        assert redial.state is RedialState.ORIGINATING
        await store.close()  # killed after the Originate went out

        store = await Store.open(tmp_path / "r.sqlite3")
        again = FakeOriginator()
        engine = Engine(settings(0), store, again, clock)
        await engine.resume()
        await engine.handle(LinkUp(frozenset({redial.channel_id})))
        clock.advance(10)
        await engine.tick()
        assert again.actions == [] and engine.open_redials[0].state is RedialState.ORIGINATING
        await engine.handle(LinkUp(frozenset()))
        assert engine.open_redials == []
        row = (await store.history())[0]
        assert row["outcome"] == "failed" and "unknown" in row["outcome_detail"]
        await store.close()


class TestOriginateErrors:
    """The AMI link's answers to the Originate."""

    async def _due(self, corpus: Path, store: Store, error: AmiError) -> tuple[Engine, FakeOriginator, ManualClock]:
        clock, originator = ManualClock(START), FakeOriginator()
        originator.fail_with.append(error)
        engine = Engine(settings(0), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        clock.advance(1)
        await engine.tick()
        return engine, originator, clock

    async def test_link_down_retries_later(self, corpus: Path, store: Store) -> None:
        engine, originator, clock = await self._due(corpus, store, AmiNotConnected("down"))
        (redial,) = engine.open_redials
        assert redial.state is RedialState.WAITING and redial.originated_at is None
        clock.advance(6)
        await engine.tick()
        assert len(originator.actions) == 2 and engine.open_redials[0].state is RedialState.ORIGINATING

    async def test_refused_fails(self, corpus: Path, store: Store) -> None:
        engine, _originator, _ = await self._due(corpus, store, AmiRefused("Permission denied"))
        assert engine.open_redials == []
        assert (await store.history())[0]["outcome_detail"].endswith("Permission denied")

    async def test_unanswered_is_not_resent(self, corpus: Path, store: Store) -> None:
        engine, originator, clock = await self._due(corpus, store, AmiTimeout("no answer"))
        clock.advance(60)
        await engine.tick()
        assert len(originator.actions) == 1
        clock.advance(200)
        await engine.tick()
        assert engine.open_redials == [] and (await store.history())[0]["outcome"] == Outcome.FAILED.value
