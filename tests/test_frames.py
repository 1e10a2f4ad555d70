"""Tests for redial.ami.frames."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from redial.ami import events as ev
from redial.ami.frames import EventCutter, FrameParser, parse_frame, split_recording


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


def _cut(data: bytes, chunk: int) -> tuple[list[ev.AmiEvent], list[str], EventCutter]:
    records: list[ev.AmiEvent] = []
    others: list[str] = []
    cutter = EventCutter(records.append, others.append)
    for start in range(0, len(data), chunk):
        cutter.feed(data[start : start + chunk])
    return records, others, cutter


def _reference(data: bytes) -> list[ev.AmiEvent]:
    """What the slow path makes of the same bytes: every frame parsed, then decoded."""
    decoded = (ev.decode(frame) for frame in split_recording(data))
    return [record for record in decoded if record is not None]


class TestEventCutter:
    """The live parser yields exactly the records of parse_frame + decode, however the bytes arrive."""

    def test_recordings_in_every_chunk_size(self, corpus: Path) -> None:
        for path in sorted((corpus / "asterisk22").glob("*.ami")):
            data = path.read_bytes()
            want = [r for r in _reference(data) if not isinstance(r, (ev.FullyBooted, ev.OriginateResult))]
            for chunk in (1, 7, 100, 4096, len(data)):
                records, _others, cutter = _cut(data, chunk)
                assert records == want, (path.name, chunk)
                assert cutter.frames == data.count(b"\r\n\r\n")

    def test_transport_frames_go_to_panoramisk(self) -> None:
        data = (
            b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: ok\r\n\r\n"
            b"Event: QueueMember\r\nQueue: q\r\nLocation: PJSIP/a\r\nStatus: 1\r\nActionID: 2\r\n\r\n"
            b"Event: OriginateResponse\r\nActionID: 3\r\nResponse: Failure\r\nUniqueid: x\r\n\r\n"
            b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
            b"Event: VarSet\r\nVariable: A\r\nValue: 1\r\n\r\n"
        )
        records, others, cutter = _cut(data, 5)
        assert records == []
        last_lines = [o.splitlines()[-1] for o in others]
        assert last_lines == ["Message: ok", "ActionID: 2", "Uniqueid: x", "Status: Fully Booted"]
        assert cutter.frames == 5

    def test_bare_lf_stream(self, corpus: Path) -> None:
        data = (corpus / "asterisk22" / "drop_bye_q850_41.ami").read_bytes()
        want, _, _ = _cut(data, 4096)
        for chunk in (1, 3, 4096):
            records, _, _ = _cut(data.replace(b"\r\n", b"\n"), chunk)
            assert records == want

    def test_a_failing_decoder_is_counted_and_skipped(self) -> None:
        def broken(_frame: object) -> ev.AmiEvent | None:
            raise ValueError("boom")

        heard: list[str] = []
        records: list[ev.AmiEvent] = []
        cutter = EventCutter(records.append, lambda _t: None, heard.append, decoders={"Hangup": broken})
        cutter.feed(b"Event: Hangup\r\nUniqueid: 1\r\n\r\nEvent: Hangup\r\nUniqueid: 2\r\n\r\n")
        assert (cutter.undecodable, heard, records) == (2, ["Hangup", "Hangup"], [])

    @given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
    def test_garbage_never_raises(self, data: bytes, chunk: int) -> None:
        _cut(b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n" + data + b"\r\n\r\n", chunk)

    def test_events_with_an_action_id_take_the_fast_path_when_no_action_waits(self) -> None:
        frame = b"Event: OriginateResponse\r\nActionID: 3\r\nResponse: Failure\r\nReason: 0\r\nUniqueid: x\r\n\r\n"
        records: list[ev.AmiEvent] = []
        others: list[str] = []
        cutter = EventCutter(records.append, others.append)
        cutter.feed(frame)
        cutter.actions_pending = False
        cutter.feed(frame)
        assert len(others) == 1
        assert records == [ev.OriginateResult(action_id="3", success=False, reason=0, uniqueid="x", channel="")]
