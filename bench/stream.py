"""A large AMI byte stream made from the Asterisk 22 recordings: many calls, renumbered, interleaved.

Each recording of one queue call (``../shared/corpus/asterisk22/*.ami``) becomes a
template: its session preamble (banner, login answer, FullyBooted, SuccessfulAuth)
is cut off and every identity in it is replaced by a placeholder: the Uniqueids
(and so the Linkedid), the channel name suffixes, the bridge id, the agent, the
customer's number and the epoch seconds of LastCall/LoginTime. Call ``i`` fills the
placeholders with values of its own, so a million calls are a million distinct
calls to the tracker. ``concurrency`` calls are in progress at once: their frames
are interleaved one by one, as on a busy PBX. The mix is exactly two drops in
every ten calls (one RTP timeout, one BYE with Q.850 cause 41) and eight normal
ends (agent or customer hung up).
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("REDIAL_CORPUS", REPO.parent / "shared" / "corpus"))

# Ten calls, in this order, repeat: 20 % drops.
MIX: tuple[str, ...] = (
    "normal_agent_hangup",
    "normal_customer_hangup",
    "drop_rtp_timeout",
    "normal_agent_hangup",
    "normal_customer_hangup",
    "normal_agent_hangup",
    "normal_customer_hangup",
    "drop_bye_q850_41",
    "normal_agent_hangup",
    "normal_customer_hangup",
)
DROPPED = frozenset({"drop_rtp_timeout", "drop_bye_q850_41"})
# Frames of the capturing session, not of the call.
_SESSION_EVENTS = (b"Event: FullyBooted\r\n", b"Event: SuccessfulAuth\r\n")
# Asterisk's placeholders-to-be: Uniqueid/Linkedid, channel suffix, bridge id, agent, number, epoch seconds.
_UNIQUEID = re.compile(rb"\b1[0-9]{9}\.[0-9]+\b")
_CHANNEL = re.compile(rb"\b(PJSIP/(?:trunk|agent1))-([0-9a-f]{8})\b")
_BRIDGE = re.compile(rb"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_EPOCH = re.compile(rb"^(LastCall|LoginTime): 1[0-9]{9}\b", re.M)
CUSTOMER_NUMBER = b"5551234"
AGENT = b"agent1"
START = 1_795_354_800.0  # where the recordings were made (2026-11-22)


@dataclass(frozen=True)
class CallTemplate:
    """One recorded call with placeholders; ``render`` makes call ``i`` of the stream from it."""

    name: str
    dropped: bool
    frames: tuple[bytes, ...]  # each a bytes %-format ending in the blank line

    def render(self, values: dict[bytes, bytes]) -> list[bytes]:
        return [frame % values for frame in self.frames]


def _template(name: str, data: bytes) -> CallTemplate:
    blocks = [b for b in data.split(b"\r\n\r\n") if b.strip()]
    # The first block is the banner and the login answer; then the session's own events.
    body = [b for b in blocks[1:] if not b.startswith(_SESSION_EVENTS)]
    ids: dict[bytes, bytes] = {}
    chans: dict[bytes, bytes] = {}

    def uniqueid(m: re.Match[bytes]) -> bytes:
        return ids.setdefault(m.group(0), b"%%(u%d)s" % len(ids))

    def channel(m: re.Match[bytes]) -> bytes:
        return m.group(1) + b"-" + chans.setdefault(m.group(2), b"%%(c%d)s" % len(chans))

    frames = []
    for block in body:
        text = block.replace(b"%", b"%%")
        text = _UNIQUEID.sub(uniqueid, text)
        text = _CHANNEL.sub(channel, text)
        text = _BRIDGE.sub(b"%(bridge)s", text)
        text = _EPOCH.sub(rb"\1: %(epoch)s", text)
        text = text.replace(CUSTOMER_NUMBER, b"%(number)s").replace(AGENT, b"%(agent)s")
        frames.append(text + b"\r\n\r\n")
    if len(ids) > 4 or len(chans) > 4:
        raise ValueError(f"{name}: more than four channels in one recorded call")
    return CallTemplate(name=name, dropped=name in DROPPED, frames=tuple(frames))


def load_templates(corpus: Path = CORPUS) -> dict[str, CallTemplate]:
    """The templates of the queue-call recordings named in :data:`MIX`."""
    directory = corpus / "asterisk22"
    if not directory.is_dir():
        raise SystemExit(f"the AMI corpus is missing at {directory} (set REDIAL_CORPUS)")
    return {name: _template(name, (directory / f"{name}.ami").read_bytes()) for name in sorted(set(MIX))}


def call_values(index: int, start: float = START, spacing: float = 0.5, agents: int = 47) -> dict[bytes, bytes]:
    """The identities of call ``index``: distinct Uniqueids, channels, bridge and number per call."""
    epoch = int(start + index * spacing)
    values = {
        b"epoch": b"%d" % epoch,
        b"bridge": b"%08x-0000-4000-8000-%012x" % (index & 0xFFFFFFFF, index),
        b"number": b"201555%04d" % (index % 10_000),
        b"agent": b"agent%d" % (index % agents + 1),
    }
    for slot in range(4):
        values[b"u%d" % slot] = b"%d.%d" % (epoch, index * 4 + slot)
        values[b"c%d" % slot] = b"%08x" % ((index * 4 + slot) & 0xFFFFFFFF)
    return values


@dataclass(frozen=True)
class Chunk:
    """What one socket read would bring, and the stream's time at its end."""

    data: bytes
    now: float


