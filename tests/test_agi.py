"""Tests for redial.service.agi: the FastAGI service on a real loopback socket."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from redial.clock import ManualClock
from redial.config import FastAgiSettings, PolicySettings, parse_settings
from redial.core.agents import AgentView, Availability
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.core.tracker import CallerWithheld, RoutedToAgent
from redial.exceptions import PortUnavailable
from redial.policy.classify import Classification, EndKind
from redial.policy.decide import Decision, Reason, Verdict
from redial.service.agi import ReturningCallerService, read_headers
from redial.service.promise_agi import PromiseDesk
from redial.store import Store
from tests.builders import CALL
from tests.ports import free_port

NOW = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "s.sqlite3")
    call = dataclasses.replace(CALL, ended_at=NOW - 60)
    kind = Classification(EndKind.ABNORMAL, "cause 44")
    await store.record_call(call, kind, Decision(Verdict.REDIAL, Reason.ABNORMAL_END, "x"), NOW, "+12025550123")
    yield store
    await store.close()


async def agi_call(port: int, caller: str, script: str = "returning", pres: str = "0", *args: str) -> list[str]:
    """Play Asterisk: send the headers (``args`` as agi_arg_N), answer every command with 200, return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    arg_lines = "".join(f"agi_arg_{n}: {arg}\n" for n, arg in enumerate(args, 1))
    writer.write(
        f"agi_network: yes\nagi_network_script: {script}\nagi_callerid: {caller}\nagi_uniqueid: 9.1\n"
        f"agi_callingpres: {pres}\n{arg_lines}\n".encode()
    )
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 5):
        commands.append(line.decode().strip())
        writer.write(b"200 result=1\n")
    writer.close()
    return commands


def service(
    store: Store,
    availability: Availability,
    port: int,
    routed: list[RoutedToAgent | CallerWithheld] | None = None,
    **options: Any,
) -> ReturningCallerService:
    settings = dataclasses.replace(parse_settings({}, env={}), fastagi=FastAgiSettings(port=port))

    def view(interface: str, now: float) -> AgentView:
        return AgentView(interface, availability, f"{interface} is {availability.value}", ("support",))

    sink = routed.append if routed is not None else (lambda _routed: None)
    return ReturningCallerService(settings, store, view, ManualClock(NOW), on_routed=sink, **options)


