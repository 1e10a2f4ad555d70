"""What the unit tests build: AMI events of a queue call that drops, a queue member's state,
the ended call the tracker reports for it, a callback job, and a queue caller's join and leave."""

from __future__ import annotations

from redial.ami import events as ev
from redial.core.jobs import CallbackJob, JobKind, JobState
from redial.core.tracker import EndedBy, EndedCall


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


def member(
    interface: str, status: int = 1, paused_reason: str = "", queue: str = "support", last_call: int = 0
) -> ev.MemberState:
    return ev.MemberState(
        queue, interface, interface[-6:], interface, status, bool(paused_reason), paused_reason, False, last_call, 0
    )


def joined(uid: str, number: str = "2025550123", queue: str = "support") -> ev.QueueCallerJoined:
    """A caller entering ``queue`` (QueueCallerJoin)."""
    return ev.QueueCallerJoined(ref(uid, uid, f"PJSIP/trunk-{uid}"), queue, number, "100")


def left(uid: str, queue: str = "support", position: int | None = 1) -> ev.QueueCallerLeft:
    """A caller leaving ``queue``'s line (QueueCallerLeave): answered, abandoned, or by the offer key."""
    return ev.QueueCallerLeft(ref(uid, uid, f"PJSIP/trunk-{uid}"), queue, position)


# A queue call answered by agent1 whose customer leg dropped (cause 44).
CALL = EndedCall(
    linkedid="1.1",
    customer_uniqueid="1.1",
    customer_channel="PJSIP/trunk-01",
    customer_number="2025550123",
    dialled="100",
    queue="support",
    agent_interface="PJSIP/agent1",
    agent_member="Alice",
    agent_uniqueid="1.2",
    joined_at=10.0,
    answered_at=12.0,
    ended_at=40.0,
    ended_by=EndedBy.CUSTOMER,
    cause=44,
    soft_cause=1,
    transferred=False,
    agent_complete_reason="caller",
    talk_time=28,
)


# A drop redial waiting for its window.
JOB = CallbackJob(
    id=7,
    call_id=1,
    linkedid="pbx-east-1.1",
    original_uniqueid="pbx-east-1.1",
    customer_number="2025550123",
    dialled="100",
    queue="support",
    agent_interface="PJSIP/agent1",
    agent_member="Alice",
    trunk="trunk",
    state=JobState.WAITING,
    due_at=10.0,
    channel_id="redial-7-1-pbx-east-1.1",
)


# A queue callback waiting for its turn: its caller joined "support" at 1000.0 and asked at 1100.0.
QUEUED = CallbackJob(
    id=9,
    call_id=3,
    linkedid="qcb-5.1",
    original_uniqueid="5.1",
    customer_number="2025550123",
    dialled="100",
    queue="support",
    agent_interface="",
    agent_member="",
    trunk="trunk",
    state=JobState.WAITING,
    due_at=1100.0,
    channel_id="redial-9-1-qcb-5.1",
    dropped_at=1100.0,
    kind=JobKind.QUEUE_CALLBACK,
    joined_at=1000.0,
)
