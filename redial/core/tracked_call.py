"""One call the tracker follows: its state, its legs, and the report of how it ended.

Pure record, no events: :class:`~redial.core.tracker.CallTracker` reads the AMI
events and fills it in. Here is what the record knows by itself: which legs form
the conversation, the agent's own phone behind a Local-channel member's halves,
and the :class:`~redial.core.calls.EndedCall` it amounts to.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from redial.ami import events as ev
from redial.core.calls import EndedBy, EndedCall, RoutedToAgent, local_twin

__all__ = ["CallState", "TrackedCall"]


class CallState(enum.Enum):
    """Where one tracked call is; transitions only move forward."""

    STARTED = "started"  # channels exist, no queue yet
    QUEUED = "queued"  # the customer waits in a queue
    CONNECTED = "connected"  # an agent answered
    ENDING = "ending"  # a conversation leg was asked to hang up or hung up
    ENDED = "ended"  # every channel gone; reported and forgotten


@dataclass(slots=True)
class TrackedCall:
    """Every channel sharing one Linkedid, and what the tracker learnt about them."""

    linkedid: str
    started_at: float
    state: CallState = CallState.STARTED
    live: set[str] = field(default_factory=set)
    causes: dict[str, int | None] = field(default_factory=dict)
    customer_uniqueid: str = ""
    customer_channel: str = ""
    customer_number: str = ""
    dialled: str = ""
    queue: str | None = None
    joined_at: float | None = None
    agent_interface: str | None = None
    agent_member: str | None = None
    agent_uniqueid: str | None = None
    agent_channel: str | None = None
    answered_at: float | None = None
    # Caller channel name -> the channel its Dial() reached (answered DialEnds): how a
    # Local member's ;2 half leads to the agent's own phone.
    answered: dict[str, ev.ChannelRef] = field(default_factory=dict)
    # Customer keys (see CallTracker's number_key) this call is talking to, for the live index.
    keys: tuple[str, ...] = ()
    ender_uniqueid: str | None = None
    ender_soft_cause: int | None = None
    number_withheld: bool = False
    # Set while the returning-caller service has this call ringing an agent directly.
    routed: RoutedToAgent | None = None
    routed_at: float | None = None
    ended_at: float | None = None
    transferred: bool = False
    agent_complete_reason: str | None = None
    talk_time: int | None = None

    def conversation(self) -> tuple[str, ...]:
        """The two legs whose end matters; ringing members that lost are not part of it."""
        return tuple(u for u in (self.customer_uniqueid, self.agent_uniqueid) if u)

    def set_agent_leg(self, leg: ev.ChannelRef) -> None:
        """The agent's leg of the conversation: behind a Local member, the phone its ;2 half reached.

        A Local member's halves are not the agent: without ``/n`` they leave the bridge
        (cause 16) long before the call ends, and with it the phone's own failure
        (an RTP timeout) shows on the phone's channel, not on ``;1``.
        """
        for _hop in range(4):  # Local into Local: a few hops at most
            twin = local_twin(leg.channel)
            behind = self.answered.get(twin) if twin is not None else None
            if behind is None:
                break
            leg = behind
        self.agent_uniqueid = leg.uniqueid
        self.agent_channel = leg.channel

    def ended(self, now: float) -> EndedCall:
        """The report of how this call ended: who ended it (the first conversation leg to go) and its cause."""
        ender = self.ender_uniqueid
        if ender is None:
            ended_by = EndedBy.UNKNOWN
        elif ender == self.customer_uniqueid:
            ended_by = EndedBy.CUSTOMER
        else:
            ended_by = EndedBy.AGENT
        cause = self.causes.get(ender) if ender is not None else self.causes.get(self.customer_uniqueid)
        return EndedCall(
            linkedid=self.linkedid,
            customer_uniqueid=self.customer_uniqueid,
            customer_channel=self.customer_channel,
            customer_number=self.customer_number,
            dialled=self.dialled,
            queue=self.queue,
            agent_interface=self.agent_interface,
            agent_member=self.agent_member,
            agent_uniqueid=self.agent_uniqueid,
            agent_channel=self.agent_channel,
            number_withheld=self.number_withheld,
            joined_at=self.joined_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at if self.ended_at is not None else now,
            ended_by=ended_by,
            cause=cause,
            soft_cause=self.ender_soft_cause,
            transferred=self.transferred,
            agent_complete_reason=self.agent_complete_reason,
            talk_time=self.talk_time,
        )
