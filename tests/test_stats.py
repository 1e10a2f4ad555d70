"""Tests for redial.tools.stats."""

from __future__ import annotations

from typing import Any

import pytest

from redial.tools.stats import funnel, parse_when


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
