"""The sandbox itself, proven on the real PBX: a real Asterisk 22, SIPp phones, an AMI observer.

Drops (RTP timeout, BYE with a Q.850 cause) and a normal hang-up must look like the recordings in
shared/corpus/asterisk22; the Originate the daemon will send must ring the agent first and then
the customer, and the shipped dialplan must refuse injected numbers and trunks.

Needs root, sipp, and the cached Asterisk root (built with debootstrap on first use).
REDIAL_SANDBOX_EXTENSIONS / REDIAL_SANDBOX_MANAGER point the sandbox at another copy of
config/extensions_redial.conf / config/manager_redial.conf (to try a fix without editing them).
Run: python -m pytest tests/test_sandbox.py -x -q
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sandbox import (
    AgentPhone,
    AmiObserver,
    CallMode,
    CustomerCall,
    CustomerPhone,
    Sandbox,
    SandboxError,
    customer_call,
    ensure_root,
)
from sandbox.daemon import stop_orphans
from sandbox.observer import AmiMessage, where
from sandbox.shared import Sipps, shared_sandbox, sipp_registry
from tests.ports import free_port

# No skip when root or SIPp is missing: the sandbox raises a clear error, and a skipped
# integration test would let a run pass that proved nothing.
pytestmark = pytest.mark.integration

CUSTOMER = "5551234"
DID = "100"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one test's coroutine (pytest-asyncio is not used), bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's Asterisk, shared with any other module's (one per test process)."""
    with shared_sandbox() as running:
        print(f"\nAsterisk sandbox started in {running.start_seconds:.2f} s")
        yield running


@pytest.fixture
def sipps() -> Iterator[Sipps]:
    """This test's SIPp processes, all stopped at teardown, pass or fail."""
    with sipp_registry() as registry:
        yield registry
    assert not any(proc.running for proc in registry.procs)


def startswith(prefix: str) -> Callable[[str], bool]:
    return lambda value: value.startswith(prefix)


# ---- helpers -----------------------------------------------------------------------------
def observer(sb: Sandbox) -> AmiObserver:
    return AmiObserver(sb.ami_host, sb.ami_port, *sb.observer_credentials)


def daemon_session(sb: Sandbox) -> AmiObserver:
    """An AMI session as the daemon's own user, with the shipped permissions."""
    return AmiObserver(sb.ami_host, sb.ami_port, sb.ami_username, sb.ami_secret)


async def channels(obs: AmiObserver) -> list[str]:
    items = await obs.action_list({"Action": "CoreShowChannels"})
    return [m["Channel"] for m in items if m.get("Event") == "CoreShowChannel"]


async def wait_idle(obs: AmiObserver, grace: float = 3.0) -> None:
    """Wait until the PBX has no channel left; after `grace` s hang up what an earlier
    (failed) test left behind, so one failure does not cascade into the next tests."""
    deadline = time.monotonic() + grace
    while await channels(obs):
        if time.monotonic() > deadline:
            await obs.action({"Action": "Hangup", "Channel": "/.*/"}, check=False)
            await asyncio.sleep(1.0)
            left = await channels(obs)
            assert not left, f"channels still up after a forced hangup: {left}"
            return
        await asyncio.sleep(0.2)


def hangup_requests(obs: AmiObserver, uniqueid: str, start: int) -> list[AmiMessage]:
    return obs.find(
        lambda m: m.get("Event") in ("HangupRequest", "SoftHangupRequest") and m.get("Uniqueid") == uniqueid, start
    )


@dataclass
class QueueCallOutcome:
    """What the observer saw of one customer call through queue `support`."""

    uniqueid: str
    answered_at: float  # the customer channel went Up (Answer())
    connect: AmiMessage
    first_request: AmiMessage  # the first (Soft)HangupRequest on the customer channel
    customer_hangup: AmiMessage
    agent_hangup: AmiMessage
    complete: AmiMessage
    call: CustomerCall


