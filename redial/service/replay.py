"""Feed recorded AMI traffic through the same engine the daemon runs, without touching a PBX.

Recordings are either raw AMI bytes (``.ami``, as read from the socket) or a
JSON list of event objects (the cacofonisk corpus). The clock is simulated: it
moves ``step`` seconds a frame, and after the last frame far enough for every
callback window to pass, so due redials are "originated" into a recorder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redial.ami import events as ev
from redial.ami.actions import Action
from redial.ami.frames import split_recording
from redial.clock import ManualClock
from redial.config import Settings
from redial.service.runner import EngineRunner
from redial.store import Store


def load_frames(path: Path) -> list[Mapping[str, object]]:
    """The frames of a recording file, in order."""
    data = path.read_bytes()
    if path.suffix == ".json":
        loaded = json.loads(data)
        if not isinstance(loaded, list):
            raise ValueError(f"{path}: expected a JSON list of AMI events")
        return [item for item in loaded if isinstance(item, dict)]
    return list(split_recording(data))


@dataclass
class RecordingOriginator:
    """Accepts every Originate and remembers it: nothing leaves the process."""

    actions: list[Action] = field(default_factory=list)
    pauses: list[tuple[str, bool, str]] = field(default_factory=list)
    queue_logs: list[Action] = field(default_factory=list)

    async def originate(self, action: Action) -> None:
        self.actions.append(action)

    async def pause(self, interface: str, paused: bool, reason: str) -> None:
        self.pauses.append((interface, paused, reason))

    async def queue_log(self, action: Action) -> None:
        self.queue_logs.append(action)

    async def hint(self, exten: str, context: str) -> str:
        return ""  # a recording cannot be asked: hint members are rung by their member interface


@dataclass
class ReplayResult:
    frames: int
    events: int
    originated: list[Action]
    open_calls: int


async def replay(
    frames: Iterable[Mapping[str, object]],
    settings: Settings,
    store: Store,
    clock: ManualClock | None = None,
    step: float = 0.01,
) -> ReplayResult:
    clock = clock or ManualClock(1_800_000_000.0)
    originator = RecordingOriginator()
    engine = EngineRunner(settings, store, originator, clock)
    await engine.resume()
    count = decoded = 0
    for frame in frames:
        count += 1
        clock.advance(step)
        event = ev.decode(frame)
        if event is not None:
            decoded += 1
            await engine.handle(event)
        await engine.tick()
    # Let every window and deadline pass.
    while (wake := engine.next_wakeup()) is not None and wake >= clock.now():
        clock.set(wake + step)
        await engine.tick()
    return ReplayResult(frames=count, events=decoded, originated=originator.actions, open_calls=engine.tracked_calls)
