"""AMI events the unit tests build: a queue call that drops, a queue member's state."""

from __future__ import annotations

from redial.ami import events as ev


def ref(uid: str, linked: str, channel: str) -> ev.ChannelRef:
    return ev.ChannelRef(channel=channel, uniqueid=uid, linkedid=linked)


def drop(n: int, number: str = "2025550123", agent: str = "PJSIP/agent1", trunk: str = "trunk") -> list[ev.AmiEvent]:
    """A queue call answered by ``agent`` that the customer's network drops (RTP timeout)."""
    cust, agt = f"{n}.1", f"{n}.2"
    customer = ref(cust, cust, f"PJSIP/{trunk}-{n:08x}")
    agent_leg = ref(agt, cust, f"{agent}-{n:08x}")
    return [
        ev.NewChannel(customer, number, "from-trunk", "100"),
        ev.QueueCallerJoined(customer, "support", number, "100"),
        ev.NewChannel(agent_leg, "", "from-agents", "s"),
        ev.AgentConnected(customer, agent_leg, "support", agent, "Alice"),
        ev.HangupRequested(customer, 1, soft=True),
        ev.ChannelHungUp(customer, 44, "Requested channel not available"),
        ev.ChannelHungUp(agent_leg, 44, "Requested channel not available"),
    ]


def member(interface: str, status: int = 1, paused_reason: str = "", queue: str = "support") -> ev.MemberState:
    return ev.MemberState(
        queue, interface, interface[-6:], interface, status, bool(paused_reason), paused_reason, False, 0, 0
    )
