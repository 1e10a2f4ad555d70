"""The paths the replay benchmark times, each fed the same chunks of bytes.

- ``split_only``: cut the bytes into frames and nothing else, the floor no parser beats.
- ``panoramisk_parse``: panoramisk's own protocol as it runs when a socket read
  arrives (``AMIProtocol.data_received``: Message per frame, ``handle_message``,
  the Manager's dispatch to one ``*`` callback).
- ``cacofonisk_track``: cacofonisk's channel tracker (its EventHandler, the
  events its runners let through) fed the panoramisk Messages of the same bytes;
  the parsing is done before the clock starts.
- ``cutter_only``: the daemon's parser alone (bytes to typed events).
- ``daemon_path``: the whole daemon: its protocol, the queue, the consumer loop,
  the engine (tracker, policy decision, redials) with counting sinks for the
  store and the AMI write side, and its log lines rendered into a null stream.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bench.sinks import CountingOriginator, CountingStore, Counts
from bench.stream import START, Chunk
from redial.ami.connection import FastAmiProtocol
from redial.ami.frames import EventCutter
from redial.clock import ManualClock
from redial.config import LogSettings, Settings, parse_settings
from redial.service.daemon import Daemon
from redial.service.logs import configure_logging
from redial.service.runner import EngineRunner


class NullTransport(asyncio.Transport):
    """Where a protocol under test writes: counts the bytes, sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True


def quiet_logging(level: str = "info") -> None:
    """The daemon's own log set-up (JSON lines), written to /dev/null: rendered, then discarded."""
    configure_logging(LogSettings(level=level, format="json"), stream=open(os.devnull, "w"))  # noqa: SIM115


def bench_settings(window: float = 0.0) -> Settings:
    """Redial at once. A redial's outcome never comes from the sinks, so it ends at the shortest
    outcome timeout. Every stream call comes in on one trunk with 20 % drops, which the outage
    guard would (rightly) call an outage and throttle, and more drops than the hourly cap allows;
    the benchmark measures the normal path."""
    return parse_settings(
        {
            "policy": {"callback_window": window, "max_redials_per_hour": 0},
            "originate": {"outcome_timeout": 30},
            "outage_guard": {"drops": 10_000},
        },
        env={},
    )


@dataclass
class Timing:
    frames: int
    wall: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.frames / self.cpu if self.cpu > 0 else float("inf")

    @property
    def per_second_wall(self) -> float:
        return self.frames / self.wall if self.wall > 0 else float("inf")


def timed(frames: int, run: Callable[[], object]) -> Timing:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run()
    return Timing(frames, time.perf_counter() - wall0, time.process_time() - cpu0)


def split_only(chunks: Iterable[Chunk]) -> int:
    """Frames only: split on the blank line, carry the tail over to the next read."""
    rest = b""
    frames = 0
    for chunk in chunks:
        blocks = (rest + chunk.data).split(b"\r\n\r\n")
        rest = blocks.pop()
        frames += len(blocks)
    return frames


def panoramisk_protocol(on_message: Callable[[Any, Any], None]) -> Any:
    """panoramisk's AMIProtocol wired to a Manager the way Manager.connection_made wires it."""
    from panoramisk import Manager
    from panoramisk.ami_protocol import AMIProtocol

    manager = Manager(encoding="utf8")
    manager.register_event("*", on_message)
    protocol = AMIProtocol()
    protocol.connection_made(NullTransport())
    protocol.factory = manager
    protocol.encoding = "utf8"
    protocol.log = manager.log
    protocol.config = manager.config
    return protocol


def panoramisk_parse(chunks: Iterable[Chunk]) -> int:
    count = 0

    def on_message(_manager: Any, _message: Any) -> None:
        nonlocal count
        count += 1

    protocol = panoramisk_protocol(on_message)
    for chunk in chunks:
        protocol.data_received(chunk.data)
    return count


def panoramisk_messages(chunks: Iterable[Chunk]) -> list[Any]:
    messages: list[Any] = []
    protocol = panoramisk_protocol(lambda _manager, message: messages.append(message))
    for chunk in chunks:
        protocol.data_received(chunk.data)
    return messages


def cacofonisk_tracker() -> tuple[Callable[[list[Any]], int], Any]:
    """cacofonisk's EventHandler and a runner loop over pre-parsed messages (ImportError if not installed)."""
    import logging

    from cacofonisk.handlers import EventHandler  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from cacofonisk.reporters import BaseReporter  # type: ignore[import-untyped, import-not-found, unused-ignore]

    class CountingReporter(BaseReporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.hangups = 0

        def on_hangup(self, caller: Any, reason: Any) -> None:
            self.hangups += 1

    logging.getLogger("cacofonisk").setLevel(logging.CRITICAL)
    reporter = CountingReporter()
    handler = EventHandler(reporter=reporter, logger=logging.getLogger("cacofonisk"))
    interesting = frozenset(handler.event_handlers())

    def run(messages: list[Any]) -> int:
        # What cacofonisk's runners do: only the events it has handlers for reach on_event.
        on_event = handler.on_event
        for message in messages:
            if message["Event"] in interesting:
                on_event(message)
        return len(messages)

    return run, reporter


def cutter_only(chunks: Iterable[Chunk]) -> EventCutter:
    records = 0

    def on_event(_record: object) -> None:
        nonlocal records
        records += 1

    cutter = EventCutter(on_event, lambda _text: None)
    cutter.actions_pending = False  # as in the live protocol while no action awaits its answer
    for chunk in chunks:
        cutter.feed(chunk.data)
    return cutter


@dataclass
class DaemonPath:
    """The daemon's consumer and engine on counting sinks, fed by its own AMI protocol."""

    daemon: Daemon
    engine: EngineRunner
    protocol: FastAmiProtocol
    clock: ManualClock
    counts: Counts

    @classmethod
    async def build(cls, settings: Settings | None = None) -> DaemonPath:
        settings = settings or bench_settings()
        clock = ManualClock(START)
        counts = Counts()
        daemon = Daemon(settings, clock)
        engine = EngineRunner(
            settings, CountingStore(counts), CountingOriginator(counts), clock, daemon.log, daemon.metrics
        )
        daemon.engine = engine
        await engine.resume()
        protocol = FastAmiProtocol(daemon.event_arrived)
        protocol.connection_made(NullTransport())
        return cls(daemon, engine, protocol, clock, counts)

    async def feed(self, chunk: Chunk) -> None:
        """One socket read: the protocol queues its events, the consumer works them off."""
        self.clock.set(chunk.now)
        self.protocol.data_received(chunk.data)
        await self.daemon.drain(self.engine)

    async def finish(self) -> None:
        """Let every window and deadline pass (no outcome ever comes from the sinks)."""
        await self.daemon.drain(self.engine)
        for _ in range(100_000):
            wake = self.engine.next_wakeup()
            if wake is None or wake < self.clock.now():
                return
            self.clock.set(wake + 0.01)
            await self.engine.tick()

    @property
    def frames(self) -> int:
        return int(self.protocol.cutter.frames)

    @property
    def decoded(self) -> int:
        return int(self.protocol.cutter.decoded)


async def daemon_path(chunks: Iterable[Chunk], settings: Settings | None = None) -> DaemonPath:
    path = await DaemonPath.build(settings)
    for chunk in chunks:
        await path.feed(chunk)
    await path.finish()
    return path
