"""Typed, immutable AMI event records, decoded from frames. Pure: no I/O.

Only the events the daemon acts on get a record; every other frame decodes to
``None`` cheaply. A frame that names a known event but lacks a field the record
needs also decodes to ``None``: a malformed frame must never stop the daemon.

The records are here; the decoder that builds them from frames is
:mod:`redial.ami.event_decoder`, whose names (``decode``, ``DECODERS``,
``NEEDED_EVENTS``, ``live_channel``...) stay reachable as ``ev.decode`` & co.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """The identity block every channel event carries."""

    channel: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class NewChannel:
    """A channel was created (``Newchannel``)."""

    ref: ChannelRef
    caller_number: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class HangupRequested:
    """Something asked a channel to hang up (``HangupRequest`` / ``SoftHangupRequest``).

    ``cause`` of a HangupRequest is a Q.850 code; of a SoftHangupRequest it is a
    bit mask (1 = channel driver, 16 = bridge teardown), kept apart in ``soft``.
    """

    ref: ChannelRef
    cause: int | None
    soft: bool


@dataclass(frozen=True, slots=True)
class ChannelHungUp:
    """A channel is gone (``Hangup``) with its Q.850 cause."""

    ref: ChannelRef
    cause: int | None
    cause_text: str


@dataclass(frozen=True, slots=True)
class QueueCallerJoined:
    """A caller entered a queue (``QueueCallerJoin``)."""

    ref: ChannelRef
    queue: str
    caller_number: str
    exten: str


@dataclass(frozen=True, slots=True)
class QueueCallerLeft:
    """A caller left a queue's line (``QueueCallerLeave``): answered, abandoned, timed out, or by a key."""

    ref: ChannelRef
    queue: str
    position: int | None


@dataclass(frozen=True, slots=True)
class QueueWaiting:
    """A caller waiting in a queue when the daemon logged in (``QueueEntry`` in the QueueStatus list)."""

    uniqueid: str
    queue: str
    caller_number: str
    # Seconds waited so far, and the place in the line (1 is next).
    wait: int
    position: int


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """A queue member answered and is being bridged to the caller (``AgentConnect``)."""

    ref: ChannelRef
    agent: ChannelRef
    queue: str
    interface: str
    member_name: str


@dataclass(frozen=True, slots=True)
class AgentCompleted:
    """A queue call between caller and member ended (``AgentComplete``).

    ``reason`` only says which leg asked first; it says ``caller`` for a network drop.
    ``ref`` is the caller's channel, or the member's when Asterisk sent the event
    after the caller's channel was gone.
    """

    ref: ChannelRef
    queue: str
    interface: str
    reason: str
    talk_time: int | None


@dataclass(frozen=True, slots=True)
class DialEnded:
    """A Dial attempt finished (``DialEnd``); ``caller`` is absent for an Originate's first leg."""

    caller: ChannelRef | None
    dest: ChannelRef
    status: str


@dataclass(frozen=True, slots=True)
class BridgeEntered:
    """A channel entered a bridge (``BridgeEnter``)."""

    ref: ChannelRef
    bridge: str


@dataclass(frozen=True, slots=True)
class Transferred:
    """A blind or attended transfer touched these calls (``BlindTransfer`` / ``AttendedTransfer``)."""

    linkedids: frozenset[str]
    result: str


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """The answer to an asynchronous Originate (``OriginateResponse``).

    ``reason``: 0 failure, 1 hung up, 3 ringing no answer, 4 answered, 5 busy, 8 congestion.
    """

    action_id: str
    success: bool
    reason: int | None
    uniqueid: str
    channel: str


@dataclass(frozen=True, slots=True)
class MemberState:
    """A queue member's state (``QueueMemberStatus``, ``QueueMemberAdded``, or ``QueueMember`` in a QueueStatus list).

    ``status``: 0 unknown, 1 not in use, 2 in use, 3 busy, 4 invalid, 5 unavailable,
    6 ringing, 7 ringinuse, 8 on hold. ``last_call`` is Asterisk's epoch second.
    """

    queue: str
    interface: str
    name: str
    state_interface: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    last_call: int
    wrapup_time: int


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A member left a queue (``QueueMemberRemoved``): logged off, end of shift."""

    queue: str
    interface: str


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device's state changed (``DeviceStateChange``): NOT_INUSE, INUSE, RINGING, UNAVAILABLE..."""

    device: str
    state: str


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """One channel alive on the PBX (a ``CoreShowChannel`` item of the list sent after each login).

    Enough to take up a call that was already up when the daemon (re)started:
    which application the channel is in (``Queue`` for a caller, ``AppQueue`` /
    ``AppDial`` for a member's leg) and which bridge it shares with whom.
    """

    ref: ChannelRef
    caller_number: str
    exten: str
    application: str
    application_data: str
    bridge_id: str
    # Seconds since the channel was created.
    duration: int
    # The number the channel dialled (the DID of an inbound call), from the Status list: a
    # channel's current extension is where its dialplan is now (ext-queues,400), not that.
    dialled: str = ""


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """Asterisk is up and accepting calls (sent after login and after a restart)."""


AmiEvent = (
    NewChannel
    | HangupRequested
    | ChannelHungUp
    | QueueCallerJoined
    | QueueCallerLeft
    | QueueWaiting
    | AgentConnected
    | AgentCompleted
    | DialEnded
    | BridgeEntered
    | Transferred
    | OriginateResult
    | MemberState
    | MemberRemoved
    | DeviceState
    | FullyBooted
)


# The decoder's names, reachable from here as ever (``ev.decode``). Imported last: the
# decoder builds the records above. redial/ami/__init__.py loads this module first, so
# importing the decoder on its own finds the records defined.
from redial.ami.event_decoder import DECODERS, NEEDED_EVENTS, UNKNOWN, Decoder, decode, live_channel  # noqa: E402

__all__ = [
    "DECODERS",
    "NEEDED_EVENTS",
    "UNKNOWN",
    "AgentCompleted",
    "AgentConnected",
    "AmiEvent",
    "BridgeEntered",
    "ChannelHungUp",
    "ChannelRef",
    "Decoder",
    "DeviceState",
    "DialEnded",
    "FullyBooted",
    "HangupRequested",
    "LiveChannel",
    "MemberRemoved",
    "MemberState",
    "NewChannel",
    "OriginateResult",
    "QueueCallerJoined",
    "QueueCallerLeft",
    "QueueWaiting",
    "Transferred",
    "decode",
    "live_channel",
]
