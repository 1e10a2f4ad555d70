"""The rig every integration test runs on: the sandbox PBX, SIPp phones and callers, the real daemon.

A Rig is opened on the session's sandbox with an AMI observer of its own (the `rig` fixture of
conftest.py, or open_rig()). A test adds the phones it needs, starts ``redial run`` with the
settings it tests (config/redial.yaml pointed at the sandbox, a private store), places customers'
calls, and judges by what the PBX did: the observer's events and the INVITEs the phones received,
never the daemon's own word. Queue membership, pauses and ringinuse are set with AMI actions.

Closing the rig stops the calls and the daemon, hangs up what is left, puts the queues back to the
sandbox's default (support = agent1, sales = agent2, nobody paused), stops the phones, and checks
the daemon: exit 0 on SIGTERM, no event_failed, the AMI secret never in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from sandbox import (
    AGENT_NAMES,
    AgentPhone,
    AmiObserver,
    CallMode,
    CustomerCall,
    CustomerPhone,
    DtmfSteps,
    InviteRecord,
    PhoneMode,
    Sandbox,
    customer_call,
)
from sandbox.daemon import REPO, DaemonProcess, daemon_config
from sandbox.observer import AmiMessage, Predicate, where

WINDOW = 3.0  # the callback window a rig's daemon runs with unless a test says otherwise
DID = "100"
CUSTOMER = "5551234"
SUPPORT = "support"
SALES = "sales"
AGENT1, AGENT2, AGENT3 = "PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"
# The sandbox's queues as configured (static members): what every close() restores.
# cbq: the queue-callback queue (context = redial-queue-callback), agent1 its member.
DEFAULT_QUEUES = {SUPPORT: {AGENT1}, SALES: {AGENT2}, "cbq": {AGENT1}}


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


class Rig:
    """One test's PBX setup: phones, customers' calls, the daemon, queue changes; all undone in close()."""

    def __init__(self, sandbox: Sandbox, observer: AmiObserver, workdir: Path) -> None:
        self.sandbox = sandbox
        self.observer = observer
        self.workdir = workdir
        self.phones: dict[str, AgentPhone] = {}
        self.customer_phone: CustomerPhone | None = None
        self.calls: list[CustomerCall] = []
        self.daemon: DaemonProcess | None = None
        self.config: Path | None = None
        self.window = WINDOW

    # ---- phones, calls, daemon ----------------------------------------------------------------
    def agent(
        self,
        name: str,
        ring_delay: float = 0.5,
        *,
        mode: PhoneMode = "answer",
        hangup_after: float | None = None,
        max_time: float = 150,
        presses: DtmfSteps = (),
    ) -> AgentPhone:
        """Start agent ``name``'s phone (replacing one the rig runs already on its port); ``presses``:
        the keys it presses after answering each call (see AgentPhone)."""
        if name in self.phones:
            self.phones[name].stop()
        phone = AgentPhone(
            name, ring_delay=ring_delay, mode=mode, hangup_after=hangup_after, max_time=max_time, presses=presses
        )
        self.phones[name] = phone
        phone.start()
        return phone

    def customer(
        self,
        hangup_after: float = 3.0,
        *,
        ring_delay: float = 0.5,
        max_time: float = 150,
        press: str | None = None,
        press_after: float = 2.0,
        mode: PhoneMode = "answer",
    ) -> CustomerPhone:
        """The customer's phone the redials reach: answers after ``ring_delay``, hangs up ``hangup_after`` later;
        with ``press``, sends that key ``press_after`` s after answering (a queue callback's "press 1")."""
        if self.customer_phone is not None:
            self.customer_phone.stop()
        self.customer_phone = CustomerPhone(
            ring_delay=ring_delay,
            hangup_after=hangup_after,
            max_time=max_time,
            press=press,
            press_after=press_after,
            mode=mode,
        )
        self.customer_phone.start()
        return self.customer_phone

    def agent1_and_customer(
        self, talk: float, *, agent_hangup_after: float | None = None, agent_max_time: float = 120
    ) -> tuple[AgentPhone, CustomerPhone]:
        """agent1's phone and the customer's, each answering after 0.5 s; the customer hangs up ``talk`` s
        after answering (a redial), the agent after ``agent_hangup_after`` s if given."""
        agent = self.agent("agent1", hangup_after=agent_hangup_after, max_time=agent_max_time)
        return agent, self.customer(talk, max_time=120)

    def call(self, number: str, mode: CallMode = "rtp_drop", **kwargs: Any) -> CustomerCall:
        """A customer's call to ``DID`` (see customer_call()), stopped at close() if still running."""
        kwargs.setdefault("max_time", 40)
        kwargs.setdefault("did", DID)
        call = customer_call(number, mode, **kwargs)
        self.calls.append(call)
        return call

    def configure(
        self,
        callback_window: float | None = WINDOW,
        *,
        outage_guard: dict[str, Any] | None = None,
        originate: dict[str, Any] | None = None,
        ami: dict[str, Any] | None = None,
        **policy: Any,
    ) -> Path:
        """Write the daemon's config: the shipped one on this sandbox with these settings.

        callback_window None keeps the shipped window; outage_guard replaces that section,
        originate and ami update theirs, the rest are policy settings.
        """
        if callback_window is not None:
            policy["callback_window"] = callback_window
            self.window = callback_window
        config = daemon_config(self.sandbox, self.workdir, **policy)
        if outage_guard is not None or originate is not None or ami is not None:
            data = yaml.safe_load(config.read_text())
            if outage_guard is not None:
                data["outage_guard"] = outage_guard
            data["originate"].update(originate or {})
            data["ami"].update(ami or {})
            config.write_text(yaml.safe_dump(data))
        self.config = config
        return config

    def new_daemon(self, config: Path | None = None, env: dict[str, str] | None = None) -> DaemonProcess:
        """The rig's ``redial run`` on ``config`` (default: the last configure()), not started yet."""
        self.daemon = DaemonProcess(config or self.config or self.configure(), self.workdir / "redial.log", env=env)
        return self.daemon

    async def start_daemon(self, callback_window: float | None = WINDOW, **settings: Any) -> DaemonProcess:
        """configure() with these settings, then start the daemon and wait for its AMI login."""
        daemon = self.new_daemon(self.configure(callback_window, **settings))
        await asyncio.to_thread(daemon.start)
        return daemon

    def log(self) -> str:
        return self.daemon.tail(60) if self.daemon is not None else "(no daemon)"

    async def cli(self, *args: str) -> str:
        """A ``redial`` command on the daemon's config (and so its store), as an admin runs it; its output."""
        assert self.config is not None
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "redial.tools.cli", *args, "--config", str(self.config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    async def history(self) -> list[dict[str, Any]]:
        """``redial history --json`` on the daemon's own store: the store's word, read as an admin would."""
        return [json.loads(line) for line in (await self.cli("history", "--json")).splitlines() if line.strip()]

    async def reconnect(self, timeout: float = 30.0) -> AmiObserver:
        """A new observer (after Asterisk restarted): waits until AMI takes a login again."""
        with contextlib.suppress(Exception):
            await self.observer.close()
        deadline = time.monotonic() + timeout
        while True:
            observer = AmiObserver(self.sandbox.ami_host, self.sandbox.ami_port, *self.sandbox.observer_credentials)
            try:
                await observer.connect()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
                continue
            self.observer = observer
            return observer

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

    async def unpause(self, interface: str, queue: str = SUPPORT) -> None:
        await self.observer.action({"Action": "QueuePause", "Queue": queue, "Interface": interface, "Paused": "false"})

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

    # ---- reading the event log ------------------------------------------------------------------
    def index(self, msg: AmiMessage) -> int:
        return next(i for i, m in enumerate(self.observer.events) if m is msg)

    def redials(self, start: int = 0) -> list[AmiMessage]:
        return self.observer.find(redial_leg, start)

    async def drop_seen(self, cause: str, start: int = 0) -> AmiMessage:
        """The customer's channel hung up with ``cause`` on the PBX."""
        return await self.observer.wait_for(
            where(Event="Hangup", Channel=trunk_channel, Cause=cause),
            timeout=20,
            start=start,
            what=f"customer Hangup with cause {cause}",
        )

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

    async def assert_no_redial(self, after: float) -> None:
        """Wait past the callback window and the daemon's reaction time: no redial channel."""
        await asyncio.sleep(after)
        assert self.redials() == [], f"unexpected redial: {self.redials()}\n{self.log()}"

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

    async def assert_one_connected_redial(self, start: int = 0) -> None:
        """The drop of CUSTOMER's call to agent1 gets exactly one redial: agent1 first, then the customer, bridged."""
        leg = await self.observer.wait_for(
            redial_leg, timeout=self.window + 15, start=start, what="the redial's agent leg"
        )
        await self.assert_connected_redial(leg, self.phones["agent1"], CUSTOMER)
        # Exactly one: nothing else is originated once it has connected.
        await asyncio.sleep(2)
        assert [m["Uniqueid"] for m in self.redials()] == [leg["Uniqueid"]]
        assert self.customer_phone is not None and len(self.customer_phone.invites) == 1

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
                    continue
                if member.get("Paused") == "1":
                    await obs.action(
                        {"Action": "QueuePause", "Queue": queue, "Interface": interface, "Paused": "false"},
                        check=False,
                    )
                await obs.action(
                    {"Action": "QueueMemberRingInUse", "Queue": queue, "Interface": interface, "RingInUse": "false"},
                    check=False,
                )
        for queue, static in DEFAULT_QUEUES.items():
            members = await self.members(queue)
            assert set(members) == static, f"{queue} not restored: {sorted(members)}"
            assert all(m.get("Paused") == "0" for m in members.values()), f"{queue} still paused: {members}"


@contextlib.asynccontextmanager
async def open_rig(sandbox: Sandbox, workdir: Path) -> AsyncIterator[Rig]:
    """A Rig on the sandbox with its own observer; everything undone on exit."""
    observer = AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials)
    await observer.connect()
    rig = Rig(sandbox, observer, workdir)
    try:
        yield rig
    finally:
        try:
            await rig.close()
        finally:
            await rig.observer.close()
