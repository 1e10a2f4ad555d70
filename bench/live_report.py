"""bench.live_load's report: what it reads off the PBX and the daemon after a run, and the summary it
prints (the PBX's verdicts, the resources, the idle phase, the soak, and every target)."""

from __future__ import annotations

import contextlib
import sys
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.live_references import print_references
from bench.targets import (
    KEPT_PER_DROP_BYTES,
    STORE_CACHE_MB,
    TARGET_CPU_RATIO,
    Target,
    cpu_ratio_target,
    soak_target,
    warmup_seconds,
)


def queue_log_counts(path: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    with contextlib.suppress(OSError), open(path, errors="replace") as fh:
        for line in fh:
            parts = line.split("|")
            if len(parts) > 4:
                counts[parts[4].strip()] += 1
    return dict(sorted(counts.items()))


def daemon_metrics(port: int) -> dict[str, float]:
    """The daemon's own counters (its word, reported beside the PBX's, never judged by)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(
            (
                "redial_drops_total",
                "redial_outcomes_total",
                "redial_redials_total",
                "redial_decisions_total",
                "redial_calls_total",
            )
        ):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


def asterisk_warnings(path: Path) -> dict[str, int]:
    """WARNING and ERROR lines of Asterisk's log, grouped by their source location."""
    counts: Counter[str] = Counter()
    with contextlib.suppress(OSError), open(path, errors="replace") as fh:
        for line in fh:
            for level in ("WARNING", "ERROR"):
                marker = f" {level}["
                if marker in line:
                    where = line.split("]", 2)[-1].split(":", 1)[0].strip()
                    counts[f"{level} {where}"] += 1
    return dict(counts.most_common(10))


def ratio_report(daemon_cpu_s: float, asterisk_cpu_s: float) -> tuple[dict[str, Any], Target]:
    """The report's `cpu_ratio` (both CPU times over the same interval: calls and settle) and its target."""
    target = cpu_ratio_target(daemon_cpu_s, asterisk_cpu_s)
    return {
        "interval": "calls and settle",
        "daemon_cpu_s": round(daemon_cpu_s, 3),
        "asterisk_cpu_s": round(asterisk_cpu_s, 3),
        "ratio": None if target.value is None else round(target.value, 5),
        "target": TARGET_CPU_RATIO,
        "met": target.met,
    }, target


def soak_report(
    series: list[dict[str, float]], duration: float, sample_every: float, drop_ratio: float = 0.0
) -> tuple[dict[str, Any], Target]:
    """The report's `soak` (its series, the growth after warm-up) and its target."""
    target, growth = soak_target(series, duration, drop_ratio)
    return {
        "sample_every_s": sample_every,
        "warmup_s": warmup_seconds(duration),
        "growth": None if growth is None else {**asdict(growth), "allowance_mb": round(growth.allowance_mb, 3)},
        "series": series,
    }, target


def report_targets(report: Mapping[str, Any]) -> list[Target]:
    return [Target.from_dict(t) for t in report.get("targets", [])]


def print_idle(idle: Mapping[str, Any], out: Any = sys.stdout) -> None:
    print(
        f"\n  idle phase: {idle['seconds']:g} s logged in, no call; ping every {idle['ping_interval_s']:g} s; "
        f"daemon CPU {idle['cpu_s'] * 1000:.1f} ms = {idle['cpu_pct_of_one_core']:.3f} % of one core",
        file=out,
    )
    print(
        f"  main-thread wake-ups {idle['main_wakeups']} (bound {idle['main_wakeup_bound']}: two per Ping, "
        f"one Ping more for the window's edges); all threads {idle['wakeups_per_s_total']:.2f}/s",
        file=out,
    )
    for tid, row in idle["threads"].items():
        print(
            f"    thread {tid:>8} {row['role']:<5}  {row['wakeups']:5d} wake-ups  {row['wakeups_per_s']:6.2f}/s",
            file=out,
        )
    if idle.get("threads_gone"):
        print(f"    threads that ended in the window: {idle['threads_gone']}", file=out)


def print_soak(soak: Mapping[str, Any], out: Any = sys.stdout) -> None:
    series = soak["series"]
    print(
        f"\n  soak: {len(series)} samples every {soak['sample_every_s']:g} s, warm-up {soak['warmup_s']:g} s",
        file=out,
    )
    growth = soak.get("growth")
    if growth is None:
        print("  not judged: no samples after the warm-up (a run longer than its warm-up is judged)", file=out)
        return
    print(
        f"  after warm-up ({growth['since']:.0f} s to {growth['until']:.0f} s): "
        f"RSS {growth['rss_mb_at_warmup']:.1f} MB "
        f"+{growth['rss_growth_mb']:.2f} MB, store {growth['store_bytes_at_warmup'] / 1e6:.2f} MB "
        f"+{growth['store_growth_bytes'] / 1e6:.2f} MB",
        file=out,
    )
    print(
        f"  RSS growth after warm-up <= min(store growth, {STORE_CACHE_MB:.2f} MB: SQLite's page cache) + one 1 MiB "
        f"arena + {KEPT_PER_DROP_BYTES} B a drop (kept for the caps' and returning window): "
        f"{growth['rss_growth_mb']:.2f} <= {growth['allowance_mb']:.2f}",
        file=out,
    )


def print_summary(report: Mapping[str, Any], out: Any = sys.stdout) -> None:
    v = report["verdict"]

    def n(key: str) -> int:
        value = v[key]
        return int(value["count"] if isinstance(value, dict) else value)

    load = report["resources"]["load"]
    ratio = report["cpu_ratio"]
    rows = [
        ("calls planned / placed on the PBX", f"{report['plan']['calls']} / {v['placed']}"),
        ("achieved rate (calls/s)", f"{report['achieved_cps']}"),
        ("answered by an agent", f"{v['answered']}"),
        ("dropped after answer (planned)", f"{v['dropped']} ({report['plan']['drops']})"),
        ("ended normally", f"{v['ended_normally']}"),
        ("redials (agent legs originated)", f"{v['redials']}"),
        ("drops redialled exactly once", f"{v['redialled_once']}"),
        ("drops never redialled", f"{n('missing')}"),
        ("double redials", f"{n('double')}"),
        ("normal calls redialled", f"{n('normal_redialled')}"),
        ("redials that rang the same agent", f"{v['same_agent']}"),
        ("redials connected (customer bridged)", f"{v['connected']}"),
        (
            "harness deviations (unanswered/unfinished/not as planned)",
            f"{n('unanswered')}/{n('unfinished')}/{n('deviations')}",
        ),
        ("daemon CPU s (ms per call)", f"{report['daemon']['cpu_s']} ({report['daemon']['cpu_ms_per_call']})"),
        ("daemon CPU % of one core, during load", f"{load.get('daemon', {}).get('cpu_pct_of_one_core', '?')}"),
        (
            "daemon RSS MB start / peak / end",
            " / ".join(str(report["daemon"][k]) for k in ("rss_mb_start", "rss_mb_peak", "rss_mb_end")),
        ),
        (
            "Asterisk CPU s (% of one core, during load)",
            f"{report['asterisk']['cpu_s']} ({load.get('asterisk', {}).get('cpu_pct_of_one_core', '?')})",
        ),
        (
            "daemon CPU / Asterisk CPU, calls and settle",
            f"{ratio['daemon_cpu_s']:.2f} s / {ratio['asterisk_cpu_s']:.2f} s = "
            + ("?" if ratio["ratio"] is None else f"{ratio['ratio']:.4f}")
            + f" (target <= {ratio['target']:g})",
        ),
        ("SIPp CPU s (all five)", f"{sum(x['cpu_s'] for k, x in load.items() if k.startswith('sipp_')):.2f}"),
        ("machine busy % (all cores, during load)", f"{load['machine_busy_pct']}"),
        (
            "daemon verdict / harness verdict",
            f"{'OK' if report['daemon_ok'] else 'FAIL'} / {'OK' if report['harness_ok'] else 'FAIL'}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("", file=out)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}", file=out)
    for key in (
        "missing",
        "double",
        "normal_redialled",
        "unanswered_redialled",
        "orphan_redials",
        "not_placed",
        "unanswered",
        "unfinished",
        "deviations",
    ):
        value = v[key]
        if value["count"]:
            print(f"  {key}: {value['count']}, e.g. {value['first'][:3]}", file=out)
    if report.get("idle"):
        print_idle(report["idle"], out)
    if report.get("soak"):
        print_soak(report["soak"], out)
    if report.get("references"):
        print_references(report["references"], out)
    targets = report_targets(report)
    print("\n  targets:", file=out)
    for target in targets:
        print(f"    {target.line(4)}", file=out)
    misses = [t.name for t in targets if not t.met]
    if not (report["daemon_ok"] and report["harness_ok"]):
        misses.insert(0, "the PBX's verdicts (daemon / harness)")
    print(f"  {'targets missed: ' + '; '.join(misses) if misses else 'every target met'}", file=out)
    if "result_file" in report:
        print(f"  figures written to {report['result_file']}", file=out)


def exit_code(report: Mapping[str, Any]) -> int:
    """0 only when the PBX's verdicts hold and every target is met (print_summary names the misses)."""
    return 0 if report["daemon_ok"] and report["harness_ok"] and not report["targets_missed"] else 1
