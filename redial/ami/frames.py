"""Cut an AMI byte stream into frames. Pure: no I/O, no clock.

A frame is a block of ``Key: Value`` lines ended by an empty line. Asterisk ends
lines with CRLF, but a bare LF is accepted too. The banner line
(``Asterisk Call Manager/x.y``) has no colon-space and is skipped.
"""

from __future__ import annotations

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
