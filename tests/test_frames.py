"""Tests for redial.ami.frames."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from redial.ami.frames import FrameParser, parse_frame, split_recording


class TestParseFrame:
    """One frame's bytes become a dict."""

    def test_keys_and_values(self) -> None:
        frame = parse_frame(b"Event: Hangup\r\nCause: 44\r\nCause-txt: Requested channel not available")
        assert frame == {"Event": "Hangup", "Cause": "44", "Cause-txt": "Requested channel not available"}

    def test_empty_value_without_space(self) -> None:
        assert parse_frame(b"Event: Newexten\r\nAppData:") == {"Event": "Newexten", "AppData": ""}

    def test_first_repeated_key_wins(self) -> None:
        assert parse_frame(b"Event: TestEvent\nState: A\nState: B") == {"Event": "TestEvent", "State": "A"}

    def test_banner_only_is_no_frame(self) -> None:
        assert parse_frame(b"Asterisk Call Manager/11.0.0") is None

    def test_non_utf8_is_replaced_not_fatal(self) -> None:
        frame = parse_frame(b"Event: Newchannel\r\nCallerIDName: \xff\xfeBob")
        assert frame is not None and frame["CallerIDName"].endswith("Bob")


class TestFrameParser:
    """The incremental splitter."""

    def test_frames_split_across_chunks(self) -> None:
        parser = FrameParser()
        assert parser.feed(b"Event: A\r\nX: 1\r") == []
        assert parser.feed(b"\n\r\nEvent: B\r\n") == [{"Event": "A", "X": "1"}]
        assert parser.feed(b"\r\n") == [{"Event": "B"}]

    def test_oversized_garbage_is_dropped(self) -> None:
        parser = FrameParser(max_frame_bytes=100)
        assert parser.feed(b"X" * 500) == []
        assert parser.oversized_dropped == 1
        assert parser.feed(b"\r\n\r\nEvent: Ok\r\n\r\n") == [{"Event": "Ok"}]

    def test_whole_recording(self, corpus: Path) -> None:
        data = (corpus / "asterisk22" / "drop_rtp_timeout.ami").read_bytes()
        frames = split_recording(data)
        assert frames[0] == {"Response": "Success", "Message": "Authentication accepted"}
        assert sum(1 for f in frames if f.get("Event") == "Hangup") == 2
        assert len(frames) == data.count(b"\r\n\r\n")

    @given(st.binary(max_size=2000), st.integers(min_value=1, max_value=50))
    def test_chunking_never_changes_the_frames(self, data: bytes, chunk: int) -> None:
        whole = FrameParser().feed(data + b"\r\n\r\n")
        parser = FrameParser()
        pieces = []
        for start in range(0, len(data), chunk):
            pieces += parser.feed(data[start : start + chunk])
        pieces += parser.feed(b"\r\n\r\n")
        assert pieces == whole
