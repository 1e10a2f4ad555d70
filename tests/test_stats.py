"""Tests for redial.tools.stats."""

from __future__ import annotations

from typing import Any

import pytest

from redial.tools.stats import callback_funnel, format_seconds, funnel, parse_when, percentile


def row(**changes: Any) -> dict[str, Any]:
    base = {
        "queue": "support",
        "agent_member": "Alice",
        "agent_interface": "PJSIP/agent1",
        "trunk": "trunk",
        "ended_at": 1795428000.0,  # Monday 2026-11-23 10:00 UTC
        "answered_at": 1795427900.0,
        "classification": "abnormal",
        "verdict": "redial",
        "reason": "abnormal_end",
        "outcome": "connected",
        "attempted": 1,
    }
    return {**base, **changes}


class TestFunnel:
    """Each stage of the funnel and the recovery rate."""

    def test_stages(self) -> None:
        rows = [
            row(),
            row(outcome="customer_no_answer"),
            row(outcome="customer_called_back", attempted=0),
            row(outcome="customer_on_call", attempted=0),
            row(outcome="callback_requested", attempted=1),
            row(verdict="skip", reason="number_withheld", outcome=None, attempted=0),
            row(classification="normal", verdict="skip", reason="normal_end", outcome=None, attempted=0),
            row(classification="unanswered", answered_at=None, verdict="skip", reason="not_answered", outcome=None),
        ]
        (only,) = funnel(rows).values()
        assert only.as_dict() == {
            "answered": 7,
            "abnormal_ends": 6,
            "skipped_by_policy": {"number_withheld": 1},
            "customer_called_back_first": 1,
            "customer_on_call": 1,
            "callback_requested": 1,
            "redials_attempted": 3,
            "connected": 1,
            "recovery_rate": round(1 / 6, 4),
        }

    def test_grouping(self) -> None:
        rows = [row(), row(queue="sales", agent_member="Bob", outcome=None), row(ended_at=1795428000.0 + 86400)]
        assert list(funnel(rows, "queue")) == ["sales", "support"]
        assert funnel(rows, "agent")["Bob"].connected == 0
        assert list(funnel(rows, "day")) == ["2026-11-23", "2026-11-24"]
        assert list(funnel(rows, "day", "Pacific/Kiritimati")) == ["2026-11-24", "2026-11-25"]

    def test_no_abnormal_no_rate(self) -> None:
        assert funnel([row(classification="normal")])["all"].recovery_rate is None


class TestParseWhen:
    """Relative durations and dates."""

    def test_forms(self) -> None:
        assert parse_when("7d", 1_000_000.0) == 1_000_000.0 - 7 * 86400
        assert parse_when("30m", 10_000.0) == 10_000.0 - 1800
        assert parse_when("2026-11-23", 0, "UTC") == 1795392000.0
        assert parse_when("2026-11-23T10:00:00+01:00", 0) == 1795424400.0

    def test_bad(self) -> None:
        with pytest.raises(ValueError, match="neither a duration"):
            parse_when("last week", 0)


def job(**changes: Any) -> dict[str, Any]:
    base = {
        "queue": "support",
        "state": "done",
        "outcome": "connected",
        "rings": 1,
        "created_at": 1000.0,
        "connected_at": 1300.0,
    }
    return {**base, **changes}


def offer(event: str, count: int = 1, queue: str = "support", detail: str = "") -> dict[str, Any]:
    return {"queue": queue, "event": event, "detail": detail, "count": count}


class TestCallbackFunnel:
    """The queue-callback funnel per queue: offer steps from the log, ends from the jobs."""

    def test_stages(self) -> None:
        offers = [
            offer("offered", 6),
            offer("not_offered", 2, detail="closed"),
            offer("not_offered", 1, detail="queue full"),
            offer("accepted", 3),
            offer("merged", 1),
            offer("number_refused", 1),
        ]
        jobs = [
            job(),
            job(rings=2, created_at=2000.0, connected_at=2900.0),
            job(outcome="unreached", rings=3),
            job(outcome="customer_called_back", rings=0),
            job(outcome="cancelled", rings=1),
            job(outcome="failed"),
            # Still open: the last attempt's outcome is not how the job ended.
            job(state="waiting", outcome="customer_no_answer", rings=1),
            job(state="waiting", outcome=None, rings=0),
        ]
        (only,) = callback_funnel(offers, jobs).values()
        assert only.as_dict() == {
            "offered": 6,
            "not_offered": 3,
            "not_offered_by_reason": {"closed": 2, "queue full": 1},
            "accepted": 4,
            "merged": 1,
            "number_refused": 1,
            "requested": 8,
            "served": 6,
            "reached": 2,
            "unreached": 1,
            "cancelled": 2,
            "ended_otherwise": {"failed": 1},
            "pending": 2,
            "request_to_callback_median_seconds": 600.0,
            "request_to_callback_p90_seconds": 840.0,
        }

    def test_per_queue_only_with_activity(self) -> None:
        groups = callback_funnel([offer("not_offered", queue="sales", detail="closed")], [job(queue=None)])
        assert list(groups) == ["-", "sales"]
        assert groups["sales"].requested == 0 and groups["sales"].not_offered == {"closed": 1}
        assert groups["-"].reached == 1
        assert callback_funnel([], []) == {}

    def test_no_reached_no_wait(self) -> None:
        (only,) = callback_funnel([], [job(outcome="unreached")]).values()
        assert only.wait_median is None and only.as_dict()["request_to_callback_p90_seconds"] is None


class TestPercentile:
    """Linear interpolation between closest ranks."""

    def test_values(self) -> None:
        assert percentile([], 0.5) is None
        assert percentile([7.0], 0.9) == 7.0
        assert percentile([30.0, 10.0, 20.0], 0.5) == 20.0
        assert percentile([10.0, 20.0], 0.5) == 15.0
        assert percentile([float(n) for n in range(1, 11)], 0.9) == pytest.approx(9.1)
        assert percentile([1.0, 2.0, 3.0], 1.0) == 3.0


class TestFormatSeconds:
    """Waits written for people."""

    def test_forms(self) -> None:
        assert format_seconds(44.6) == "45s"
        assert format_seconds(245) == "4m05s"
        assert format_seconds(7380) == "2h03m"
