"""Tests for redial.core.intake: an ended call in, one RecordCall out; the daily cap from memory."""

from __future__ import annotations

import dataclasses

import structlog
from structlog.testing import capture_logs

from redial.config import Settings, parse_settings
from redial.core.commands import RecordCall
from redial.core.intake import Intake
from redial.core.jobs import JobKind
from redial.core.tracker import EndedBy
from redial.policy.guard import OutageGuard
from redial.service.metrics import Metrics
from tests.builders import CALL


def _intake(settings: Settings, metrics: Metrics | None = None) -> Intake:
    return Intake(
        settings,
        OutageGuard(settings.outage_guard),
        lambda p: frozenset(),
        structlog.get_logger("t"),
        metrics or Metrics(),
    )


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _cfg(**policy: object) -> Settings:
    return parse_settings({"policy": {"callback_window": 5, **policy}}, env={})


class TestDecision:
    """The call and, for a drop, its job in one command."""

    def test_drop_gets_a_job(self) -> None:
        (record,) = _intake(_cfg()).call_ended(CALL, CALL.ended_at)
        assert isinstance(record, RecordCall) and record.job is not None
        assert record.job.kind is JobKind.DROP_REDIAL and record.job.due_at == CALL.ended_at + 5
        assert record.log_fields["decision"] == "redial"

    def test_call_outside_any_queue_is_not_recorded(self) -> None:
        assert _intake(_cfg()).call_ended(dataclasses.replace(CALL, queue=None), CALL.ended_at) == []

    def test_agent_side_failure_passes_the_agent_over(self) -> None:
        call = dataclasses.replace(CALL, ended_by=EndedBy.AGENT)
        (record,) = _intake(_cfg()).call_ended(call, CALL.ended_at)
        assert isinstance(record, RecordCall) and record.job is not None
        assert record.job.passed_over == (CALL.agent_interface,)


class TestDailyCap:
    """Redials per number are counted from memory, seeded by the store at start."""

    def test_cap_counts_resumed_and_new_redials(self) -> None:
        intake = _intake(_cfg(numbers={"max_redials_per_day": 2}))
        key = intake.customer_key(CALL.customer_number)
        noon = 1_800_000_000.0  # 2027-01-15 08:00 UTC: earlier the same day
        intake.resume([(key, noon - 60), ("+442079460000", noon - 60)])
        (first,) = intake.call_ended(CALL, noon)
        assert isinstance(first, RecordCall) and first.job is not None
        intake.redial_created(key, noon)
        (second,) = intake.call_ended(dataclasses.replace(CALL, linkedid="2.1"), noon + 1)
        assert isinstance(second, RecordCall) and second.job is None
        assert second.log_fields["reason"] == "daily_cap"

    def test_on_by_default(self) -> None:
        """With the shipped defaults, a number's fourth drop of the day is not redialled; counted and logged."""
        metrics = Metrics()
        intake = _intake(_cfg(), metrics)
        key = intake.customer_key(CALL.customer_number)
        noon = 1_800_000_000.0
        with capture_logs() as logs:
            for n in range(4):
                (record,) = intake.call_ended(dataclasses.replace(CALL, linkedid=f"{n}.1"), noon + n)
                assert isinstance(record, RecordCall)
                if record.job is not None:
                    intake.redial_created(key, noon + n)
        assert record.log_fields["reason"] == "daily_cap" and intake.redials_since(key, 0.0) == 3
        assert _sample(metrics, "redial_cap_skips_total", cap="daily") == 1
        (warning,) = [entry for entry in logs if entry["event"] == "daily_cap_reached"]
        assert warning["log_level"] == "warning" and warning["max_redials_per_day"] == 3

    def test_old_redials_are_forgotten(self) -> None:
        intake = _intake(_cfg())
        intake.resume([("+12025550123", 0.0), ("+12025550123", 200_000.0)])
        intake.forget_old(200_001.0)
        assert intake.redials_since("+12025550123", 0.0) == 1


class TestHourlyCap:
    """All redials of the last 60 minutes are counted, whatever the number, seeded by the store at start."""

    def _drop(self, intake: Intake, n: int, now: float) -> RecordCall:
        # A different customer each time: the daily cap, per number, never applies.
        (record,) = intake.call_ended(
            dataclasses.replace(CALL, linkedid=f"{n}.1", customer_number=f"20255{n:05d}"), now
        )
        assert isinstance(record, RecordCall)
        if record.job is not None:
            intake.redial_created(intake.customer_key(f"20255{n:05d}"), now)
        return record

    def test_on_by_default(self) -> None:
        """The 121st redial within an hour is skipped, counted, logged once; an hour later redials resume."""
        metrics = Metrics()
        intake = _intake(_cfg(), metrics)
        start = 1_800_000_000.0
        with capture_logs() as logs:
            made = [self._drop(intake, n, start + n).job is not None for n in range(122)]
        assert made == [True] * 120 + [False, False]
        assert self._drop(intake, 200, start + 121).log_fields["reason"] == "hourly_cap"
        assert _sample(metrics, "redial_cap_skips_total", cap="hourly") == 3
        assert _sample(metrics, "redial_redials_last_hour") == 120
        warnings = [entry for entry in logs if entry["event"] == "hourly_cap_reached"]
        assert len(warnings) == 1 and warnings[0]["max_redials_per_hour"] == 120
        # The first redial leaves the window an hour after it was made.
        assert self._drop(intake, 300, start + 3600).job is not None

    def test_resumed_redials_count(self) -> None:
        """Redials a previous run made in the last hour count against the cap."""
        intake = _intake(_cfg(max_redials_per_hour=2))
        now = 1_800_000_000.0
        intake.resume([("+12025550001", now - 4000), ("+12025550002", now - 600), ("+12025550003", now - 60)])
        assert self._drop(intake, 1, now).log_fields["reason"] == "hourly_cap"
        assert intake.redials_last_hour(now + 3000) == 1  # the one 60 s before now is left
