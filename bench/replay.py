"""Replay benchmark: events per second of the daemon's whole path, beside other AMI consumers.

    .venv/bin/python -m bench.replay [--calls 2000] [--repeat 3]

Builds one AMI byte stream from the Asterisk 22 recordings (``bench.stream``),
then times every path of ``bench.paths`` on the same 64 KiB reads, ``--repeat``
runs each, by CPU time of this process (one core) and by wall time. Each path's
figure is the median of its runs (no longer the best: issue 14 quotes medians).

Targets (issue 14), each printed with its verdict; a miss, or a count that does not
add up, exits non-zero:
- the whole path at 100,000 events/s or more (CPU);
- the whole path at least 2.3x panoramisk's parsing alone (CPU, same run);
- the whole path at least 0.5x cacofonisk's tracker (CPU, same run). cacofonisk
  is needed for it: ``.venv/bin/pip install -e '.[bench]'``; without it this
  target is not measured, which counts as missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import paths
from bench.stream import CallStream, Chunk, StreamStats
from bench.targets import Target, missed

TARGET_EVENTS_PER_SECOND = 100_000
TARGET_OVER_PANORAMISK = 2.3  # whole path / panoramisk's parsing, CPU
TARGET_OVER_CACOFONISK = 0.5  # whole path / cacofonisk's tracker, CPU


@dataclass
class Result:
    name: str
    timing: paths.Timing
    note: str = ""


def median_timing(timings: Sequence[paths.Timing]) -> paths.Timing:
    """The median CPU time and the median wall time of a path's runs (each taken on its own)."""
    if not timings:
        raise ValueError("no runs to take the median of")
    return paths.Timing(
        timings[0].frames,
        statistics.median(t.wall for t in timings),
        statistics.median(t.cpu for t in timings),
    )


def median_of(repeat: int, frames: int, run: Callable[[], object]) -> paths.Timing:
    """`repeat` runs of one path, one after the other; their median."""
    timings = []
    for _ in range(repeat):
        gc.collect()
        timings.append(paths.timed(frames, run))
    return median_timing(timings)


def ratio(a: paths.Timing, b: paths.Timing | None) -> float | None:
    """a's events per second (CPU) over b's; None when b was not measured."""
    return None if b is None else a.per_second / b.per_second


def targets(whole: paths.Timing, pano: paths.Timing, caco: paths.Timing | None) -> list[Target]:
    """Issue 14's replay targets, from the medians of one run."""
    return [
        Target("whole path, events/s (CPU)", whole.per_second, ">=", TARGET_EVENTS_PER_SECOND),
        Target("whole path / panoramisk parsing (CPU)", ratio(whole, pano), ">=", TARGET_OVER_PANORAMISK, "x"),
        Target("whole path / cacofonisk tracker (CPU)", ratio(whole, caco), ">=", TARGET_OVER_CACOFONISK, "x"),
    ]


def build(calls: int, concurrency: int) -> tuple[list[Chunk], StreamStats]:
    stream = CallStream(calls, concurrency=concurrency)
    chunks = list(stream.chunks())
    return chunks, stream.stats


def check(name: str, got: int, want: int) -> str:
    return f"{name}: {got} of {want}" + ("" if got == want else "  <-- MISMATCH")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls in the stream (about 87 events each)")
    parser.add_argument("--concurrency", type=int, default=20, help="calls in progress at once")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median counts")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")

    paths.quiet_logging()
    chunks, stats = build(args.calls, args.concurrency)
    frames = stats.frames
    print(
        f"stream: {stats.calls} calls ({stats.drops_planted} drops planted), {frames} events, "
        f"{stats.bytes / 1e6:.1f} MB in {len(chunks)} reads of 64 KiB"
    )
    results: list[Result] = []

    split = median_of(args.repeat, frames, lambda: paths.split_only(chunks))
    results.append(Result("frames only (split, the floor)", split))

    pano = median_of(args.repeat, frames, lambda: paths.panoramisk_parse(chunks))
    results.append(Result("panoramisk parsing (data_received -> Message -> dispatch)", pano))

    try:
        tracker, _reporter = paths.cacofonisk_tracker()
    except ImportError:
        caco = None
        print("cacofonisk is not installed; to compare with it: .venv/bin/pip install -e '.[bench]'")
    else:
        messages = paths.panoramisk_messages(chunks)

        def run_cacofonisk() -> Any:
            run, _ = paths.cacofonisk_tracker()  # a fresh tracker each run
            return run(messages)

        caco = median_of(args.repeat, frames, run_cacofonisk)
        results.append(Result("cacofonisk channel tracker (messages parsed beforehand)", caco))
        del messages, tracker

    cutter = median_of(args.repeat, frames, lambda: paths.cutter_only(chunks))
    results.append(Result("redial parser alone (bytes -> typed events)", cutter))

    outcome: list[paths.DaemonPath] = []

    def run_daemon() -> None:
        outcome.append(asyncio.run(paths.daemon_path(chunks)))

    whole = median_of(args.repeat, frames, run_daemon)
    results.append(Result("redial whole path (bytes -> events -> tracker -> decision)", whole))

    width = max(len(r.name) for r in results)
    print(f"\nmedian of {args.repeat} runs per path (not the best)")
    print(f"{'path':<{width}}  {'events/s (cpu)':>14}  {'events/s (wall)':>15}")
    for r in results:
        print(f"{r.name:<{width}}  {r.timing.per_second:>14,.0f}  {r.timing.per_second_wall:>15,.0f}")

    print("\nratios (cpu), for comparison:")
    print(f"  whole path / frames only (floor)  {whole.per_second / split.per_second:6.2f}x")
    print(f"  parser alone / panoramisk parsing {cutter.per_second / pano.per_second:6.2f}x")
    judged = targets(whole, pano, caco)
    print("\ntargets (issue 14):")
    for target in judged:
        print(f"  {target.line(2)}")

    last = outcome[-1]
    counts = last.counts
    print("\ncounts (last run of the whole path):")
    print("  " + check("events processed", last.frames, frames))
    print("  " + check("calls decided", counts.calls_recorded, stats.calls))
    print("  " + check("drops found (abnormal)", counts.abnormal, stats.drops_planted))
    print("  " + check("redial decisions", counts.redial_decisions, stats.drops_planted))
    print(
        f"  typed events: {last.decoded}, Originates sent: {counts.originates}, tracked calls left: "
        f"{last.engine.tracked_calls}"
    )
    ok = (
        last.frames == frames
        and counts.calls_recorded == stats.calls
        and counts.abnormal == stats.drops_planted == counts.redial_decisions
    )
    misses = [t.name for t in missed(judged)] + ([] if ok else ["the counts"])
    print(f"\n{'missed: ' + '; '.join(misses) if misses else 'every target met, every count adds up'}")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