async def queue_call(
    sb: Sandbox, sipps: Sipps, mode: CallMode, *, talk_time: float = 1.5, cause: int = 41
) -> QueueCallOutcome:
    """A customer calls 100; agent1 answers through the queue; the call ends per `mode`."""
    async with observer(sb) as obs:
        await wait_idle(obs)
        start = obs.mark()
        call = sipps.add(customer_call(CUSTOMER, mode, did=DID, talk_time=talk_time, cause=cause, max_time=20))
        join = await obs.wait_for(where(Event="QueueCallerJoin", Queue="support", CallerIDNum=CUSTOMER), 10, start)
        uid = join["Uniqueid"]
        up = await obs.wait_for(where(Event="Newstate", Uniqueid=uid, ChannelStateDesc="Up"), 5, start)
        connect = await obs.wait_for(where(Event="AgentConnect", Uniqueid=uid), 10, start)
        agent_uid = connect["DestUniqueid"]
        hangup = await obs.wait_for(where(Event="Hangup", Uniqueid=uid), 15, start)
        agent_hangup = await obs.wait_for(where(Event="Hangup", Uniqueid=agent_uid), 5, start)

        # AgentComplete carries a channel's snapshot only while that channel still
        # exists: when the caller is gone first it names just the member, when both
        # are gone it names neither, only the queue and member interface. One call
        # runs at a time here, so the queue and interface identify it then.
        def completes_this_call(m: AmiMessage) -> bool:
            if m.name != "AgentComplete":
                return False
            if "Uniqueid" in m or "DestUniqueid" in m:
                return m.get("Uniqueid") == uid or m.get("DestUniqueid") == agent_uid
            return m.get("Queue") == "support" and m.get("Interface") == connect["Interface"]

        complete = await obs.wait_for(
            completes_this_call, 5, start, what=f"AgentComplete for {uid} or its member {agent_uid}"
        )
        requests = hangup_requests(obs, uid, start)
        assert requests, "no HangupRequest/SoftHangupRequest on the customer channel"
        assert await call.async_wait(10) == 0, call.diagnostics()
        return QueueCallOutcome(uid, up.received, connect, requests[0], hangup, agent_hangup, complete, call)


def daemon_originate(
    channel_id: str, redial_id: int, *, number: str = CUSTOMER, trunk: str = "trunk"
) -> dict[str, str | list[str]]:
    """The Originate exactly as the daemon sends it (see the brief / asterisk-facts.md)."""
    return {
        "Action": "Originate",
        "Channel": "PJSIP/agent1",
        "Context": "redial-out",
        "Exten": "s",
        "Priority": "1",
        "Async": "true",
        "ChannelId": channel_id,
        "CallerID": f'"REDIAL {CUSTOMER}" <{CUSTOMER}>',
        "Account": "redial",
        "Timeout": "20000",
        "Variable": [
            f"REDIAL_ID={redial_id}",
            "REDIAL_ORIGINAL_UNIQUEID=1795354875.10",
            f"REDIAL_NUMBER={number}",
            f"REDIAL_TRUNK={trunk}",
            f"REDIAL_DID={DID}",
            "REDIAL_RING_TIMEOUT=20",
        ],
    }


