"""Tests for redial.policy.decide."""

from __future__ import annotations

import dataclasses

import pytest

from redial.config import NUMBER_TYPES, BusinessHours, NumberRules, PolicySettings
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict, decide, skip_by_kind, talk_seconds
from redial.policy.hours import is_open
from redial.policy.numbers import check_number
from tests.builders import CALL

# Monday 2026-11-23 10:00 UTC.
MONDAY_10 = 1795428000.0


def _decide(
    settings: PolicySettings | None = None,
    *,
    now: float = MONDAY_10,
    dnc: frozenset[str] = frozenset(),
    today: int = 0,
    this_hour: int = 0,
    **changes: object,
) -> Decision:
    settings = settings or PolicySettings()
    call = dataclasses.replace(CALL, **changes)  # type: ignore[arg-type]
    return decide(
        call,
        classify(call, settings),
        settings,
        number=check_number(call.customer_number, settings.numbers, dnc),
        hours=is_open(now, settings.hours),
        redials_today=today,
        redials_this_hour=this_hour,
    )


class TestDecide:
    """From classification and checks to a decision with its reason."""

    def test_drop_is_redialled_after_window(self) -> None:
        decision = _decide(PolicySettings(callback_window=20))
        assert decision.verdict is Verdict.REDIAL and decision.reason is Reason.ABNORMAL_END
        assert decision.due_at == CALL.ended_at + 20 and decision.dial_number == "2025550123"

    def test_zero_window_is_immediate(self) -> None:
        assert _decide(PolicySettings(callback_window=0)).due_at == CALL.ended_at

    def test_normal_end_skipped(self) -> None:
        decision = _decide(cause=16, soft_cause=None)
        assert (decision.verdict, decision.reason) == (Verdict.SKIP, Reason.NORMAL_END)

    @pytest.mark.parametrize(
        ("number", "reason"),
        [
            ("", Reason.NUMBER_WITHHELD),
            ("anonymous", Reason.NUMBER_WITHHELD),
            ("123&PJSIP/999@trunk", Reason.NUMBER_MALFORMED),
            ("+19005550123", Reason.NUMBER_TYPE_NOT_ALLOWED),
            ("+442079460000", Reason.NUMBER_REGION_NOT_ALLOWED),
            ("+15551234", Reason.NUMBER_TYPE_NOT_ALLOWED),
        ],
    )
    def test_numbers_never_dialled(self, number: str, reason: Reason) -> None:
        decision = _decide(customer_number=number)
        assert (decision.verdict, decision.reason) == (Verdict.SKIP, reason)

    @pytest.mark.parametrize(("number", "reason"), [("911", Reason.EMERGENCY_NUMBER), ("411", Reason.SHORT_NUMBER)])
    def test_service_numbers_have_their_own_reason(self, number: str, reason: Reason) -> None:
        """An emergency number or short code is skipped as such, even with every number type allowed."""
        loose = PolicySettings(numbers=NumberRules(allowed_regions=None, allowed_types=NUMBER_TYPES))
        decision = _decide(loose, customer_number=number)
        assert (decision.verdict, decision.reason) == (Verdict.SKIP, reason)

    def test_unverified_local_number(self) -> None:
        # 5551234 has no area code: possible in the US, not verifiable, so allowed by default.
        assert _decide(customer_number="5551234").dial_number == "5551234"
        blocked = PolicySettings(numbers=NumberRules(unverified_numbers="block"))
        assert _decide(blocked, customer_number="5551234").reason is Reason.NUMBER_TYPE_NOT_ALLOWED

    def test_do_not_call(self) -> None:
        assert _decide(dnc=frozenset({"+12025550123"})).reason is Reason.DO_NOT_CALL

    def test_daily_cap(self) -> None:
        settings = PolicySettings(numbers=NumberRules(max_redials_per_day=2))
        assert _decide(settings, today=1).verdict is Verdict.REDIAL
        assert _decide(settings, today=2).reason is Reason.DAILY_CAP
        unlimited = PolicySettings(numbers=NumberRules(max_redials_per_day=0))
        assert _decide(unlimited, today=99).verdict is Verdict.REDIAL

    def test_hourly_cap(self) -> None:
        """The 121st redial within an hour is skipped, whatever the number; 0 is no limit."""
        settings = PolicySettings(max_redials_per_hour=120)
        assert _decide(settings, this_hour=119).verdict is Verdict.REDIAL
        assert _decide(settings, this_hour=120).reason is Reason.HOURLY_CAP
        assert _decide(PolicySettings(max_redials_per_hour=0), this_hour=10_000).verdict is Verdict.REDIAL

    def test_scope(self) -> None:
        assert _decide(PolicySettings(queues=frozenset({"sales"}))).reason is Reason.QUEUE_OUT_OF_SCOPE
        assert _decide(PolicySettings(queues=frozenset({"sales"})), queue="sales").verdict is Verdict.REDIAL
        assert _decide(PolicySettings(dids=frozenset({"200"}))).reason is Reason.DID_OUT_OF_SCOPE
        assert _decide(PolicySettings(trunks=frozenset({"carrier2"}))).reason is Reason.TRUNK_OUT_OF_SCOPE
        assert _decide(PolicySettings(trunks=frozenset({"trunk"}), dids=frozenset({"100"}))).verdict is Verdict.REDIAL

    def test_talk_time_bounds(self) -> None:
        assert _decide(PolicySettings(min_talk_time=30), talk_time=10).reason is Reason.TALK_TOO_SHORT
        assert _decide(PolicySettings(min_talk_time=30), talk_time=30).verdict is Verdict.REDIAL
        assert _decide(PolicySettings(max_talk_time=600), talk_time=601).reason is Reason.TALK_TOO_LONG

    def test_talk_time_without_agent_complete(self) -> None:
        assert talk_seconds(dataclasses.replace(CALL, talk_time=None)) == CALL.ended_at - (CALL.answered_at or 0)

    def test_outside_hours(self) -> None:
        office = BusinessHours(weekly=(((540, 1020),),) * 5 + ((), ()))  # Mon-Fri 09:00-17:00 UTC
        settings = PolicySettings(hours=office)
        assert _decide(settings).verdict is Verdict.REDIAL
        decision = _decide(settings, now=MONDAY_10 + 8 * 3600)
        assert decision.reason is Reason.OUTSIDE_HOURS and "18:00" in decision.detail

    def test_transfer_and_unanswered_skipped(self) -> None:
        assert _decide(transferred=True).reason is Reason.TRANSFERRED
        assert _decide(answered_at=None).reason is Reason.NOT_ANSWERED

    def test_skip_by_kind_is_decides_first_answer(self) -> None:
        """A normal end, a transfer or an unanswered call is skipped before any number lookup."""
        settings = PolicySettings()
        for changes in ({"cause": 16, "soft_cause": None}, {"transferred": True}, {"answered_at": None}):
            call = dataclasses.replace(CALL, **changes)  # type: ignore[arg-type]
            assert skip_by_kind(classify(call, settings)) == _decide(settings, **changes)
        assert skip_by_kind(classify(CALL, settings)) is None

    def test_unringable_agent_skipped(self) -> None:
        assert _decide(agent_interface="PJSIP/x&PJSIP/y").reason is Reason.NO_AGENT_INTERFACE
