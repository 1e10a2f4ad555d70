"""Faults on the real PBX: the daemon killed in each redial state, Asterisk restarted mid-wait.

Exactly one redial each time, checked on the PBX, and the agent is never left paused.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal

import pytest

from sandbox import AmiObserver, Sandbox
from sandbox.observer import where
from tests.rig import CUSTOMER, Rig, redial_leg, trunk_channel

pytestmark = pytest.mark.integration


def customer_phone(rig: Rig) -> None:
    """The customer's phone: rings 3 s, talks 3 s, hangs up."""
    rig.customer(3, ring_delay=3, max_time=120)


async def agent1_paused(observer: AmiObserver) -> bool:
    events = await observer.action_list({"Action": "QueueStatus", "Queue": "support"})
    (member,) = [e for e in events if e.get("Event") == "QueueMember" and e.get("Location") == "PJSIP/agent1"]
    return member.get("Paused") == "1"


class TestKilledInEachState:
    """SIGKILL while the agent rings, while the customer rings, and once connected: one redial, agent released."""

    @pytest.mark.parametrize("state", ["agent_ringing", "customer_ringing", "connected"])
    async def test_exactly_one_redial(self, state: str, rig: Rig) -> None:
        # The agent answers the queue call at once (the customer's silent line drops 3 s
        # after answer); for the redial, a phone that rings 4 s gives time to kill the daemon.
        customer_phone(rig)
        rig.agent("agent1", max_time=120)
        obs = rig.observer
        daemon = await rig.start_daemon(5)
        rig.call(CUSTOMER, "rtp_drop", max_time=30)
        await rig.drop_seen("44")
        if state == "agent_ringing":
            rig.agent("agent1", ring_delay=4, max_time=120)
        leg = await obs.wait_for(redial_leg, timeout=25, what="the redial's agent leg")
        cid = leg["Uniqueid"]
        if state == "customer_ringing":
            await obs.wait_for(
                where(Event="Newchannel", Linkedid=cid, Channel=trunk_channel),
                timeout=15,
            )
        elif state == "connected":
            await obs.wait_for(where(Event="BridgeEnter", Uniqueid=cid), timeout=20)
        daemon.kill()
        await asyncio.to_thread(daemon.start)
        # The call goes on without the daemon's help and ends (customer hangs up after 3 s).
        await obs.wait_for(where(Event="Hangup", Uniqueid=cid), timeout=30, what="the redial ended")
        await asyncio.sleep(3)
        assert [m["Uniqueid"] for m in obs.find(redial_leg)] == [cid], daemon.tail()
        assert rig.customer_phone is not None and len(rig.customer_phone.invites) == 1
        assert obs.find(where(Event="BridgeEnter", Uniqueid=cid)), "the redial never connected"
        assert not await agent1_paused(obs), f"agent1 left paused after a kill in {state}"


class TestAsteriskRestart:
    """Asterisk restarts while a redial waits in its window: the redial still happens, once."""

    async def test_restart_during_window(self, rig: Rig) -> None:
        customer_phone(rig)
        rig.agent("agent1", max_time=120)
        daemon = await rig.start_daemon(10)
        call = rig.call(CUSTOMER, "rtp_drop", max_time=20)
        try:
            await rig.drop_seen("44")
            await asyncio.to_thread(daemon.wait_for, "redial", 10, state="waiting")
        finally:
            call.stop()
        await asyncio.to_thread(rig.sandbox.restart)
        obs = await rig.reconnect()
        leg = await obs.wait_for(redial_leg, timeout=30, what="the redial after the restart")
        await obs.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20)
        await asyncio.sleep(3)
        assert rig.customer_phone is not None
        assert len(obs.find(redial_leg)) == 1 and len(rig.customer_phone.invites) == 1
        assert len(daemon.lines("ami_logged_in")) >= 2


def _crash(sandbox: Sandbox) -> None:
    """SIGKILL Asterisk (no Hangup event reaches anyone), then start it again."""
    assert sandbox.pid is not None
    os.kill(sandbox.pid, signal.SIGKILL)
    sandbox.stop()  # reaps it and unmounts proc
    sandbox.start()


class TestCallsCutByThePbx:
    """`core restart now` or a crash under an answered call: the customer is called back once Asterisk is back."""

    @pytest.mark.parametrize("how", ["core_restart_now", "crash"])
    async def test_redialled_after_restart(self, rig: Rig, how: str) -> None:
        """One redial, agent first, bridged, after Asterisk is back; nobody counted it a hang-up."""
        customer_phone(rig)
        rig.agent("agent1", max_time=120)
        rig.call(CUSTOMER, "wait_for_bye", max_time=25)
        daemon = await rig.start_daemon(3)
        await rig.observer.wait_for(where(Event="AgentConnect"), timeout=15, what="agent1 answering")
        if how == "crash":
            await asyncio.to_thread(_crash, rig.sandbox)
        else:
            await asyncio.to_thread(rig.sandbox.cli, "core restart now")
        obs = await rig.reconnect()
        leg = await obs.wait_for(redial_leg, timeout=40, what="the redial after the restart")
        assert leg["Channel"].startswith("PJSIP/agent1-")
        await obs.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20)
        await asyncio.sleep(3)
        assert rig.customer_phone is not None
        assert len(obs.find(redial_leg)) == 1 and len(rig.customer_phone.invites) == 1
        (decision,) = daemon.lines("decision")
        assert decision["classification"] == "abnormal" and "restarted" in decision["detail"], decision