class TestService:
    """What the dialplan is told."""

    async def test_recent_drop_rings_same_agent(self, store: Store) -> None:
        """The dialplan is told the agent; the tracker is told the channel goes to that agent of that queue."""
        port = free_port()
        routed: list[RoutedToAgent] = []
        svc = service(store, Availability.FREE, port, routed)
        assert await svc.start()
        try:
            commands = await agi_call(port, "(202) 555-0123")
        finally:
            await svc.close()
        assert commands == [
            'SET VARIABLE REDIAL_AGENT "PJSIP/agent1"',
            'SET VARIABLE REDIAL_QUEUE "support"',
            'SET VARIABLE REDIAL_AGENT_TIMEOUT "20"',
        ]
        assert routed == [RoutedToAgent("9.1", "support", "PJSIP/agent1", "Alice")]

    async def test_restricted_presentation_is_reported_withheld(self, store: Store) -> None:
        """agi_callingpres 33 (restricted): the tracker is told the caller's number is withheld."""
        port = free_port()
        routed: list[RoutedToAgent | CallerWithheld] = []
        svc = service(store, Availability.BUSY, port, routed)
        assert await svc.start()
        try:
            await agi_call(port, "2025550177", pres="33")
            await agi_call(port, "2025550178", pres="0")
        finally:
            await svc.close()
        assert routed == [CallerWithheld("9.1")]

    async def test_busy_agent_or_other_caller_goes_to_queue(self, store: Store) -> None:
        port = free_port()
        routed: list[RoutedToAgent] = []
        svc = service(store, Availability.BUSY, port, routed)
        assert await svc.start()
        try:
            assert await agi_call(port, "2025550123") == []
            assert await agi_call(port, "2025559999") == []
            assert await agi_call(port, "2025550123", script="other") == []
        finally:
            await svc.close()
        assert routed == []

    async def test_client_closing_early_does_not_hang(self, store: Store) -> None:
        port = free_port()
        svc = service(store, Availability.FREE, port)
        assert await svc.start()
        try:
            for _ in range(3):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"agi_network: yes\n")
                writer.close()
            assert await agi_call(port, "2025550123") != []
        finally:
            await svc.close()

    async def test_port_held_by_a_squatter_stops_the_service_naming_it(self, store: Store) -> None:
        """Another process on the FastAGI port would get every call's AGI session: starting fails, naming it."""
        port = free_port()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with pytest.raises(PortUnavailable) as raised:
                await service(store, Availability.FREE, port).start()
        assert raised.value.port == port and f"127.0.0.1:{port}" in str(raised.value)
        assert f"held by pid {os.getpid()} (" in str(raised.value)

    async def test_device_that_is_no_plain_device_is_never_sent(self, store: Store) -> None:
        """A ring target with @ (a trunk and a number) is not handed to the dialplan: the call goes to the queue."""
        port = free_port()
        svc = service(store, Availability.FREE, port, ring_target=lambda _interface: "PJSIP/00900123@trunk")
        assert await svc.start()
        try:
            assert await agi_call(port, "2025550123") == []
        finally:
            await svc.close()

    async def test_promise_script_goes_to_the_promise_desk(self, store: Store) -> None:
        """``promise``: the desk's variables are sent; the returning caller's lookup is not made."""
        port = free_port()
        routed: list[RoutedToAgent | CallerWithheld] = []
        settings = dataclasses.replace(parse_settings({}, env={}), fastagi=FastAgiSettings(port=port))

        async def refuse(_request: PromiseRequest) -> PromiseAnswer:
            return PromiseAnswer(False, "no call")

        desk = PromiseDesk(settings, refuse, structlog.get_logger("test"))
        svc = service(store, Availability.FREE, port, routed, promises=desk)
        assert await svc.start()
        try:
            prompted = await agi_call(port, "2025550123", "promise", "0", "prompt")
            made = await agi_call(port, "2025550123", "promise", "0", "make", "30", "1.1")
        finally:
            await svc.close()
        assert prompted == [
            'SET VARIABLE REDIAL_PR_ENTER "minutes&vm-then-pound"',
            'SET VARIABLE REDIAL_PR_REFUSED "sorry&please-try-again"',
        ]
        assert made[-1] == 'SET VARIABLE REDIAL_PR_RESULT "refused"'
        assert routed == []

    async def test_reload_reaches_the_desks(self, store: Store) -> None:
        """A reload's settings reach the promise desk: its prompt plays the new sounds."""
        port = free_port()
        settings = dataclasses.replace(parse_settings({}, env={}), fastagi=FastAgiSettings(port=port))

        async def refuse(_request: PromiseRequest) -> PromiseAnswer:
            return PromiseAnswer(False, "no call")

        svc = service(
            store, Availability.FREE, port, [], promises=PromiseDesk(settings, refuse, structlog.get_logger("t"))
        )
        reloaded = parse_settings({"policy": {"promise": {"sounds": {"agent_enter": ["beep"]}}}}, env={})
        svc.settings = dataclasses.replace(reloaded, fastagi=FastAgiSettings(port=port))
        assert await svc.start()
        try:
            prompted = await agi_call(port, "2025550123", "promise", "0", "prompt")
        finally:
            await svc.close()
        assert prompted[0] == 'SET VARIABLE REDIAL_PR_ENTER "beep"'

    async def test_promise_script_without_a_desk_sets_nothing(self, store: Store) -> None:
        """No promise desk: the session gets no command (the dialplan then refuses the promise)."""
        port = free_port()
        svc = service(store, Availability.FREE, port)
        assert await svc.start()
        try:
            assert await agi_call(port, "2025550123", "promise", "0", "prompt") == []
        finally:
            await svc.close()


class TestLimits:
    """A session cannot hold the service: reads time out, and extra connections are closed at once."""

    async def test_silent_client_is_dropped_after_the_read_timeout(self, store: Store) -> None:
        """A client that sends nothing is closed once the read timeout passes."""
        port = free_port()
        svc = service(store, Availability.FREE, port, read_timeout=0.3)
        assert await svc.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = asyncio.get_running_loop().time()
            assert await asyncio.wait_for(reader.read(), 2) == b""
            assert asyncio.get_running_loop().time() - started < 1.5
            writer.close()
        finally:
            await svc.close()

    async def test_connections_past_the_limit_are_closed_at_once(self, store: Store) -> None:
        """With the limit's sessions open, one more is closed at once while those stay open."""
        port = free_port()
        svc = service(store, Availability.FREE, port, max_connections=2, read_timeout=30)
        assert await svc.start()
        try:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.1)
            extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(extra_reader.read(), 1) == b""
            for reader, _ in held:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(reader.read(), 0.1)
            for _, writer in held:
                writer.close()
            extra_writer.close()
            await asyncio.sleep(0.1)
            assert await agi_call(port, "2025550123") != []
        finally:
            await svc.close()


class TestReadHeaders:
    """Bounded header reading."""

    async def test_too_long(self) -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"agi_x: " + b"y" * 70000 + b"\n")
        reader.feed_eof()
        with pytest.raises(ValueError, match=r"too long"):
            await read_headers(reader)

    async def test_cut_short(self) -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"agi_network: yes\n")
        reader.feed_eof()
        with pytest.raises(ValueError, match="closed"):
            await read_headers(reader)


class TestConfig:
    """The service must stay on loopback."""

    def test_non_loopback_refused(self) -> None:
        from redial.exceptions import ConfigError

        with pytest.raises(ConfigError, match="loopback"):
            parse_settings({"fastagi": {"host": "0.0.0.0"}}, env={})
        assert PolicySettings().experience.agent_prompt == ("pls-hold-while-try",)