@dataclass
class StreamStats:
    calls: int = 0
    drops_planted: int = 0
    frames: int = 0
    bytes: int = 0
    by_template: dict[str, int] = field(default_factory=dict)


class CallStream:
    """``calls`` calls as AMI bytes in ``chunk_bytes`` slices (cut anywhere, as TCP reads are).

    The stream's clock starts at :data:`START` and a new call starts every
    ``spacing`` seconds (two calls a second by default), ``concurrency`` at a time.
    Calls go round ``agents`` agents (47: prime to the mix's ten, so drops reach all).
    """

    def __init__(
        self,
        calls: int,
        *,
        concurrency: int = 20,
        agents: int = 47,
        spacing: float = 0.5,
        chunk_bytes: int = 65536,
        templates: dict[str, CallTemplate] | None = None,
        mix: Sequence[str] = MIX,
    ) -> None:
        self.calls = calls
        self.concurrency = max(1, concurrency)
        self.agents = agents
        self.spacing = spacing
        self.chunk_bytes = chunk_bytes
        self.templates = templates if templates is not None else load_templates()
        self.mix = tuple(mix)
        self.stats = StreamStats()

    def template_of(self, index: int) -> CallTemplate:
        return self.templates[self.mix[index % len(self.mix)]]

    def frames(self) -> Iterator[tuple[bytes, float]]:
        """Every frame of the stream with the time it is sent at."""
        stats = self.stats
        active: deque[Iterator[bytes]] = deque()
        started = 0
        now = START

        def start_call() -> None:
            nonlocal started, now
            template = self.template_of(started)
            values = call_values(started, START, self.spacing, self.agents)
            active.append(iter(template.render(values)))
            now = START + started * self.spacing
            started += 1
            stats.calls += 1
            stats.drops_planted += template.dropped
            stats.by_template[template.name] = stats.by_template.get(template.name, 0) + 1

        while started < self.calls and len(active) < self.concurrency:
            start_call()
        while active:
            frames = active.popleft()
            frame = next(frames, None)
            if frame is None:
                if started < self.calls:
                    start_call()
                continue
            active.append(frames)
            stats.frames += 1
            stats.bytes += len(frame)
            yield frame, now

    def chunks(self) -> Iterator[Chunk]:
        """The stream in socket-read sized slices, each with the stream's time at its end."""
        size = self.chunk_bytes
        buffer = bytearray()
        now = START
        for frame, now in self.frames():
            buffer += frame
            if len(buffer) >= size:
                whole = len(buffer) - len(buffer) % size
                for offset in range(0, whole, size):
                    yield Chunk(bytes(buffer[offset : offset + size]), now)
                del buffer[:whole]
        if buffer:
            yield Chunk(bytes(buffer), now)
