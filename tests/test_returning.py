"""Tests for redial.policy.returning."""

from __future__ import annotations

from redial.core.agents import AgentView, Availability
from redial.policy.returning import RecentDrop, decide_returning

DROP = RecentDrop(
    linkedid="1.1", agent_interface="PJSIP/agent1", agent_member="Alice", ended_at=1000.0, queue="support"
)
FREE = AgentView("PJSIP/agent1", Availability.FREE, "PJSIP/agent1 is free", ("sales", "support"))


class TestDecideReturning:
    """Same agent first only for a recent drop and a free agent."""

    def test_recent_drop_free_agent(self) -> None:
        decision = decide_returning(DROP, FREE, 1100.0, 900)
        assert (decision.agent_interface, decision.reason) == ("PJSIP/agent1", "same_agent")

    def test_no_drop(self) -> None:
        assert decide_returning(None, None, 1100.0, 900).agent_interface == ""

    def test_too_old(self) -> None:
        assert decide_returning(DROP, FREE, 1000.0 + 901, 900).reason == "drop_too_old"

    def test_agent_busy(self) -> None:
        busy = AgentView("PJSIP/agent1", Availability.BUSY, "PJSIP/agent1 is on a call")
        decision = decide_returning(DROP, busy, 1100.0, 900)
        assert decision.agent_interface == "" and decision.detail == "PJSIP/agent1 is on a call"

    def test_agent_no_longer_a_member_of_the_queue(self) -> None:
        """A free agent who left the dropped call's queue is not named: the dialplan rings only members."""
        elsewhere = AgentView("PJSIP/agent1", Availability.FREE, "PJSIP/agent1 is free", ("sales",))
        decision = decide_returning(DROP, elsewhere, 1100.0, 900)
        assert (decision.agent_interface, decision.reason) == ("", "not_a_member")
