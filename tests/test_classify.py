"""Tests for redial.policy.classify."""

from __future__ import annotations

import dataclasses

import pytest

from redial.config import PolicySettings
from redial.policy.classify import EndKind, cause_name, classify
from tests.builders import CALL


class TestClassify:
    """The default table of asterisk-facts.md and its configuration."""

    @pytest.mark.parametrize("cause", [18, 19, 27, 34, 38, 41, 42, 44, 47, 102, 127])
    def test_abnormal_causes(self, cause: int) -> None:
        result = classify(dataclasses.replace(CALL, cause=cause), PolicySettings())
        assert result.kind is EndKind.ABNORMAL and f"cause {cause}" in result.reason

    @pytest.mark.parametrize("cause", [16, 31, 17, 21, 26])
    def test_normal_causes(self, cause: int) -> None:
        call = dataclasses.replace(CALL, cause=cause, soft_cause=None)
        assert classify(call, PolicySettings()).kind is EndKind.NORMAL

    def test_channel_driver_hangup_counts_whatever_the_cause(self) -> None:
        call = dataclasses.replace(CALL, cause=16, soft_cause=1)
        assert classify(call, PolicySettings()).abnormal
        assert not classify(call, PolicySettings(driver_hangup_abnormal=False)).abnormal

    def test_bridge_teardown_soft_hangup_is_not_the_driver(self) -> None:
        call = dataclasses.replace(CALL, cause=16, soft_cause=16)
        assert classify(call, PolicySettings()).kind is EndKind.NORMAL

    def test_agent_complete_reason_is_not_proof(self) -> None:
        # An RTP-timeout drop reports Reason caller; the cause decides.
        assert classify(CALL, PolicySettings()).abnormal

    def test_configured_cause_list(self) -> None:
        settings = PolicySettings(abnormal_causes=frozenset({16}), driver_hangup_abnormal=False)
        assert classify(dataclasses.replace(CALL, cause=16), settings).abnormal
        assert not classify(CALL, settings).abnormal

    def test_undefined_cause_follows_setting(self) -> None:
        call = dataclasses.replace(CALL, cause=0, soft_cause=None)
        assert classify(call, PolicySettings()).kind is EndKind.NORMAL
        assert classify(call, PolicySettings(undefined_cause_abnormal=True)).kind is EndKind.ABNORMAL

    def test_transfer_is_never_a_drop(self) -> None:
        assert classify(dataclasses.replace(CALL, transferred=True), PolicySettings()).kind is EndKind.TRANSFERRED

    def test_unanswered_and_non_queue(self) -> None:
        assert classify(dataclasses.replace(CALL, answered_at=None), PolicySettings()).kind is EndKind.UNANSWERED
        assert classify(dataclasses.replace(CALL, queue=None), PolicySettings()).kind is EndKind.NOT_QUEUE_CALL

    def test_missing_cause_is_normal(self) -> None:
        call = dataclasses.replace(CALL, cause=None, soft_cause=None)
        assert classify(call, PolicySettings()).kind is EndKind.NORMAL

    def test_cause_names(self) -> None:
        assert cause_name(44) == "requested channel not available"
        assert cause_name(None) == "no cause" and cause_name(99) == "cause 99"


class TestPbxRestart:
    """Calls Asterisk itself cut are no customer hanging up."""

    def test_shutdown_soft_hangup_is_abnormal(self) -> None:
        """`core restart now`: SoftHangupRequest with the SHUTDOWN bit (4), Hangup cause 16."""
        call = dataclasses.replace(CALL, soft_cause=4, cause=16)
        assert classify(call, PolicySettings()).abnormal

    def test_lost_in_restart_is_abnormal_unless_configured(self) -> None:
        """A call a crash took down is a drop by default; pbx_restart_abnormal: false makes it normal."""
        call = dataclasses.replace(CALL, pbx_restart=True, cause=None)
        assert classify(call, PolicySettings()).abnormal
        assert not classify(call, PolicySettings(pbx_restart_abnormal=False)).abnormal
