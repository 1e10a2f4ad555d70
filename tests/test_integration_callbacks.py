"""Queue callbacks on the sandbox Asterisk, with SIPp phones that press keys (RFC 2833).

Queue ``cbq`` (DID 307) has ``context = redial-queue-callback`` and one member, agent1.
A caller waits there while agent1 is paused, presses 1 (the offer key), then 1 (this
number): the request is stored and confirmed, and the call ends. When agent1 is free and
no live caller who joined earlier waits, the daemon rings agent1, then the customer, who
must press 1. Each test is judged on the PBX's events.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import CustomerCall
from sandbox.observer import AmiMessage, where
from tests.rig import AGENT1, CUSTOMER, Rig, redial_leg, trunk_channel

pytestmark = pytest.mark.integration

CBQ = "cbq"
CBQ_DID = "307"
CALLER = "5551234"
# Short sounds: the caller's second key must fall in the menu's Read, the customer's in theirs.
_SOUNDS = {
    "wait_before": [],
    "wait_after": [],
    "menu": ["beep"],
    "enter_number": ["beep"],
    "confirm_before": ["beep"],
    "confirm_after": ["beep"],
    "not_available": ["beep"],
    "invalid_number": ["beep"],
    "agent_before": [],
    "agent_after": [],
    "customer_greeting": [],
    "customer_press": ["beep"],
}


async def start(rig: Rig, *, hours: dict[str, Any] | None = None, **callback: Any) -> None:
    """The daemon with queue callbacks configured for the tests (``callback`` overrides)."""
    config = rig.configure(3.0)
    data = yaml.safe_load(config.read_text())
    data["queue_callback"] = {"attempts": 2, "spacing": 10, "press_timeout": 4, "sounds": _SOUNDS, **callback}
    if hours is not None:
        data["policy"].setdefault("queue_overrides", {})[CBQ] = {"hours": hours}
    config.write_text(yaml.safe_dump(data))
    await asyncio.to_thread(rig.new_daemon(config).start)


def ask(rig: Rig, number: str = CALLER, offer_after: float = 2.0) -> CustomerCall:
    """A caller in cbq who presses the offer key, then 1 (call me back on this number), and waits for the end."""
    return rig.call(number, "wait_for_bye", did=CBQ_DID, dtmf=[(offer_after, "1"), (2.5, "1")], max_time=40)


def callback_legs(rig: Rig, start: int = 0) -> list[AmiMessage]:
    return rig.observer.find(redial_leg, start)


async def stored(rig: Rig, result: str = "accepted", timeout: float = 20) -> None:
    """The daemon answered a callback request (its log), before the caller heard the confirmation."""
    assert rig.daemon is not None
    await asyncio.to_thread(rig.daemon.wait_for, "queue_callback_request", timeout, result=result)


async def connected(rig: Rig, leg: AmiMessage) -> AmiMessage:
    """agent1 rang first, then the customer's phone; both in one bridge (the customer pressed 1)."""
    obs = rig.observer
    assert leg["Channel"].startswith("PJSIP/agent1-"), leg["Channel"]
    customer = await obs.wait_for(
        where(Event="Newchannel", Linkedid=leg["Uniqueid"], Channel=trunk_channel), timeout=20, what="customer leg"
    )
    agent_in = await obs.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20, what="agent in")
    customer_in = await obs.wait_for(
        where(Event="BridgeEnter", Uniqueid=customer["Uniqueid"]), timeout=20, what="customer bridged"
    )
    assert agent_in["BridgeUniqueid"] == customer_in["BridgeUniqueid"]
    return customer


async def waiting_callback(rig: Rig, number: str = CALLER) -> CustomerCall:
    """agent1 paused in cbq, the daemon started, and a caller from ``number`` who asked: stored, the call ended."""
    await rig.pause(AGENT1, "lunch", queue=CBQ)
    await start(rig)
    call = ask(rig, number)
    await stored(rig)
    await asyncio.to_thread(call.wait, 20)
    return call


