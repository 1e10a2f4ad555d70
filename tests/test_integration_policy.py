"""The agent and number policy on a real Asterisk 22 with SIPp phones, checked on the PBX.

Like test_integration.py, each test runs the real ``redial run`` against the sandbox and
judges by what the PBX did (the observer's AMI events, the INVITEs the SIPp phones
received), never by the daemon's own word. Queue membership, pauses and ringinuse are set
up with AMI actions (the observer has write=all) and put back in every teardown, so the
next test sees the default sandbox: support = agent1 (Alice), sales = agent2 (Bob), nobody
paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import (
    AGENT_NAMES,
    AgentPhone,
    AmiObserver,
    CallMode,
    CustomerCall,
    CustomerPhone,
    InviteRecord,
    Sandbox,
    customer_call,
)
from sandbox.daemon import REPO, DaemonProcess, daemon_config
from sandbox.observer import AmiMessage, Predicate, where

pytestmark = pytest.mark.integration

WINDOW = 3.0  # callback window of every test here
DID = "100"
CUSTOMER = "5551234"
SUPPORT = "support"
SALES = "sales"
AGENT1, AGENT2, AGENT3 = "PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"
# The sandbox's queues as configured (static members): what every teardown restores.
DEFAULT_QUEUES = {SUPPORT: {AGENT1}, SALES: {AGENT2}}


# ---- what to look for on the PBX ------------------------------------------------------------
def redial_leg(msg: AmiMessage) -> bool:
    """The agent leg of a redial: the daemon's ChannelId makes its Uniqueid."""
    return msg.get("Event") == "Newchannel" and msg.get("Uniqueid", "").startswith("redial-")


def member_paused(interface: str, paused: bool, reason: str | None = None) -> Predicate:
    """A queue member event of ``interface`` showing it paused (with ``reason``) or not."""

    def check(msg: AmiMessage) -> bool:
        return (
            msg.get("Event") in ("QueueMemberPause", "QueueMemberStatus")
            and msg.get("Interface") == interface
            and msg.get("Paused") == ("1" if paused else "0")
            and (reason is None or msg.get("PausedReason") == reason)
        )

    check.__doc__ = f"{interface} Paused={int(paused)}" + (f" PausedReason={reason}" if reason else "")
    return check


def trunk_channel(channel: str) -> bool:
    return channel.startswith("PJSIP/trunk-")


def ruri_user(invite: InviteRecord) -> str:
    """The number a redial dialled: the user part of the INVITE's request URI."""
    return invite.request_uri.split(":", 1)[-1].split("@", 1)[0]


def original_linkedid(channel_id: str) -> str:
    """``redial-<id>-<attempt>-<original Linkedid>`` -> the original call's Linkedid."""
    prefix, _id, _attempt, linkedid = channel_id.split("-", 3)
    assert prefix == "redial", channel_id
    return linkedid


