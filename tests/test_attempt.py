"""Tests for redial.policy.attempt."""

from __future__ import annotations

from redial.config import AgentSettings, PolicySettings
from redial.core.agents import AgentView, Availability
from redial.core.jobs import Outcome
from redial.policy.attempt import Defer, GiveUp, Ring, WaitForAgent, plan_attempt
from redial.policy.hours import OpenCheck

OPEN = OpenCheck(True, "always_open", "open")
CLOSED = OpenCheck(False, "closed_hours", "Monday 22:00 UTC is outside business hours (08:00-18:00)")


def plan(
    availability: Availability,
    *,
    free: tuple[str, ...] = (),
    hours: OpenCheck = OPEN,
    slot: float = 100.0,
    deadline: float | None = None,
    fallback: str = "queue_member",
) -> object:
    return plan_attempt(
        policy=PolicySettings(agent=AgentSettings(busy_wait=120, fallback=fallback)),
        agent=AgentView("PJSIP/agent1", availability, f"PJSIP/agent1 is {availability.value}"),
        free_members=free,
        hours=hours,
        guard_slot=slot,
        agent_deadline=deadline,
        now=100.0,
    )


class TestPlan:
    """Each branch of the attempt plan."""

    def test_free_agent_is_rung(self) -> None:
        assert plan(Availability.FREE) == Ring("PJSIP/agent1", False, "PJSIP/agent1 is free")

    def test_unknown_state_still_rings_the_agent(self) -> None:
        result = plan(Availability.UNKNOWN)
        assert isinstance(result, Ring) and result.interface == "PJSIP/agent1"

    def test_closed_hours_give_up(self) -> None:
        result = plan(Availability.FREE, hours=CLOSED)
        assert isinstance(result, GiveUp) and result.outcome is Outcome.OUTSIDE_HOURS

    def test_guard_defers(self) -> None:
        assert plan(Availability.FREE, slot=130.0) == Defer(130.0, "outage guard: next redial on this trunk at +30 s")

    def test_busy_agent_waited_for(self) -> None:
        result = plan(Availability.BUSY)
        assert isinstance(result, WaitForAgent) and result.until == 220.0
        assert plan(Availability.BUSY, deadline=150.0) == WaitForAgent(
            150.0, "PJSIP/agent1 is busy; waiting up to 50 s"
        )

    def test_busy_past_deadline_falls_back(self) -> None:
        result = plan(Availability.BUSY, deadline=100.0, free=("PJSIP/agent2",))
        assert isinstance(result, Ring) and result.interface == "PJSIP/agent2" and result.fallback

    def test_paused_or_logged_off_fall_back_at_once(self) -> None:
        for availability in (Availability.PAUSED, Availability.LOGGED_OFF):
            result = plan(availability, free=("PJSIP/agent3",))
            assert isinstance(result, Ring) and result.interface == "PJSIP/agent3"

    def test_no_free_member_waits_then_gives_up(self) -> None:
        assert isinstance(plan(Availability.PAUSED), WaitForAgent)
        result = plan(Availability.PAUSED, deadline=90.0)
        assert isinstance(result, GiveUp) and result.outcome is Outcome.CALLBACK_REQUESTED

    def test_callback_fallback(self) -> None:
        result = plan(Availability.PAUSED, free=("PJSIP/agent2",), fallback="callback")
        assert isinstance(result, GiveUp) and result.outcome is Outcome.CALLBACK_REQUESTED
