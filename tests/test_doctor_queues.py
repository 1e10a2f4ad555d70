"""Tests for redial.tools.doctor.queues: the configured queues exist and have members Asterisk knows."""

from __future__ import annotations

from redial.tools.doctor.findings import Status
from redial.tools.doctor.queues import QueueMemberInfo, check_queues


class TestQueues:
    """Configured queues exist and have members Asterisk knows."""

    members = {"support": [QueueMemberInfo("support", "Alice", "PJSIP/agent1", 1)], "empty": []}

    def test_named_queue_missing(self) -> None:
        (finding,) = check_queues(["sales"], self.members)
        assert finding.status is Status.FAIL and "sales" in finding.summary and "support" in finding.summary

    def test_every_queue_when_scope_is_star(self) -> None:
        findings = check_queues(None, self.members)
        assert [(f.status, f.summary) for f in findings] == [
            (Status.WARN, "queue empty has no members: there is no agent to redial through"),
            (Status.OK, "queue support: 1 member"),
        ]

    def test_invalid_member(self) -> None:
        (finding,) = check_queues(["q"], {"q": [QueueMemberInfo("q", "Bob", "PJSIP/nobody", 4)]})
        assert finding.status is Status.WARN and "PJSIP/nobody (invalid)" in finding.summary

    def test_no_queues_at_all(self) -> None:
        (finding,) = check_queues(None, {})
        assert finding.status is Status.FAIL
