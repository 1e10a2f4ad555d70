"""Tests for the replay, reaction and memory benchmarks' harness (bench/): small runs, counts only, no timing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bench import memory, paths, reaction
from bench.stream import MIX, CallStream, call_values, load_templates
from redial.ami import events as ev
from redial.ami.frames import parse_frame

REPO = Path(__file__).resolve().parent.parent
UNIQUEID = re.compile(rb"^Uniqueid: (\S+)\r$", re.M)


def small_stream(calls: int = 40, **kwargs: object) -> tuple[list[paths.Chunk], CallStream]:
    stream = CallStream(calls, chunk_bytes=4096, **kwargs)  # type: ignore[arg-type]
    return list(stream.chunks()), stream


class TestStream:
    """The stream repeats the recordings as distinct calls and plants exactly the mix's drops."""

    def test_renumbering_yields_distinct_calls(self, corpus: Path) -> None:
        chunks, _ = small_stream(30)
        data = b"".join(c.data for c in chunks)
        uniqueids = set(UNIQUEID.findall(data))
        assert len(uniqueids) == 2 * 30  # customer and agent leg of every call
        assert b"%(" not in data  # no placeholder left unfilled

    def test_identities_differ_per_call(self) -> None:
        first, second = call_values(0), call_values(1)
        assert all(first[key] != second[key] for key in (b"u0", b"u1", b"c0", b"c1", b"bridge"))

    def test_drops_planted_are_the_mix(self) -> None:
        _, stream = small_stream(50)
        drops_per_ten = sum(name in ("drop_rtp_timeout", "drop_bye_q850_41") for name in MIX)
        assert stream.stats.drops_planted == 50 * drops_per_ten // 10 == 10
        assert sum(stream.stats.by_template.values()) == stream.stats.calls == 50

    def test_frames_counted_are_frames_sent(self) -> None:
        chunks, stream = small_stream(20)
        data = b"".join(c.data for c in chunks)
        templates = load_templates()
        assert stream.stats.frames == data.count(b"\r\n\r\n")
        assert stream.stats.frames == sum(len(stream.template_of(i).frames) for i in range(20))
        assert stream.stats.bytes == len(data)
        assert all(len(c.data) == 4096 for c in chunks[:-1])
        assert set(templates) == set(MIX)

    def test_only_call_frames(self) -> None:
        chunks, _ = small_stream(10)
        data = b"".join(c.data for c in chunks)
        assert b"Event: FullyBooted" not in data and b"Event: SuccessfulAuth" not in data
        assert not data.startswith(b"Asterisk Call Manager")

    def test_interleaved_calls_keep_their_own_order(self) -> None:
        chunks, _ = small_stream(12, concurrency=5)
        frames = [parse_frame(block) for block in b"".join(c.data for c in chunks).split(b"\r\n\r\n") if block]
        born = {f["Uniqueid"]: i for i, f in enumerate(frames) if f and f.get("Event") == "Newchannel"}
        gone = {f["Uniqueid"]: i for i, f in enumerate(frames) if f and f.get("Event") == "Hangup"}
        assert born.keys() == gone.keys() and len(born) == 24
        assert all(born[uid] < gone[uid] for uid in born)
        # Calls overlap: some call starts before an earlier one has ended.
        assert any(born[b] < gone[a] for a in born for b in born if born[a] < born[b])


class TestPaths:
    """Every compared path sees every event of the same bytes."""

    def test_split_and_panoramisk_count_every_frame(self) -> None:
        chunks, stream = small_stream(20)
        assert paths.split_only(chunks) == stream.stats.frames
        assert paths.panoramisk_parse(chunks) == stream.stats.frames

    def test_parser_cuts_every_frame_and_decodes_what_decode_would(self) -> None:
        chunks, stream = small_stream(20)
        cutter = paths.cutter_only(chunks)
        data = b"".join(c.data for c in chunks)
        frames = [parse_frame(block) for block in data.split(b"\r\n\r\n") if block]
        expected = sum(1 for f in frames if f is not None and ev.decode(f) is not None)
        assert cutter.frames == stream.stats.frames
        assert cutter.decoded == expected


class TestDaemonPath:
    """Events in equals events processed; drops found equals drops planted; finished calls are forgotten."""

    def test_counts(self) -> None:
        chunks, stream = small_stream(60)
        path = asyncio.run(paths.daemon_path(chunks))
        stats, counts = stream.stats, path.counts
        assert path.frames == stats.frames
        assert counts.calls_recorded == stats.calls == 60
        assert counts.abnormal == stats.drops_planted == 12
        assert counts.redial_decisions == counts.redials_created == stats.drops_planted
        assert counts.originates == stats.drops_planted
        assert path.engine.tracked_calls == 0 and path.engine.open_redial_count == 0

    def test_one_call_at_a_time_gives_the_same_counts(self) -> None:
        chunks, stream = small_stream(20, concurrency=1)
        path = asyncio.run(paths.daemon_path(chunks))
        assert (path.counts.calls_recorded, path.counts.abnormal) == (20, stream.stats.drops_planted)


class TestMemory:
    """The memory run replays a stream generated on the fly and leaves nothing tracked."""

    def test_small_run(self, capsys: object) -> None:
        paths.quiet_logging()
        asyncio.run(memory.replay(calls=200, samples=4, warmup=0.25))
        out = capsys.readouterr().out  # type: ignore[attr-defined]
        assert "drops found 40 of 40 planted" in out
        assert "calls decided 200" in out
        assert re.search(r"RSS after warm-up [0-9.]+ MB", out)

    def test_rss_is_read(self) -> None:
        assert memory.rss_mb() > 1


class TestReaction:
    """The loopback reaction run times every planted drop once (no timing asserted)."""

    def test_every_drop_is_redialled(self) -> None:
        plan = reaction.Plan(drops=3, rate=200.0, every=0.05, timeout=60.0, warmup=0.2)
        result = asyncio.run(reaction.run(plan))
        assert result["drops"] == 3
        assert len(result["latencies"]) == 3
        assert all(latency > 0 for latency in result["latencies"])
        assert result["background_frames"] > 0

    def test_drops_are_cut_before_the_customer_hangup(self) -> None:
        for drop in reaction.drop_calls(2):
            assert drop.tail[0].startswith(b"Event: Hangup\r\n") and b"PJSIP/trunk-" in drop.tail[0]
            assert not any(f.startswith(b"Event: Hangup\r\n") for f in drop.head)


class TestNeededEvents:
    """NEEDED_EVENTS is the decoder table, and the shipped manager.conf lets exactly those through."""

    def test_every_decoded_event_is_needed(self) -> None:
        assert frozenset(ev.DECODERS) == ev.NEEDED_EVENTS

    def test_shipped_eventfilter_matches(self) -> None:
        conf = (REPO / "config" / "manager_redial.conf").read_text(encoding="utf-8")
        section = conf.split("[redial]", 1)[1].split("\n[", 1)[0]
        names = set(re.findall(r"^eventfilter\(name\((\w+)\)\)\s*=\s*$", section, re.M))
        assert names == set(ev.NEEDED_EVENTS)
