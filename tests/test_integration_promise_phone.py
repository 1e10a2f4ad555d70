"""The agent's in-call promise on the sandbox Asterisk: ``*7``, the minutes and ``#`` on the agent's phone.

The sandbox's inbound contexts set ``__DYNAMIC_FEATURES=redial-promise`` before Queue() (the
line admins add), and its features.conf includes config/features_redial.conf. The agent's
phone (SIPp) answers the queue call and presses ``*7`` then ``30#`` (RFC 2833). Judged on the
PBX's events: the agent's channel ran ``[redial-promise]`` (Read, the confirmation with
SayNumber 30), the customer's side ran ``[redial-promise-tell]`` (the owner's name spelled,
SayNumber 30) and the call ended there. ``TestDialplan`` answers the FastAGI with the promise
desk and a fake engine; ``TestDaemon`` runs the real daemon, which stores the promise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog

from redial.clock import SystemClock
from redial.config import FastAgiSettings, parse_settings
from redial.core.agents import AgentView, Availability
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.service.agi import ReturningCallerService
from redial.service.promise_agi import PromiseDesk
from redial.store import Store
from sandbox.observer import AmiMessage, Predicate, where
from tests.rig import CUSTOMER, Rig, redial_leg, trunk_channel

pytestmark = pytest.mark.integration

# The agent presses the feature code 3 s after answering, then the minutes and # 2.5 s later
# (while the prompt plays: the first digit stops it).
PRESSES = [(3.0, "*7"), (2.5, "30#")]
FPBX_DID = "301"  # queue fpbx: member Local/agent3@from-queue/n, the phone agent3
FAKE = PromiseAnswer(True, "promise 7 stored", 7, 0.0, "support", "Alice", "PJSIP/agent1", 30)


class FakeEngine:
    """What the daemon's engine answers, recorded: ``answer`` to every request."""

    def __init__(self, answer: PromiseAnswer) -> None:
        self.answer = answer
        self.asked: list[PromiseRequest] = []

    async def make(self, request: PromiseRequest) -> PromiseAnswer:
        self.asked.append(request)
        return self.answer


