"""Tests for redial.ami.connection, against a fake AMI peer on loopback.

A fake is used only for what a real Asterisk cannot be made to do: go silent
without closing the TCP connection (a black-holed link), refuse logins on
demand, or send garbage frames. The real PBX path is in test_integration.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from redial.ami import events as ev
from redial.ami.backoff import Backoff
from redial.ami.connection import AmiLink
from redial.config import AmiSettings, Secret
from redial.exceptions import AmiNotConnected, AmiTimeout
from tests.ports import free_port

SECRET = "fake-peer-secret-0123456789"
HANGUP_EVENT = "Event: Hangup\nUniqueid: 1.1\nLinkedid: 1.1\nChannel: PJSIP/trunk-01\nCause: 16\n\n"


class FakeAsterisk:
    """Just enough AMI: the MD5 login, Ping, CoreShowChannels, QueueStatus; can go silent or refuse logins.

    Like manager.c, it accepts a Login only with ``Key`` = md5(challenge + secret) after a Challenge.
    """

    def __init__(self) -> None:
        self.silent = False
        self.refuse = False
        # A squatter's trick: refuse the Challenge, hoping for a plain login with the secret.
        self.refuse_challenge = False
        self.nonce = "1804289383"
        self.received = bytearray()  # every byte the daemon sent
        self.connections = 0
        self.connect_times: list[float] = []
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        # While set and not yet open, QueueStatus (the login's snapshot) gets no answer.
        self.snapshot_gate: asyncio.Event | None = None

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def send(self, text: str) -> None:
        for writer in self.writers:
            if not writer.is_closing():
                writer.write(text.replace("\n", "\r\n").encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connect_times.append(time.monotonic())
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        block: dict[str, str] = {}
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                self.received += line
                text = line.decode().rstrip("\r\n")
                if text:
                    key, _, value = text.partition(": ")
                    block.setdefault(key, value)
                    continue
                if block:
                    self.actions.append(block)
                    gate = self.snapshot_gate
                    if block.get("Action", "").lower() == "queuestatus" and gate is not None:
                        await gate.wait()
                    if not self.silent:
                        writer.write(self._answer(block).replace("\n", "\r\n").encode())
                block = {}
        writer.close()

    def _answer(self, action: dict[str, str]) -> str:
        aid = action.get("ActionID", "")
        name = action.get("Action", "").lower()
        if name == "challenge":
            if self.refuse_challenge or action.get("AuthType", "").lower() != "md5":
                return f"Response: Error\nActionID: {aid}\nMessage: Must specify AuthType\n\n"
            return f"Response: Success\nActionID: {aid}\nChallenge: {self.nonce}\n\n"
        if name == "login":
            key = hashlib.md5((self.nonce + SECRET).encode()).hexdigest()
            if self.refuse or action.get("AuthType", "").lower() != "md5" or action.get("Key") != key:
                return f"Response: Error\nActionID: {aid}\nMessage: Authentication failed\n\n"
            return f"Response: Success\nActionID: {aid}\nMessage: Authentication accepted\n\n"
        if name in ("coreshowchannels", "queuestatus"):
            done = "CoreShowChannelsComplete" if name == "coreshowchannels" else "QueueStatusComplete"
            return (
                f"Response: Success\nActionID: {aid}\nEventList: start\nMessage: will follow\n\n"
                f"Event: {done}\nActionID: {aid}\nEventList: Complete\nListItems: 0\n\n"
            )
        if name == "ping":
            return f"Response: Success\nActionID: {aid}\nPing: Pong\n\n"
        return f"Response: Success\nActionID: {aid}\nMessage: Originate successfully queued\n\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.close()


def settings(port: int, ping: float = 0.5) -> AmiSettings:
    return AmiSettings(port=port, secret=Secret(SECRET), ping_interval=ping, action_timeout=0.5, reconnect_delay=0.2)


async def wait_until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


class RecordingLog:
    """Stands in for the structlog logger: keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str) -> object:
        def record(event: str, **fields: object) -> None:
            self.entries.append((level, event, fields))

        return record

    def named(self, event: str) -> list[dict[str, object]]:
        return [fields for _level, name, fields in self.entries if name == event]


