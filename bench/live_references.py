"""``bench.live_load --references``: the listening-only AMI clients of bench/ami_readers.py beside
the daemon, and the daemon's CPU against theirs over the same calls."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.machine import Sampler

KINDS = ("floor", "panoramisk")
REPO = Path(__file__).resolve().parent.parent


def start_references(config: Path) -> dict[str, subprocess.Popen[str]]:
    """One process per kind, logged in with the daemon's AMI user (its config file)."""
    return {
        f"ref_{kind}": subprocess.Popen(
            [sys.executable, "-m", "bench.ami_readers", "--config", str(config), "--kind", kind],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in KINDS
    }


def stop_references(references: Mapping[str, subprocess.Popen[str]]) -> dict[str, dict[str, Any]]:
    """SIGTERM each, and what each printed (its own count of reads and CPU); safe to call twice."""
    out: dict[str, dict[str, Any]] = {}
    for name, proc in references.items():
        if proc.poll() is None:
            proc.terminate()
        try:
            text, _ = proc.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            proc.kill()
            continue
        if text and text.strip():
            out[name] = json.loads(text.strip().splitlines()[-1])
    return out


def reference_report(
    printed: Mapping[str, dict[str, Any]],
    report: Mapping[str, Any],
    start: Mapping[str, Any],
    end: Mapping[str, Any],
    sampler: Sampler,
) -> dict[str, Any]:
    """Each reference's CPU from the first call to the end of the settle (as the daemon's ratio
    counts it), and the daemon's CPU as a multiple of it."""
    usage = sampler.usage(start, end, [f"ref_{kind}" for kind in KINDS])
    daemon_cpu = float(report["daemon"]["cpu_s"])
    out: dict[str, Any] = {}
    for kind in KINDS:
        name = f"ref_{kind}"
        cpu = usage.get(name, {}).get("cpu_s")
        if cpu is None:
            continue
        out[kind] = {
            "cpu_s": cpu,
            "daemon_over_it": round(daemon_cpu / cpu, 2) if cpu else None,
            "of_asterisk": round(cpu / float(report["asterisk"]["cpu_s"]), 4) if report["asterisk"]["cpu_s"] else None,
            "printed": printed.get(name, {}),
        }
    return out


def print_references(references: Mapping[str, Any], out: Any = sys.stdout) -> None:
    print("\n  AMI clients that only listen, same user and calls (bench/ami_readers.py):", file=out)
    for kind, row in references.items():
        print(
            f"    {kind:<11} CPU {row['cpu_s']:6.2f} s = {row['of_asterisk']} of Asterisk's;"
            f" the daemon costs {row['daemon_over_it']}x this",
            file=out,
        )
