"""Replay benchmark: events per second of the daemon's whole path, beside other AMI consumers.

    .venv/bin/python -m bench.replay [--calls 2000] [--repeat 3]

Builds one AMI byte stream from the Asterisk 22 recordings (``bench.stream``),
then times every path of ``bench.paths`` on the same 64 KiB reads, best of
``--repeat`` runs, by CPU time of this process (one core) and by wall time.
cacofonisk is measured when installed: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import paths
from bench.stream import CallStream, Chunk, StreamStats

TARGET_EVENTS_PER_SECOND = 100_000


@dataclass
class Result:
    name: str
    timing: paths.Timing
    note: str = ""


def best(repeat: int, frames: int, run: Callable[[], object]) -> paths.Timing:
    timings = []
    for _ in range(repeat):
        gc.collect()
        timings.append(paths.timed(frames, run))
    return min(timings, key=lambda t: t.cpu)


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
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the fastest counts")
    args = parser.parse_args(argv)

    paths.quiet_logging()
    chunks, stats = build(args.calls, args.concurrency)
    frames = stats.frames
    print(
        f"stream: {stats.calls} calls ({stats.drops_planted} drops planted), {frames} events, "
        f"{stats.bytes / 1e6:.1f} MB in {len(chunks)} reads of 64 KiB"
    )
    results: list[Result] = []

    split = best(args.repeat, frames, lambda: paths.split_only(chunks))
    results.append(Result("frames only (split, the floor)", split))

    pano = best(args.repeat, frames, lambda: paths.panoramisk_parse(chunks))
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

        caco = best(args.repeat, frames, run_cacofonisk)
        results.append(Result("cacofonisk channel tracker (messages parsed beforehand)", caco))
        del messages, tracker

    cutter = best(args.repeat, frames, lambda: paths.cutter_only(chunks))
    results.append(Result("redial parser alone (bytes -> typed events)", cutter))

    outcome: list[paths.DaemonPath] = []

    def run_daemon() -> None:
        outcome.append(asyncio.run(paths.daemon_path(chunks)))

    whole = best(args.repeat, frames, run_daemon)
    results.append(Result("redial whole path (bytes -> events -> tracker -> decision)", whole))

    width = max(len(r.name) for r in results)
    print(f"\n{'path':<{width}}  {'events/s (cpu)':>14}  {'events/s (wall)':>15}")
    for r in results:
        print(f"{r.name:<{width}}  {r.timing.per_second:>14,.0f}  {r.timing.per_second_wall:>15,.0f}")

    print("\nratios (cpu):")
    print(f"  whole path / panoramisk parsing   {whole.per_second / pano.per_second:6.2f}x  (target > 2)")
    if caco is not None:
        print(f"  whole path / cacofonisk tracker   {whole.per_second / caco.per_second:6.2f}x")
    print(f"  whole path / frames only (floor)  {whole.per_second / split.per_second:6.2f}x")
    print(f"  parser alone / panoramisk parsing {cutter.per_second / pano.per_second:6.2f}x")
    verdict = "met" if whole.per_second >= TARGET_EVENTS_PER_SECOND else "NOT met"
    print(f"  whole path: {whole.per_second:,.0f} events/s, target {TARGET_EVENTS_PER_SECOND:,}: {verdict}")

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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