class Link:
    """An AmiLink whose core applies each login's snapshot at once (unless ``apply`` is False)."""

    def __init__(self, port: int, ping: float = 0.5, log: RecordingLog | None = None, apply: bool = True) -> None:
        self.events: list[ev.AmiEvent] = []
        self.logins: list[float] = []
        # What reached the core, in order: "login" for each snapshot, else the event.
        self.order: list[object] = []
        self.generations: list[int] = []
        self.log = log or RecordingLog()
        self.apply = apply
        self.link = AmiLink(
            settings(port, ping),
            self._event,
            self._login,
            log=self.log,  # type: ignore[arg-type]
        )

    def _event(self, event: ev.AmiEvent) -> None:
        self.events.append(event)
        self.order.append(event)

    def _login(self, *state: Any) -> None:
        _channels, _members, _started, generation, held = state
        self.logins.append(1)
        self.order.append("login")
        self.order.extend(held)  # the core applies them right after the snapshot
        self.generations.append(generation)
        if self.apply:
            self.link.snapshot_applied(generation)


class TestDeadPeer:
    """A silent peer is noticed by the daemon's own ping and the link is rebuilt."""

    async def test_black_holed_link_reconnects_within_two_intervals(self, fake: FakeAsterisk) -> None:
        client = Link(fake.port, ping=0.5)
        await client.link.start()
        try:
            await wait_until(lambda: client.link.logged_in, 5)
            fake.silent = True
            went_silent = time.monotonic()
            await wait_until(lambda: fake.connections >= 2, 5)
            # Ping sent at most one interval after going silent, answer awaited one more.
            assert fake.connect_times[1] - went_silent < 2 * 0.5 + 0.2 + 0.5
            fake.silent = False
            await wait_until(lambda: client.link.logged_in and len(client.logins) == 2, 5)
        finally:
            await client.link.close()

    async def test_originate_never_resent_after_reconnect(self, fake: FakeAsterisk) -> None:
        client = Link(fake.port, ping=0.5)
        await client.link.start()
        try:
            await wait_until(lambda: client.link.logged_in, 5)
            fake.silent = True
            action = {"Action": "Originate", "ActionID": "o1", "Channel": "PJSIP/agent1", "Async": "true"}
            with pytest.raises(AmiTimeout):
                await client.link.originate(action)
            fake.silent = False
            await wait_until(lambda: len(client.logins) == 2, 5)
            await asyncio.sleep(0.3)
            assert [a.get("Action") for a in fake.actions].count("Originate") == 1
        finally:
            await client.link.close()


class TestSnapshotWindow:
    """Between a login and the core applying its snapshot, no Originate goes out; events wait their turn."""

    ORIGINATE = {"Action": "Originate", "ActionID": "o1", "Channel": "PJSIP/agent1", "Async": "true"}

    async def test_no_originate_until_the_snapshot_is_applied(self, fake: FakeAsterisk) -> None:
        """An Originate due while the snapshot is taken is refused as not sent (retried later), never lost in it."""
        fake.snapshot_gate = asyncio.Event()
        client = Link(fake.port, apply=False)
        await client.link.start()
        try:
            await wait_until(lambda: any(a.get("Action") == "QueueStatus" for a in fake.actions), 5)
            assert client.link.logged_in and not client.link.ready
            with pytest.raises(AmiNotConnected):
                await client.link.originate(self.ORIGINATE)
            fake.snapshot_gate.set()
            await wait_until(lambda: client.logins, 5)
            with pytest.raises(AmiNotConnected):
                await client.link.originate(self.ORIGINATE)  # delivered, not yet applied by the core
            client.link.snapshot_applied(client.generations[-1] - 1)  # a stale login's snapshot
            assert not client.link.ready
            client.link.snapshot_applied(client.generations[-1])
            await client.link.originate(self.ORIGINATE)
            assert [a.get("Action") for a in fake.actions].count("Originate") == 1
        finally:
            await client.link.close()

    async def test_events_during_the_snapshot_come_after_it(self, fake: FakeAsterisk) -> None:
        """A Hangup that arrives while QueueStatus is pending reaches the core after the snapshot, not before."""
        fake.snapshot_gate = asyncio.Event()
        client = Link(fake.port)
        await client.link.start()
        try:
            await wait_until(lambda: any(a.get("Action") == "QueueStatus" for a in fake.actions), 5)
            fake.send(HANGUP_EVENT)
            await asyncio.sleep(0.2)
            assert client.order == []
            fake.snapshot_gate.set()
            await wait_until(lambda: len(client.order) == 2, 5)
            assert client.order[0] == "login" and isinstance(client.order[1], ev.ChannelHungUp)
        finally:
            await client.link.close()

    async def test_one_keepalive_per_login(self, fake: FakeAsterisk) -> None:
        """A reconnect within one ping interval does not leave the old login's keepalive running."""
        client = Link(fake.port, ping=2.0)
        await client.link.start()
        try:
            await wait_until(lambda: client.logins, 5)
            for writer in fake.writers:
                writer.close()
            await wait_until(lambda: len(client.logins) == 2, 5)
            await asyncio.sleep(2.5)  # the first login's keepalive wakes up meanwhile
            keepalives = [t for t in client.link._tasks if t.get_coro().__name__ == "_keepalive"]  # type: ignore[union-attr]
            assert len(keepalives) == 1
        finally:
            await client.link.close()


