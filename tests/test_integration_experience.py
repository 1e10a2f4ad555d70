"""Issue 4 on the real PBX: what agent and customer see and hear, returning callers, metrics.

Checked on the PBX: the observer's AMI events, the phones' INVITEs, Asterisk's
queue_log file and QueueStatus; never the daemon's own word.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sandbox import AmiObserver, Sandbox, customer_call
from sandbox.observer import AmiMessage, where
from tests.rig import CUSTOMER, DID, Rig, open_rig, redial_leg, trunk_channel

pytestmark = pytest.mark.integration

WINDOW = 3.0


@pytest.fixture
async def rig(rig: Rig) -> Rig:
    """The shared rig (conftest.py) with agent1's phone, the customer's (talks 6 s) and the daemon (window WINDOW)."""
    rig.agent1_and_customer(talk=6)
    await rig.start_daemon(WINDOW)
    return rig


async def calls_taken(observer: AmiObserver, interface: str = "PJSIP/agent1") -> int:
    events = await observer.action_list({"Action": "QueueStatus", "Queue": "support"})
    (member,) = [e for e in events if e.get("Event") == "QueueMember" and e.get("Location") == interface]
    return int(member["CallsTaken"])


def playback(channel_uid: str, data: str) -> object:
    return where(Event="Newexten", Uniqueid=channel_uid, Application="Playback", AppData=data)


class TestAgentAndCustomer:
    """The agent knows who is calling; the customer recognises the call."""

    async def test_caller_ids_prompt_and_greeting(self, rig: Rig) -> None:
        obs = rig.observer
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
            leg = await obs.wait_for(redial_leg, timeout=WINDOW + 15, what="the redial's agent leg")
            cid = leg["Uniqueid"]
            prompt = await obs.wait_for(playback(cid, "pls-hold-while-try"), timeout=15, what="agent prompt")
            dial = await obs.wait_for(
                where(Event="Newexten", Uniqueid=cid, Application="Dial"), timeout=15, what="dialling the customer"
            )
            customer_leg = await obs.wait_for(
                where(Event="Newchannel", Linkedid=cid, Channel=trunk_channel), timeout=15
            )
            greeting = await obs.wait_for(
                playback(customer_leg["Uniqueid"], "hello&one-moment-please"), timeout=20, what="customer greeting"
            )
            bridged = await obs.wait_for(
                where(Event="BridgeEnter", Uniqueid=customer_leg["Uniqueid"]), timeout=20, what="customer bridged"
            )
        finally:
            call.stop()
        # The prompt ("Please hold while we try to connect you.", about 2 s) plays before the customer is dialled.
        assert dial.received - prompt.received > 1.5
        # The greeting plays on the customer's channel before the bridge.
        assert bridged.received - greeting.received > 1.0
        agent_invite = rig.phones["agent1"].invites[-1]
        assert agent_invite.from_user == CUSTOMER and agent_invite.from_name == f"REDIAL {CUSTOMER}"
        assert rig.customer_phone is not None
        assert rig.customer_phone.invites[0].from_user == DID
        assert rig.customer_phone.invites[0].received > agent_invite.received + 1.5


class TestMetrics:
    """The redial is auditable in queue_log and does not count as a queue call."""

    async def test_queue_log_and_calls_taken(self, rig: Rig) -> None:
        obs = rig.observer
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            hangup: AmiMessage = await rig.drop_seen("44")
            original = hangup["Uniqueid"]
            await obs.wait_for(where(Event="QueueMemberStatus", Interface="PJSIP/agent1", Status="1"), timeout=10)
            before = await calls_taken(obs)
            await rig.assert_one_connected_redial()
            # The customer's phone hangs up 6 s after answering: wait for the redial to end.
            await obs.wait_for(
                where(Event="Hangup", Uniqueid=lambda u: u.startswith("redial-")), timeout=30, what="redial ended"
            )
            await asyncio.sleep(1)
            after = await calls_taken(obs)
        finally:
            call.stop()
        assert after == before, "the redial counted as a queue call"
        log = rig.sandbox.queue_log_path.read_text()
        lines = [line.split("|") for line in log.splitlines() if f"|{original}|" in line]
        verbs = [fields[4] for fields in lines]
        assert "REDIALSTART" in verbs and "REDIALEND" in verbs, log[-2000:]
        (end,) = [fields for fields in lines if fields[4] == "REDIALEND"]
        assert end[2] == "support" and end[3] == "PJSIP/agent1" and end[7] == "connected"
        pauses = [line for line in log.splitlines() if "|PJSIP/agent1|PAUSE|" in line or "|PAUSEALL|" in line]
        assert any("redial" in line for line in pauses), "no pause with the reason redial in queue_log"


async def first_call_drops(obs: AmiObserver) -> None:
    """The customer's queue call to agent1 drops by RTP timeout; agent1 is free again."""
    first = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
    try:
        await obs.wait_for(where(Event="Hangup", Channel=trunk_channel, Cause="44"), timeout=20)
    finally:
        first.stop()
    await obs.wait_for(where(Event="QueueMemberStatus", Interface="PJSIP/agent1", Status="1"), timeout=10)