async def released(rig: Rig) -> tuple[int, AmiMessage]:
    """agent1 unpaused in cbq: the callback rings them, then the customer, and connects (mark, its leg)."""
    mark = rig.observer.mark()
    await rig.unpause(AGENT1, queue=CBQ)
    leg = await rig.observer.wait_for(redial_leg, timeout=15, start=mark, what="the callback's agent leg")
    await connected(rig, leg)
    return mark, leg


class TestCalledBack:
    """A caller who presses the key is called back at their turn: agent first, then the customer, who presses 1."""

    async def test_key_press_is_called_back(self, rig: Rig) -> None:
        agent = rig.agent("agent1")
        customer_phone = rig.customer(8, press="1", press_after=1.5)
        call = await waiting_callback(rig)
        # The caller heard the confirmation and the PBX ended the call: nothing rings yet.
        assert call.events_of("BYE_RECEIVED"), call.diagnostics()
        assert callback_legs(rig) == []
        mark, leg = await released(rig)
        # The agent saw CALLBACK and the number; the customer saw the queue's DID.
        assert agent.invites[-1].from_name.startswith("CALLBACK") and agent.invites[-1].from_user == CALLER
        assert customer_phone.invites[-1].from_user == CBQ_DID
        await asyncio.sleep(2)
        assert len(callback_legs(rig, mark)) == 1 and len(customer_phone.invites) == 1
        rows = [r for r in await rig.history() if r.get("classification") == "queue_callback"]
        assert len(rows) == 1 and rows[0]["outcome"] == "connected", rows
        assert "callback connected" in await rig.cli("history")
        timeline = await rig.cli("show", str(rows[0]["call_id"]))
        assert "connected" in timeline and CALLER in timeline, timeline
        funnel = json.loads(await rig.cli("stats", "--json"))["queue_callbacks"][CBQ]
        assert (funnel["offered"], funnel["accepted"], funnel["served"], funnel["reached"]) == (1, 1, 1, 1), funnel
        # queue_log links request, start and end to the queue entry that left by the key.
        entry = leg["Uniqueid"].split("-qcb-", 1)[1]
        lines = [line.split("|") for line in rig.sandbox.queue_log_path.read_text().splitlines()]
        verbs = [f[4] for f in lines if len(f) > 4 and f[1] == entry and f[2] == CBQ]
        assert verbs == ["ENTERQUEUE", "EXITWITHKEY", "CALLBACKREQUESTED", "CALLBACKSTART", "CALLBACKEND"], verbs
        (end,) = [f for f in lines if len(f) > 7 and f[1] == entry and f[4] == "CALLBACKEND"]
        assert end[7] == "connected", end
        metrics = (await asyncio.to_thread(urllib.request.urlopen, "http://127.0.0.1:9327/metrics")).read().decode()
        assert 'redial_queue_callbacks_total{event="reached",queue="cbq"} 1.0' in metrics


class TestNotReached:
    """A phone that answers and never presses 1 is not reached: tried again, then `unreached`, never bridged."""

    async def test_never_pressing_is_retried_then_unreached(self, rig: Rig) -> None:
        rig.agent("agent1", hangup_after=None)
        customer_phone = rig.customer(20)
        await waiting_callback(rig)
        mark = rig.observer.mark()
        await rig.unpause(AGENT1, queue=CBQ)
        assert rig.daemon is not None
        await asyncio.to_thread(rig.daemon.wait_for, "queue_callback_unreached", 90)
        legs = callback_legs(rig, mark)
        assert len(legs) == 2, legs
        assert len(customer_phone.invites) == 2
        for leg in legs:
            assert not rig.observer.find(where(Event="BridgeEnter", Linkedid=leg["Uniqueid"], Channel=trunk_channel))
        status = await rig.cli("status")
        assert "queue callbacks not reached since start: 1" in status, status


