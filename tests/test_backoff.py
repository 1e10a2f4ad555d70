"""Tests for redial.ami.backoff."""

from __future__ import annotations

from redial.ami.backoff import Backoff


class TestBackoff:
    """The delays themselves."""

    def test_doubles_to_cap_with_jitter_in_upper_half(self) -> None:
        drawn: list[tuple[float, float]] = []
        backoff = Backoff(1, 8, uniform=lambda low, high: drawn.append((low, high)) or high)
        delays = [backoff.advance() for _ in range(6)]
        assert delays == [1, 2, 4, 8, 8, 8]
        assert drawn[2] == (2, 4)
        backoff.reset()
        assert backoff.advance() == 1
