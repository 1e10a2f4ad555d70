"""Typed, immutable AMI event records, decoded from frames. Pure: no I/O.

Only the events the daemon acts on get a record; every other frame decodes to
``None`` cheaply. A frame that names a known event but lacks a field the record
needs also decodes to ``None``: a malformed frame must never stop the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

# Asterisk writes an empty caller number as this literal.
UNKNOWN = "<unknown>"


def _text(frame: Mapping[str, object], key: str) -> str:
    value = frame.get(key, "")
    if value.__class__ is str:  # the common case, first
        return value
    if isinstance(value, (list, tuple)):  # panoramisk turns repeated keys into lists
        value = value[0] if value else ""
    return value if isinstance(value, str) else str(value)


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 12:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _number(text: str) -> str:
    return "" if text == UNKNOWN else text


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


def _ref(frame: Mapping[str, object], prefix: str = "") -> ChannelRef | None:
    uniqueid = _text(frame, prefix + "Uniqueid")
    if not uniqueid:
        return None
    return ChannelRef(
        channel=_text(frame, prefix + "Channel"),
        uniqueid=uniqueid,
        linkedid=_text(frame, prefix + "Linkedid") or uniqueid,
    )


def _duration(text: str) -> int:
    """``HH:MM:SS`` (CoreShowChannel's Duration) in seconds; 0 when unreadable."""
    parts = [_int_or_none(p) for p in text.split(":")]
    if not parts or any(p is None or p < 0 for p in parts):
        return 0
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + (part or 0)
    return seconds


def live_channel(frame: Mapping[str, object]) -> LiveChannel | None:
    """A ``CoreShowChannel`` list item, or ``None`` for a frame without a Uniqueid."""
    ref = _ref(frame)
    if ref is None:
        return None
    return LiveChannel(
        ref=ref,
        caller_number=_number(_text(frame, "CallerIDNum")),
        exten=_text(frame, "Exten"),
        application=_text(frame, "Application"),
        application_data=_text(frame, "ApplicationData"),
        bridge_id=_text(frame, "BridgeId"),
        duration=_duration(_text(frame, "Duration")),
    )


def _new_channel(frame: Mapping[str, object]) -> NewChannel | None:
    ref = _ref(frame)
    if ref is None:
        return None
    return NewChannel(
        ref=ref,
        caller_number=_number(_text(frame, "CallerIDNum")),
        context=_text(frame, "Context"),
        exten=_text(frame, "Exten"),
    )


def _hangup_request(frame: Mapping[str, object], soft: bool) -> HangupRequested | None:
    ref = _ref(frame)
    if ref is None:
        return None
    return HangupRequested(ref=ref, cause=_int_or_none(_text(frame, "Cause")), soft=soft)


def _hangup(frame: Mapping[str, object]) -> ChannelHungUp | None:
    ref = _ref(frame)
    if ref is None:
        return None
    return ChannelHungUp(ref=ref, cause=_int_or_none(_text(frame, "Cause")), cause_text=_text(frame, "Cause-txt"))


def _queue_join(frame: Mapping[str, object]) -> QueueCallerJoined | None:
    ref = _ref(frame)
    queue = _text(frame, "Queue")
    if ref is None or not queue:
        return None
    return QueueCallerJoined(
        ref=ref,
        queue=queue,
        caller_number=_number(_text(frame, "CallerIDNum")),
        exten=_text(frame, "Exten"),
    )


def _agent_connect(frame: Mapping[str, object]) -> AgentConnected | None:
    ref = _ref(frame)
    agent = _ref(frame, "Dest")
    if ref is None or agent is None:
        return None
    return AgentConnected(
        ref=ref,
        agent=agent,
        queue=_text(frame, "Queue"),
        interface=_text(frame, "Interface"),
        member_name=_text(frame, "MemberName"),
    )


def _agent_complete(frame: Mapping[str, object]) -> AgentCompleted | None:
    # When the caller's channel is destroyed before app_queue publishes the
    # event, Asterisk sends it without the caller's snapshot, only the
    # member's (Dest*). The member leg shares the call's Linkedid, so the
    # tracker still finds the call through it. With both channels gone it
    # names neither; it then comes after both Hangups, when the call has been
    # reported already, and is dropped here (TalkTime falls back to the clock).
    ref = _ref(frame) or _ref(frame, "Dest")
    if ref is None:
        return None
    return AgentCompleted(
        ref=ref,
        queue=_text(frame, "Queue"),
        interface=_text(frame, "Interface"),
        reason=_text(frame, "Reason"),
        talk_time=_int_or_none(_text(frame, "TalkTime")),
    )


def _dial_end(frame: Mapping[str, object]) -> DialEnded | None:
    dest = _ref(frame, "Dest")
    if dest is None:
        return None
    return DialEnded(caller=_ref(frame), dest=dest, status=_text(frame, "DialStatus"))


def _bridge_enter(frame: Mapping[str, object]) -> BridgeEntered | None:
    ref = _ref(frame)
    if ref is None:
        return None
    return BridgeEntered(ref=ref, bridge=_text(frame, "BridgeUniqueid"))


def _transfer(frame: Mapping[str, object]) -> Transferred:
    # Both transfer events name every party's Linkedid under different prefixes
    # (Transferer, Transferee, OrigTransferer, SecondTransferer, TransferTarget).
    linkedids = frozenset(_text(frame, key) for key in frame if key.endswith("Linkedid") and _text(frame, key))
    return Transferred(linkedids=linkedids, result=_text(frame, "Result"))


def _originate_response(frame: Mapping[str, object]) -> OriginateResult:
    return OriginateResult(
        action_id=_text(frame, "ActionID"),
        success=_text(frame, "Response").lower() == "success",
        reason=_int_or_none(_text(frame, "Reason")),
        uniqueid=_text(frame, "Uniqueid"),
        channel=_text(frame, "Channel"),
    )


def _member_state(frame: Mapping[str, object]) -> MemberState | None:
    # Inside a QueueStatus reply the member event says Name/Location instead of MemberName/Interface.
    interface = _text(frame, "Interface") or _text(frame, "Location")
    queue = _text(frame, "Queue")
    status = _int_or_none(_text(frame, "Status"))
    if not interface or not queue or status is None:
        return None
    return MemberState(
        queue=queue,
        interface=interface,
        name=_text(frame, "MemberName") or _text(frame, "Name"),
        state_interface=_text(frame, "StateInterface") or interface,
        status=status,
        paused=_text(frame, "Paused") == "1",
        paused_reason=_text(frame, "PausedReason"),
        in_call=_text(frame, "InCall") == "1",
        last_call=_int_or_none(_text(frame, "LastCall")) or 0,
        wrapup_time=_int_or_none(_text(frame, "Wrapuptime")) or 0,
    )


def _member_removed(frame: Mapping[str, object]) -> MemberRemoved | None:
    interface = _text(frame, "Interface")
    queue = _text(frame, "Queue")
    if not interface or not queue:
        return None
    return MemberRemoved(queue=queue, interface=interface)


def _device_state(frame: Mapping[str, object]) -> DeviceState | None:
    device = _text(frame, "Device")
    if not device:
        return None
    return DeviceState(device=device, state=_text(frame, "State"))


def _full_booted(_frame: Mapping[str, object]) -> FullyBooted:
    return FullyBooted()


def _hangup_requested(frame: Mapping[str, object]) -> HangupRequested | None:
    return _hangup_request(frame, soft=False)


def _soft_hangup_requested(frame: Mapping[str, object]) -> HangupRequested | None:
    return _hangup_request(frame, soft=True)


Decoder = Callable[[Mapping[str, object]], AmiEvent | None]

# Event name -> decoder. Every other event decodes to None.
DECODERS: Mapping[str, Decoder] = MappingProxyType(
    {
        "Newchannel": _new_channel,
        "Hangup": _hangup,
        "HangupRequest": _hangup_requested,
        "SoftHangupRequest": _soft_hangup_requested,
        "QueueCallerJoin": _queue_join,
        "AgentConnect": _agent_connect,
        "AgentComplete": _agent_complete,
        "DialEnd": _dial_end,
        "BridgeEnter": _bridge_enter,
        "BlindTransfer": _transfer,
        "AttendedTransfer": _transfer,
        "OriginateResponse": _originate_response,
        "QueueMemberStatus": _member_state,
        "QueueMember": _member_state,
        "QueueMemberAdded": _member_state,
        "QueueMemberPause": _member_state,
        "QueueMemberRemoved": _member_removed,
        "DeviceStateChange": _device_state,
        "FullyBooted": _full_booted,
    }
)

# The one list of AMI event names the daemon reads; Asterisk may filter every other one away
# (config/manager_redial.conf's eventfilter lines, checked against this by the tests).
NEEDED_EVENTS: frozenset[str] = frozenset(DECODERS)


def decode(frame: Mapping[str, object]) -> AmiEvent | None:
    """The typed record of an AMI event frame, or ``None`` for anything the daemon ignores."""
    decoder = DECODERS.get(_text(frame, "Event"))
    return decoder(frame) if decoder is not None else None
