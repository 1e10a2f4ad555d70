"""The decoder of AMI event frames into the typed records of :mod:`redial.ami.events`. Pure: no I/O.

One decoder per event name the daemon reads (:data:`DECODERS`); every other
frame decodes to ``None`` cheaply, and so does a frame that lacks a field its
record needs. Field readers never raise: a malformed frame must never stop the
daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from redial.ami.events import (
    AgentCompleted,
    AgentConnected,
    AmiEvent,
    BridgeEntered,
    ChannelHungUp,
    ChannelRef,
    DeviceState,
    DialEnded,
    FullyBooted,
    HangupRequested,
    LiveChannel,
    MemberRemoved,
    MemberState,
    NewChannel,
    OriginateResult,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueWaiting,
    Transferred,
)

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


def _queue_leave(frame: Mapping[str, object]) -> QueueCallerLeft | None:
    ref = _ref(frame)
    queue = _text(frame, "Queue")
    if ref is None or not queue:
        return None
    return QueueCallerLeft(ref=ref, queue=queue, position=_int_or_none(_text(frame, "Position")))


def _queue_entry(frame: Mapping[str, object]) -> QueueWaiting | None:
    uniqueid, queue = _text(frame, "Uniqueid"), _text(frame, "Queue")
    if not uniqueid or not queue:
        return None
    return QueueWaiting(
        uniqueid=uniqueid,
        queue=queue,
        caller_number=_number(_text(frame, "CallerIDNum")),
        wait=max(0, _int_or_none(_text(frame, "Wait")) or 0),
        position=_int_or_none(_text(frame, "Position")) or 0,
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
        "QueueCallerLeave": _queue_leave,
        "QueueEntry": _queue_entry,
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