class TestReturningCaller:
    """A customer who calls back inside the window reaches the same agent, and no redial follows."""

    async def test_same_agent_through_fastagi(self, sandbox: Sandbox, tmp_path: Path) -> None:
        async with open_rig(sandbox, tmp_path) as rig:
            agent, obs = rig.agent("agent1", max_time=120), rig.observer
            daemon = await rig.start_daemon(10)
            await first_call_drops(obs)
            invites_before = len(agent.invites)
            mark = obs.mark()
            again = customer_call(CUSTOMER, "hangup", did=DID, talk_time=2, max_time=25)
            try:
                new = await obs.wait_for(where(Event="Newchannel", Channel=trunk_channel), start=mark, timeout=10)
                uid = new["Uniqueid"]
                await obs.wait_for(
                    where(Event="Newexten", Uniqueid=uid, Application="AGI"), start=mark, timeout=10, what="AGI"
                )
                await obs.wait_for(
                    where(Event="Newexten", Uniqueid=uid, Application="Dial", AppData=lambda d: "PJSIP/agent1" in d),
                    start=mark,
                    timeout=10,
                    what="the returning caller dialled straight to agent1",
                )
                await obs.wait_for(where(Event="Hangup", Uniqueid=uid), start=mark, timeout=20)
                assert not obs.find(where(Event="QueueCallerJoin", Uniqueid=uid), start=mark)
                assert len(agent.invites) == invites_before + 1
                await asyncio.sleep(10)
                assert obs.find(redial_leg) == [], daemon.tail()
            finally:
                again.stop()

    async def test_second_drop_of_a_returning_caller_is_redialled(self, sandbox: Sandbox, tmp_path: Path) -> None:
        """The call routed straight to the agent (outside Queue()) drops too: that agent is redialled, once."""
        async with open_rig(sandbox, tmp_path) as rig:
            rig.agent1_and_customer(talk=6)
            obs = rig.observer
            daemon = await rig.start_daemon(6)
            start = obs.mark()
            await first_call_drops(obs)
            mark = obs.mark()
            again = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
            try:
                new = await obs.wait_for(
                    where(Event="Newchannel", Channel=trunk_channel),
                    start=mark,
                    timeout=10,
                )
                uid = new["Uniqueid"]
                await obs.wait_for(
                    where(
                        Event="DialEnd",
                        Uniqueid=uid,
                        DialStatus="ANSWER",
                        DestChannel=lambda c: c.startswith("PJSIP/agent1-"),
                    ),
                    start=mark,
                    timeout=10,
                    what="the returning caller answered by agent1 directly",
                )
                await obs.wait_for(
                    where(Event="Hangup", Uniqueid=uid, Cause="44"),
                    start=mark,
                    timeout=20,
                    what="the direct call dropped by RTP timeout",
                )
                assert not obs.find(where(Event="QueueCallerJoin", Uniqueid=uid), start=mark)
            finally:
                again.stop()
            leg = await obs.wait_for(redial_leg, start=mark, timeout=6 + 15, what="the redial's agent leg")
            assert leg["Channel"].startswith("PJSIP/agent1-"), dict(leg)
            await asyncio.sleep(3)
            # The first drop's redial was called off (the customer called back); only this one rang.
            assert len(obs.find(redial_leg, start=start)) == 1, daemon.tail()
            decisions = [(d["queue"], d["reason"]) for d in daemon.lines("decision")]
            assert decisions == [("support", "abnormal_end"), ("support", "abnormal_end")], daemon.tail()