class PolicyRig:
    """One test's PBX setup: phones, customer calls, the daemon, queue changes; all undone in close()."""

    def __init__(self, sandbox: Sandbox, observer: AmiObserver, workdir: Path) -> None:
        self.sandbox = sandbox
        self.observer = observer
        self.workdir = workdir
        self.phones: dict[str, AgentPhone] = {}
        self.customer_phone: CustomerPhone | None = None
        self.calls: list[CustomerCall] = []
        self.daemon: DaemonProcess | None = None
        self.config: Path | None = None

    # ---- phones, calls, daemon ----------------------------------------------------------------
    def agent(self, name: str, ring_delay: float = 0.5) -> AgentPhone:
        phone = AgentPhone(name, ring_delay=ring_delay, max_time=150)
        self.phones[name] = phone
        phone.start()
        return phone

    def customer(self, hangup_after: float = 3.0) -> CustomerPhone:
        """The customer's phone the redials reach: answers after 0.5 s, hangs up ``hangup_after`` later."""
        self.customer_phone = CustomerPhone(ring_delay=0.5, hangup_after=hangup_after, max_time=150)
        self.customer_phone.start()
        return self.customer_phone

    def call(self, number: str, mode: CallMode = "rtp_drop", **kwargs: Any) -> CustomerCall:
        kwargs.setdefault("max_time", 40)
        kwargs.setdefault("did", DID)
        call = customer_call(number, mode, **kwargs)
        self.calls.append(call)
        return call

    async def start_daemon(
        self, outage_guard: dict[str, Any] | None = None, originate: dict[str, Any] | None = None, **policy: Any
    ) -> DaemonProcess:
        config = daemon_config(self.sandbox, self.workdir, callback_window=WINDOW, **policy)
        if outage_guard is not None or originate is not None:
            data = yaml.safe_load(config.read_text())
            if outage_guard is not None:
                data["outage_guard"] = outage_guard
            data["originate"].update(originate or {})
            config.write_text(yaml.safe_dump(data))
        self.config = config
        self.daemon = DaemonProcess(config, self.workdir / "redial.log")
        await asyncio.to_thread(self.daemon.start)
        return self.daemon

    def log(self) -> str:
        return self.daemon.tail(60) if self.daemon is not None else "(no daemon)"

    async def history(self) -> list[dict[str, Any]]:
        """``redial history --json`` on the daemon's own store: the store's word, read as an admin would."""
        assert self.config is not None
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "redial.tools.cli", "history", "--config", str(self.config), "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    # ---- queue setup over AMI -------------------------------------------------------------------
    async def queue_add(self, queue: str, interface: str) -> None:
        name = AGENT_NAMES[interface.split("/", 1)[1]]
        await self.observer.action({"Action": "QueueAdd", "Queue": queue, "Interface": interface, "MemberName": name})

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self.observer.action({"Action": "QueueRemove", "Queue": queue, "Interface": interface})

    async def pause(self, interface: str, reason: str, queue: str = SUPPORT) -> None:
        await self.observer.action(
            {"Action": "QueuePause", "Queue": queue, "Interface": interface, "Paused": "true", "Reason": reason}
        )

    async def ring_in_use(self, interface: str, on: bool, queue: str = SUPPORT) -> None:
        await self.observer.action(
            {
                "Action": "QueueMemberRingInUse",
                "Queue": queue,
                "Interface": interface,
                "RingInUse": "true" if on else "false",
            }
        )

    async def members(self, queue: str) -> dict[str, AmiMessage]:
        """QueueStatus: the members of ``queue`` by interface."""
        found = await self.observer.action_list({"Action": "QueueStatus", "Queue": queue})
        return {m["Location"]: m for m in found if m.get("Event") == "QueueMember"}

    # ---- reading the event log --------------------------------------------------------------------
    def index(self, msg: AmiMessage) -> int:
        return next(i for i, m in enumerate(self.observer.events) if m is msg)

    def redials(self, start: int = 0) -> list[AmiMessage]:
        return self.observer.find(redial_leg, start)

    def reservation(self, interface: str, leg: AmiMessage, start: int, queues: set[str]) -> AmiMessage:
        """The first pause with reason redial of ``interface`` after ``start``; it must cover all ``queues``
        before the redial's agent leg ``leg`` appeared."""
        before = [
            m
            for m in self.observer.find(member_paused(interface, True, "redial"), start)
            if self.index(m) < self.index(leg)
        ]
        paused_in = {m["Queue"] for m in before}
        assert paused_in >= queues, f"{interface} reserved in {paused_in or 'no queue'} before it rang\n{self.log()}"
        return before[0]

    async def assert_released(self, interface: str, queues: set[str], timeout: float = 15) -> None:
        """``interface`` ends up unpaused in every one of ``queues`` (the daemon's release)."""
        deadline = time.monotonic() + timeout
        while True:
            paused = {q for q in queues if (await self.members(q))[interface]["Paused"] != "0"}
            if not paused:
                return
            assert time.monotonic() < deadline, f"{interface} still paused in {paused}\n{self.log()}"
            await asyncio.sleep(0.5)

    async def answered_and_dropped(self, agent_interface: str, start: int) -> tuple[AmiMessage, AmiMessage]:
        """The queue call placed after ``start``: answered by ``agent_interface``, then dropped by RTP timeout."""
        obs = self.observer
        connect = await obs.wait_for(
            where(Event="AgentConnect"), timeout=15, start=start, what="the queue call answered"
        )
        assert connect["Interface"] == agent_interface, f"answered by {connect['Interface']}, not {agent_interface}"
        drop = await obs.wait_for(
            where(Event="Hangup", Linkedid=connect["Linkedid"], Channel=trunk_channel, Cause="44"),
            timeout=15,
            start=start,
            what="the customer's channel dropped by RTP timeout (cause 44)",
        )
        return connect, drop

    async def assert_connected_redial(
        self, leg: AmiMessage, phone: AgentPhone, customer: str, did: str = DID
    ) -> AmiMessage:
        """Agent's phone rang first, then the customer's; both legs in one bridge; not via Queue().

        Returns the customer's leg (its Newchannel: by then the agent has answered).
        """
        assert self.customer_phone is not None
        obs = self.observer
        channel_id = leg["Uniqueid"]
        assert leg["Channel"].startswith(f"PJSIP/{phone.name}-"), leg["Channel"]
        customer_leg = await obs.wait_for(
            where(Event="Newchannel", Linkedid=channel_id, Channel=trunk_channel),
            timeout=20,
            what="the redial's customer leg",
        )
        bridged_agent = await obs.wait_for(
            where(Event="BridgeEnter", Uniqueid=channel_id), timeout=20, what="agent leg bridged"
        )
        bridged_customer = await obs.wait_for(
            where(Event="BridgeEnter", Uniqueid=customer_leg["Uniqueid"]), timeout=20, what="customer leg bridged"
        )
        assert bridged_agent["BridgeUniqueid"] == bridged_customer["BridgeUniqueid"]
        # The phones' own view: the agent's phone got the customer's number, before the
        # customer's phone got the number they dialled.
        redial_invite = phone.invites[-1]
        customer_invite = self.customer_phone.invites[-1]
        assert redial_invite.from_user == customer
        assert customer_invite.from_user == did
        assert ruri_user(customer_invite) == customer
        assert redial_invite.received < customer_invite.received
        assert not obs.find(where(Event="QueueCallerJoin", Linkedid=channel_id)), "the redial went through Queue()"
        return customer_leg

    # ---- teardown -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop calls and daemon, put the PBX back to its default, stop the phones; then check the daemon."""
        for call in self.calls:
            call.stop()
        code = 0
        if self.daemon is not None:
            code = await asyncio.to_thread(self.daemon.stop)
        await asyncio.to_thread(self.sandbox.cli, "channel request hangup all")
        try:
            await self._restore_queues()
        finally:
            for phone in self.phones.values():
                phone.stop()
            if self.customer_phone is not None:
                self.customer_phone.stop()
        if self.daemon is not None:
            assert code == 0, f"redial exited {code} on SIGTERM:\n{self.daemon.tail()}"
            assert not self.daemon.lines("event_failed"), self.daemon.tail()
            assert self.sandbox.ami_secret not in self.daemon.log_path.read_text(), "the AMI secret leaked"

    async def _restore_queues(self) -> None:
        obs = self.observer
        for queue, static in DEFAULT_QUEUES.items():
            for interface, member in (await self.members(queue)).items():
                if interface not in static:
                    await obs.action({"Action": "QueueRemove", "Queue": queue, "Interface": interface}, check=False)
                else:
                    if member.get("Paused") == "1":
                        await obs.action(
                            {"Action": "QueuePause", "Queue": queue, "Interface": interface, "Paused": "false"},
                            check=False,
                        )
                    await obs.action(
                        {
                            "Action": "QueueMemberRingInUse",
                            "Queue": queue,
                            "Interface": interface,
                            "RingInUse": "false",
                        },
                        check=False,
                    )
        for queue, static in DEFAULT_QUEUES.items():
            members = await self.members(queue)
            assert set(members) == static, f"{queue} not restored: {sorted(members)}"
            assert all(m.get("Paused") == "0" for m in members.values()), f"{queue} still paused: {members}"


@contextlib.asynccontextmanager
async def policy_rig(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[PolicyRig]:
    """A PolicyRig on the sandbox with its own observer; everything undone on exit."""
    async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as observer:
        setup = PolicyRig(sandbox, observer, tmp_path)
        try:
            yield setup
        finally:
            await setup.close()


@pytest.fixture
async def rig(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[PolicyRig]:
    async with policy_rig(sandbox, tmp_path) as setup:
        yield setup


class TestBusyAgent:
    """A redial due while its agent is on another call waits for them, reserves them, then rings them."""

    async def test_waits_for_agent_on_another_call(self, rig: PolicyRig) -> None:
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

    async def test_paused_agent_falls_back_to_free_member(self, rig: PolicyRig) -> None:
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

    async def test_logged_off_agent_falls_back_to_free_member(self, rig: PolicyRig) -> None:
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

    async def test_paused_agent_with_callback_fallback(self, rig: PolicyRig) -> None:
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

    async def test_redials_are_spread_out(self, rig: PolicyRig) -> None:
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

    async def test_withheld_and_premium_rate(self, rig: PolicyRig) -> None:
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
