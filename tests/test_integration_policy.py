"""The agent and number policy on a real Asterisk 22 with SIPp phones, checked on the PBX.

Each test runs the real ``redial run`` against the sandbox on the shared rig (tests/rig.py)
and judges by what the PBX did (the observer's AMI events, the INVITEs the SIPp phones
received), never by the daemon's own word. Queue membership, pauses and ringinuse are set
up with AMI actions (the observer has write=all) and put back in every teardown, so the
next test sees the default sandbox: support = agent1 (Alice), sales = agent2 (Bob), nobody
paused.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest

from sandbox.observer import AmiMessage, where
from tests.rig import (
    AGENT1,
    AGENT2,
    AGENT3,
    CUSTOMER,
    SALES,
    SUPPORT,
    WINDOW,
    Rig,
    member_paused,
    original_linkedid,
    redial_leg,
    ruri_user,
    trunk_channel,
)

pytestmark = pytest.mark.integration


class TestBusyAgent:
    """A redial due while its agent is on another call waits for them, reserves them, then rings them."""

    async def test_waits_for_agent_on_another_call(self, rig: Rig) -> None:
        obs = rig.observer
        agent1 = rig.agent("agent1")
        rig.customer(hangup_after=3)
        await rig.start_daemon(agent={"busy_wait": 60})
        start = obs.mark()
        rig.call(CUSTOMER, "rtp_drop")
        _, drop = await rig.answered_and_dropped(AGENT1, start)

        # Customer B calls right after the drop and talks 8 s with agent1: A's window ends meanwhile.
        other = "5559876"
        rig.call(other, "hangup", talk_time=8)
        b_start = rig.index(drop)
        await obs.wait_for(
            where(Event="AgentConnect", CallerIDNum=other, Interface=AGENT1),
            timeout=10,
            start=b_start,
            what="agent1 answering customer B",
        )
        b_end = await obs.wait_for(
            where(Event="Hangup", CallerIDNum=other, Channel=trunk_channel, Cause="16"),
            timeout=20,
            start=b_start,
            what="customer B hanging up",
        )
        assert b_end.received - drop.received > WINDOW + 2, "B's call did not outlast A's callback window"
        b_end_at = rig.index(b_end)
        early = [m for m in rig.redials(start) if rig.index(m) < b_end_at]
        assert early == [], f"redial rang agent1 while on B's call: {early}\n{rig.log()}"

        leg = await obs.wait_for(redial_leg, timeout=15, start=b_end_at, what="the redial's agent leg")
        pause = rig.reservation(AGENT1, leg, start, {SUPPORT})
        customer_leg = await rig.assert_connected_redial(leg, agent1, CUSTOMER)
        # Reserved while it rang: no unpause between the pause and the agent's answer.
        between = obs.find(member_paused(AGENT1, False), rig.index(pause))
        assert all(rig.index(m) > rig.index(customer_leg) for m in between), "agent1 unpaused while ringing"
        assert len(agent1.invites) == 3  # A's call, B's call, the redial

        # Released afterwards: a later member event shows agent1 unpaused, and it stays so.
        unpaused = await obs.wait_for(
            member_paused(AGENT1, False), timeout=15, start=rig.index(pause) + 1, what="agent1 unpaused"
        )
        assert rig.index(unpaused) > rig.index(leg)
        await obs.wait_for(
            where(Event="Hangup", Uniqueid=leg["Uniqueid"]), timeout=15, what="the redial's agent leg ending"
        )
        await asyncio.sleep(1)
        await rig.assert_released(AGENT1, {SUPPORT}, timeout=0)
        assert [m["Uniqueid"] for m in rig.redials(start)] == [leg["Uniqueid"]]


class TestPausedAgent:
    """An agent paused for another reason is left alone: a free member of the same queue gets the redial."""

    async def test_paused_agent_falls_back_to_free_member(self, rig: Rig) -> None:
        obs = rig.observer
        agent1 = rig.agent("agent1")
        agent2 = rig.agent("agent2")
        rig.customer(hangup_after=3)
        await rig.start_daemon()
        start = obs.mark()
        rig.call(CUSTOMER, "rtp_drop")
        await rig.answered_and_dropped(AGENT1, start)
        # Right after the drop: agent1 goes to lunch, Bob joins support.
        await rig.pause(AGENT1, "lunch")
        await rig.queue_add(SUPPORT, AGENT2)

        leg = await obs.wait_for(redial_leg, timeout=WINDOW + 15, start=start, what="the redial's agent leg")
        assert leg["Channel"].startswith("PJSIP/agent2-"), f"redial rang {leg['Channel']}\n{rig.log()}"
        # Bob is reserved in all his queues (support and his own sales) before his phone rings.
        pause = rig.reservation(AGENT2, leg, start, {SUPPORT, SALES})
        customer_leg = await rig.assert_connected_redial(leg, agent2, CUSTOMER)
        between = obs.find(member_paused(AGENT2, False), rig.index(pause))
        assert all(rig.index(m) > rig.index(customer_leg) for m in between), "agent2 unpaused while ringing"
        assert len(agent2.invites) == 1
        assert len(agent1.invites) == 1, "agent1's phone rang for the redial"  # only the original call
        await rig.assert_released(AGENT2, {SUPPORT, SALES})

        await asyncio.sleep(2)
        assert [m["Uniqueid"] for m in rig.redials(start)] == [leg["Uniqueid"]]
        # The daemon never touches a pause it did not make.
        support = await rig.members(SUPPORT)
        assert (support[AGENT1]["Paused"], support[AGENT1]["PausedReason"]) == ("1", "lunch")
        assert not obs.find(member_paused(AGENT1, True, "redial"), start)


class TestLoggedOffAgent:
    """An agent who left the queue after the drop: a free member of the same queue gets the redial."""

    async def test_logged_off_agent_falls_back_to_free_member(self, rig: Rig) -> None:
        # Static members (agent1 from queues.conf) cannot be removed ("Member not dynamic"), so the
        # dropped call goes to Carol (agent3), added dynamically, while Alice is on a break.
        obs = rig.observer
        agent1 = rig.agent("agent1")
        agent2 = rig.agent("agent2")
        agent3 = rig.agent("agent3")
        rig.customer(hangup_after=3)
        await rig.start_daemon()
        await rig.pause(AGENT1, "break")
        await rig.queue_add(SUPPORT, AGENT3)
        start = obs.mark()
        rig.call(CUSTOMER, "rtp_drop")
        await rig.answered_and_dropped(AGENT3, start)
        # Right after the drop: Carol logs off, Bob logs in.
        await rig.queue_remove(SUPPORT, AGENT3)
        await rig.queue_add(SUPPORT, AGENT2)

        leg = await obs.wait_for(redial_leg, timeout=WINDOW + 15, start=start, what="the redial's agent leg")
        assert leg["Channel"].startswith("PJSIP/agent2-"), f"redial rang {leg['Channel']}\n{rig.log()}"
        rig.reservation(AGENT2, leg, start, {SUPPORT, SALES})
        await rig.assert_connected_redial(leg, agent2, CUSTOMER)
        await rig.assert_released(AGENT2, {SUPPORT, SALES})
        assert len(agent3.invites) == 1, "the logged-off agent's phone rang for the redial"
        assert agent1.invites == []
        await asyncio.sleep(2)
        assert [m["Uniqueid"] for m in rig.redials(start)] == [leg["Uniqueid"]]


class TestCallbackFallback:
    """With fallback ``callback`` an unavailable agent means no redial at all, only a recorded callback."""

    async def test_paused_agent_with_callback_fallback(self, rig: Rig) -> None:
        obs = rig.observer
        agent1 = rig.agent("agent1")
        rig.customer()
        await rig.start_daemon(agent={"fallback": "callback"})
        start = obs.mark()
        rig.call(CUSTOMER, "rtp_drop")
        connect, _ = await rig.answered_and_dropped(AGENT1, start)
        await rig.pause(AGENT1, "lunch")

        await asyncio.sleep(WINDOW + 4)
        assert rig.redials(start) == [], f"unexpected redial: {rig.redials(start)}\n{rig.log()}"
        assert len(agent1.invites) == 1
        assert rig.customer_phone is not None and rig.customer_phone.invites == []
        assert not obs.find(member_paused(AGENT1, True, "redial"), start), "agent1 was reserved for nothing"
        support = await rig.members(SUPPORT)
        assert (support[AGENT1]["Paused"], support[AGENT1]["PausedReason"]) == ("1", "lunch")

        # The store says why: recorded for a person to call back.
        rows = await rig.history()
        row = next(r for r in rows if r["linkedid"] == connect["Linkedid"])
        assert (row["verdict"], row["outcome"]) == ("redial", "callback_requested"), row


class TestOutageGuard:
    """Many drops on one trunk at once: every one is redialled once, spread out to the guard's rate."""

    NUMBERS = [f"55510{n:02d}" for n in range(1, 11)]

    async def test_redials_are_spread_out(self, rig: Rig) -> None:
        obs = rig.observer
        agent1 = rig.agent("agent1", ring_delay=0.1)
        phone = rig.customer(hangup_after=1)
        await rig.start_daemon(outage_guard={"drops": 5, "within": 60, "rate": 20})
        # Ringall serves one caller at a time (the others recheck once a second), and the queue
        # has ringinuse=no: with ringinuse on for agent1 and the calls 0.3 s apart, each caller
        # finds the one before already connected and agent1's phone takes all ten at once.
        await rig.ring_in_use(AGENT1, True)
        start = obs.mark()
        began = time.monotonic()
        for number in self.NUMBERS:
            rig.call(number, "rtp_drop")
            await asyncio.sleep(0.3)
        originals: dict[str, str] = {}  # original Linkedid -> customer number
        for number in self.NUMBERS:
            connect = await obs.wait_for(
                where(Event="AgentConnect", CallerIDNum=number), timeout=10, start=start, what=f"{number} answered"
            )
            assert connect["Interface"] == AGENT1
            originals[connect["Linkedid"]] = number
        assert time.monotonic() - began < 8, "connecting the ten calls took too long"
        drops = [
            await obs.wait_for(
                where(Event="Hangup", Linkedid=linkedid, Channel=trunk_channel, Cause="44"),
                timeout=15,
                start=start,
                what=f"{number} dropped by RTP timeout",
            )
            for linkedid, number in originals.items()
        ]
        times = sorted(d.received for d in drops)
        # The guard trips at the sixth drop: before the first redial is due, or the test proves nothing.
        assert times[5] - times[0] < WINDOW, f"drops too far apart to trip the guard in time: {times}"

        legs: list[AmiMessage] = []
        for count in range(len(self.NUMBERS)):
            after = rig.index(legs[-1]) + 1 if legs else start
            legs.append(
                await obs.wait_for(redial_leg, timeout=15, start=after, what=f"redial agent leg {count + 1} of 10")
            )
        # Every dropped call redialled exactly once, each to the customer of that call.
        per_call = Counter(original_linkedid(leg["Uniqueid"]) for leg in legs)
        assert set(per_call) == set(originals), f"{per_call} vs {originals}"
        assert set(per_call.values()) == {1}, per_call
        # At most 20 a minute: consecutive originates at least ~3 s apart.
        gaps = [b.received - a.received for a, b in itertools.pairwise(legs)]
        assert min(gaps) >= 2.5, f"redials {gaps} s apart\n{rig.log()}"
        # The last one reaches the customer; and nothing more is originated.
        await phone.wait_for_invite(len(self.NUMBERS), timeout=15)
        await asyncio.sleep(2)
        assert len(rig.redials(start)) == len(self.NUMBERS)
        redialled = Counter(inv.from_user for inv in agent1.invites[len(self.NUMBERS) :])
        assert redialled == Counter(self.NUMBERS), redialled
        dialled = Counter(ruri_user(inv) for inv in phone.invites)
        assert dialled == Counter(self.NUMBERS), dialled


