"""Follow calls by Linkedid and report how each one ended. Pure: events in, facts out.

A call here is every channel sharing one Linkedid. For a queue call the tracker
notes the customer's channel (the one that joined the queue), the agent who
answered (AgentConnect), and, at the end, which of those two channels was asked
to hang up first and that channel's Hangup cause: the surviving leg copies the
cause of the leg that left the bridge, and AgentComplete's Reason says ``caller``
even for a network drop, so neither can be trusted on its own. A returning caller
the FastAGI service sends straight to an agent (:class:`RoutedToAgent`) never
joins a queue; it counts from its answered ``DialEnd`` instead.

When the last channel of a call is gone the tracker emits :class:`CallEnded`
and forgets the call.

What one call's record knows by itself (its conversation legs, the agent's phone
behind a Local member, its report) is in :mod:`redial.core.tracked_call`; the
index of customers on a live call, in :mod:`redial.core.live_calls`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from redial.ami import events as ev
from redial.core.adopt import CallInProgress
from redial.core.calls import (
    CallerWithheld,
    EndedBy,
    EndedCall,
    InboundCall,
    RoutedToAgent,
    device_of,
    local_twin,
    trunk_of,
)
from redial.core.live_calls import LiveCallIndex
from redial.core.tracked_call import CallState, TrackedCall

__all__ = [
    "CallState",
    "CallTracker",
    "CallerWithheld",
    "EndedBy",
    "EndedCall",
    "InboundCall",
    "RoutedToAgent",
    "TrackerOutput",
    "device_of",
    "trunk_of",
]


# How many hung-up channels of calls not followed the tracker remembers.
_GONE_REMEMBERED = 4096


TrackerOutput = EndedCall | InboundCall


class CallTracker:
    """Consumes typed AMI events; returns what ended and what came in."""

    def __init__(
        self,
        is_own_channel: Callable[[str], bool] = lambda _uid: False,
        number_key: Callable[[str], str] = lambda _number: "",
        dialled_key: Callable[[str], str] | None = None,
    ) -> None:
        # The daemon's own redial channels are followed elsewhere, never as customer calls.
        self._is_own = is_own_channel
        # A customer's number in the one form every comparison uses ("" for no number):
        # "same customer" means equal keys, here as in the engine and the FastAGI lookup;
        # ``dialled_key`` the same for a number someone dialled (an outside-line prefix
        # such as 9 taken off).
        self._live = LiveCallIndex(number_key, dialled_key or number_key)
        self._calls: dict[str, TrackedCall] = {}
        # Calls no longer followed, counted: a queue callback waiting for a member plans again.
        self.calls_ended = 0
        # Uniqueid -> the Linkedid the channel was created with. Asterisk 13 changes a
        # channel's Linkedid after an attended transfer; the call it belongs to must not.
        self._call_of: dict[str, str] = {}
        # The latest Uniqueids that hung up while not followed (bounded: only the short
        # time between a login's channel list and its LinkUp matters).
        self._gone_unfollowed: dict[str, None] = {}
        # Channels the returning-caller hook said are withheld before AMI showed them (bounded).
        self._withheld_early: dict[str, None] = {}

    def is_own(self, linkedid: str) -> bool:
        """Is this the daemon's own redial call?"""
        return self._is_own(linkedid)

    def __len__(self) -> int:
        return len(self._calls)

    def find(self, ref: str) -> TrackedCall | None:
        """The followed call whose Linkedid, or one of whose channels' Uniqueid, is ``ref``."""
        return self._calls.get(ref) or self._calls.get(self._call_of.get(ref, ""))

    @property
    def channel_count(self) -> int:
        """Channels being followed; zero once every call has ended."""
        return len(self._call_of)

    def end_gone(self, alive_linkedids: frozenset[str], now: float, pbx_restarted: bool) -> list[EndedCall]:
        """After a login: the calls the PBX no longer has, whose Hangups were never seen.

        A call whose end had begun (a hang-up request was seen) is reported as it stands.
        An answered call that Asterisk's restart or crash took down is reported as lost
        in the restart: no customer hung it up. Any other is forgotten unreported (the
        link was down; how it ended is unknown), so memory never keeps it.
        """
        ended = []
        for linkedid in [lid for lid in self._calls if lid not in alive_linkedids]:
            call = self._calls.pop(linkedid)
            self._forget(call)
            if call.state is CallState.ENDING:
                ended.append(call.ended(now))
            elif call.state is CallState.CONNECTED and pbx_restarted:
                call.ended_at = now
                ended.append(dataclasses.replace(call.ended(now), pbx_restart=True))
        return ended

    def _forget(self, call: TrackedCall) -> None:
        # Every call leaves here (its end, or gone at a login): its agent is no longer held.
        self.calls_ended += 1
        for uniqueid in call.live:
            self._call_of.pop(uniqueid, None)
        self._live.remove(call.linkedid, call.keys)

    def agents_on_calls(self) -> set[str]:
        """Members whose answered queue call is still followed: its end (a drop?) is not decided yet."""
        return {c.agent_interface for c in self._calls.values() if c.agent_interface}

    def live_call_with(self, key: str) -> tuple[str, str] | None:
        """A live call with the customer whose key is ``key``: (Linkedid, "caller" or "callee")."""
        return self._live.live_call_with(key)

    def _index(self, call: TrackedCall, caller: str, dialled: str) -> None:
        call.keys = self._live.add(call.linkedid, caller, dialled)

    def take_up(self, found: CallInProgress, now: float) -> bool:
        """Follow a call that was already up on the PBX (see ``redial.core.adopt``); False if followed already."""
        if found.linkedid in self._calls or any(u in self._call_of for u in found.uniqueids):
            return False
        if found.customer.ref.uniqueid in self._gone_unfollowed:
            return False  # the caller hung up between the channel list and now: a call that ended
        first, customer = found.first, found.customer
        call = self._calls[found.linkedid] = TrackedCall(linkedid=found.linkedid, started_at=now - first.duration)
        for uniqueid in found.uniqueids:
            if uniqueid not in self._gone_unfollowed:  # a losing ring-all leg, say
                call.live.add(uniqueid)
                self._call_of[uniqueid] = found.linkedid
        call.customer_uniqueid = customer.ref.uniqueid
        call.customer_channel = customer.ref.channel
        call.customer_number = customer.caller_number or first.caller_number
        # The channel's current extension is where the dialplan is now (ext-queues,400),
        # not the number the customer dialled: that is the DNID the Status list gave.
        call.dialled = first.dialled
        if first.ref.uniqueid == found.linkedid:  # the channel that placed the call: whose number it is
            self._index(call, first.caller_number, first.dialled or ("" if found.queue else first.exten))
        if found.queue is None:
            return True
        call.state = CallState.QUEUED
        call.queue = found.queue
        call.joined_at = now - customer.duration
        leg = found.agent_leg
        if leg is None:
            return True
        call.state = CallState.CONNECTED
        interface, name = found.member or (device_of(leg.ref.channel), "")
        call.agent_interface = interface
        call.agent_member = name or None
        call.agent_uniqueid = leg.ref.uniqueid
        call.agent_channel = leg.ref.channel
        call.answered_at = now - leg.duration
        return True

    def _call(self, ref: ev.ChannelRef) -> TrackedCall | None:
        return self._calls.get(self._call_of.get(ref.uniqueid, ref.linkedid))

    def handle(self, event: ev.AmiEvent, now: float) -> list[TrackerOutput]:
        handler = _HANDLERS.get(type(event))
        if handler is None:  # queue members, devices, bridges, Originate answers
            return []
        return handler(self, event, now)

    def _on_transfer(self, event: ev.Transferred, _now: float) -> list[TrackerOutput]:
        for linkedid in event.linkedids:
            call = self._calls.get(linkedid)
            if call is not None:
                call.transferred = True
        return []

    def routed_to_agent(self, routed: RoutedToAgent, now: float) -> None:
        """The returning-caller service is about to Dial ``routed.agent_interface`` for this channel."""
        linkedid = self._call_of.get(routed.uniqueid)
        call = self._calls.get(linkedid) if linkedid is not None else None
        if call is None or call.state is not CallState.STARTED or routed.uniqueid != call.customer_uniqueid:
            return
        call.routed = routed
        call.routed_at = now

    def caller_withheld(self, withheld: CallerWithheld) -> None:
        """The caller of this call restricted their presentation (from the returning-caller hook)."""
        linkedid = self._call_of.get(withheld.uniqueid)
        call = self._calls.get(linkedid) if linkedid is not None else None
        if call is not None:
            call.number_withheld = True
        else:
            # The hook can be faster than AMI (event lag, a snapshot being taken): kept
            # until the channel shows up.
            self._withheld_early[withheld.uniqueid] = None
            while len(self._withheld_early) > _GONE_REMEMBERED:
                self._withheld_early.pop(next(iter(self._withheld_early)))

    def _on_dial_end(self, event: ev.DialEnded, now: float) -> list[TrackerOutput]:
        if event.caller is None:
            return []
        call = self._call(event.caller)
        if call is None:
            return []
        if event.status == "ANSWER":
            call.answered[event.caller.channel] = event.dest
            if call.agent_channel is not None and local_twin(call.agent_channel) == event.caller.channel:
                # AgentConnect came first: the Local member's phone answered behind it.
                call.set_agent_leg(event.dest)
        if call.routed is None or call.state is not CallState.STARTED:
            return []
        if event.caller.uniqueid != call.customer_uniqueid:
            return []
        routed, call.routed = call.routed, None
        if event.status != "ANSWER":
            return []  # the dialplan goes on to Queue(): followed from QueueCallerJoin as usual
        call.state = CallState.CONNECTED
        call.queue = routed.queue
        call.joined_at = call.routed_at
        call.agent_interface = routed.agent_interface
        call.agent_member = routed.agent_member or None
        call.set_agent_leg(event.dest)
        call.answered_at = now
        return []

    def _on_new_channel(self, event: ev.NewChannel, now: float) -> list[TrackerOutput]:
        ref = event.ref
        if self._is_own(ref.linkedid):
            return []
        call = self._calls.get(ref.linkedid)
        if call is None:
            call = self._calls[ref.linkedid] = TrackedCall(linkedid=ref.linkedid, started_at=now)
        call.live.add(ref.uniqueid)
        self._call_of[ref.uniqueid] = ref.linkedid
        if ref.uniqueid != ref.linkedid:
            return []
        # The first channel of a call is whoever placed it.
        if self._withheld_early.pop(ref.uniqueid, 0) is None:
            call.number_withheld = True
        call.customer_uniqueid = ref.uniqueid
        call.customer_channel = ref.channel
        call.customer_number = event.caller_number
        call.dialled = event.exten
        self._index(call, event.caller_number, event.exten)
        return [InboundCall(uniqueid=ref.uniqueid, caller_number=event.caller_number, at=now, dialled=event.exten)]

    def _on_queue_join(self, event: ev.QueueCallerJoined, now: float) -> list[TrackerOutput]:
        call = self._call(event.ref)
        if call is None or call.state not in (CallState.STARTED, CallState.QUEUED):
            return []
        if call.state is CallState.QUEUED:
            # Overflow: Queue(a) timed out and the dialplan went on to Queue(b).
            call.queue = event.queue
            return []
        call.state = CallState.QUEUED
        call.queue = event.queue
        call.joined_at = now
        if event.ref.channel.startswith("Local/") and call.customer_uniqueid:
            # An IVR reached Queue() through Dial(Local/...): the customer is still the
            # channel that placed the call (its trunk, its hang-up), not the Local half.
            call.customer_number = call.customer_number or event.caller_number
        else:
            call.customer_uniqueid = event.ref.uniqueid
            call.customer_channel = event.ref.channel
            call.customer_number = event.caller_number or call.customer_number
        call.dialled = call.dialled or event.exten
        return []

    def _on_agent_connect(self, event: ev.AgentConnected, now: float) -> list[TrackerOutput]:
        call = self._call(event.ref)
        if call is None or call.state is not CallState.QUEUED:
            return []
        call.state = CallState.CONNECTED
        # The queue that answered: after an overflow, not the one first joined.
        call.queue = event.queue or call.queue
        call.agent_interface = event.interface
        call.agent_member = event.member_name
        call.set_agent_leg(event.agent)
        call.answered_at = now
        return []

    def _on_agent_complete(self, event: ev.AgentCompleted, _now: float) -> list[TrackerOutput]:
        call = self._call(event.ref)
        if call is None:
            return []
        call.agent_complete_reason = event.reason
        call.talk_time = event.talk_time
        if event.reason == "transfer":
            call.transferred = True
        return []

    def _on_hangup_request(self, event: ev.HangupRequested, now: float) -> list[TrackerOutput]:
        call = self._call(event.ref)
        if call is None or call.state is not CallState.CONNECTED:
            return []
        if event.ref.uniqueid not in call.conversation():
            return []
        # Only the first request says who ended the call; the bridge teardown
        # then sends SoftHangupRequest 16 on the other leg.
        call.state = CallState.ENDING
        call.ender_uniqueid = event.ref.uniqueid
        call.ender_soft_cause = event.cause if event.soft else None
        call.ended_at = now
        return []

    def _on_hangup(self, event: ev.ChannelHungUp, now: float) -> list[TrackerOutput]:
        ref = event.ref
        call = self._call(ref)
        self._call_of.pop(ref.uniqueid, None)
        if call is None:
            # A channel of a call not followed (yet): if the channel list taken at login
            # still shows it, that call ended meanwhile and must not be taken up.
            self._gone_unfollowed[ref.uniqueid] = None
            if len(self._gone_unfollowed) > _GONE_REMEMBERED:
                self._gone_unfollowed.pop(next(iter(self._gone_unfollowed)))
            return []
        call.causes[ref.uniqueid] = event.cause
        call.live.discard(ref.uniqueid)
        if call.state is CallState.CONNECTED and ref.uniqueid in call.conversation():
            # No request was published (the AMI Hangup action sends none): the
            # first conversation leg to go is the one that ended it.
            call.state = CallState.ENDING
            call.ender_uniqueid = ref.uniqueid
            call.ended_at = now
        if call.live:
            return []
        del self._calls[call.linkedid]
        self._forget(call)
        call.state = CallState.ENDED
        return [call.ended(now)]


# The events that concern calls, by type; the rest pass the tracker at the cost of one lookup.
_HANDLERS: dict[type[ev.AmiEvent], Callable[[CallTracker, Any, float], list[TrackerOutput]]] = {
    ev.NewChannel: CallTracker._on_new_channel,
    ev.ChannelHungUp: CallTracker._on_hangup,
    ev.HangupRequested: CallTracker._on_hangup_request,
    ev.QueueCallerJoined: CallTracker._on_queue_join,
    ev.AgentConnected: CallTracker._on_agent_connect,
    ev.AgentCompleted: CallTracker._on_agent_complete,
    ev.Transferred: CallTracker._on_transfer,
    ev.DialEnded: CallTracker._on_dial_end,
}