class TestConnect:
    """A PBX that cannot be reached is logged at every attempt and retried until it answers."""

    async def test_refused_connect_is_logged_then_pbx_comes_up(self) -> None:
        """Nothing listening: one warning per attempt naming host, port and error; later the login works."""
        port = free_port()
        client = Link(port)
        client.link.backoff = Backoff(0.1, 0.2)
        await client.link.start()
        late = FakeAsterisk()
        try:
            await wait_until(lambda: len(client.log.named("ami_connect_failed")) >= 2, 5)
            first = client.log.named("ami_connect_failed")[0]
            assert (first["host"], first["port"]) == ("127.0.0.1", port)
            assert "refused" in str(first["error"]).lower() or "connect call failed" in str(first["error"]).lower()
            await late.start(port)
            await wait_until(lambda: client.link.logged_in, 5)
        finally:
            await client.link.close()
            await late.close()

    async def test_black_holed_connect_gives_up_after_the_action_timeout(self) -> None:
        """A SYN nobody answers (a listener with a full backlog) fails after action_timeout, and is retried."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):  # fill the accept backlog: further SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        client = Link(port)
        client.link.backoff = Backoff(0.1, 0.2)
        started = time.monotonic()
        await client.link.start()
        try:
            await wait_until(lambda: len(client.log.named("ami_connect_failed")) >= 2, 5)
            assert time.monotonic() - started < 2.5  # two attempts of 0.5 s, not the kernel's two minutes
            assert client.log.named("ami_connect_failed")[0]["error"] == "no answer within 0.5 s"
        finally:
            await client.link.close()
            attempts = len(client.log.named("ami_connect_failed"))
            await asyncio.sleep(0.8)
            # Closed: no retry is left behind.
            assert len(client.log.named("ami_connect_failed")) == attempts
            for sock in (*fillers, listener):
                sock.close()


class TestLogin:
    """Refused logins are retried with growing, jittered delays; nothing is sent before login."""

    async def test_refused_login_backs_off(self, fake: FakeAsterisk) -> None:
        fake.refuse = True
        client = Link(fake.port)
        client.link.backoff = Backoff(0.1, 0.8, uniform=lambda low, high: high)
        await client.link.start()
        try:
            with pytest.raises(AmiNotConnected):
                await client.link.originate({"Action": "Originate", "Async": "true"})
            await wait_until(lambda: fake.connections >= 4, 5)
        finally:
            await client.link.close()
        gaps = [b - a for a, b in zip(fake.connect_times, fake.connect_times[1:], strict=False)]
        assert gaps[1] > gaps[0] * 1.5, gaps
        assert "Originate" not in [a.get("Action") for a in fake.actions]

    async def test_md5_challenge_login(self, fake: FakeAsterisk) -> None:
        """Challenge, then Login with Key = md5(challenge + secret): no frame ever carries the secret."""
        client = Link(fake.port)
        await client.link.start()
        try:
            await wait_until(lambda: client.link.logged_in, 5)
        finally:
            await client.link.close()
        challenge, login = fake.actions[:2]
        assert challenge["Action"] == "Challenge" and challenge["AuthType"] == "MD5"
        assert login["Action"] == "Login" and login["AuthType"] == "MD5" and "Secret" not in login
        assert login["Key"] == hashlib.md5(f"{fake.nonce}{SECRET}".encode()).hexdigest()
        assert SECRET.encode() not in fake.received and b"Secret" not in fake.received

    async def test_refused_challenge_never_falls_back_to_a_plain_login(self, fake: FakeAsterisk) -> None:
        """A peer that refuses the Challenge gets no Login at all, and the refusal is logged."""
        fake.refuse_challenge = True
        client = Link(fake.port)
        client.link.backoff = Backoff(0.1, 0.2)
        await client.link.start()
        try:
            await wait_until(lambda: fake.connections >= 2, 5)
        finally:
            await client.link.close()
        assert not client.logins and "Login" not in [a.get("Action") for a in fake.actions]
        assert SECRET.encode() not in fake.received
        (refused, *_) = client.log.named("ami_login_refused")
        assert "AuthType" in str(refused["message"])


class TestGarbage:
    """Malformed frames never break the link."""

    async def test_garbage_then_real_event(self, fake: FakeAsterisk) -> None:
        client = Link(fake.port)
        await client.link.start()
        try:
            await wait_until(lambda: client.link.logged_in, 5)
            fake.send("\xff\xfe not a header\n\nEvent: Hangup\nCause: x\n\nEvent: Hangup\n\n: : :\n\n")
            fake.send("Event: Hangup\nUniqueid: 1.1\nLinkedid: 1.1\nChannel: PJSIP/t-1\nCause: 44\n\n")
            await wait_until(lambda: any(isinstance(e, ev.ChannelHungUp) for e in client.events), 5)
            assert client.link.logged_in
        finally:
            await client.link.close()


def hostile_frames(count: int, seed: int) -> list[str]:
    """Frames with the shapes that break parsers: missing fields, huge, non-UTF-8, injected lines."""
    import random

    rng = random.Random(seed)
    names = [
        "Hangup",
        "Newchannel",
        "AgentConnect",
        "QueueCallerJoin",
        "DialEnd",
        "BridgeEnter",
        "OriginateResponse",
        "QueueMemberStatus",
        "SoftHangupRequest",
        "AgentComplete",
        "Bogus",
    ]
    values = [
        "",
        "<unknown>",
        "x" * 20000,
        "\udcff\udcfe",
        "123&PJSIP/999@trunk",
        "1.1",
        "-1",
        "99999999999999",
        "a: b",
        "Action: Originate",
        ",,,",
        "PJSIP/agent1",
        "redial-1-1-1.1",
        "\t",
        "日本",
    ]
    keys = [
        "Uniqueid",
        "Linkedid",
        "Channel",
        "Cause",
        "CallerIDNum",
        "Queue",
        "Interface",
        "DestUniqueid",
        "Status",
        "Paused",
        "Reason",
        "Response",
        "TalkTime",
        "DialStatus",
        "",
    ]
    frames = []
    for _ in range(count):
        lines = [f"Event: {rng.choice(names)}"]
        for _ in range(rng.randint(0, 8)):
            lines.append(f"{rng.choice(keys)}: {rng.choice(values)}")
        if rng.random() < 0.2:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(["garbage without colon", ":", "::::"]))
        frames.append("\n".join(lines) + "\n\n")
    return frames


class TestHostileStream:
    """200 random malformed or hostile frames reach the engine through the real link: nothing breaks."""

    async def test_engine_survives_and_still_works(self, fake: FakeAsterisk, tmp_path: object) -> None:
        from redial.clock import ManualClock
        from redial.config import parse_settings
        from redial.service.replay import RecordingOriginator
        from redial.service.runner import EngineRunner
        from redial.store import Store

        store = await Store.open(":memory:")
        originator = RecordingOriginator()
        engine = EngineRunner(
            parse_settings({"policy": {"callback_window": 0}}, env={}), store, originator, ManualClock(1.8e9)
        )
        client = Link(fake.port)
        await client.link.start()
        try:
            await wait_until(lambda: client.link.logged_in, 5)
            for frame in hostile_frames(200, seed=5):
                fake.send(frame.encode("utf-8", "surrogateescape").decode("latin-1"))
            drop = (
                "Event: Newchannel\nUniqueid: 7.1\nLinkedid: 7.1\nChannel: PJSIP/trunk-7\nCallerIDNum: 2025550123\n"
                "Exten: 100\n\nEvent: QueueCallerJoin\nUniqueid: 7.1\nLinkedid: 7.1\nChannel: PJSIP/trunk-7\n"
                "Queue: support\nCallerIDNum: 2025550123\n\nEvent: Newchannel\nUniqueid: 7.2\nLinkedid: 7.1\n"
                "Channel: PJSIP/agent1-7\n\nEvent: AgentConnect\nUniqueid: 7.1\nLinkedid: 7.1\nDestUniqueid: 7.2\n"
                "DestLinkedid: 7.1\nQueue: support\nInterface: PJSIP/agent1\nMemberName: Alice\n\n"
                "Event: Hangup\nUniqueid: 7.1\nLinkedid: 7.1\nChannel: PJSIP/trunk-7\nCause: 41\n\n"
                "Event: Hangup\nUniqueid: 7.2\nLinkedid: 7.1\nChannel: PJSIP/agent1-7\nCause: 41\n\n"
            )
            fake.send(drop)
            await wait_until(
                lambda: sum(isinstance(e, ev.ChannelHungUp) and e.ref.uniqueid == "7.2" for e in client.events) == 1, 5
            )
            for event in client.events:
                await engine.handle(event)
                await engine.tick()
            await engine.tick()
            assert client.link.logged_in and fake.connections == 1
            assert [a["Channel"] for a in originator.actions] == ["PJSIP/agent1"]
            assert all("\n" not in str(v) and "\r" not in str(v) for a in originator.actions for v in a.values())
        finally:
            await client.link.close()
            await store.close()
