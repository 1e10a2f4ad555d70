"""Tests for redial.core.intake: an ended call in, one RecordCall out; the daily cap from memory."""

from __future__ import annotations

import dataclasses

import structlog

from redial.config import Settings, parse_settings
from redial.core.commands import RecordCall
from redial.core.intake import Intake
from redial.core.jobs import JobKind
from redial.core.tracker import EndedBy
from redial.policy.guard import OutageGuard
from redial.service.metrics import Metrics
from tests.test_classify import CALL


def _intake(settings: Settings) -> Intake:
    return Intake(
        settings, OutageGuard(settings.outage_guard), lambda p: frozenset(), structlog.get_logger("t"), Metrics()
    )


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

    def test_old_redials_are_forgotten(self) -> None:
        intake = _intake(_cfg())
        intake.resume([("+12025550123", 0.0), ("+12025550123", 200_000.0)])
        intake.forget_old(200_001.0)
        assert intake.redials_since("+12025550123", 0.0) == 1
