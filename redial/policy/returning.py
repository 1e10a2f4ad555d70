"""Should a customer calling in again ring the agent who lost their call? Pure."""

from __future__ import annotations

from dataclasses import dataclass

from redial.core.agents import AgentView, Availability


@dataclass(frozen=True, slots=True)
class RecentDrop:
    """The caller's most recent dropped call, from the store."""

    linkedid: str
    agent_interface: str
    agent_member: str
    ended_at: float
    queue: str = ""


@dataclass(frozen=True, slots=True)
class ReturningDecision:
    # The interface to ring first, or "" to go straight to the queue.
    agent_interface: str
    reason: str
    detail: str
    # The dropped call's queue and agent name: the direct call is followed as a call of that queue.
    queue: str = ""
    agent_member: str = ""


def decide_returning(drop: RecentDrop | None, agent: AgentView | None, now: float, window: float) -> ReturningDecision:
    """Ring the same agent first when the caller's last call dropped within ``window`` and the agent is free."""
    if drop is None or agent is None:
        return ReturningDecision("", "no_recent_drop", "no dropped call from this number")
    age = now - drop.ended_at
    if age > window:
        return ReturningDecision("", "drop_too_old", f"last drop {age:.0f} s ago, window {window:g} s")
    if agent.availability is not Availability.FREE:
        return ReturningDecision("", "agent_not_free", agent.detail)
    if not drop.queue or drop.queue not in agent.queues:
        # The dialplan rings only a member of the queue: the daemon never names anyone else.
        return ReturningDecision("", "not_a_member", f"{drop.agent_interface} is no member of {drop.queue!r} now")
    return ReturningDecision(
        drop.agent_interface,
        "same_agent",
        f"call {drop.linkedid} dropped {age:.0f} s ago; {agent.detail}",
        queue=drop.queue,
        agent_member=drop.agent_member,
    )
