"""Cut an AMI byte stream into frames. Pure: no I/O, no clock.

A frame is a block of ``Key: Value`` lines ended by an empty line. Asterisk ends
lines with CRLF, but a bare LF is accepted too. The banner line
(``Asterisk Call Manager/x.y``) has no colon-space and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from redial.ami import events as ev

Frame = dict[str, str]

# Cap one frame so a peer that never sends the blank line cannot grow memory forever.
DEFAULT_MAX_FRAME_BYTES = 1 << 20


def parse_frame(block: bytes) -> Frame | None:
    """Decode one frame's bytes; ``None`` when it holds no header at all.

    Undecodable bytes become U+FFFD instead of failing; the first occurrence of a
    repeated key wins (only ``TestEvent`` and action echoes repeat keys).
    """
    frame: Frame = {}
    for raw_line in block.split(b"\n"):
        line = raw_line.rstrip(b"\r")
        sep = line.find(b": ")
        if sep <= 0:
            # "Key:" with an empty value has no space after the colon.
            if line.endswith(b":") and len(line) > 1:
                key = line[:-1].decode("utf-8", "replace")
                frame.setdefault(key, "")
            continue
        key = line[:sep].decode("utf-8", "replace")
        if key not in frame:
            frame[key] = line[sep + 2 :].decode("utf-8", "replace")
    return frame or None


class FrameParser:
    """Incremental splitter: feed bytes as they arrive, get whole frames back."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buffer = b""
        self._max = max_frame_bytes
        self.oversized_dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *blocks, rest = buffer.split(b"\n\n")
        if len(rest) > self._max:
            # No terminator in sight: drop the junk rather than hold it.
            self.oversized_dropped += 1
            rest = b""
        self._buffer = rest
        frames: list[Frame] = []
        for block in blocks:
            if len(block) > self._max:
                self.oversized_dropped += 1
                continue
            frame = parse_frame(block)
            if frame is not None:
                frames.append(frame)
        return frames


def split_recording(data: bytes) -> list[Frame]:
    """All frames of a whole recorded AMI byte stream (a ``.ami`` file)."""
    parser = FrameParser()
    return parser.feed(data + b"\r\n\r\n")


def _frame_of(text: str) -> Frame:
    """The fast path's ``parse_frame``, for a frame decoded to text with CRLF line ends.

    Lines are read last to first so the first occurrence of a key wins. A line
    without ``": "`` lands under a key no decoder asks for.
    """
    frame: Frame = {}
    for line in reversed(text.split("\r\n")):
        key, _, value = line.partition(": ")
        frame[key] = value
    return frame


_FRAME_END = b"\r\n\r\n"
# A peer that ends lines with a bare LF (Asterisk never does) sends this; the regex engine
# finds it in a 64 KiB read faster than ``in`` does.
_BARE_LF_FRAME_END = re.compile(b"\n\n")


def _frame_start_pattern(prefix: bytes, names: Iterable[bytes]) -> re.Pattern[bytes]:
    """Where a frame the cutter must look at begins: an event named in ``names``, or no event at all.

    The name must end at a CR (its line's end, or the frame's), so ``Hangup`` never matches
    ``HangupRequest`` and a longer unknown name never matches a known one.
    """
    alternatives = b"|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    # A lookahead: the match is the frame end alone, so the scan goes on at the very next frame
    # (an event whose frame is its name alone ends at the CR of the next frame end).
    return re.compile(prefix + rb"(?=Event: (" + alternatives + rb")\r|(?!Event: ))")


