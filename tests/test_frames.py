"""Tests for redial.ami.frames."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from redial.ami import events as ev
from redial.ami.frames import EventCutter, FrameParser, _frame_of, parse_frame, split_recording


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


class _CutAsBefore(EventCutter):
    """The cut before the scan for wanted frames (verbatim): split every read, look at every frame."""

    def feed(self, data: bytes) -> None:
        buffer = self._rest + data if self._rest else data
        if b"\n\n" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        blocks = buffer.split(b"\r\n\r\n")
        rest = blocks.pop()
        if len(rest) > self._max:
            self.oversized_dropped += 1
            rest = b""
        self._rest = rest
        decoders = self._decoders
        on_event = self._on_event
        transport_events = self.TRANSPORT_EVENTS
        pending = self.actions_pending
        self.frames += len(blocks)
        for block in blocks:
            if block.startswith(b"Event: "):
                end = block.find(b"\r", 7)
                name = block[7:end] if end > 0 else block[7:]
                decoder = decoders.get(name)
                if name in transport_events or (pending and b"\nActionID: " in block):
                    self._other(block)
                elif decoder is not None:
                    if len(block) > self._max:
                        self.oversized_dropped += 1
                        continue
                    try:
                        record = decoder(_frame_of(block.decode("utf-8", "replace")))
                    except Exception:
                        self.undecodable += 1
                        if self._on_undecodable is not None:
                            self._on_undecodable(name.decode("utf-8", "replace")[:80])
                        continue
                    if record is not None:
                        self.decoded += 1
                        on_event(record)
            elif block.strip():
                self._other(block)


def _everything_handed_on(
    cutter_class: type[EventCutter], reads: list[bytes], pending: list[bool], max_frame_bytes: int
) -> list[object]:
    """Everything a cutter hands on and counts for these reads, each fed with its ``actions_pending``."""
    handed: list[object] = []
    cutter = cutter_class(
        handed.append,
        lambda text: handed.append(("other", text)),
        lambda name: handed.append(("undecodable", name)),
        max_frame_bytes=max_frame_bytes,
    )
    for data, waiting in zip(reads, pending, strict=True):
        cutter.actions_pending = waiting
        cutter.feed(data)
    counts = (cutter.frames, cutter.decoded, cutter.oversized_dropped, cutter.undecodable, cutter._rest)
    return [*handed, counts]


_NAMES = [*sorted(ev.NEEDED_EVENTS), "Shutdown", "VarSet", "Hangu", "HangupX", "", "Hangup Request"]
_KEYS = ["Uniqueid", "Linkedid", "Channel", "Cause", "ActionID", "Queue", "Interface", "Status", "Device", "Uniqueid:"]
_VALUES = st.sampled_from([b"1.1", b"1.2", b"PJSIP/a-1", b"16", b"", b"a: b", b"x\rz", b"y\nz", b"\xff\xfe", b"q"])
_LINES = st.one_of(
    st.builds(lambda k, v: k.encode() + b": " + v, st.sampled_from(_KEYS), _VALUES),
    st.sampled_from([b"Uniqueid", b"Status:", b"no colon", b""]),
)
_FRAMES = st.builds(
    lambda name, lines: b"\r\n".join([b"Event: " + name.encode(), *lines]),
    st.sampled_from(_NAMES),
    st.lists(_LINES, max_size=6),
)
_PIECES = st.one_of(
    _FRAMES,
    st.sampled_from([b"\r\n\r\n", b"\r\n", b"\n\n", b"\r", b"Response: Success\r\nActionID: 1", b"Asterisk Call"]),
    st.binary(max_size=12),
)


def _reads(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


class TestWantedFrameScan:
    """Scanning a read for the wanted frames hands on exactly what looking at every frame did."""

    def test_recordings_in_every_chunk_size(self, corpus: Path) -> None:
        for path in sorted((corpus / "asterisk22").glob("*.ami")):
            data = path.read_bytes()
            for chunk in (1, 5, 64, 1000, len(data)):
                reads = [data[i : i + chunk] for i in range(0, len(data), chunk)]
                for pending in (False, True):
                    flags = [pending] * len(reads)
                    want = _everything_handed_on(_CutAsBefore, reads, flags, 1 << 20)
                    assert _everything_handed_on(EventCutter, reads, flags, 1 << 20) == want, (path.name, chunk)

    def test_the_benchmark_stream(self) -> None:
        from bench.stream import CallStream

        reads = [chunk.data for chunk in CallStream(60, concurrency=7).chunks()]
        flags = [False] * len(reads)
        want = _everything_handed_on(_CutAsBefore, reads, flags, 1 << 20)
        assert _everything_handed_on(EventCutter, reads, flags, 1 << 20) == want
        assert sum(isinstance(item, ev.ChannelHungUp) for item in want) == 60 * 2

    @given(
        st.lists(_PIECES, max_size=30),
        st.lists(st.integers(min_value=0, max_value=600), max_size=8),
        st.lists(st.booleans(), min_size=9, max_size=9),
        st.sampled_from([1 << 20, 40]),
    )
    def test_any_stream_any_reads(self, pieces: list[bytes], cuts: list[int], pending: list[bool], limit: int) -> None:
        reads = _reads(b"".join(pieces), cuts)
        flags = pending[: len(reads)]
        assert _everything_handed_on(EventCutter, reads, flags, limit) == _everything_handed_on(
            _CutAsBefore, reads, flags, limit
        )

    def test_a_run_of_blank_lines_before_the_last_frame_end(self) -> None:
        # split() ends the frame at the first CRLF CRLF of the run, rfind() at the last one.
        reads = [b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n\r\n", b"\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n\r\n"]
        want = _everything_handed_on(_CutAsBefore, reads, [False, False], 1 << 20)
        assert _everything_handed_on(EventCutter, reads, [False, False], 1 << 20) == want
        assert [item.ref.uniqueid for item in want if isinstance(item, ev.ChannelHungUp)] == ["1.1", "1.2"]

    def test_a_frame_that_is_only_its_event_line_ends_the_read(self) -> None:
        # The name ends at the CR of the read's last frame end.
        reads = [b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\nEvent: BlindTransfer\r\n\r\nEvent: Shutdown\r\n\r\nEvent: Fu"]
        want = _everything_handed_on(_CutAsBefore, reads, [False], 1 << 20)
        assert _everything_handed_on(EventCutter, reads, [False], 1 << 20) == want
        assert ("other", "Event: Shutdown") in want
        assert ev.Transferred(frozenset(), "") in want

    def test_an_unknown_event_named_like_a_known_one_is_skipped(self) -> None:
        reads = [b"Event: HangupX\r\nUniqueid: 1.1\r\n\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n\r\n"]
        want = _everything_handed_on(_CutAsBefore, reads, [False], 1 << 20)
        assert _everything_handed_on(EventCutter, reads, [False], 1 << 20) == want
        assert [item.ref.uniqueid for item in want if isinstance(item, ev.ChannelHungUp)] == ["1.2"]


def _device_frame(device: str, state: str) -> bytes:
    return f"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: {device}\r\nState: {state}\r\n\r\n".encode()


class _RemembersTwo(EventCutter):
    REMEMBERED_FRAMES = 2


class TestRepeatingFrames:
    """A frame that repeats byte for byte is handed on as the record decoded the first time, equal to a fresh one."""

    def test_a_repeated_frame_is_the_same_record(self) -> None:
        reads = [
            _device_frame("PJSIP/a", "INUSE") * 2
            + _device_frame("PJSIP/b", "INUSE")
            + _device_frame("PJSIP/a", "INUSE")
        ]
        got = _everything_handed_on(EventCutter, reads, [False], 1 << 20)
        assert got == _everything_handed_on(_CutAsBefore, reads, [False], 1 << 20)
        first, second, other, again = got[:4]
        assert first is second is again and other == ev.DeviceState("PJSIP/b", "INUSE")

    def test_memory_stays_bounded(self) -> None:
        cutter = EventCutter(lambda _record: None, lambda _text: None)
        cutter.actions_pending = False
        for n in range(3 * EventCutter.REMEMBERED_FRAMES):
            cutter.feed(_device_frame(f"PJSIP/{n}", "INUSE"))
        assert 0 < len(cutter._remembered) <= EventCutter.REMEMBERED_FRAMES
        assert cutter.decoded == 3 * EventCutter.REMEMBERED_FRAMES

    def test_a_frame_without_a_record_is_not_remembered(self) -> None:
        reads = [b"Event: DeviceStateChange\r\nState: INUSE\r\n\r\n" * 3]
        got = _everything_handed_on(EventCutter, reads, [False], 1 << 20)
        assert got == _everything_handed_on(_CutAsBefore, reads, [False], 1 << 20) == [(3, 0, 0, 0, b"")]

    @given(
        st.lists(
            st.tuples(st.sampled_from(["PJSIP/a", "PJSIP/b", "Queue:q"]), st.sampled_from(["INUSE", "NOT_INUSE", ""])),
            max_size=40,
        ),
        st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
        st.lists(st.booleans(), min_size=9, max_size=9),
    )
    def test_any_sequence_of_device_states(
        self, states: list[tuple[str, str]], cuts: list[int], pending: list[bool]
    ) -> None:
        reads = _reads(b"".join(_device_frame(device, state) for device, state in states), cuts)
        flags = pending[: len(reads)]
        want = _everything_handed_on(_CutAsBefore, reads, flags, 1 << 20)
        assert _everything_handed_on(_RemembersTwo, reads, flags, 1 << 20) == want
        assert _everything_handed_on(EventCutter, reads, flags, 1 << 20) == want