class TestOnce:
    """Never twice: a second request merges, and a daemon killed while callbacks wait makes each once."""

    async def test_duplicate_request_merges(self, rig: Rig) -> None:
        rig.agent("agent1")
        customer_phone = rig.customer(6, press="1", press_after=1.5)
        await rig.pause(AGENT1, "lunch", queue=CBQ)
        await start(rig)
        first = ask(rig)
        await stored(rig)
        await asyncio.to_thread(first.wait, 20)
        second = ask(rig)
        await stored(rig, "merged")
        await asyncio.to_thread(second.wait, 20)
        mark, _ = await released(rig)
        await asyncio.sleep(4)
        assert len(callback_legs(rig, mark)) == 1 and len(customer_phone.invites) == 1

    async def test_daemon_killed_while_waiting(self, rig: Rig) -> None:
        rig.agent("agent1")
        customer_phone = rig.customer(6, press="1", press_after=1.5)
        await waiting_callback(rig)
        assert rig.daemon is not None
        rig.daemon.kill()
        await asyncio.to_thread(rig.daemon.start)
        await released(rig)
        await asyncio.sleep(4)
        assert len(callback_legs(rig)) == 1 and len(customer_phone.invites) == 1


class TestCalledInAgain:
    """The caller calls in again and an agent answers them: their callback is cancelled, never dialled."""

    async def test_answered_caller_gets_no_callback(self, rig: Rig) -> None:
        rig.agent("agent1", hangup_after=3)
        customer_phone = rig.customer(5, press="1", press_after=1.5)
        await waiting_callback(rig)
        mark = rig.observer.mark()
        again = rig.call(CALLER, "wait_for_bye", did=CBQ_DID, max_time=40)
        await rig.observer.wait_for(where(Event="QueueCallerJoin", Queue=CBQ), timeout=10, start=mark)
        await rig.unpause(AGENT1, queue=CBQ)
        await rig.observer.wait_for(where(Event="AgentConnect", Queue=CBQ), timeout=15, start=mark)
        await asyncio.to_thread(again.wait, 20)
        await asyncio.sleep(6)
        assert callback_legs(rig) == [] and customer_phone.invites == []
        (row,) = [r for r in await rig.history() if r.get("classification") == "queue_callback"]
        assert row["outcome"] == "customer_called_back", row


class TestAsteriskRestart:
    """Asterisk restarts with a callback pending: it is made once Asterisk is back."""

    async def test_restart_with_a_callback_pending(self, rig: Rig) -> None:
        rig.agent("agent1", max_time=120)
        customer_phone = rig.customer(6, press="1", press_after=1.5)
        await waiting_callback(rig)
        assert callback_legs(rig) == []
        # Back up, agent1 is a free member again (its pause lived in memory only).
        await asyncio.to_thread(rig.sandbox.restart)
        obs = await rig.reconnect()
        leg = await obs.wait_for(redial_leg, timeout=40, what="the callback after the restart")
        await connected(rig, leg)
        await asyncio.sleep(3)
        assert len(obs.find(redial_leg)) == 1 and len(customer_phone.invites) == 1


class TestDropFirst:
    """A drop redial and a queue callback due together for agent1: the drop's redial goes first."""

    async def test_drop_goes_before_the_callback(self, rig: Rig) -> None:
        rig.agent("agent1", max_time=180)
        rig.customer(5, press="1", press_after=1.5, max_time=180)
        await waiting_callback(rig, "5550001")
        mark = rig.observer.mark()
        # agent1 takes a support call (paused in cbq only), and is free in cbq while on it.
        support = rig.call(CUSTOMER, "rtp_drop", max_time=30)
        await rig.observer.wait_for(where(Event="AgentConnect", Queue="support"), timeout=15, start=mark)
        await rig.unpause(AGENT1, queue=CBQ)
        await rig.drop_seen("44", start=mark)
        support.stop()
        first = await rig.observer.wait_for(redial_leg, timeout=20, start=mark, what="the first redial leg")
        assert "-qcb-" not in first["Uniqueid"], "the queue callback went before the drop's redial"
        await connected(rig, first)
        second = await rig.observer.wait_for(
            redial_leg, timeout=60, start=rig.index(first) + 1, what="the callback after the redial"
        )
        assert "-qcb-" in second["Uniqueid"]
        await connected(rig, second)