class EventCutter:
    """The live link's parser: bytes in, typed events out, without building anything for the rest.

    Each frame's first line is read first. An event the daemon has a decoder for
    (``events.NEEDED_EVENTS``) becomes a dict and then its typed record, handed to
    ``on_event``; any other event (VarSet, Newexten, RTCP...: most of the stream)
    is only counted. Whatever the transport must see itself goes to ``on_other`` as
    text: responses to actions, events that carry an ActionID while an action
    awaits its answer (``actions_pending``: the items of a CoreShowChannels or
    QueueStatus list, OriginateResponse), the banner, FullyBooted and Shutdown.
    ``on_undecodable`` hears the name of an event whose decoder failed; the
    stream goes on.

    While no action awaits its answer, the frames to look at are found by one regular
    expression over the whole read (:meth:`_scan_wanted`), so the three frames in four
    that are skipped cost no Python code at all; otherwise every frame is looked at in
    turn (:meth:`_cut_every_frame`). Both hand on the same things in the same order.
    """

    # Events the transport (panoramisk) acts on itself: reconnect bookkeeping.
    TRANSPORT_EVENTS = frozenset({b"FullyBooted", b"Shutdown"})
    # Events whose frames repeat byte for byte (a device and its state: a few devices, a few
    # states; a third of the events the daemon reads): the record of such a frame is kept,
    # keyed by its bytes, and handed on again instead of decoded again. Records are frozen.
    REPEATING_EVENTS = frozenset({b"DeviceStateChange"})
    REMEMBERED_FRAMES = 512

    def __init__(
        self,
        on_event: Callable[[ev.AmiEvent], None],
        on_other: Callable[[str], None],
        on_undecodable: Callable[[str], None] | None = None,
        *,
        decoders: Mapping[str, ev.Decoder] = ev.DECODERS,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self._on_event = on_event
        self._on_other = on_other
        self._on_undecodable = on_undecodable
        # Keyed by the raw bytes of the name: no decoding before the decision.
        self._decoders = {name.encode(): decoder for name, decoder in decoders.items()}
        wanted = self._decoders.keys() | self.TRANSPORT_EVENTS
        # The first frame of a read has no frame end before it; every other one has.
        self._first_wanted = _frame_start_pattern(b"", wanted)
        self._next_wanted = _frame_start_pattern(_FRAME_END, wanted)
        self._max = max_frame_bytes
        self._rest = b""
        self._remembered: dict[bytes, ev.AmiEvent] = {}
        self.frames = 0
        self.decoded = 0
        self.oversized_dropped = 0
        self.undecodable = 0
        # While the transport awaits no answer, an event with an ActionID belongs to no action
        # (panoramisk would only dispatch it): the check is skipped then. The transport says.
        self.actions_pending = True

    def feed(self, data: bytes) -> None:
        buffer = self._rest + data if self._rest else data
        if _BARE_LF_FRAME_END.search(buffer) is not None:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        last = buffer.rfind(_FRAME_END)
        # After a run of blank lines rfind() and split() may disagree on where the last frame
        # ends (split() looks from the left): that rare read is cut frame by frame.
        scan = last >= 0 and not self.actions_pending and not buffer.endswith(b"\r\n", 0, last)
        if scan:
            rest = buffer[last + 4 :]
            self.frames += buffer.count(_FRAME_END)
        else:
            blocks = buffer.split(_FRAME_END)
            rest = blocks.pop()
            self.frames += len(blocks)
        if len(rest) > self._max:
            self.oversized_dropped += 1
            rest = b""
        self._rest = rest
        if scan:
            self._scan_wanted(buffer, last)
        else:
            self._cut_every_frame(blocks)

    def _scan_wanted(self, buffer: bytes, last: int) -> None:
        """The frames of ``buffer[:last]`` that are wanted events or no events, in order; no action awaits."""
        first_end = buffer.find(_FRAME_END)
        head = self._first_wanted.match(buffer, 0, first_end + 1)
        if head is not None:
            self._wanted(head.group(1), buffer[:first_end])
        find = buffer.find
        decoders = self._decoders
        transport_events = self.TRANSPORT_EVENTS
        on_event = self._on_event
        too_long = self._max
        repeating = self.REPEATING_EVENTS
        remembered = self._remembered
        # endpos: a frame's name may end at the CR of its frame end, never past the last one.
        for match in self._next_wanted.finditer(buffer, first_end, last + 1):
            start = match.start() + 4
            name = match.group(1)
            block = buffer[start : find(_FRAME_END, start)]
            if name is None or name in transport_events or len(block) > too_long:
                self._wanted(name, block)
                continue
            # What _event does, inline: this loop runs for every event the daemon reads.
            if name in repeating:
                record = remembered.get(block)
                if record is not None:
                    self.decoded += 1
                    on_event(record)
                    continue
            try:
                record = decoders[name](_frame_of(block.decode("utf-8", "replace")))
            except Exception:
                self._undecodable(name)
                continue
            if record is not None:
                if name in repeating:
                    self._remember(block, record)
                self.decoded += 1
                on_event(record)

    def _wanted(self, name: bytes | None, block: bytes) -> None:
        if name is None:
            if block.strip():
                self._other(block)
        elif name in self.TRANSPORT_EVENTS:
            self._other(block)
        else:
            self._event(name, self._decoders[name], block)

    def _cut_every_frame(self, blocks: list[bytes]) -> None:
        """Every frame in turn; an event with an ActionID goes to the transport while an action awaits."""
        decoders = self._decoders
        transport_events = self.TRANSPORT_EVENTS
        pending = self.actions_pending
        for block in blocks:
            if block.startswith(b"Event: "):
                end = block.find(b"\r", 7)
                name = block[7:end] if end > 0 else block[7:]
                decoder = decoders.get(name)
                if name in transport_events or (pending and b"\nActionID: " in block):
                    self._other(block)
                elif decoder is not None:
                    self._event(name, decoder, block)
            elif block.strip():
                self._other(block)

    def _event(self, name: bytes, decoder: ev.Decoder, block: bytes) -> None:
        if len(block) > self._max:
            self.oversized_dropped += 1
            return
        repeating = name in self.REPEATING_EVENTS
        record = self._remembered.get(block) if repeating else None
        if record is None:
            try:
                record = decoder(_frame_of(block.decode("utf-8", "replace")))
            except Exception:  # a bad frame must never stop the link
                self._undecodable(name)
                return
            if record is None:
                return
            if repeating:
                self._remember(block, record)
        self.decoded += 1
        self._on_event(record)

    def _remember(self, block: bytes, record: ev.AmiEvent) -> None:
        if len(self._remembered) >= self.REMEMBERED_FRAMES:
            self._remembered.clear()  # bounded: a peer that never repeats a frame costs no memory
        self._remembered[block] = record

    def _undecodable(self, name: bytes) -> None:
        self.undecodable += 1
        if self._on_undecodable is not None:
            self._on_undecodable(name.decode("utf-8", "replace")[:80])

    def _other(self, block: bytes) -> None:
        if len(block) > self._max:
            self.oversized_dropped += 1
            return
        self._on_other(block.decode("utf-8", "ignore").strip())
