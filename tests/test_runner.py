"""Tests for redial.service.runner: the engine and its shell, on a real SQLite store, fed recorded traffic."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from redial.ami import events as ev
from redial.ami.actions import Action
from redial.clock import ManualClock
from redial.config import Settings, parse_settings
from redial.core.commands import SaveJob
from redial.core.engine import LinkUp
from redial.core.jobs import CallbackJob, CancelAnswer, JobKind, JobState, Outcome, Trigger, move
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.core.tracker import CallerWithheld
from redial.exceptions import AmiError, AmiNotConnected, AmiRefused, AmiTimeout, LostWrite, StoreError
from redial.service.replay import load_frames
from redial.service.runner import UNWRITTEN_FOR, EngineRunner
from redial.store import Store
from tests.builders import drop, member, ref

START = 1_800_000_000.0


class FakeOriginator:
    """Records Originates; can be told to fail the next ones like the AMI link would."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.fail_with: list[AmiError] = []
        self.pauses: list[tuple[str, bool, str]] = []
        self.queue_logs: list[Action] = []
        # exten@context -> the dialplan hint ExtensionState answers with.
        self.hints: dict[str, str] = {}

    async def originate(self, action: Action) -> None:
        self.actions.append(action)
        if self.fail_with:
            raise self.fail_with.pop(0)

    async def pause(self, interface: str, paused: bool, reason: str) -> None:
        self.pauses.append((interface, paused, reason))

    async def hint(self, exten: str, context: str) -> str:
        return self.hints.get(f"{exten}@{context}", "")

    async def queue_log(self, action: Action) -> None:
        self.queue_logs.append(action)


def settings(window: float = 20) -> Settings:
    return parse_settings({"policy": {"callback_window": window}}, env={})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "redial.sqlite3")
    yield store
    await store.close()


async def feed(engine: EngineRunner, clock: ManualClock, path: Path) -> None:
    for frame in load_frames(path):
        clock.advance(0.01)
        event = ev.decode(frame)
        if event is not None:
            await engine.handle(event)
        await engine.tick()


def ended_in_store(job: CallbackJob, detail: str) -> SaveJob:
    """The write that ends ``job`` as FAILED behind the engine's back (a killed daemon's last step)."""
    return SaveJob.over(job, move(job, Trigger.ATTEMPT_ENDED, detail, Outcome.FAILED))


def inbound(number: str, uid: str = "9.1") -> ev.NewChannel:
    return ev.NewChannel(ev.ChannelRef("PJSIP/trunk-09", uid, uid), number, "from-trunk", "100")