class TestNoOffer:
    """Closed: the caller pressing the key hears "not available" and goes back to the queue; nothing is stored."""

    async def test_closing_time_no_offer(self, rig: Rig, tmp_path: Path) -> None:
        rig.agent("agent1")
        await rig.pause(AGENT1, "lunch", queue=CBQ)
        closed = {"timezone": "UTC", "weekly": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
        await start(rig, hours=closed)
        mark = rig.observer.mark()
        call = rig.call(CALLER, "hangup", did=CBQ_DID, dtmf=[(2.0, "1")], talk_time=6, max_time=30)
        # Back in cbq: a second QueueCallerJoin of the same channel.
        joins = where(Event="QueueCallerJoin", Queue=CBQ)
        first = await rig.observer.wait_for(joins, timeout=10, start=mark, what="the caller in cbq")
        again = await rig.observer.wait_for(
            where(Event="QueueCallerJoin", Queue=CBQ, Uniqueid=first["Uniqueid"]),
            timeout=15,
            start=rig.index(first) + 1,
            what="the caller back in cbq",
        )
        assert again["Uniqueid"] == first["Uniqueid"]
        await asyncio.to_thread(call.wait, 20)
        assert rig.daemon is not None
        assert "queue_callback_request" not in rig.daemon.tail(200)
        assert not [r for r in await rig.history() if r.get("classification") == "queue_callback"]


class TestFairness:
    """Three live callers and two callbacks, interleaved: agent1 takes them in the order they joined cbq."""

    async def test_interleaved_live_callers_and_callbacks(self, rig: Rig) -> None:
        rig.agent("agent1", hangup_after=7, max_time=240)
        rig.customer(5, press="1", press_after=1.5, max_time=240)
        await rig.pause(AGENT1, "lunch", queue=CBQ)
        await start(rig)
        mark = rig.observer.mark()
        order = ["5550011", "5550001", "5550012", "5550002", "5550013"]
        for number in order:
            if number.startswith("555000"):
                call = ask(rig, number)
                await stored(rig)
                await asyncio.to_thread(call.wait, 20)
            else:
                rig.call(number, "wait_for_bye", did=CBQ_DID, max_time=150)
                await rig.observer.wait_for(
                    where(Event="QueueCallerJoin", Queue=CBQ, CallerIDNum=number), timeout=10, start=mark
                )
            await asyncio.sleep(1.0)
        await rig.unpause(AGENT1, queue=CBQ)
        # Whom agent1 was connected to, in order: queue calls (AgentConnect) and callbacks (their legs).
        joined = {m["Uniqueid"]: m["CallerIDNum"] for m in rig.observer.find(where(Event="QueueCallerJoin"), mark)}

        def served() -> list[str]:
            numbers = []
            for msg in rig.observer.events[mark:]:
                if msg.get("Event") == "AgentConnect" and msg.get("Queue") == CBQ:
                    numbers.append(msg["CallerIDNum"])
                elif redial_leg(msg):
                    numbers.append(joined[msg["Uniqueid"].split("-qcb-", 1)[1]])
            return numbers

        deadline = asyncio.get_running_loop().time() + 150
        while len(served()) < len(order) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1)
        assert served() == order, f"{served()}\n{rig.log()}"

    async def test_daemon_down_back_to_the_queue(self, rig: Rig) -> None:
        """No daemon to ask: the caller pressing the key goes back to cbq (QUEUENAME), never cut off."""
        rig.agent("agent1")
        await rig.pause(AGENT1, "lunch", queue=CBQ)
        mark = rig.observer.mark()
        call = rig.call(CALLER, "hangup", did=CBQ_DID, dtmf=[(2.0, "1")], talk_time=8, max_time=30)
        first = await rig.observer.wait_for(where(Event="QueueCallerJoin", Queue=CBQ), timeout=10, start=mark)
        await rig.observer.wait_for(
            where(Event="QueueCallerJoin", Queue=CBQ, Uniqueid=first["Uniqueid"]),
            timeout=15,
            start=rig.index(first) + 1,
            what="the caller back in cbq",
        )
        await asyncio.to_thread(call.wait, 20)
        assert call.events_of("BYE_RECEIVED") == [], "the PBX hung up on the caller"