class TestNumbersNotRedialled:
    """A withheld caller and a premium-rate caller are never redialled, even after an abnormal drop."""

    async def test_withheld_and_premium_rate(self, rig: Rig) -> None:
        obs = rig.observer
        agent1 = rig.agent("agent1")
        rig.customer()
        daemon = await rig.start_daemon()
        start = obs.mark()
        rig.call("anonymous", "rtp_drop", caller_name="Anonymous")
        withheld, _ = await rig.answered_and_dropped(AGENT1, start)
        assert withheld["CallerIDNum"] in ("anonymous", "<unknown>", ""), withheld["CallerIDNum"]
        mark = obs.mark()
        rig.call("+19005550123", "rtp_drop")
        premium, _ = await rig.answered_and_dropped(AGENT1, mark)
        assert premium["CallerIDNum"] == "+19005550123"

        await asyncio.sleep(WINDOW + 4)
        assert rig.redials(start) == [], f"unexpected redial: {rig.redials(start)}\n{rig.log()}"
        assert len(agent1.invites) == 2  # the two queue calls only
        assert rig.customer_phone is not None and rig.customer_phone.invites == []
        # And for the right reasons (not, say, a call the daemon failed to see as a drop).
        reasons = {d["linkedid"]: (d["classification"], d["reason"]) for d in daemon.lines("decision")}
        assert reasons.get(withheld["Linkedid"]) == ("abnormal", "number_withheld"), reasons
        assert reasons.get(premium["Linkedid"]) == ("abnormal", "number_type_not_allowed"), reasons

    async def test_emergency_caller_id(self, rig: Rig) -> None:
        """A caller ID of 112 (home region DE, unverified numbers allowed) that drops: no redial, no channel to 112."""
        obs = rig.observer
        agent1 = rig.agent("agent1")
        rig.customer()
        daemon = await rig.start_daemon(numbers={"home_region": "DE", "unverified_numbers": "allow"})
        start = obs.mark()
        rig.call("112", "rtp_drop")
        connect, drop = await rig.answered_and_dropped(AGENT1, start)
        assert connect["CallerIDNum"] == "112"
        after_drop = rig.index(drop)

        await asyncio.sleep(WINDOW + 4)
        # The PBX's own word: no redial leg, no channel at all once the call dropped, nothing dialled to 112.
        assert rig.redials(start) == [], f"unexpected redial: {rig.redials(start)}\n{rig.log()}"
        assert obs.find(where(Event="Newchannel"), after_drop) == [], rig.log()
        dialled = [m.get("DialString", "") for m in obs.find(where(Event="DialBegin"), start)]
        assert not [d for d in dialled if "112" in d], dialled
        assert len(agent1.invites) == 1  # the queue call only
        assert rig.customer_phone is not None and rig.customer_phone.invites == []
        reasons = {d["linkedid"]: (d["classification"], d["reason"]) for d in daemon.lines("decision")}
        assert reasons.get(connect["Linkedid"]) == ("abnormal", "emergency_number"), reasons
