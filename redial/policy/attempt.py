"""Whom to ring for a due redial, or why not yet. Pure: every input is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redial.config import PolicySettings
from redial.core.agents import AgentView, Availability
from redial.core.jobs import Outcome
from redial.policy.hours import OpenCheck


@dataclass(frozen=True, slots=True)
class Ring:
    """Reserve ``interface`` and originate to it."""

    interface: str
    fallback: bool
    detail: str


@dataclass(frozen=True, slots=True)
class WaitForAgent:
    """The agent (or every member) is busy: wait until ``until`` at the latest."""

    until: float
    detail: str


@dataclass(frozen=True, slots=True)
class Defer:
    """Not before ``until`` (the outage guard's next turn)."""

    until: float
    detail: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    outcome: Outcome
    detail: str


Plan = Ring | WaitForAgent | Defer | GiveUp


def plan_attempt(
    *,
    policy: PolicySettings,
    agent: AgentView,
    free_members: Sequence[str],
    hours: OpenCheck,
    guard_slot: float,
    agent_deadline: float | None,
    now: float,
    passed_over: frozenset[str] = frozenset(),
    others_left: bool = True,
) -> Plan:
    """Decide what a due redial does now.

    The same agent is rung only when free (not on a call, not ringing, not paused for
    another reason, past wrap-up). A busy agent is waited for until ``busy_wait``
    has passed since the redial first found them busy; a paused or logged-off agent,
    or one still busy at the deadline, gets the configured fallback. An agent in
    ``passed_over`` (their own leg failed, or their phone did not take the redial)
    is not waited for: the fallback comes at once. ``others_left`` says whether the
    queue has any other member not passed over; with none, there is nobody to wait for.
    """
    if not hours.open:
        return GiveUp(Outcome.OUTSIDE_HOURS, hours.detail)
    if guard_slot > now:
        return Defer(guard_slot, f"outage guard: next redial on this trunk at +{guard_slot - now:.0f} s")
    passed = agent.interface in passed_over
    if passed:
        agent = AgentView(agent.interface, agent.availability, f"{agent.interface} failed on this call", agent.queues)
    elif agent.availability in (Availability.FREE, Availability.UNKNOWN):
        return Ring(agent.interface, False, agent.detail)
    deadline = agent_deadline if agent_deadline is not None else now + policy.agent.busy_wait
    if agent.availability is Availability.BUSY and now < deadline and not passed:
        return WaitForAgent(deadline, f"{agent.detail}; waiting up to {deadline - now:.0f} s")
    if policy.agent.fallback == "callback":
        return GiveUp(Outcome.CALLBACK_REQUESTED, f"{agent.detail}; recorded for a person to call back")
    if free_members:
        return Ring(free_members[0], True, f"{agent.detail}; ringing {free_members[0]} of the same queue instead")
    if now < deadline and (others_left or not passed):
        return WaitForAgent(
            deadline, f"{agent.detail} and no other member is free; waiting up to {deadline - now:.0f} s"
        )
    return GiveUp(Outcome.CALLBACK_REQUESTED, f"{agent.detail} and no other member is free: recorded for a callback")