# ---- tests -------------------------------------------------------------------------------
class TestQueueCallEnds:
    """How a queue call's end looks on AMI, per cause (must match the recordings)."""

    def test_rtp_timeout_drop(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """A customer sending no RTP is answered by Alice, then dropped: SoftHangupRequest 1, Hangup 44."""
        agent = sipps.add(AgentPhone("agent1", ring_delay=0.5, max_time=60))
        out = run(queue_call(sandbox, sipps, "rtp_drop"))
        assert out.connect["Interface"] == "PJSIP/agent1"
        assert out.connect["MemberName"] == "Alice"
        assert out.first_request["Event"] == "SoftHangupRequest"
        assert out.first_request["Cause"] == "1"
        assert out.customer_hangup["Cause"] == "44"
        assert out.agent_hangup["Cause"] == "44"  # the surviving leg copies the cause
        assert out.complete["Reason"] == "caller"
        # rtp_timeout (3 s) counts from Answer(), queue wait included.
        dropped_after = out.customer_hangup.received - out.answered_at
        assert 2.5 <= dropped_after <= 6.0, dropped_after
        assert out.call.events_of("BYE_RECEIVED") and not out.call.gave_up
        assert agent.invites and agent.invites[-1].from_user == CUSTOMER
        queue_log = sandbox.queue_log_path.read_text(encoding="utf-8")
        assert f"|{out.uniqueid}|support|Alice|CONNECT|" in queue_log, queue_log

    def test_bye_with_q850_cause_41(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """A BYE with Reason Q.850 cause 41 gives HangupRequest Cause 41 and Hangup Cause 41."""
        sipps.add(AgentPhone("agent1", ring_delay=0.5, max_time=60))
        out = run(queue_call(sandbox, sipps, "bye_q850", cause=41))
        assert out.first_request["Event"] == "HangupRequest"
        assert out.first_request["Cause"] == "41"
        assert out.customer_hangup["Cause"] == "41"
        assert out.agent_hangup["Cause"] == "41"
        assert out.call.events_of("BYE_SENT")

    def test_normal_customer_hangup(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """A plain BYE from the customer gives a HangupRequest without Cause and Hangup Cause 16."""
        sipps.add(AgentPhone("agent1", ring_delay=0.5, max_time=60))
        out = run(queue_call(sandbox, sipps, "hangup"))
        assert out.first_request["Event"] == "HangupRequest"
        assert "Cause" not in out.first_request
        assert out.customer_hangup["Cause"] == "16"
        assert out.agent_hangup["Cause"] == "16"
        assert out.complete["Reason"] == "caller"


class TestRedialOriginate:
    """The daemon's Originate through the shipped redial-out dialplan and AMI user."""

    def test_agent_first_then_customer_sees_did(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """Agent rings first (sees 5551234), then the customer (sees DID 100); one bridge; Reason 4."""
        agent = sipps.add(AgentPhone("agent1", ring_delay=0.5, hangup_after=2.0, max_time=60))
        cust = sipps.add(CustomerPhone(ring_delay=0.5, max_time=60))

        async def scenario() -> None:
            async with observer(sandbox) as obs, daemon_session(sandbox) as daemon:
                await wait_idle(obs)
                start, dstart = obs.mark(), daemon.mark()
                await daemon.action(daemon_originate("redial-7-a", 7))
                # The daemon's own session (read=call,agent) must see the outcome.
                resp = await daemon.wait_for(where(Event="OriginateResponse", Uniqueid="redial-7-a"), 10, dstart)
                assert resp["Response"] == "Success" and resp["Reason"] == "4", dict(resp)
                agent_up = await obs.wait_for(
                    where(Event="DialEnd", DestUniqueid="redial-7-a", DialStatus="ANSWER"), 10, start
                )
                dial = await obs.wait_for(where(Event="DialBegin", Uniqueid="redial-7-a"), 10, start)
                # Agent first: the customer leg is dialled only after the agent answered.
                assert obs.events.index(agent_up) < obs.events.index(dial)
                cust_uid = dial["DestUniqueid"]
                assert dial["DestChannel"].startswith("PJSIP/trunk-")
                assert dial["DestLinkedid"] == "redial-7-a"
                end = await obs.wait_for(
                    where(Event="DialEnd", Uniqueid="redial-7-a", DestUniqueid=cust_uid), 10, start
                )
                assert end["DialStatus"] == "ANSWER"
                enters = [
                    await obs.wait_for(where(Event="BridgeEnter", Uniqueid=u), 5, start)
                    for u in ("redial-7-a", cust_uid)
                ]
                assert enters[0]["BridgeUniqueid"] == enters[1]["BridgeUniqueid"]
                await daemon.wait_for(where(Event="BridgeEnter", Uniqueid=cust_uid), 5, dstart)
                # The agent hangs up after 2 s of talk: both legs end normally.
                for uid in ("redial-7-a", cust_uid):
                    hangup = await obs.wait_for(where(Event="Hangup", Uniqueid=uid), 10, start)
                    assert hangup["Cause"] == "16", dict(hangup)
                assert obs.find(
                    where(Event="VarSet", Uniqueid="redial-7-a", Variable="REDIAL_SAFE_NUMBER", Value=CUSTOMER), start
                )

        run(scenario())
        assert len(agent.invites) == 1 and len(cust.invites) == 1
        agent_inv, cust_inv = agent.invites[0], cust.invites[0]
        assert agent_inv.from_user == CUSTOMER, agent_inv
        # The customer rings only once the agent answered (after its 0.5 s ring); phone log
        # times are read times (+- 20 ms), so the strict order is checked on AMI above.
        assert cust_inv.received - agent_inv.received >= 0.4, (agent.events, cust.events)
        assert cust_inv.request_uri.startswith(f"sip:{CUSTOMER}@"), cust_inv
        # Checked last so that everything else above is known to work when this fails.
        assert cust_inv.from_user == DID, f"the customer's phone saw From {cust_inv.from_header!r}, not the DID {DID}"

    @pytest.mark.parametrize(
        ("number", "trunk"),
        [
            ("123&PJSIP/999@trunk", "trunk"),
            (CUSTOMER, "trunk&PJSIP/x"),
        ],
        ids=["number-injection", "trunk-injection"],
    )
    def test_injection_is_refused(self, sandbox: Sandbox, sipps: Sipps, number: str, trunk: str) -> None:
        """A number or trunk carrying a second dial string never creates a customer-side channel."""
        # If the refusal fails, the agent ends the call after 1 s of talk.
        sipps.add(AgentPhone("agent1", ring_delay=0.2, hangup_after=1.0, max_time=60))
        cust = sipps.add(CustomerPhone(ring_delay=0.2, max_time=60))
        channel_id = f"redial-inject-{int(time.monotonic() * 1000)}-a"

        def refused_or_leaked(m: AmiMessage) -> bool:
            if m.get("Uniqueid") == channel_id:
                return m.get("Event") == "Hangup"
            return m.get("Event") == "Newchannel" and m.get("Linkedid") == channel_id

        async def scenario() -> tuple[AmiMessage, list[AmiMessage]]:
            async with observer(sandbox) as obs, daemon_session(sandbox) as daemon:
                await wait_idle(obs)
                start = obs.mark()
                await daemon.action(daemon_originate(channel_id, 8, number=number, trunk=trunk))
                first = await obs.wait_for(refused_or_leaked, 10, start)
                await obs.wait_for(where(Event="Hangup", Uniqueid=channel_id), 10, start)
                await asyncio.sleep(0.3)  # anything the refusal would have let through
                leaked = obs.find(lambda m: m.get("Event") == "Newchannel" and m.get("Uniqueid") != channel_id, start)
                return first, leaked

        first, leaked = run(scenario())
        assert not leaked and not cust.invites, (
            f"REDIAL_NUMBER={number!r} REDIAL_TRUNK={trunk!r} was not refused: channels "
            f"{[m['Channel'] for m in leaked]} created, the customer phone got "
            f"{[i.request_uri for i in cust.invites]}"
        )
        assert first["Event"] == "Hangup" and first["Cause"] == "21", dict(first)


class TestDaemonAmiUser:
    """The shipped [redial] manager user can do what the daemon needs, and no more."""

    def test_permissions(self, sandbox: Sandbox) -> None:
        """Status, CoreShowChannels, QueueStatus, QueuePause, QueueLog work; Command is refused."""

        async def scenario() -> None:
            async with daemon_session(sandbox) as daemon:
                await daemon.action({"Action": "Status"})
                await daemon.action_list({"Action": "CoreShowChannels"})
                items = await daemon.action_list({"Action": "QueueStatus", "Queue": "support"})
                members = [m for m in items if m.get("Event") == "QueueMember"]
                assert [(m["Location"], m["Name"]) for m in members] == [("PJSIP/agent1", "Alice")]
                for paused in ("true", "false"):
                    await daemon.action(
                        {
                            "Action": "QueuePause",
                            "Interface": "PJSIP/agent2",
                            "Queue": "sales",
                            "Paused": paused,
                            "Reason": "redial-sandbox-test",
                        }
                    )
                await daemon.action(
                    {"Action": "QueueLog", "Queue": "support", "Event": "REDIALTEST", "Message": "sandbox"}
                )
                denied = await daemon.action({"Action": "Command", "Command": "core show uptime"}, check=False)
                assert denied.get("Response") == "Error", dict(denied)

        run(scenario())
        assert "|NONE|support||REDIALTEST|sandbox" in sandbox.queue_log_path.read_text()


class TestPhones:
    """SIPp phone modes the later tests rely on."""

    def test_busy_and_no_answer(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """Busy: OriginateResponse Reason 0 (not 5), Hangup 17; no answer: Reason 3, Hangup 19."""
        busy = sipps.add(AgentPhone("agent2", mode="busy", ring_delay=0.1, max_time=60))
        silent = sipps.add(AgentPhone("agent3", mode="noanswer", max_time=60))

        async def scenario() -> dict[str, tuple[str, str, str]]:
            async with observer(sandbox) as obs:
                outcome: dict[str, tuple[str, str, str]] = {}
                for agent in ("agent2", "agent3"):
                    start = obs.mark()
                    reply = await obs.action(
                        {
                            "Action": "Originate",
                            "Channel": f"PJSIP/{agent}",
                            "Application": "Wait",
                            "Data": "1",
                            "Async": "true",
                            "Timeout": "1500",
                        }
                    )
                    resp = await obs.wait_for(where(Event="OriginateResponse", ActionID=reply["ActionID"]), 10, start)
                    hangup = await obs.wait_for(where(Event="Hangup", Channel=startswith(f"PJSIP/{agent}-")), 5, start)
                    outcome[agent] = (resp["Response"], resp["Reason"], hangup["Cause"])
                return outcome

        # Asterisk 22's dial API reports a 486 as Reason 0 (failure), not 5 (busy): only the
        # Hangup cause (17) and DialEnd (BUSY) tell busy apart.
        assert run(scenario()) == {"agent2": ("Failure", "0", "17"), "agent3": ("Failure", "3", "19")}
        assert busy.events_of("BUSY") and silent.invites
        run(silent.wait_for_event("CANCELLED", timeout=5))
        assert silent.invites[0].from_user  # the INVITE was recorded with its From


class TestDtmf:
    """Keys pressed by SIPp customers and phones reach the PBX as RFC 2833 DTMF."""

    def test_customer_call_presses_keys(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """dtmf=[(1.0, "12#")] to DID 398: DTMFEnd 1, 2, # on its channel; Read() stops at # with 12."""

        async def scenario() -> tuple[AmiMessage, AmiMessage, list[AmiMessage], CustomerCall]:
            async with observer(sandbox) as obs:
                await wait_idle(obs)
                start = obs.mark()
                call = sipps.add(customer_call(CUSTOMER, "wait_for_bye", did="398", dtmf=[(1.0, "12#")], max_time=25))
                up = await obs.wait_for(
                    where(Event="Newstate", Channel=startswith("PJSIP/trunk-"), ChannelStateDesc="Up"), 10, start
                )
                uid = up["Uniqueid"]
                read = await obs.wait_for(where(Event="UserEvent", UserEvent="SandboxDtmf", Uniqueid=uid), 15, start)
                await obs.wait_for(where(Event="Hangup", Uniqueid=uid), 5, start)
                ends = obs.find(where(Event="DTMFEnd", Uniqueid=uid), start)
                assert await call.async_wait(10) == 0, call.diagnostics()
                return up, read, ends, call

        up, read, ends, call = run(scenario())
        assert [(m["Digit"], m["Direction"]) for m in ends] == [("1", "Received"), ("2", "Received"), ("#", "Received")]
        assert all(int(m["DurationMs"]) >= 150 for m in ends), [dict(m) for m in ends]
        # The first key 1 s after the answer (plus SIPp's 0.4 s lead-in), not at once.
        assert 1.0 <= ends[0].received - up.received <= 4.0, ends[0].received - up.received
        assert read["Digits"] == "12", dict(read)
        assert [e.fields for e in call.events_of("DTMF_SENT")] == [("12#",)]
        assert call.events_of("BYE_RECEIVED") and not call.gave_up

    def test_customer_phone_presses_after_answer(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """CustomerPhone(press="1") reached by an Originate: one DTMFEnd 1 on its channel, 1 s after the answer."""
        phone = sipps.add(CustomerPhone(ring_delay=0.2, press="1", press_after=1.0, hangup_after=5.0, max_time=60))

        async def scenario() -> tuple[AmiMessage, list[AmiMessage]]:
            async with observer(sandbox) as obs:
                await wait_idle(obs)
                start = obs.mark()
                reply = await obs.action(
                    {
                        "Action": "Originate",
                        "Channel": f"PJSIP/{CUSTOMER}@trunk",
                        "Context": "from-trunk",
                        "Exten": "398",
                        "Priority": "1",
                        "Async": "true",
                        "Timeout": "10000",
                    }
                )
                resp = await obs.wait_for(where(Event="OriginateResponse", ActionID=reply["ActionID"]), 10, start)
                assert resp["Response"] == "Success", dict(resp)
                uid = resp["Uniqueid"]
                up = await obs.wait_for(where(Event="Newstate", Uniqueid=uid, ChannelStateDesc="Up"), 5, start)
                await obs.wait_for(where(Event="DTMFEnd", Uniqueid=uid), 10, start)
                await obs.wait_for(where(Event="Hangup", Uniqueid=uid), 10, start)  # the phone hangs up at 5 s
                return up, obs.find(where(Event="DTMFEnd", Uniqueid=uid), start)

        up, ends = run(scenario())
        assert [(m["Digit"], m["Direction"]) for m in ends] == [("1", "Received")], [dict(m) for m in ends]
        assert int(ends[0]["DurationMs"]) >= 150, dict(ends[0])
        assert 1.0 <= ends[0].received - up.received <= 3.5, ends[0].received - up.received
        assert [e.fields for e in phone.events_of("DTMF_SENT")] == [("1",)]
        assert phone.events_of("HANGUP_SENT")

    def test_bad_keys_are_refused(self) -> None:
        """Digits outside 0-9 * #, a negative delay, or a press by a phone that never answers raise ValueError."""
        with pytest.raises(ValueError, match="digits"):
            customer_call(CUSTOMER, dtmf=[(1.0, "1A")])
        with pytest.raises(ValueError, match="negative"):
            customer_call(CUSTOMER, dtmf=[(-1.0, "1")])
        with pytest.raises(ValueError, match="never answers"):
            CustomerPhone(mode="busy", press="1")
        with pytest.raises(ValueError, match="no time"):
            CustomerPhone(press="1", press_after=2.0, hangup_after=2.0)


class TestCallbackQueue:
    """DID 307 queues in cbq, whose key press exits into redial-queue-callback."""

    def test_key_press_leaves_cbq_for_the_callback_context(self, sandbox: Sandbox, sipps: Sipps) -> None:
        """A caller waiting in cbq presses 8: QueueCallerLeave, then extension 8 of redial-queue-callback runs."""
        # Nobody answers in cbq meanwhile: agent1's phone is busy.
        sipps.add(AgentPhone("agent1", mode="busy", ring_delay=0.1, max_time=60))
        exit_ext = {"Context": "redial-queue-callback", "Extension": "8"}

        async def scenario() -> None:
            async with observer(sandbox) as obs:
                await wait_idle(obs)
                # A throwaway extension in the offer's context (the shipped one is written elsewhere).
                await obs.action(
                    {
                        "Action": "DialplanExtensionAdd",
                        **exit_ext,
                        "Priority": "1",
                        "Application": "UserEvent",
                        "ApplicationData": "SandboxQueueExit,Digit: ${EXTEN}",
                    }
                )
                try:
                    start = obs.mark()
                    call = sipps.add(customer_call(CUSTOMER, "hangup", did="307", dtmf=[(1.5, "8")], talk_time=1))
                    join = await obs.wait_for(where(Event="QueueCallerJoin", CallerIDNum=CUSTOMER), 10, start)
                    assert join["Queue"] == "cbq", dict(join)
                    uid = join["Uniqueid"]
                    exited = await obs.wait_for(
                        where(Event="UserEvent", UserEvent="SandboxQueueExit", Uniqueid=uid), 10, start
                    )
                    assert exited["Digit"] == "8" and exited["Context"] == "redial-queue-callback", dict(exited)
                    leave = await obs.wait_for(where(Event="QueueCallerLeave", Uniqueid=uid), 1, start)
                    assert leave["Queue"] == "cbq" and obs.events.index(leave) < obs.events.index(exited)
                    assert not obs.find(where(Event="AgentConnect", Uniqueid=uid), start)
                    await call.async_wait(15)
                finally:
                    await obs.action({"Action": "DialplanExtensionRemove", **exit_ext}, check=False)

        run(scenario())


class TestObserver:
    """The AMI observer's own behaviour."""

    def test_wait_for_timeout_lists_recent_events(self, sandbox: Sandbox) -> None:
        """A wait_for that times out raises AssertionError naming the awaited and recent events."""

        async def scenario() -> str:
            async with observer(sandbox) as obs:
                with pytest.raises(AssertionError) as info:
                    await obs.wait_for(where(Event="NoSuchEvent"), 0.3, what="NoSuchEvent")
                return str(info.value)

        message = run(scenario())
        assert "NoSuchEvent" in message and "FullyBooted" in message


class TestSandboxLifecycle:
    """start/stop/restart of a second sandbox on its own ports, beside the session one."""

    def test_restart_and_double_stop(self, sandbox: Sandbox) -> None:
        """A second sandbox starts, restarts with the same secrets, stops twice, leaves nothing."""
        other = Sandbox(
            ami_port=15138,
            sip_port=15160,
            rtp_ports=(21000, 21099),
            agent_ports={"agent1": 15161},
            customer_phone_port=15169,
        )
        with other:
            assert sandbox.running and other.running
            secret, first_pid = other.ami_secret, other.pid
            other.restart()
            assert other.ami_secret == secret and other.pid != first_pid
            assert "15160" in other.cli("pjsip show transports")

            async def login() -> None:
                async with daemon_session(other) as daemon:
                    await daemon.action({"Action": "Ping"})

            run(login())
            pid = other.pid
        other.stop()  # a second stop is harmless
        assert not other.running and pid is not None and not Path(f"/proc/{pid}").exists()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", 15138)) != 0  # AMI gone

    def test_failed_start_cleans_up(self, sandbox: Sandbox, tmp_path: Path) -> None:
        """A start that fails half-way (manager conf without a secret) raises and leaves nothing."""
        broken = tmp_path / "manager_redial.conf"
        broken.write_text("[redial]\nread = call\n")
        other = Sandbox(ami_port=15138, sip_port=15160, manager_conf=broken)
        with pytest.raises(SandboxError, match="secret"):
            other.start()
        assert not other.running
        with pytest.raises(SandboxError, match="already listens"):
            Sandbox(ami_port=sandbox.ami_port).start()

    def test_orphaned_test_daemon_is_stopped(self, tmp_path: Path) -> None:
        """A test daemon a killed session left behind is killed; one a live pytest runs is kept."""

        def argv(name: str) -> list[str]:
            # Each its own store: a second daemon on the same store would refuse to run.
            (tmp_path / name).mkdir()
            config = tmp_path / name / "redial.yaml"
            config.write_text(
                f"ami: {{port: {free_port()}}}\nstore: {{path: {tmp_path / name / 'r.db'}}}\n"
                f"status: {{port: {free_port()}}}\nfastagi: {{port: {free_port()}}}\n"
                f"control: {{socket: {tmp_path / name / 'control.sock'}}}\n"
            )
            return [sys.executable, "-m", "redial.tools.cli", "run", "--config", str(config)]

        env = {**os.environ, "REDIAL_AMI_SECRET": "orphan-test-secret-0123456789"}
        ours = subprocess.Popen(argv("ours"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The orphan: started by a shell that exits at once, so init adopts it.
        launcher = " ".join(shlex.quote(a) for a in argv("orphan"))
        subprocess.run(["sh", "-c", f"{launcher} >/dev/null 2>&1 & echo $! > {tmp_path / 'pid'}"], env=env, check=True)
        orphan = int((tmp_path / "pid").read_text())
        try:
            time.sleep(0.5)
            state = Path(f"/proc/{orphan}/stat").read_text().rsplit(")", 1)[1].split()[0]
            assert ours.poll() is None and state != "Z", "a daemon exited before the check"
            assert stop_orphans() == [orphan]
            deadline = time.monotonic() + 5
            while Path(f"/proc/{orphan}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not Path(f"/proc/{orphan}").exists() and ours.poll() is None
        finally:
            ours.kill()
            ours.wait(5)
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)

    def test_ensure_root(self, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """ensure_root returns the cached root; without debootstrap it names what is missing."""
        assert ensure_root(sandbox.root.parent) == sandbox.root
        monkeypatch.setattr(shutil, "which", lambda name: None)
        with pytest.raises(SandboxError, match="debootstrap"):
            ensure_root(tmp_path)
        assert not (tmp_path / "asterisk-root").exists()


class TestLogTail:
    """The SIPp log is read by a thread and by tests at once: every line counted once."""

    def test_concurrent_polls_count_each_line_once(self, tmp_path: Path) -> None:
        """Several pollers racing over one growing file see each event exactly once."""
        import threading

        from sandbox.sipp import _LogTail

        log = tmp_path / "events.log"
        log.write_text("")
        tail = _LogTail(log, alive=lambda: True)
        lines = [f"INVITE|call-{n}|INVITE sip:555{n:04d}@x" for n in range(3000)]

        def writer() -> None:
            with open(log, "a", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line + "\n")
                    fh.flush()

        def poller() -> None:
            for _ in range(300):
                tail.poll()

        threads = [threading.Thread(target=writer), *(threading.Thread(target=poller) for _ in range(4))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tail.poll()
        assert [e.call_id for e in tail.snapshot()] == [f"call-{n}" for n in range(3000)]
