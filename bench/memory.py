"""Memory: the daemon's resident size while it replays a million calls.

    .venv/bin/python -m bench.memory [--calls 1000000] [--samples 20]

The same whole path as ``bench.replay`` (the daemon's protocol, consumer and
engine on counting sinks), fed a stream generated as it is consumed, so the
stream itself takes no memory. Prints VmRSS (``/proc/self/status``) at
``--samples`` points, each after a full garbage collection, and the growth from
the end of the warm-up (the first ``--warmup`` share of the calls) to the end.
Target: growth under 5 MB; every finished call leaves memory (tracked calls and
open redials back to zero at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

from bench import paths
from bench.stream import CallStream

TARGET_GROWTH_MB = 5.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def replay(calls: int, samples: int, warmup: float) -> int:
    stream = CallStream(calls)
    path = await paths.DaemonPath.build()
    step = max(1, calls // samples)
    warm_calls = max(1, int(calls * warmup))
    next_sample = step
    warm_rss: float | None = None
    peak_after_warmup = 0.0
    started = time.perf_counter()
    print(f"{'calls':>9} {'events':>11} {'RSS MB':>8} {'tracked':>7} {'open':>5} {'events/s':>9}")

    def sample(label: str = "") -> float:
        gc.collect()
        rss = rss_mb()
        elapsed = time.perf_counter() - started
        print(
            f"{stream.stats.calls:>9} {path.frames:>11} {rss:>8.1f} {path.engine.tracked_calls:>7} "
            f"{path.engine.open_redial_count:>5} {path.frames / elapsed:>9,.0f} {label}",
            flush=True,
        )
        return rss

    for chunk in stream.chunks():
        await path.feed(chunk)
        done = stream.stats.calls
        if warm_rss is None and done >= warm_calls:
            warm_rss = sample("<- end of warm-up")
        elif done >= next_sample:
            rss = sample()
            if warm_rss is not None:
                peak_after_warmup = max(peak_after_warmup, rss)
        while next_sample <= done:
            next_sample += step
    await path.finish()
    final = sample("<- end (every window and deadline passed)")
    warm = warm_rss if warm_rss is not None else final
    peak_after_warmup = max(peak_after_warmup, final)
    growth = final - warm
    counts = path.counts
    print(
        f"\n{stream.stats.calls} calls, {path.frames} events; calls decided {counts.calls_recorded}, "
        f"drops found {counts.abnormal} of {stream.stats.drops_planted} planted, Originates {counts.originates}"
    )
    print(
        f"RSS after warm-up {warm:.1f} MB, at the end {final:.1f} MB, highest after warm-up "
        f"{peak_after_warmup:.1f} MB: growth {growth:+.1f} MB (peak {peak_after_warmup - warm:+.1f} MB)"
    )
    left = path.engine.tracked_calls + path.engine.open_redial_count
    ok = growth < TARGET_GROWTH_MB and left == 0
    verdict = "met" if ok else "NOT met"
    print(f"target growth < {TARGET_GROWTH_MB:g} MB, nothing left tracked: {verdict}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls to replay (about 87 events each)")
    parser.add_argument("--samples", type=int, default=20, help="RSS readings")
    parser.add_argument("--warmup", type=float, default=0.1, help="share of the calls counted as warm-up")
    args = parser.parse_args(argv)
    paths.quiet_logging()
    return asyncio.run(replay(args.calls, args.samples, args.warmup))


if __name__ == "__main__":
    sys.exit(main())
