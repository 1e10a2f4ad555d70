"""Tests for redial.policy.decide."""

from __future__ import annotations

import dataclasses

import pytest

from redial.config import PolicySettings
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict, decide
from tests.test_classify import CALL


def _decide(settings: PolicySettings | None = None, **changes: object) -> Decision:
    settings = settings or PolicySettings()
    call = dataclasses.replace(CALL, **changes)  # type: ignore[arg-type]
    return decide(call, classify(call, settings), settings)


class TestDecide:
    """From classification to a decision with its reason."""

    def test_drop_is_redialled_after_window(self) -> None:
        decision = _decide(PolicySettings(callback_window=20))
        assert decision.verdict is Verdict.REDIAL and decision.reason is Reason.ABNORMAL_END
        assert decision.due_at == CALL.ended_at + 20

    def test_zero_window_is_immediate(self) -> None:
        assert _decide(PolicySettings(callback_window=0)).due_at == CALL.ended_at

    def test_normal_end_skipped(self) -> None:
        decision = _decide(cause=16)
        assert (decision.verdict, decision.reason) == (Verdict.SKIP, Reason.NORMAL_END)

    @pytest.mark.parametrize("number", ["", "anonymous", "123&PJSIP/999@trunk", "12"])
    def test_undialable_number_skipped(self, number: str) -> None:
        decision = _decide(customer_number=number)
        assert (decision.verdict, decision.reason) == (Verdict.SKIP, Reason.NUMBER_NOT_DIALABLE)

    def test_queue_scope(self) -> None:
        settings = PolicySettings(queues=frozenset({"sales"}))
        assert _decide(settings).reason is Reason.QUEUE_OUT_OF_SCOPE
        assert _decide(settings, queue="sales").verdict is Verdict.REDIAL

    def test_transfer_and_unanswered_skipped(self) -> None:
        assert _decide(transferred=True).reason is Reason.TRANSFERRED
        assert _decide(answered_at=None).reason is Reason.NOT_ANSWERED

    def test_unringable_agent_skipped(self) -> None:
        assert _decide(agent_interface="PJSIP/x&PJSIP/y").reason is Reason.NO_AGENT_INTERFACE
