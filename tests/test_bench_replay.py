"""The replay benchmark's arithmetic (bench.replay): the median of its runs and its three targets, no timing."""

from __future__ import annotations

import pytest

from bench import replay
from bench.paths import Timing


def timing(cpu: float, wall: float | None = None, frames: int = 100_000) -> Timing:
    return Timing(frames, wall if wall is not None else cpu, cpu)


class TestMedian:
    """A path's figure is the median of its runs, not the best."""

    def test_median_not_best(self) -> None:
        """Of 0.5, 0.9 and 1.0 s the median 0.9 s counts, not the fastest 0.5 s."""
        median = replay.median_timing([timing(1.0), timing(0.5), timing(0.9)])
        assert median.cpu == 0.9 and median.frames == 100_000

    def test_even_count_averages_the_middle(self) -> None:
        """With an even count the two middle runs are averaged, CPU and wall each on its own."""
        median = replay.median_timing([timing(1.0, 4.0), timing(2.0, 1.0), timing(3.0, 2.0), timing(4.0, 3.0)])
        assert (median.cpu, median.wall) == (2.5, 2.5)

    def test_no_runs(self) -> None:
        """No runs, no median."""
        with pytest.raises(ValueError):
            replay.median_timing([])

    def test_median_of_runs_every_run(self) -> None:
        """median_of runs the path --repeat times."""
        calls: list[int] = []
        replay.median_of(5, 10, lambda: calls.append(1))
        assert len(calls) == 5


class TestTargets:
    """Whole path >= 100,000 events/s, >= 2.3x panoramisk's parsing and >= 0.5x cacofonisk's tracker."""

    def test_all_met(self) -> None:
        """Whole path 0.5 s, panoramisk 1.25 s (2.5x), cacofonisk 0.25 s (0.5x, at the limit): all met."""
        targets = replay.targets(timing(0.5), timing(1.25), timing(0.25))
        assert [round(t.value or 0, 2) for t in targets] == [200_000, 2.5, 0.5]
        assert all(t.met for t in targets)

    def test_panoramisk_ratio_below_target_misses(self) -> None:
        """2.2x panoramisk's parsing misses the 2.3x target."""
        targets = replay.targets(timing(0.5), timing(1.1), timing(0.3))
        assert [t.met for t in targets] == [True, False, True]

    def test_cacofonisk_ratio_below_target_misses(self) -> None:
        """0.3x cacofonisk's tracker (recent runs' figure) misses the 0.5x target."""
        targets = replay.targets(timing(0.5), timing(2.0), timing(0.15))
        assert [t.met for t in targets] == [True, True, False]

    def test_slow_whole_path_misses(self) -> None:
        """Under 100,000 events/s misses, whatever the ratios."""
        targets = replay.targets(timing(2.0), timing(5.0), timing(1.0))
        assert [t.met for t in targets] == [False, True, True]

    def test_cacofonisk_not_installed_misses(self) -> None:
        """Without cacofonisk its ratio is not measured, which counts as a miss."""
        caco = replay.targets(timing(0.5), timing(2.0), None)[2]
        assert caco.value is None and not caco.met and caco.judged