class TestHostileCallerId:
    """A caller ID of ``123&PJSIP/999@trunk`` that drops is never dialled and adds no channel."""

    async def test_no_redial_no_extra_channel(self, rig: Rig) -> None:
        customer_phone(rig)
        rig.agent("agent1", max_time=60)
        obs = rig.observer
        daemon = await rig.start_daemon(2)
        call = rig.call(CUSTOMER, "rtp_drop", did="199", max_time=20)
        try:
            joined = await obs.wait_for(where(Event="QueueCallerJoin", CallerIDNum="123&PJSIP/999@trunk"), timeout=10)
            await obs.wait_for(where(Event="Hangup", Uniqueid=joined["Uniqueid"], Cause="44"), timeout=20)
            await asyncio.sleep(6)
        finally:
            call.stop()
        channels = obs.find(where(Event="Newchannel"))
        assert obs.find(redial_leg) == [] and len(channels) == 2, [c["Channel"] for c in channels]
        assert not obs.find(where(Event="Newchannel", Channel=lambda c: "999" in c))
        assert rig.customer_phone is not None and rig.customer_phone.invites == []
        (decision,) = daemon.lines("decision")
        assert decision["reason"] == "number_malformed"


class BlackHoleProxy:
    """A loopback TCP proxy to the sandbox's AMI that can silently swallow existing connections."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0
        self.connected_at: list[float] = []
        self._holed: set[int] = set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def black_hole_all(self) -> None:
        """From now on, every existing connection goes silent both ways; new ones work."""
        self._holed.update(range(1, self.connections + 1))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.connected_at.append(asyncio.get_running_loop().time())
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if number not in self._holed:
                    dst.write(data)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)


class TestBlackHoledLink:
    """A TCP link that goes silent without closing is noticed by the ping and rebuilt; redials go on."""

    async def test_reconnects_and_still_redials(self, rig: Rig) -> None:
        proxy = BlackHoleProxy(rig.sandbox.ami_port)
        await proxy.start()
        customer_phone(rig)
        rig.agent("agent1", max_time=90)
        daemon = rig.new_daemon(rig.configure(2, ami={"port": proxy.port, "ping_interval": 2, "reconnect_delay": 1}))
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(daemon.start)
            proxy.black_hole_all()
            holed_at = loop.time()
            await asyncio.to_thread(daemon.wait_for, "ami_link_dropped", 10)
            dropped_at = loop.time()
            await asyncio.to_thread(daemon.wait_for, "ami_logged_in", 10)
            while len(daemon.lines("ami_logged_in")) < 2:
                await asyncio.sleep(0.1)
            # Silent for at most two ping intervals (plus the log's polling slack).
            assert dropped_at - holed_at <= 2 * 2 + 0.5
            assert proxy.connections == 2 and proxy.connected_at[1] - holed_at <= 2 * 2 + 1 + 1
            mark = rig.observer.mark()
            call = rig.call(CUSTOMER, "rtp_drop", max_time=20)
            try:
                leg = await rig.observer.wait_for(
                    redial_leg, timeout=25, start=mark, what="a redial over the rebuilt link"
                )
                await rig.observer.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20)
            finally:
                call.stop()
        finally:
            # The daemon stops before its proxy goes (close() checks its exit code again).
            assert await asyncio.to_thread(daemon.stop) == 0, daemon.tail()
            await proxy.close()


class TestSystemdNotify:
    """Under systemd: READY=1 once logged in, then WATCHDOG=1 from the event loop, STOPPING=1 on SIGTERM."""

    async def test_ready_and_watchdog(self, rig: Rig) -> None:
        import socket
        import time

        path = str(rig.workdir / "notify.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
            server.bind(path)
            server.settimeout(0.2)
            env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}  # ping every 1 s
            daemon = rig.new_daemon(rig.configure(None), env=env)
            messages: list[tuple[float, str]] = []
            await asyncio.to_thread(daemon.start)
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                try:
                    messages.append((time.monotonic(), server.recv(256).decode()))
                except TimeoutError:
                    continue
            assert await asyncio.to_thread(daemon.stop) == 0
            while True:
                try:
                    messages.append((time.monotonic(), server.recv(256).decode()))
                except TimeoutError:
                    break
        texts = [m for _, m in messages if m != "WATCHDOG=1"]
        assert texts[0].startswith("READY=1") and texts[-1] == "STOPPING=1", texts
        pings = [t for t, m in messages if m == "WATCHDOG=1"]
        assert len(pings) >= 3 and all(b - a < 1.6 for a, b in itertools.pairwise(pings)), pings