class TestDropToRedial:
    """A drop waits out the window, then exactly one Originate goes out."""

    async def test_one_originate_after_window(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(settings(20), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        (redial,) = engine.open_redials
        assert redial.state is JobState.WAITING and originator.actions == []
        assert not engine.work_due()
        clock.advance(19)
        await engine.tick()
        assert originator.actions == [] and not engine.work_due()
        clock.advance(2)
        assert engine.work_due()  # the consumer ticks at once instead of finishing its batch
        await engine.tick()
        await engine.tick()
        assert len(originator.actions) == 1
        assert engine.open_redials[0].state is JobState.ORIGINATING

    async def test_normal_end_no_redial(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(settings(0), store, originator, clock)
        for name in ("normal_customer_hangup.ami", "normal_agent_hangup.ami"):
            await feed(engine, clock, corpus / "asterisk22" / name)
        clock.advance(100)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials == []
        assert {row["reason"] for row in await store.history()} == {"normal_end"}

    async def test_customer_called_back_cancels(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(settings(20), store, originator, clock)
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
        engine = EngineRunner(settings(20), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_bye_q850_41.ami")
        await engine.handle(inbound("5559999"))
        clock.advance(60)
        await engine.tick()
        assert len(originator.actions) == 1

    async def test_replayed_drop_is_not_redialled_twice(self, corpus: Path, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(settings(0), store, originator, clock)
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
        engine = EngineRunner(settings(20), store, first, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        await store.close()  # the daemon dies inside the window

        store = await Store.open(tmp_path / "r.sqlite3")
        second = FakeOriginator()
        engine = EngineRunner(settings(20), store, second, clock)
        await engine.resume()
        clock.advance(30)
        await engine.tick()
        await engine.tick()
        await store.close()
        assert first.actions == [] and len(second.actions) == 1

    async def test_in_flight_redial_never_resent(self, corpus: Path, tmp_path: Path) -> None:
        clock = ManualClock(START)
        store = await Store.open(tmp_path / "r.sqlite3")
        engine = EngineRunner(settings(0), store, FakeOriginator(), clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        clock.advance(1)
        await engine.tick()
        (redial,) = engine.open_redials
        assert redial.state is JobState.ORIGINATING
        await store.close()  # killed after the Originate went out

        store = await Store.open(tmp_path / "r.sqlite3")
        again = FakeOriginator()
        engine = EngineRunner(settings(0), store, again, clock)
        await engine.resume()
        await engine.handle(LinkUp(frozenset({redial.channel_id})))
        clock.advance(10)
        await engine.tick()
        assert again.actions == [] and engine.open_redials[0].state is JobState.ORIGINATING
        await engine.handle(LinkUp(frozenset()))
        assert engine.open_redials == []
        row = (await store.history())[0]
        assert row["outcome"] == "failed" and "unknown" in row["outcome_detail"]
        await store.close()


class TestOriginateErrors:
    """The AMI link's answers to the Originate."""

    async def _due(
        self, corpus: Path, store: Store, error: AmiError
    ) -> tuple[EngineRunner, FakeOriginator, ManualClock]:
        clock, originator = ManualClock(START), FakeOriginator()
        originator.fail_with.append(error)
        engine = EngineRunner(settings(0), store, originator, clock)
        await feed(engine, clock, corpus / "asterisk22" / "drop_rtp_timeout.ami")
        clock.advance(1)
        await engine.tick()
        return engine, originator, clock

    async def test_link_down_retries_later(self, corpus: Path, store: Store) -> None:
        engine, originator, clock = await self._due(corpus, store, AmiNotConnected("down"))
        (redial,) = engine.open_redials
        assert redial.state is JobState.WAITING and redial.originated_at is None
        clock.advance(6)
        await engine.tick()
        assert len(originator.actions) == 2 and engine.open_redials[0].state is JobState.ORIGINATING

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


async def run(engine: EngineRunner, clock: ManualClock, events: list[ev.AmiEvent], step: float = 0.01) -> None:
    for event in events:
        clock.advance(step)
        await engine.handle(event)
        await engine.tick()


def cfg(**policy: object) -> Settings:
    guard = policy.pop("outage_guard", {})
    return parse_settings({"policy": {"callback_window": 5, **policy}, "outage_guard": guard}, env={})


async def ringing(
    store: Store, settings: Settings | None = None, members: tuple[ev.MemberState, ...] = ()
) -> tuple[EngineRunner, FakeOriginator, ManualClock]:
    """An engine that saw one drop (call 1) and, its window over, originated the redial."""
    clock, originator = ManualClock(START), FakeOriginator()
    engine = EngineRunner(settings or cfg(), store, originator, clock)
    if members:
        await engine.handle(LinkUp(frozenset(), members))
    await run(engine, clock, drop(1))
    clock.advance(6)
    await engine.tick()
    return engine, originator, clock


class TestAgentAvailability:
    """The same agent only when free; reserve, fall back, release."""

    async def test_busy_agent_is_waited_for_then_reserved(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)))
        await run(engine, clock, [*drop(1), member("PJSIP/agent1", status=2)])
        clock.advance(10)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials[0].state is JobState.WAITING_AGENT
        await run(engine, clock, [member("PJSIP/agent1", status=1)])
        assert originator.pauses == [("PJSIP/agent1", True, "redial")]
        assert len(originator.actions) == 1 and originator.actions[0]["Channel"] == "PJSIP/agent1"

    async def test_paused_agent_falls_back_to_free_member(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        members = (member("PJSIP/agent1", paused_reason="lunch"), member("PJSIP/agent2"))
        await engine.handle(LinkUp(frozenset(), members))
        await run(engine, clock, drop(1))
        clock.advance(6)
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent2"]
        assert originator.pauses == [("PJSIP/agent2", True, "redial")]

    async def test_callback_fallback_becomes_the_queues_promise(self, store: Store) -> None:
        """fallback: callback ends the drop callback_requested with a promise owned by the queue, worked at once."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(agent={"fallback": "callback"}), store, originator, clock)
        await engine.handle(
            LinkUp(frozenset(), (member("PJSIP/agent1", paused_reason="lunch"), member("PJSIP/agent2")))
        )
        await run(engine, clock, drop(1))
        clock.advance(6)
        await engine.tick()
        assert originator.actions == []
        assert [r["outcome"] for r in await store.history()] == [None, "callback_requested"]
        [promise] = engine.open_redials
        assert promise.kind is JobKind.PROMISED_CALLBACK and promise.agent_interface == ""
        assert [j.kind for j in await store.open_jobs()] == [JobKind.PROMISED_CALLBACK]
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent2"]
        assert originator.actions[0]["CallerID"].startswith('"PROMISED ')

    async def test_agent_released_after_outcome(self, store: Store) -> None:
        """The agent is unpaused after no answer; with nobody else free it ends as a callback, never quietly."""
        engine, originator, clock = await ringing(store, cfg(retry={"attempts": 1}), members=(member("PJSIP/agent1"),))
        cid = str(originator.actions[0]["ChannelId"])
        await engine.handle(ev.OriginateResult("x", False, 3, cid, ""))
        # Kept once the talk ended: the owner is back in the queue at once, still on their phone or not.
        assert originator.pauses == [("PJSIP/agent1", True, "redial"), ("PJSIP/agent1", False, "redial")]
        (waiting,) = engine.open_redials
        assert waiting.passed_over == ("PJSIP/agent1",) and waiting.outcome is None
        clock.advance(1)
        await engine.tick()
        assert len(originator.actions) == 1  # the agent who did not answer is not rung again
        clock.advance(121)
        await engine.tick()
        # Never quietly: the drop became the queue's promise, which rings whoever is free.
        assert [j.kind for j in engine.open_redials] == [JobKind.PROMISED_CALLBACK]
        assert len(originator.actions) == 2 and originator.actions[1]["CallerID"].startswith('"PROMISED ')
        assert "callback_requested" in [r["outcome"] for r in await store.history()]
        # The promise calls the customer: no line asks a person to call them too.
        assert engine.snapshot()["callbacks_requested"] == []

    async def test_connected_redial_holds_agent_until_call_ends(self, store: Store) -> None:
        engine, originator, clock = await ringing(store, cfg(), members=(member("PJSIP/agent1"),))
        cid = str(originator.actions[0]["ChannelId"])
        agent_leg = ev.ChannelRef("PJSIP/agent1-9", cid, cid)
        customer_leg = ev.ChannelRef("PJSIP/trunk-9", "9.9", cid)
        await run(
            engine,
            clock,
            [
                ev.OriginateResult("x", True, 4, cid, ""),
                ev.DialEnded(agent_leg, customer_leg, "ANSWER"),
                ev.BridgeEntered(agent_leg, "b"),
                ev.BridgeEntered(customer_leg, "b"),
            ],
        )
        assert (await store.history())[0]["outcome"] == "connected"
        assert originator.pauses == [("PJSIP/agent1", True, "redial")]
        await run(engine, clock, [ev.ChannelHungUp(customer_leg, 16, ""), ev.ChannelHungUp(agent_leg, 16, "")])
        assert originator.pauses[-1] == ("PJSIP/agent1", False, "redial")

    async def test_restart_keeps_the_agent_of_a_connected_redial_reserved(self, store: Store) -> None:
        """The daemon restarts while agent and customer talk: the agent stays paused until that call ends."""
        engine, originator, clock = await ringing(store, cfg(), members=(member("PJSIP/agent1"),))
        cid = str(originator.actions[0]["ChannelId"])
        agent_leg = ev.ChannelRef("PJSIP/agent1-9", cid, cid)
        customer_leg = ev.ChannelRef("PJSIP/trunk-9", "9.9", cid)
        connected = [
            ev.OriginateResult("x", True, 4, cid, ""),
            ev.DialEnded(agent_leg, customer_leg, "ANSWER"),
            ev.BridgeEntered(agent_leg, "b"),
            ev.BridgeEntered(customer_leg, "b"),
        ]
        await run(engine, clock, connected)
        fresh = FakeOriginator()
        restarted = EngineRunner(cfg(), store, fresh, clock)
        await restarted.resume()
        await restarted.handle(LinkUp(frozenset({cid}), (member("PJSIP/agent1", paused_reason="redial"),)))
        assert fresh.pauses == []  # still on the redial call: not released under the agent
        await run(restarted, clock, [ev.ChannelHungUp(customer_leg, 16, ""), ev.ChannelHungUp(agent_leg, 16, "")])
        assert fresh.pauses == [("PJSIP/agent1", False, "redial")]

    async def test_queue_specific_pause_reason_is_released(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        settings = cfg(retry={"attempts": 1}, queue_overrides={"support": {"agent": {"pause_reason": "redial-vip"}}})
        engine = EngineRunner(settings, store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)))
        await run(engine, clock, drop(1))
        clock.advance(6)
        await engine.tick()
        cid = str(originator.actions[0]["ChannelId"])
        # Asterisk reports the daemon's own pause back.
        await run(engine, clock, [member("PJSIP/agent1", paused_reason="redial-vip")])
        await engine.handle(ev.OriginateResult("x", False, 3, cid, ""))
        assert originator.pauses == [("PJSIP/agent1", True, "redial-vip"), ("PJSIP/agent1", False, "redial")]

    async def test_shutdown_releases_held_agents(self, store: Store) -> None:
        engine, originator, _clock = await ringing(store, cfg(), members=(member("PJSIP/agent1"),))
        await engine.shutdown()
        # Kept once the talk ended: the owner is back in the queue at once, still on their phone or not.
        assert originator.pauses == [("PJSIP/agent1", True, "redial"), ("PJSIP/agent1", False, "redial")]
        assert await store.paused_interfaces() == []

    async def test_agent_who_paused_themselves_is_not_unpaused(self, store: Store) -> None:
        engine, originator, clock = await ringing(store, cfg(retry={"attempts": 1}), members=(member("PJSIP/agent1"),))
        cid = str(originator.actions[0]["ChannelId"])
        await run(engine, clock, [member("PJSIP/agent1", paused_reason="lunch")])
        await engine.handle(ev.OriginateResult("x", False, 3, cid, ""))
        assert originator.pauses == [("PJSIP/agent1", True, "redial")]

    async def test_agent_left_paused_by_a_crash_is_released_at_login(self, tmp_path: Path) -> None:
        clock = ManualClock(START)
        store = await Store.open(tmp_path / "r.sqlite3")
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)))
        await run(engine, clock, drop(1))
        clock.advance(6)
        await engine.tick()
        (redial,) = engine.open_redials
        await store.save_job(ended_in_store(redial, "killed"), clock.now())
        await store.close()
        store = await Store.open(tmp_path / "r.sqlite3")
        again = FakeOriginator()
        engine = EngineRunner(cfg(), store, again, clock)
        await engine.resume()
        await engine.handle(LinkUp(frozenset(), ()))
        assert again.pauses == [("PJSIP/agent1", False, "redial")]
        await store.close()


class TestRetries:
    """Retried outcomes get another attempt with its own ChannelId."""

    async def test_customer_no_answer_is_retried(self, store: Store) -> None:
        engine, originator, clock = await ringing(store, cfg(retry={"attempts": 2, "spacing": 60}))
        first = str(originator.actions[0]["ChannelId"])
        cust = ev.ChannelRef("PJSIP/trunk-9", "9.9", first)
        await engine.handle(ev.OriginateResult("x", True, 4, first, ""))
        await engine.handle(ev.DialEnded(ev.ChannelRef("PJSIP/agent1-9", first, first), cust, "NOANSWER"))
        (redial,) = engine.open_redials
        assert redial.state is JobState.WAITING and redial.attempt == 2
        clock.advance(59)
        await engine.tick()
        assert len(originator.actions) == 1
        clock.advance(2)
        await engine.tick()
        second = str(originator.actions[1]["ChannelId"])
        assert first.startswith("redial-1-1-") and second.startswith("redial-1-2-")

    async def test_rejected_or_last_attempt_not_retried(self, store: Store) -> None:
        engine, originator, _clock = await ringing(store, cfg(retry={"attempts": 1}))
        cid = str(originator.actions[0]["ChannelId"])
        await engine.handle(ev.DialEnded(ev.ChannelRef("x", cid, cid), ev.ChannelRef("y", "9.9", cid), "BUSY"))
        assert engine.open_redials == []


class TestPolicyInEngine:
    """Hours, do-not-call, caps and the outage guard, wired in."""

    async def test_closed_at_due_time(self, store: Store) -> None:
        # Monday 2026-11-23 10:00 UTC; open until 10:00:03 only.
        clock, originator = ManualClock(1795428000.0 - 1), FakeOriginator()
        hours = {"timezone": "UTC", "weekly": {"mon": ["09:00-10:00"]}}
        engine = EngineRunner(cfg(hours=hours), store, originator, clock)
        await run(engine, clock, drop(1), step=0.01)
        clock.advance(10)
        await engine.tick()
        assert originator.actions == []
        assert (await store.history())[0]["outcome"] == "outside_hours"

    async def test_do_not_call_file(self, store: Store, tmp_path: Path) -> None:
        dnc = tmp_path / "dnc.txt"
        dnc.write_text("# blocked\n(202) 555-0123\n")
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(numbers={"do_not_call_file": str(dnc)}), store, originator, clock)
        await run(engine, clock, drop(1))
        assert (await store.history())[0]["reason"] == "do_not_call"

    async def test_normal_end_stores_number_without_judging_it(self, store: Store) -> None:
        """A normal end keeps the number in E.164 but never asks the store for today's redials."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        asked: list[str] = []
        counted = engine.core.intake.redials_since

        def spy(number_e164: str, since: float) -> int:
            asked.append(number_e164)
            return counted(number_e164, since)

        engine.core.intake.redials_since = spy  # type: ignore[method-assign]
        normal = drop(1, number="(202) 555-0123")
        normal[4:6] = [
            ev.HangupRequested(normal[4].ref, None, soft=False),  # type: ignore[attr-defined]
            ev.ChannelHungUp(normal[4].ref, 16, "Normal Clearing"),
        ]  # type: ignore[attr-defined]
        normal[6] = ev.ChannelHungUp(normal[6].ref, 16, "Normal Clearing")  # type: ignore[attr-defined]
        await run(engine, clock, normal)
        clock.advance(UNWRITTEN_FOR)
        await engine.tick()  # a normal end's row is written within UNWRITTEN_FOR
        await run(engine, clock, drop(2, number="(202) 555-0123"))
        rows = await store.history()
        assert [row["reason"] for row in reversed(rows)] == ["normal_end", "abnormal_end"]
        assert asked == ["+12025550123"]  # the drop only
        # Found by its E.164 form, which the raw "(202) 555-0123" is not.
        assert len(await store.history(number="+12025550123")) == 2

    async def test_daily_cap_counts_todays_redials(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(numbers={"max_redials_per_day": 2}), store, originator, clock)
        for n in (1, 2, 3):
            await run(engine, clock, drop(n))
        reasons = [row["reason"] for row in reversed(await store.history())]
        assert reasons == ["abnormal_end", "abnormal_end", "daily_cap"]

    async def test_outage_guard_spreads_redials(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        settings = cfg(outage_guard={"drops": 2, "within": 60, "rate": 6}, callback_window=0)
        engine = EngineRunner(settings, store, originator, clock)
        times: list[float] = []
        record = originator.originate

        async def timed(action: Action) -> None:
            times.append(clock.now() - START)
            await record(action)

        originator.originate = timed  # type: ignore[method-assign]
        for n in range(1, 6):
            await run(engine, clock, drop(n, number=f"202555010{n}", agent=f"PJSIP/agent{n}"))
        for _ in range(100):
            clock.advance(0.5)
            await engine.tick()
        # Two drops pass at once; the third trips the guard: from then on one every 10 s.
        assert len(times) == 5 and times[2] < 1
        assert [round(b - a) for a, b in itertools.pairwise(times[2:])] == [10, 10]


class TestQueueLog:
    """REDIALSTART and REDIALEND lines carry the dropped call's Uniqueid."""

    async def test_start_and_end(self, store: Store) -> None:
        engine, originator, _clock = await ringing(store, cfg(retry={"attempts": 1}))
        cid = str(originator.actions[0]["ChannelId"])
        await engine.handle(ev.OriginateResult("x", False, 3, cid, ""))
        verbs = [(a["Event"], a["Uniqueid"], str(a["Message"]).split("|")[2]) for a in originator.queue_logs]
        assert verbs == [("REDIALSTART", "1.1", "2025550123"), ("REDIALEND", "1.1", "agent_no_answer")]

    async def test_off_when_configured(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        settings = parse_settings({"policy": {"callback_window": 5}, "originate": {"queue_log": False}}, env={})
        engine = EngineRunner(settings, store, originator, clock)
        await run(engine, clock, drop(1))
        clock.advance(6)
        await engine.tick()
        assert originator.actions and originator.queue_logs == []


class TestOperator:
    """Cancel and metrics."""

    async def test_cancel_pending_not_ringing(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await run(engine, clock, [*drop(1), *drop(2, number="2025550199")])
        first, second = engine.open_redials
        assert await engine.cancel(first.id, "alice") == CancelAnswer(True, f"redial {first.id} cancelled")
        clock.advance(6)
        await engine.tick()
        assert [a["ChannelId"] for a in originator.actions] == [second.channel_id]
        refused = await engine.cancel(second.id, "bob")
        assert not refused.cancelled and "already ringing" in refused.text
        unknown = await engine.cancel(999, "bob")
        assert not unknown.cancelled and "not pending" in unknown.text
        assert engine.metrics.outcomes.labels("cancelled")._value.get() == 1

    async def test_metrics_count_drops_and_decisions(self, store: Store) -> None:
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await run(engine, clock, drop(1))
        text = engine.metrics.exposition().decode()
        assert 'redial_drops_total{cause="44",trunk="trunk"} 1.0' in text
        assert 'redial_decisions_total{reason="abnormal_end",verdict="redial"} 1.0' in text


class TestReleaseWhileDisconnected:
    """An unpause that cannot be sent leaves the reservation in the store for the next run."""

    async def test_reservation_kept(self, store: Store) -> None:
        engine, originator, _clock = await ringing(store, cfg(retry={"attempts": 1}), members=(member("PJSIP/agent1"),))
        cid = str(originator.actions[0]["ChannelId"])

        async def down(interface: str, paused: bool, reason: str) -> None:
            raise AmiNotConnected("down")

        originator.pause = down  # type: ignore[method-assign]
        await engine.handle(ev.OriginateResult("x", False, 3, cid, ""))
        (waiting,) = engine.open_redials
        stored = await store.job(waiting.id)
        assert waiting.paused_interface == "PJSIP/agent1"
        assert stored is not None and stored.paused_interface == "PJSIP/agent1"


def agent_drop(n: int, number: str = "2025550123") -> list[ev.AmiEvent]:
    """Like :func:`drop`, but the agent's phone loses media (their leg asks to hang up first)."""
    events = drop(n, number)
    customer_request, customer_gone, agent_gone = events[4:]
    assert isinstance(customer_request, ev.HangupRequested) and isinstance(agent_gone, ev.ChannelHungUp)
    return [*events[:4], ev.HangupRequested(agent_gone.ref, 1, soft=True), agent_gone, customer_gone]


class TestAgentSideFailure:
    """The agent's own leg failed, or their phone will not take the redial: another member does."""

    async def test_agent_leg_failure_rings_another_member_at_once(self, store: Store) -> None:
        """A drop on the agent's side goes to a free colleague without waiting on the dead phone."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"), member("PJSIP/agent2"))))
        await run(engine, clock, agent_drop(1))
        clock.advance(6)
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent2"]
        (redial,) = engine.open_redials
        assert redial.passed_over == ("PJSIP/agent1",) and redial.ring_interface == "PJSIP/agent2"

    async def test_agent_no_answer_moves_on_to_the_next_member(self, store: Store) -> None:
        """The agent's phone rings out: the next free member is rung, with a new ChannelId, same attempt."""
        engine, originator, _clock = await ringing(
            store, cfg(), members=(member("PJSIP/agent1"), member("PJSIP/agent2"))
        )
        first = str(originator.actions[0]["ChannelId"])
        await engine.handle(ev.OriginateResult("x", False, 3, first, ""))
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1", "PJSIP/agent2"]
        second = str(originator.actions[1]["ChannelId"])
        assert second != first and second.startswith("redial-1-2-")
        (redial,) = engine.open_redials
        assert (redial.attempt, redial.rings, redial.passed_over) == (1, 2, ("PJSIP/agent1",))

    @pytest.mark.parametrize("side", ["agent", "customer"])
    async def test_daemon_dying_right_after_the_no_answer_loses_nothing(
        self, store: Store, tmp_path: Path, side: str
    ) -> None:
        """An attempt's end and what follows it (next member, a retry) are one commit: a crash after it resumes."""
        engine, originator, _clock = await ringing(
            store, cfg(), members=(member("PJSIP/agent1"), member("PJSIP/agent2"))
        )
        cid = str(originator.actions[0]["ChannelId"])

        class Died(Exception):
            pass

        real_save, writes = store.save_job, 0

        async def dies_after_one_write(*args: Any, **kwargs: Any) -> None:
            nonlocal writes
            writes += 1
            if writes > 1:
                raise Died
            await real_save(*args, **kwargs)

        async def dies(*_args: Any) -> None:
            raise Died

        if side == "customer":
            agent_leg = ev.ChannelRef("PJSIP/agent1-9", cid, cid)
            await engine.handle(ev.OriginateResult("x", True, 4, cid, ""))
            no_answer: ev.AmiEvent = ev.DialEnded(agent_leg, ev.ChannelRef("PJSIP/trunk-9", "9.9", cid), "NOANSWER")
        else:
            no_answer = ev.OriginateResult("x", False, 3, cid, "")
        store.save_job = dies_after_one_write  # type: ignore[method-assign]
        store.forget_reservation = dies  # type: ignore[method-assign]
        with pytest.raises(Died):
            await engine.handle(no_answer)
        reopened = await Store.open(tmp_path / "redial.sqlite3")
        try:
            (left,) = await reopened.open_jobs()
            assert left.outcome is None and left.state is JobState.WAITING
            if side == "agent":
                assert (left.passed_over, left.attempt) == (("PJSIP/agent1",), 1)
            else:
                assert (left.passed_over, left.attempt) == ((), 2)
            log = await reopened.redial_log(left.id)
            assert [row["outcome"] for row in log][-2:] == [f"{side}_no_answer", None]
        finally:
            await reopened.close()

    async def test_unreachable_agents_end_as_a_visible_callback(self, store: Store) -> None:
        """Every member's phone failed: a stored callback_requested, a warning, and a line in status."""
        engine, originator, clock = await ringing(
            store, cfg(), members=(member("PJSIP/agent1"), member("PJSIP/agent2"))
        )
        await engine.handle(ev.OriginateResult("x", False, 0, str(originator.actions[0]["ChannelId"]), ""))
        await engine.tick()
        await engine.handle(ev.OriginateResult("x", False, 0, str(originator.actions[1]["ChannelId"]), ""))
        clock.advance(121)
        await engine.tick()
        assert [j.kind for j in engine.open_redials] == [JobKind.PROMISED_CALLBACK] and len(originator.actions) == 2
        assert "callback_requested" in [r["outcome"] for r in await store.history()]
        assert engine.metrics.outcomes.labels("callback_requested")._value.get() == 1


class TestCustomerOnALiveCall:
    """No redial while the same customer is on a live call with the PBX, in whatever number format."""

    async def test_called_again_before_the_drop_was_noticed(self, store: Store) -> None:
        """The new call (E.164 form) began before the old leg timed out: no redial at all."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        events = drop(1, number="2025550143")
        await run(engine, clock, events[:4])
        await run(engine, clock, [inbound("+12025550143", uid="7.1")])
        await run(engine, clock, events[4:])
        clock.advance(30)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials == []
        assert (await store.history())[0]["outcome"] == "customer_called_back"

    async def test_agent_dialled_the_customer_during_the_window(self, store: Store) -> None:
        """An agent's own outbound call to the customer (00 form) ends the pending redial as customer_on_call."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await run(engine, clock, drop(1, number="2025550143"))
        outbound = ev.NewChannel(ref("8.1", "8.1", "PJSIP/agent2-00000008"), "1002", "from-internal", "0012025550143")
        await run(engine, clock, [outbound])
        clock.advance(30)
        await engine.tick()
        assert originator.actions == [] and engine.open_redials == []
        assert (await store.history())[0]["outcome"] == "customer_on_call"

    async def test_outside_line_prefix_is_taken_off(self, store: Store) -> None:
        """With dial_prefixes [9], an agent dialling 9 202 555 0143 has the customer on the line."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(numbers={"dial_prefixes": [9]}), store, originator, clock)
        await run(engine, clock, drop(1, number="2025550143"))
        outbound = ev.NewChannel(ref("8.1", "8.1", "PJSIP/agent2-00000008"), "1002", "from-internal", "912025550143")
        await run(engine, clock, [outbound])
        clock.advance(30)
        await engine.tick()
        assert originator.actions == []
        assert (await store.history())[0]["outcome"] == "customer_on_call"

    async def test_live_call_checked_again_before_ringing(self, store: Store) -> None:
        """A call that began while the link was blind (taken up at login) still stops the Originate."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await run(engine, clock, drop(1, number="2025550143"))
        frame = {
            "Event": "CoreShowChannel",
            "Uniqueid": "6.1",
            "Linkedid": "6.1",
            "Channel": "PJSIP/trunk-06",
            "CallerIDNum": "+12025550143",
            "Exten": "100",
            "Application": "Queue",
            "ApplicationData": "support",
            "Duration": "00:00:03",
        }
        channel = ev.live_channel(frame)
        assert channel is not None
        await engine.handle(LinkUp.of((channel,), ()))
        clock.advance(30)
        await engine.tick()
        assert originator.actions == []
        assert (await store.history())[0]["outcome"] == "customer_called_back"


class TestLocalMembers:
    """A Local-channel member is rung on its own device and reserved by its member interface."""

    async def test_originate_goes_to_the_state_interface(self, store: Store) -> None:
        """Local/1001@from-queue/n with state PJSIP/1001: Originate to PJSIP/1001, QueuePause the Local member."""
        local = ev.MemberState("support", "Local/1001@from-queue/n", "Alice", "PJSIP/1001", 1, False, "", False, 0, 0)
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (local,)))
        await run(engine, clock, drop(1, agent="Local/1001@from-queue/n"))
        clock.advance(6)
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/1001"]
        assert originator.pauses == [("Local/1001@from-queue/n", True, "redial")]
        assert engine.ring_target("Local/1001@from-queue/n") == "PJSIP/1001"

    async def test_hint_state_interface_is_resolved_to_its_phone(self, store: Store) -> None:
        """Current FreePBX's hint:1001@ext-local: the phone comes from ExtensionState's Hint."""
        hinted = ev.MemberState(
            "support", "Local/1001@from-queue/n", "A", "hint:1001@ext-local", 1, False, "", False, 0, 0
        )
        originator = FakeOriginator()
        originator.hints["1001@ext-local"] = "PJSIP/1001&Custom:DND1001"
        engine = EngineRunner(cfg(), store, originator, ManualClock(START))
        await engine.handle(LinkUp(frozenset(), (hinted,)))
        assert engine.ring_target("Local/1001@from-queue/n") == "PJSIP/1001"

    async def test_unresolvable_hint_keeps_the_member(self, store: Store) -> None:
        """A hint that names no phone (or no answer): the member interface is rung as before."""
        hinted = ev.MemberState("support", "Local/1001@agents/n", "A", "hint:1001@ext-local", 1, False, "", False, 0, 0)
        originator = FakeOriginator()
        originator.hints["1001@ext-local"] = "Custom:DND1001"
        engine = EngineRunner(cfg(), store, originator, ManualClock(START))
        await engine.handle(LinkUp(frozenset(), (hinted,)))
        assert engine.ring_target("Local/1001@agents/n") == "Local/1001@agents/n"


class TestRestrictedPresentation:
    """A caller whose presentation is restricted is a withheld number, though AMI shows it."""

    async def test_not_redialled(self, store: Store) -> None:
        """The hook said the caller is withheld: the drop is skipped as number_withheld."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        events = drop(1, number="2025550143")
        await run(engine, clock, events[:2])
        await engine.handle(CallerWithheld("1.1"))
        await run(engine, clock, events[2:])
        clock.advance(30)
        await engine.tick()
        assert originator.actions == []
        assert (await store.history())[0]["reason"] == "number_withheld"


class TestOneCommitPerDecision:
    """The ended call, its decision and its redial are stored together, or not at all."""

    async def test_failure_writing_the_redial_keeps_no_half_decision(self, store: Store) -> None:
        """The redial's INSERT fails (a dying disk): no call is left decided "redial" without its redial."""
        await store._db.execute(
            "CREATE TRIGGER dying BEFORE INSERT ON redials BEGIN SELECT RAISE(ABORT, 'disk died'); END"
        )
        await store._db.commit()
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        with pytest.raises(StoreError):
            await run(engine, clock, drop(1))
        assert await store.history() == []
        await store._db.execute("DROP TRIGGER dying")
        await store._db.commit()
        assert (await store.history()) == [] and engine.open_redials == []


class TestWrapup:
    """A queue's wrap-up ends without any AMI event: the daemon wakes up for it."""

    async def test_rings_when_the_wrapup_ends(self, store: Store) -> None:
        """The agent's call ended at the drop; with an 8 s queue wrap-up, next_wakeup is its end, and then it rings."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(agent={"wrapup_time": 8}), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)))
        await run(engine, clock, drop(1))
        ended = int(clock.now())
        after_call = ev.MemberState("support", "PJSIP/agent1", "Alice", "PJSIP/agent1", 1, False, "", False, ended, 0)
        await run(engine, clock, [after_call])
        clock.advance(6)  # the callback window (5 s) is over; the wrap-up is not
        await engine.tick()
        assert originator.actions == [] and engine.open_redials[0].state is JobState.WAITING_AGENT
        assert engine.next_wakeup() == ended + 8
        clock.set(ended + 8)
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1"]


class TestEventsDuringTheSnapshot:
    """Events held while a login's snapshot is taken are applied right after it, before anything is taken for gone."""

    async def test_drop_during_the_snapshot_is_redialled(self, store: Store) -> None:
        """The call's Hangups came while the snapshot was taken: it is reported, not forgotten as lost."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        events = drop(1)
        await run(engine, clock, events[:4])  # answered before the link dropped
        await engine.handle(LinkUp.of((), (member("PJSIP/agent1"),), events=tuple(events[4:])))
        assert [r.state for r in engine.open_redials] == [JobState.WAITING]
        assert (await store.history())[0]["classification"] == "abnormal"

    async def test_call_begun_during_the_snapshot_is_kept(self, store: Store) -> None:
        """A call whose Newchannel came after the channel list is alive, though the list does not show it."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        events = drop(1)
        await engine.handle(LinkUp.of((), (member("PJSIP/agent1"),), events=tuple(events[:4])))
        assert engine.tracked_calls == 1
        await run(engine, clock, events[4:])
        assert [r.state for r in engine.open_redials] == [JobState.WAITING]


class TestLostWrite:
    """A conditional update that finds the row moved on stops the batch: nothing is sent over a state not stored."""

    async def test_job_cancelled_behind_the_engine_is_not_rung(self, store: Store, tmp_path: Path) -> None:
        """Another writer ended the job: the engine's ring finds it gone, sends no Pause or Originate, and drops it."""
        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)))
        await run(engine, clock, drop(1))
        other = await Store.open(tmp_path / "redial.sqlite3")
        try:
            assert await other.cancel_redial(1, "someone", clock.now()) == CancelAnswer(True, "redial 1 cancelled")
        finally:
            await other.close()
        clock.advance(6)
        with pytest.raises(LostWrite, match="no longer waiting at revision 0"):
            await engine.tick()
        assert originator.actions == [] and originator.pauses == []
        assert engine.open_redials == []
        stored = await store.job(1)
        assert stored is not None and stored.outcome is Outcome.CANCELLED


def _normal(n: int, number: str = "2025550123") -> list[ev.AmiEvent]:
    """A queue call the agent ends normally."""
    events = drop(n, number=number)
    events[4:7] = [
        ev.HangupRequested(events[6].ref, None, soft=False),  # type: ignore[attr-defined]
        ev.ChannelHungUp(events[6].ref, 16, "Normal Clearing"),  # type: ignore[attr-defined]
        ev.ChannelHungUp(events[4].ref, 16, "Normal Clearing"),  # type: ignore[attr-defined]
    ]
    return events


class TestNormalEndsWrittenInGroups:
    """A normal end leads to no action: its row is written with others, within UNWRITTEN_FOR."""

    async def test_held_until_due_then_one_commit(self, store: Store) -> None:
        """Rows of normal ends appear together once UNWRITTEN_FOR has passed, each with its own id."""
        clock = ManualClock(START)
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await run(engine, clock, _normal(1) + _normal(2))
        assert await store.history() == []
        assert engine.next_wakeup() is not None  # the consumer wakes up for the write
        clock.advance(UNWRITTEN_FOR)
        await engine.tick()
        rows = await store.history()
        assert sorted(row["linkedid"] for row in rows) == ["1.1", "2.1"]
        assert engine.next_wakeup() is None

    async def test_drop_is_written_at_once(self, store: Store) -> None:
        """A drop (and its job) never waits: it leads to a redial."""
        clock = ManualClock(START)
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await run(engine, clock, _normal(1) + drop(2))
        assert [row["linkedid"] for row in await store.history()] == ["2.1"]

    async def test_shutdown_writes_what_is_held(self, store: Store) -> None:
        """A clean stop loses no row."""
        clock = ManualClock(START)
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await run(engine, clock, _normal(1))
        await engine.shutdown()
        assert [row["linkedid"] for row in await store.history()] == ["1.1"]

    async def test_replayed_call_is_recorded_once(self, store: Store) -> None:
        """The same Linkedid twice (a replay) gets one row, as when rows were written one by one."""
        clock = ManualClock(START)
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await run(engine, clock, _normal(1))
        await engine.write_calls()
        await run(engine, clock, _normal(1))
        await engine.write_calls()
        assert len(await store.history()) == 1

    async def test_failed_write_is_tried_again(self, store: Store) -> None:
        """While the store fails the rows are kept, and written at the next try."""
        clock = ManualClock(START)
        engine = EngineRunner(cfg(), store, FakeOriginator(), clock)
        await run(engine, clock, _normal(1))
        real = store.record_calls

        async def failing(records: Any) -> list[int | None]:
            raise StoreError("disk full")

        store.record_calls = failing  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            await engine.write_calls()
        store.record_calls = real  # type: ignore[method-assign]
        await engine.write_calls()
        assert [row["linkedid"] for row in await store.history()] == ["1.1"]


class TestHandledAtOnce:
    """The consumer's fast path: an event's commands are carried out before anything is planned."""

    async def test_a_drop_is_stored_before_a_callback_may_take_its_agent(self, store: Store) -> None:
        """The drop's last event frees agent1: no waiting queue callback is rung before the drop's job exists."""
        from redial.core.commands import Originate, RecordCall
        from redial.core.queue_callbacks import CallbackRequest

        clock, originator = ManualClock(START), FakeOriginator()
        engine = EngineRunner(cfg(), store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1", status=2),)))
        caller = ref("7.1", "7.1", "PJSIP/trunk-7")
        await run(
            engine,
            clock,
            [
                ev.QueueCallerJoined(caller, "support", "2025550123", "100"),
                ev.QueueCallerLeft(caller, "support", 1),
                ev.ChannelHungUp(caller, 16, "Normal Clearing"),
            ],
        )
        answer = await engine.request_callback(CallbackRequest("7.1", "2025550123", False, "100", "PJSIP/trunk-7"))
        assert answer.result == "accepted", answer
        *before, last = drop(1, number="2025550199")
        await run(engine, clock, before)
        await engine.handle(
            ev.MemberState("support", "PJSIP/agent1", "Alice", "PJSIP/agent1", 1, False, "", False, 0, 0)
        )
        commands = engine.handle_at_once(last)
        assert any(isinstance(c, RecordCall) for c in commands)
        assert not any(isinstance(c, Originate) for c in commands), "the callback was planned before the drop's job"


def promise_cfg(
    promise: dict[str, object] | None = None, hours: dict[str, object] | None = None, **daemon: object
) -> Settings:
    policy: dict[str, object] = {"callback_window": 5, "promise": promise or {}}
    if hours is not None:
        policy["hours"] = hours
    return parse_settings({"policy": policy, "promise": daemon, "originate": {"trunk": "trunk"}}, env={})


TWO_FREE = (member("PJSIP/agent1"), member("PJSIP/agent2"))


async def promised(
    store: Store,
    settings: Settings | None = None,
    members: tuple[ev.MemberState, ...] = TWO_FREE,
    alerts: list[dict[str, object]] | None = None,
    **request: Any,
) -> tuple[EngineRunner, FakeOriginator, ManualClock, PromiseAnswer]:
    """An engine told of its members that made a promise (agent1's, in 10 minutes, unless ``request`` says else)."""
    clock, originator = ManualClock(START), FakeOriginator()
    engine = EngineRunner(
        settings or promise_cfg(), store, originator, clock, alerts=None if alerts is None else alerts.append
    )
    await engine.handle(LinkUp(frozenset(), members))
    fields: dict[str, Any] = {"number": "2025550123", "within": "10m", "agent": "agent1", "queue": "support"}
    answer = await engine.make_promise(PromiseRequest(**{**fields, **request}))
    assert answer.ok, answer.detail
    return engine, originator, clock, answer


async def due(engine: EngineRunner, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    await engine.tick()
    await engine.tick()


async def talk(engine: EngineRunner, clock: ManualClock, action: Action, seconds: float) -> None:
    """The Originate ``action`` reaches both, bridged; the customer hangs up ``seconds`` later (the agent not yet)."""
    cid = str(action["ChannelId"])
    agent_leg = ev.ChannelRef(f"{action['Channel']}-9", cid, cid)
    customer_leg = ev.ChannelRef("PJSIP/trunk-9", f"{cid}.c", cid)
    await run(
        engine,
        clock,
        [
            ev.OriginateResult("x", True, 4, cid, ""),
            ev.DialEnded(agent_leg, customer_leg, "ANSWER"),
            ev.BridgeEntered(agent_leg, "b"),
            ev.BridgeEntered(customer_leg, "b"),
        ],
    )
    assert engine.open_redials[0].state is JobState.TALKING and engine.open_redials[0].connected_at == clock.now()
    clock.advance(seconds)
    await engine.handle(ev.ChannelHungUp(customer_leg, 16, ""))


async def no_answer(engine: EngineRunner, action: Action) -> None:
    """The agent answers the promise's Originate; the customer does not."""
    cid = str(action["ChannelId"])
    agent_leg = ev.ChannelRef(f"{action['Channel']}-9", cid, cid)
    await engine.handle(ev.OriginateResult("x", True, 4, cid, ""))
    await engine.handle(ev.DialEnded(agent_leg, ev.ChannelRef("PJSIP/trunk-9", f"{cid}.c", cid), "NOANSWER"))


def promise_count(engine: EngineRunner, event: str) -> float:
    return float(engine.metrics.promises.labels("support", event)._value.get())


class TestPromises:
    """Promised callbacks end to end: stored first, the owner rung at the time, kept only after a real talk."""

    async def test_kept_by_its_owner(self, store: Store) -> None:
        """Due: the owner's phone rings showing PROMISED and the number; a talk past min_talk keeps it."""
        engine, originator, clock, answer = await promised(store)
        assert (answer.due_at, answer.minutes, answer.agent_name) == (START + 600, 10, "agent1")
        assert engine.metrics.promises_pending.labels("support")._value.get() == 1
        await due(engine, clock, 599)
        assert originator.actions == []
        await due(engine, clock, 1)
        [action] = originator.actions
        assert action["Channel"] == "PJSIP/agent1" and action["CallerID"].startswith('"PROMISED 2025550123"')
        assert "REDIAL_KIND=promise" in action["Variable"] and "REDIAL_OWNER_NAME=agent1" in action["Variable"]
        await talk(engine, clock, action, 25)
        assert engine.open_redials == []
        # Kept once the talk ended: the owner is back in the queue at once, still on their phone or not.
        assert originator.pauses == [("PJSIP/agent1", True, "redial"), ("PJSIP/agent1", False, "redial")]
        [row] = [r for r in await store.history() if r["outcome"] is not None]
        assert row["outcome"] == "connected" and row["outcome_detail"] == "kept: agent and customer talked 25 s"
        assert (promise_count(engine, "made"), promise_count(engine, "kept_by_owner")) == (1, 1)
        assert promise_count(engine, "late") == 0
        assert engine.metrics.promises_pending.labels("support")._value.get() == 0

    async def test_a_long_talk_wakes_nothing(self, store: Store) -> None:
        """Talking past originate.outcome_timeout: no work falls due (the daemon would spin), nothing expires."""
        engine, originator, clock, _ = await promised(store)
        await due(engine, clock, 600)
        cid = str(originator.actions[0]["ChannelId"])
        agent_leg, customer_leg = ev.ChannelRef("PJSIP/agent1-9", cid, cid), ev.ChannelRef("PJSIP/trunk-9", "c", cid)
        bridged = [ev.BridgeEntered(agent_leg, "b"), ev.BridgeEntered(customer_leg, "b")]
        answered = [ev.OriginateResult("x", True, 4, cid, ""), ev.DialEnded(agent_leg, customer_leg, "ANSWER")]
        await run(engine, clock, [*answered, *bridged])
        assert engine.open_redials[0].state is JobState.TALKING
        await due(engine, clock, 600)
        assert not engine.work_due() and engine.next_wakeup() is None
        assert engine.open_redials[0].state is JobState.TALKING

    async def test_too_short_a_talk_is_retried_along_the_ladder(self, store: Store) -> None:
        """A talk shorter than min_talk is no kept promise: tried again on the ladder's first rung (15 min)."""
        engine, originator, clock, _ = await promised(store)
        await due(engine, clock, 600)
        await talk(engine, clock, originator.actions[0], 5)
        [job] = engine.open_redials
        assert (job.state, job.attempt, job.due_at) == (JobState.WAITING, 2, clock.now() + 900)
        assert "after talk_too_short" in job.detail
        assert [r["outcome"] for r in await store.redial_log(job.id)][-2:] == ["talk_too_short", None]

    async def test_unreached_after_every_rung_alerts_once(self, store: Store) -> None:
        """The customer never answers, rung by rung: unreached, one alert, in status and the metrics."""
        alerts: list[dict[str, object]] = []
        settings = promise_cfg({"ladder": ["1m", "2m"]})
        engine, originator, clock, answer = await promised(store, settings, alerts=alerts)
        await due(engine, clock, 600)
        for rung in (60, 120):
            await no_answer(engine, originator.actions[-1])
            assert alerts == []
            await due(engine, clock, rung)
        await no_answer(engine, originator.actions[-1])
        await due(engine, clock, 3600)
        assert len(originator.actions) == 3 and engine.open_redials == []
        [alert] = alerts
        assert (alert["event"], alert["promise_id"], alert["attempts"]) == ("promise_unreached", answer.promise_id, 3)
        [seen] = engine.snapshot()["promises_unreached"]  # type: ignore[misc]
        assert seen["redial_id"] == answer.promise_id and seen["owner"] == "agent1"
        assert promise_count(engine, "unreached") == 1
        assert (await store.job(answer.promise_id or 0)).outcome is Outcome.UNREACHED  # type: ignore[union-attr]

    async def test_owner_not_answering_passes_it_on_at_once(self, store: Store) -> None:
        """The owner's phone rings out: another free member is rung at once, the owner passed over."""
        engine, originator, clock, _ = await promised(store)
        await due(engine, clock, 600)
        await engine.handle(ev.OriginateResult("x", False, 3, str(originator.actions[0]["ChannelId"]), ""))
        await engine.tick()
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1", "PJSIP/agent2"]
        [job] = engine.open_redials
        assert (job.passed_over, job.ring_interface, job.attempt) == (("PJSIP/agent1",), "PJSIP/agent2", 1)
        await talk(engine, clock, originator.actions[1], 30)
        assert (promise_count(engine, "kept_by_owner"), promise_count(engine, "kept_by_other")) == (0, 1)

    @pytest.mark.parametrize(("keep", "open_after"), [(False, 0), (True, 1)])
    async def test_customer_reaching_an_agent_first(self, store: Store, keep: bool, open_after: int) -> None:
        """The customer calls in (another number format) and reaches an agent: closed, unless keep_when_called_back."""
        engine, originator, clock, answer = await promised(store, promise_cfg(keep_when_called_back=keep))
        customer = ref("8.1", "8.1", "PJSIP/trunk-08")
        agent_leg = ref("8.2", "8.1", "PJSIP/agent2-08")
        await run(
            engine,
            clock,
            [
                ev.NewChannel(customer, "+1 202-555-0123", "from-trunk", "100"),
                ev.QueueCallerJoined(customer, "support", "+1 202-555-0123", "100"),
                ev.AgentConnected(customer, agent_leg, "support", "PJSIP/agent2", "agent2"),
            ],
        )
        assert len(engine.open_redials) == open_after
        if not keep:
            job = await store.job(answer.promise_id or 0)
            assert job is not None and job.outcome is Outcome.CUSTOMER_CALLED_BACK
            assert promise_count(engine, "called_back") == 1
        await run(engine, clock, [ev.ChannelHungUp(customer, 16, ""), ev.ChannelHungUp(agent_leg, 16, "")])
        await due(engine, clock, 600)
        assert len(originator.actions) == open_after

    async def test_restart_before_due_rings_once(self, tmp_path: Path) -> None:
        """The daemon restarts before the promise is due: the new run rings it, exactly once."""
        first = await Store.open(tmp_path / "p.sqlite3")
        try:
            engine, before, clock, _ = await promised(first)
            await due(engine, clock, 300)
        finally:
            await first.close()
        store = await Store.open(tmp_path / "p.sqlite3")
        try:
            after = FakeOriginator()
            engine = EngineRunner(promise_cfg(), store, after, clock)
            await engine.resume()
            await engine.handle(LinkUp(frozenset(), TWO_FREE))
            await due(engine, clock, 299)
            assert after.actions == []
            for _ in range(3):
                await due(engine, clock, 1)
            assert before.actions == [] and [a["Channel"] for a in after.actions] == ["PJSIP/agent1"]
            assert after.actions[0]["CallerID"].startswith('"PROMISED ')
        finally:
            await store.close()

    async def test_outside_hours_moved_to_the_next_opening(self, store: Store) -> None:
        """Made while the queue is closed: the answer says it moved, and nobody is rung before the opening."""
        hours = {"timezone": "UTC", "weekly": {"fri": ["09:00-17:00"]}}  # START is Friday 08:00 UTC
        engine, originator, clock, answer = await promised(store, promise_cfg(hours=hours))
        assert answer.due_at == START + 3600 and "moved to the next opening" in answer.detail
        await due(engine, clock, 3599)
        assert originator.actions == []
        await due(engine, clock, 1)
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1"]

    async def test_refusal_is_an_answer_and_stores_nothing(self, store: Store) -> None:
        """A refused promise is answered in words (never raised) and leaves the store as it was."""
        engine = EngineRunner(promise_cfg(), store, FakeOriginator(), ManualClock(START))
        await engine.handle(LinkUp(frozenset(), TWO_FREE))
        answer = await engine.make_promise(PromiseRequest(number="911", within="10m", queue="support"))
        assert not answer.ok and "911 cannot be called back" in answer.detail
        assert engine.open_redials == [] and await store.open_jobs() == []

    async def test_waiting_for_a_busy_owner_is_written_once(self, store: Store) -> None:
        """A promise waiting for its busy owner is stored once, not at every one-second recheck."""
        members = (member("PJSIP/agent1", 2), member("PJSIP/agent2", 2))
        engine, _originator, clock, answer = await promised(store, members=members)
        await due(engine, clock, 600)
        written = len(await store.redial_log(answer.promise_id or 0))
        for _ in range(30):
            await due(engine, clock, 1)
        assert len(await store.redial_log(answer.promise_id or 0)) == written

    async def test_closed_hours_give_the_busy_owner_a_new_wait(self, store: Store) -> None:
        """Waiting for a busy owner when the queue closes: at the next opening the owner is waited for again."""
        # Friday 08:00 UTC at START: open 08:00-08:12 and 08:30-09:00.
        hours = {"timezone": "UTC", "weekly": {"fri": ["08:00-08:12", "08:30-09:00"]}}
        members = (member("PJSIP/agent1", 2), member("PJSIP/agent2"))
        engine, originator, clock, _ = await promised(store, promise_cfg({"owner_wait": 240}, hours), members=members)
        await due(engine, clock, 600)  # 08:10: the owner is busy, waited for until 08:14
        assert originator.actions == [] and engine.open_redials[0].state is JobState.WAITING_AGENT
        await due(engine, clock, 180)  # 08:13: closed until 08:30
        assert originator.actions == [] and engine.open_redials[0].due_at == START + 1800
        await due(engine, clock, 1020)  # 08:30: open again, the owner still busy: waited for again
        assert originator.actions == [] and engine.open_redials[0].state is JobState.WAITING_AGENT
        await due(engine, clock, 241)
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent2"]

    async def test_a_member_freed_after_the_owner_wait_takes_it(self, store: Store) -> None:
        """Past owner_wait with nobody free, the first member to be free takes it: the owner is not waited for again."""
        members = (member("PJSIP/agent1", 2), member("PJSIP/agent2", 2))
        engine, originator, clock, _ = await promised(store, promise_cfg({"owner_wait": 120}), members=members)
        await due(engine, clock, 600)
        await due(engine, clock, 121)
        assert originator.actions == [] and "waiting for a free member" in engine.open_redials[0].detail
        await run(engine, clock, [member("PJSIP/agent2")])
        await due(engine, clock, 1)
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent2"]

    @pytest.mark.parametrize(("alive", "kept"), [(False, True), (True, False)])
    async def test_talk_over_when_the_link_comes_back(self, store: Store, alive: bool, kept: bool) -> None:
        """Its channels gone at a login: the talk ended while the link was down, kept; still up: still talking."""
        engine, originator, clock, answer = await promised(store)
        await due(engine, clock, 600)
        cid = str(originator.actions[0]["ChannelId"])
        agent_leg, customer_leg = ev.ChannelRef("PJSIP/agent1-9", cid, cid), ev.ChannelRef("PJSIP/trunk-9", "c", cid)
        answered = [ev.OriginateResult("x", True, 4, cid, ""), ev.DialEnded(agent_leg, customer_leg, "ANSWER")]
        await run(engine, clock, [*answered, ev.BridgeEntered(agent_leg, "b"), ev.BridgeEntered(customer_leg, "b")])
        await engine.handle(LinkUp(frozenset({cid}) if alive else frozenset(), TWO_FREE))
        job = await store.job(answer.promise_id or 0)
        assert job is not None and (job.outcome is Outcome.CONNECTED) is kept
        assert (job.state is JobState.TALKING) is not kept
        await due(engine, clock, 3600)
        assert len(originator.actions) == 1

    async def test_every_member_failing_tries_them_all_again_later(self, store: Store) -> None:
        """Neither the owner's nor the other member's phone takes it: all of them again after 30 s, owner first."""
        engine, originator, clock, _ = await promised(store)
        await due(engine, clock, 600)
        await engine.handle(ev.OriginateResult("x", False, 3, str(originator.actions[0]["ChannelId"]), ""))
        await engine.tick()
        await engine.handle(ev.OriginateResult("x", False, 3, str(originator.actions[1]["ChannelId"]), ""))
        await due(engine, clock, 29)
        assert len(originator.actions) == 2 and engine.open_redials[0].passed_over == ()
        await due(engine, clock, 1)
        assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent1"]
        assert engine.open_redials[0].attempt == 1

    async def test_trunk_of_the_queues_latest_call(self, store: Store) -> None:
        """Without originate.trunk or a route, the trunk of the queue's latest call is used; none known: refused."""
        clock = ManualClock(START)
        settings = parse_settings({"policy": {"callback_window": 5}}, env={})
        engine = EngineRunner(settings, store, FakeOriginator(), clock)
        await engine.handle(LinkUp(frozenset(), TWO_FREE))
        request = PromiseRequest(number="2025550188", within="10m", queue="support")
        refused = await engine.make_promise(request)
        assert not refused.ok and "no trunk is known" in refused.detail and await store.open_jobs() == []
        await run(engine, clock, drop(1, number="2025550123", trunk="carrier"))
        made = await engine.make_promise(request)
        assert made.ok and (await store.job(made.promise_id or 0)).trunk == "carrier"  # type: ignore[union-attr]

    async def test_unknown_call_refused(self, store: Store) -> None:
        """A call id neither followed nor stored is refused, naming it."""
        engine = EngineRunner(promise_cfg(), store, FakeOriginator(), ManualClock(START))
        answer = await engine.make_promise(PromiseRequest(call="77.7", within="10m", queue="support"))
        assert not answer.ok and answer.detail == "no call '77.7' is known (give its Uniqueid or Linkedid)"

    async def test_stored_call_gives_number_and_queue(self, store: Store) -> None:
        """A promise on a stored call's id takes its number, queue and trunk; without an agent it is the queue's."""
        clock = ManualClock(START)
        engine = EngineRunner(promise_cfg(), store, FakeOriginator(), clock)
        await engine.handle(LinkUp(frozenset(), TWO_FREE))
        await run(engine, clock, drop(1, number="2025550177"))
        answer = await engine.make_promise(PromiseRequest(call="1.1", within="10m"))
        assert answer.ok, answer.detail
        job = await store.job(answer.promise_id or 0)
        assert job is not None and (job.customer_number, job.queue, job.agent_interface) == (
            "2025550177",
            "support",
            "",
        )
        assert job.original_uniqueid == "1.1"

    async def test_no_promise_from_a_drop_when_disabled(self, store: Store) -> None:
        """promise.enabled false: a drop nobody can take ends callback_requested, and no promise takes over."""
        clock, originator = ManualClock(START), FakeOriginator()
        settings = parse_settings(
            {"policy": {"callback_window": 5, "agent": {"fallback": "callback"}}, "promise": {"enabled": False}}, env={}
        )
        engine = EngineRunner(settings, store, originator, clock)
        await engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1", paused_reason="lunch"),)))
        await run(engine, clock, drop(1))
        await due(engine, clock, 6)
        assert engine.open_redials == [] and await store.open_jobs() == [] and originator.actions == []
        assert [r["outcome"] for r in await store.history()] == ["callback_requested"]
        # Without promises, a person must call them: a line in status.
        assert engine.snapshot()["callbacks_requested"][0]["redial_id"] == 1  # type: ignore[index]