async def _answer_agi(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, variables: dict[str, str]) -> None:
    """A FastAGI server that is not the daemon: it sets these variables, whatever the call."""
    try:
        while (await reader.readline()).strip():
            pass
        for name, value in variables.items():
            writer.write(f'SET VARIABLE {name} "{value}"\n'.encode())
            await writer.drain()
            await reader.readline()
    finally:
        writer.close()


async def _listen(handler: Any, port: int) -> asyncio.Server:
    """The dialplan's FastAGI port, waiting a little for a daemon that still holds it to end."""
    for _ in range(50):
        try:
            return await asyncio.start_server(handler, "127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
    return await asyncio.start_server(handler, "127.0.0.1", port)


class TestReturningHookTrustsNoAgi:
    """Whatever answers on the FastAGI port, [redial-returning] rings only a member of the queue."""

    @pytest.mark.parametrize(
        ("device", "queue", "rung"),
        [
            ("PJSIP/agent2", "support", False),  # a phone, but no member of support
            ("PJSIP/5550100@trunk", "support", False),  # a trunk and a number
            ("PJSIP/agent1", "nosuchqueue", False),
            ("PJSIP/agent3", "fpbx", True),  # FreePBX's Local/agent3@from-queue/n member
            ("PJSIP/agent1", "support", True),
        ],
    )
    async def test_only_a_member_of_the_queue_is_dialled(
        self, sandbox: Sandbox, tmp_path: Path, device: str, queue: str, rung: bool
    ) -> None:
        variables = {"REDIAL_AGENT": device, "REDIAL_QUEUE": queue, "REDIAL_AGENT_TIMEOUT": "2"}
        port = sandbox.fastagi_port or 4573
        server = await _listen(lambda r, w: _answer_agi(r, w, variables), port)
        try:
            async with open_rig(sandbox, tmp_path) as rig:
                obs = rig.observer
                mark = obs.mark()
                call = customer_call(CUSTOMER, "hangup", did=DID, talk_time=2, max_time=25)
                try:
                    new = await obs.wait_for(
                        where(Event="Newchannel", Channel=trunk_channel),
                        start=mark,
                        timeout=10,
                    )
                    uid = new["Uniqueid"]
                    dial = where(Event="Newexten", Uniqueid=uid, Application="Dial")
                    refused = where(
                        Event="Newexten", Uniqueid=uid, Application="NoOp", AppData=lambda d: "refusing" in d
                    )
                    first = await obs.wait_for(
                        lambda m: dial(m) or refused(m), start=mark, timeout=15, what="Dial or refusal"
                    )
                    if rung:
                        assert dial(first) and first["AppData"].startswith(f"{device},"), dict(first)
                    else:
                        assert refused(first), dict(first)
                        await obs.wait_for(where(Event="QueueCallerJoin", Uniqueid=uid), start=mark, timeout=10)
                        assert not obs.find(dial, start=mark)
                finally:
                    call.stop()
        finally:
            server.close()
            await server.wait_closed()