@pytest.fixture
async def fastagi(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    """The daemon's FastAGI service on the suite's port, its promise desk asking a fake engine."""
    engine = FakeEngine(FAKE)
    settings = dataclasses.replace(parse_settings({}, env={}), fastagi=FastAgiSettings())
    store = await Store.open(tmp_path / "agi.sqlite3")
    log = structlog.get_logger("test")

    def nobody(interface: str, now: float) -> AgentView:
        return AgentView(interface, Availability.BUSY, "busy", ())

    service = ReturningCallerService(
        settings, store, nobody, SystemClock(), log, promises=PromiseDesk(settings, engine.make, log)
    )
    assert await service.start()
    try:
        yield engine
    finally:
        await service.close()
        await store.close()


def ran(app: str, data: str | None = None, context: str | None = None) -> Predicate:
    """A Newexten running ``app`` (with ``data``) in ``context``."""
    expected: dict[str, str] = {"Event": "Newexten", "Application": app}
    if data is not None:
        expected["AppData"] = data
    if context is not None:
        expected["Context"] = context
    return where(**expected)


def ran_in(msg: AmiMessage, context: str) -> bool:
    return msg.get("Event") == "Newexten" and msg.get("Context") == context


async def promise_told(rig: Rig, agent: str, linkedid: str, start: int) -> list[AmiMessage]:
    """The agent heard the prompt and the confirmation, then the customer's side the name and the
    minutes, and the call ended: the customer's side's Newexten events in [redial-promise-tell]."""
    obs = rig.observer
    on_agent = f"PJSIP/{agent}-"

    def agent_leg(channel: str) -> bool:
        return channel.startswith(on_agent)

    def customer_side(msg: AmiMessage) -> bool:
        return msg.get("Linkedid") == linkedid and not agent_leg(msg.get("Channel", ""))

    read = await obs.wait_for(
        where(Event="Newexten", Channel=agent_leg, Context="redial-promise", Application="ExecIf"),
        timeout=20,
        start=start,
        what="the agent's *7: [redial-promise] reading the minutes",
    )
    assert "Read(REDIAL_PR_KEYED,minutes&vm-then-pound," in read["AppData"], read
    await obs.wait_for(
        where(Event="Newexten", Channel=agent_leg, Context="redial-promise", Application="SayNumber", AppData="30"),
        timeout=15,
        start=start,
        what="the agent's confirmation: SayNumber(30)",
    )
    said = await obs.wait_for(
        lambda m: customer_side(m) and ran("SayNumber", "30", "redial-promise-tell")(m),
        timeout=20,
        start=start,
        what="the customer's side told the minutes: SayNumber(30)",
    )
    end = await obs.wait_for(
        where(Event="Hangup", Linkedid=linkedid, Channel=trunk_channel),
        timeout=20,
        start=start,
        what="the customer's channel hung up",
    )
    assert end["Cause"] == "16", end
    told = [m for m in obs.find(customer_side, start) if ran_in(m, "redial-promise-tell")]
    assert said in told
    return told


class TestDialplan:
    """The feature and the dialplan against the promise desk (a fake engine)."""

    async def test_pjsip_member(self, rig: Rig, fastagi: FakeEngine) -> None:
        """support (PJSIP/agent1): the desk is asked for 30 minutes on this call by the agent's leg;
        the customer's own channel hears the name spelled and the minutes, then the call ends."""
        rig.agent("agent1", presses=PRESSES, max_time=60)
        start = rig.observer.mark()
        rig.call(CUSTOMER, "wait_for_bye", max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        told = await promise_told(rig, "agent1", connect["Linkedid"], start)
        (request,) = fastagi.asked
        assert (request.minutes, request.call, request.source) == (30, connect["Linkedid"], "phone")
        assert request.by.startswith("PJSIP/agent1-"), request
        assert {m["Channel"] for m in told} == {connect["Channel"]}, "told on another channel than the customer's"
        assert any(m["Application"] == "SayAlpha" and m["AppData"] == "Alice" for m in told), told

    async def test_local_member(self, rig: Rig, fastagi: FakeEngine) -> None:
        """fpbx (Local/agent3@from-queue/n): the feature reaches the phone behind the Local member; the
        customer hears the promise through the member's ;2 half, then the call ends."""
        rig.agent("agent3", presses=PRESSES, max_time=60)
        start = rig.observer.mark()
        rig.call(CUSTOMER, "wait_for_bye", did=FPBX_DID, max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        assert connect["Interface"].startswith("Local/agent3@from-queue"), connect
        told = await promise_told(rig, "agent3", connect["Linkedid"], start)
        assert all(m["Channel"].startswith("Local/agent3@from-queue-") for m in told), told
        assert all(m["Channel"].endswith(";2") for m in told), told
        (request,) = fastagi.asked
        assert request.by.startswith("PJSIP/agent3-"), request

    async def test_refused_promise_keeps_the_call(self, rig: Rig, fastagi: FakeEngine) -> None:
        """The engine refuses: the agent hears the refusal, the customer is not sent anywhere, the call goes on."""
        fastagi.answer = PromiseAnswer(False, "no live queue call")
        rig.agent("agent1", presses=PRESSES, max_time=60)
        start = rig.observer.mark()
        call = rig.call(CUSTOMER, "wait_for_bye", max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        await rig.observer.wait_for(
            ran("Playback", "sorry&please-try-again", "redial-promise"),
            timeout=20,
            start=start,
            what="the agent hears the refusal",
        )
        await asyncio.sleep(3)
        assert not rig.observer.find(where(Event="Newexten", Context="redial-promise-tell"), start)
        assert not rig.observer.find(where(Event="Hangup", Linkedid=connect["Linkedid"]), start), "the call ended"
        assert call.running and len(fastagi.asked) == 1

    @pytest.mark.parametrize(("did", "agent"), [("100", "agent1"), (FPBX_DID, "agent3")], ids=["pjsip", "local"])
    async def test_customers_keys_are_ignored(self, rig: Rig, fastagi: FakeEngine, did: str, agent: str) -> None:
        """The customer presses *7 30#: the feature stops on their own channel (it started the call); no
        promise is asked for, and the call goes on."""
        rig.agent(agent, max_time=60)
        start = rig.observer.mark()
        call = rig.call(CUSTOMER, "wait_for_bye", did=did, dtmf=PRESSES, max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        stopped = await rig.observer.wait_for(
            ran("GotoIf", "1?done", "redial-promise"), timeout=20, start=start, what="the customer's *7 refused"
        )
        assert stopped["Channel"] == connect["Channel"], stopped
        await asyncio.sleep(4)
        assert fastagi.asked == []
        runs = rig.observer.find(where(Event="Newexten", Context="redial-promise"), start)
        assert {m["Channel"] for m in runs} == {connect["Channel"]}, "the feature ran on another channel"
        assert call.running and not rig.observer.find(where(Event="Hangup", Linkedid=connect["Linkedid"]), start)


class TestDaemon:
    """The real daemon stores the promise made on the phone, and the call's end is no drop."""

    async def test_promise_stored_and_no_drop_redial(self, rig: Rig) -> None:
        """``redial status``: a promised_callback for the customer, due about 30 minutes after it was
        made; the daemon logged it from the phone; no redial leg rings once the call has ended."""
        rig.agent("agent1", presses=PRESSES, max_time=60)
        await rig.start_daemon()
        start = rig.observer.mark()
        rig.call(CUSTOMER, "wait_for_bye", max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        await promise_told(rig, "agent1", connect["Linkedid"], start)
        made = time.time()
        shown = json.loads(await rig.cli("status", "--json"))
        (promise,) = [j for j in shown["open_redials"] if j["kind"] == "promised_callback"]
        assert promise["customer"] == CUSTOMER and promise["queue"] == "support", promise
        assert abs(promise["due_at"] - (made + 30 * 60)) < 60, promise
        assert [j["kind"] for j in shown["open_redials"]] == ["promised_callback"], shown
        # The call ended normally: no redial of a drop, after the callback window too.
        await rig.assert_no_redial(rig.window + 2)
        assert not rig.observer.find(redial_leg, start)
        (call,) = [r for r in await rig.history() if r["linkedid"] == connect["Linkedid"]]
        assert call["classification"] == "normal", call

    async def test_local_member_owns_the_promise(self, rig: Rig) -> None:
        """fpbx's Local member: the promise is fpbx's and Carol's (the member behind agent3's phone); no drop redial."""
        rig.agent("agent3", presses=PRESSES, max_time=60)
        await rig.start_daemon()
        start = rig.observer.mark()
        rig.call(CUSTOMER, "wait_for_bye", did=FPBX_DID, max_time=45)
        connect = await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, start=start, what="answered")
        told = await promise_told(rig, "agent3", connect["Linkedid"], start)
        assert any(m["Application"] == "SayAlpha" and m["AppData"] == "Carol" for m in told), told
        shown = json.loads(await rig.cli("status", "--json"))
        (promise,) = shown["open_redials"]
        assert (promise["kind"], promise["queue"], promise["customer"]) == ("promised_callback", "fpbx", CUSTOMER)
        assert promise["agent"].startswith("Local/agent3@from-queue"), promise
        await rig.assert_no_redial(rig.window + 2)


class TestWhisper:
    """A promise's redial through [redial-out]: the whisper names the owner and the note; the CDR says promise."""

    async def test_owner_spelled_and_note_played(self, rig: Rig) -> None:
        """REDIAL_KIND=promise (the daemon's _promise_variables): after the agent prompt, SayAlpha(Alice) and
        Playback of the note sound, before the customer is dialled; the userfield is promise:<Uniqueid>."""
        rig.agent("agent1", hangup_after=8.0, max_time=60)
        rig.customer(3.0, max_time=60)
        channel_id = f"promise-whisper-{int(time.time())}"
        start = rig.observer.mark()
        await rig.observer.action(
            {
                "Action": "Originate",
                "Channel": "PJSIP/agent1",
                "Context": "redial-out",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "ChannelId": channel_id,
                "CallerID": f'"PROMISED {CUSTOMER}" <{CUSTOMER}>',
                "Timeout": "20000",
                "Variable": [
                    "REDIAL_ID=9",
                    "REDIAL_ORIGINAL_UNIQUEID=1795354875.10",
                    f"REDIAL_NUMBER={CUSTOMER}",
                    "REDIAL_TRUNK=trunk",
                    "REDIAL_DID=100",
                    "REDIAL_AGENT_PROMPT=beep",
                    "REDIAL_KIND=promise",
                    "REDIAL_OWNER_NAME=Alice",
                    "REDIAL_NOTE_SOUND=vm-message",
                ],
            }
        )

        def on_leg(app: str, data: str | Callable[[str], bool]) -> Predicate:
            return where(Event="Newexten", Uniqueid=channel_id, Context="redial-out", Application=app, AppData=data)

        obs = rig.observer
        tagged = await obs.wait_for(
            where(Event="Newexten", Uniqueid=channel_id, Application="Set", AppData=lambda d: "userfield" in d),
            timeout=15,
            start=start,
            what="the CDR userfield set",
        )
        assert tagged["AppData"] == "CDR(userfield)=promise:1795354875.10", tagged
        prompt = await obs.wait_for(on_leg("Playback", "beep"), timeout=15, start=start, what="the agent prompt")
        owner = await obs.wait_for(on_leg("SayAlpha", "Alice"), timeout=15, start=start, what="the owner spelled")
        note = await obs.wait_for(on_leg("Playback", "vm-message"), timeout=15, start=start, what="the note sound")
        dialled = on_leg("Dial", lambda d: d.startswith(f"PJSIP/{CUSTOMER}@trunk"))
        dial = await obs.wait_for(dialled, timeout=15, start=start, what="the customer dialled")
        order = [rig.index(m) for m in (prompt, owner, note, dial)]
        assert order == sorted(order), [m["AppData"] for m in (prompt, owner, note, dial)]
