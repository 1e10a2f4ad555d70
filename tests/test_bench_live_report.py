"""bench.live_load's summary and exit code (bench.live_report), on a report built by hand: counts only."""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any

import pytest

from bench.live_plan import PbxRecord, check, plan_load
from bench.live_report import exit_code, print_summary, ratio_report, soak_report
from bench.targets import IdleResult, Target, cpu_ratio_target, missed, soak_target


def report(targets: list[Target], *, daemon_ok: bool = True, idle: IdleResult | None = None) -> dict[str, Any]:
    """The report bench.live_load.run assembles, with the figures given and no call placed."""
    verdict = check(plan_load(1, 2, 0.5), PbxRecord())
    ratio = targets[0]
    return {
        "plan": {"calls": 2, "drops": 1, "normal": 1},
        "verdict": {
            k: (v if not isinstance(v, list) else {"count": len(v), "first": v[:10]})
            for k, v in asdict(verdict).items()
        },
        "daemon_ok": daemon_ok,
        "harness_ok": True,
        "achieved_cps": 1.0,
        "resources": {
            "load": {
                "daemon": {"cpu_pct_of_one_core": 5.6},
                "asterisk": {"cpu_pct_of_one_core": 34.0},
                "sipp_agents": {"cpu_s": 1.0},
                "machine_busy_pct": 30.5,
            }
        },
        "daemon": {"cpu_s": 1.46, "cpu_ms_per_call": 7.3, "rss_mb_start": 37.8, "rss_mb_peak": 38.0, "rss_mb_end": 38},
        "asterisk": {"cpu_s": 8.92},
        "cpu_ratio": {"daemon_cpu_s": 1.46, "asterisk_cpu_s": 8.92, "ratio": ratio.value, "target": ratio.limit},
        "idle": None if idle is None else idle.as_dict(),
        "soak": None,
        "targets": [t.as_dict() for t in targets],
        "targets_missed": [t.name for t in missed(targets)],
    }


def summary(data: dict[str, Any]) -> str:
    out = io.StringIO()
    print_summary(data, out)
    return out.getvalue()


class TestExitCode:
    """Non-zero when the PBX's verdicts fail or any target is missed."""

    def test_all_met(self) -> None:
        """Verdicts hold and every target met: 0."""
        assert exit_code(report([cpu_ratio_target(0.2, 8.92)])) == 0

    def test_ratio_missed(self) -> None:
        """The ratio target missed (today's 0.16): 1, though the verdicts hold."""
        assert exit_code(report([cpu_ratio_target(1.46, 8.92)])) == 1

    def test_verdict_failed(self) -> None:
        """A failed daemon verdict: 1, though every target is met."""
        assert exit_code(report([cpu_ratio_target(0.2, 8.92)], daemon_ok=False)) == 1

    def test_unjudged_soak_is_no_miss(self) -> None:
        """A soak too short to judge leaves the exit code 0."""
        soak, _ = soak_target([{"t": 0, "rss_mb": 30, "store_bytes": 0}], 20)
        assert exit_code(report([cpu_ratio_target(0.2, 8.92), soak])) == 0


class TestSummary:
    """The summary prints the ratio with its target and names every target missed."""

    def test_names_the_missed_ratio(self) -> None:
        """The ratio row and the line of misses name the CPU ratio."""
        text = summary(report([cpu_ratio_target(1.46, 8.92)]))
        assert "1.46 s / 8.92 s = 0.1637 (target <= 0.03)" in text
        assert "targets missed: daemon CPU / Asterisk CPU, same run" in text

    def test_every_target_met(self) -> None:
        """With nothing missed it says so."""
        assert "every target met" in summary(report([cpu_ratio_target(0.2, 8.92)]))

    def test_failed_verdict_is_named(self) -> None:
        """A failed PBX verdict is named among the misses."""
        assert "targets missed: the PBX's verdicts" in summary(report([cpu_ratio_target(0.2, 8.92)], daemon_ok=False))

    def test_idle_threads_are_listed(self) -> None:
        """The idle phase prints every thread's wake-ups, the main thread marked."""
        idle = IdleResult(seconds=30, ping_interval=2, cpu_s=0.009, main_tid=4321, wakeups={4321: 26, 4322: 0})
        text = summary(report([cpu_ratio_target(0.2, 8.92), *idle.targets()], idle=idle))
        assert "main-thread wake-ups 26 (bound 32" in text
        assert "thread     4321 main      26 wake-ups    0.87/s" in text
        assert "thread     4322 other      0 wake-ups" in text


class TestReportParts:
    """The report's cpu_ratio and soak parts carry their figures and their verdicts."""

    def test_ratio_report(self) -> None:
        """The ratio, rounded, beside both CPU times and the 0.03 target."""
        part, target = ratio_report(1.46, 8.92)
        assert part["ratio"] == 0.16368 and part["target"] == 0.03 and part["met"] is False
        assert target.value == 1.46 / 8.92

    def test_soak_report(self) -> None:
        """The series kept whole; growth after the 60 s warm-up with its allowance."""
        series = [
            {"t": float(t), "rss_mb": 40.0 + t / 100, "store_bytes": 1000 * t, "calls_placed": t}
            for t in range(0, 121, 10)
        ]
        part, target = soak_report(series, 120, 10)
        assert part["series"] == series and part["warmup_s"] == 60
        assert part["growth"]["rss_growth_mb"] == pytest.approx(0.6)
        assert part["growth"]["allowance_mb"] == pytest.approx(0.06 + 1.049)
        assert target.met
