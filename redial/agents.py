"""What each queue member is doing, from AMI events. Pure: events in, availability out.

Fed by QueueMemberStatus / QueueMemberAdded / QueueMemberPause / QueueMemberRemoved,
DeviceStateChange, and the QueueStatus list the daemon asks for after every login.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from redial.ami import events as ev

# DeviceStateChange states to QueueMemberStatus codes.
_DEVICE_STATUS = {
    "UNKNOWN": 0,
    "NOT_INUSE": 1,
    "INUSE": 2,
    "BUSY": 3,
    "INVALID": 4,
    "UNAVAILABLE": 5,
    "RINGING": 6,
    "RINGINUSE": 7,
    "ONHOLD": 8,
}
_STATUS_TEXT = {
    0: "in an unknown state",
    1: "free",
    2: "on a call",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ringing while on a call",
    8: "on hold",
}


class Availability(enum.Enum):
    FREE = "free"
    BUSY = "busy"  # on a call, ringing, on hold, or in wrap-up
    PAUSED = "paused"  # paused for a reason other than the daemon's own
    LOGGED_OFF = "logged_off"  # not a member of any queue, or its device is unavailable
    UNKNOWN = "unknown"  # never seen: the daemon has no state to go by


@dataclass(frozen=True, slots=True)
class AgentView:
    interface: str
    availability: Availability
    detail: str
    queues: tuple[str, ...] = ()


class AgentBoard:
    """Queue members by (queue, interface), with the interfaces the daemon has reserved."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], ev.MemberState] = {}
        self.known = False

    def reset(self, members: Iterable[ev.MemberState]) -> None:
        """Replace everything with a fresh QueueStatus snapshot."""
        self._members = {(m.queue, m.interface): m for m in members}
        self.known = True

    def handle(self, event: ev.AmiEvent) -> bool:
        """Apply an event; True when it changed a member."""
        if isinstance(event, ev.MemberState):
            self._members[(event.queue, event.interface)] = event
            return True
        if isinstance(event, ev.MemberRemoved):
            return self._members.pop((event.queue, event.interface), None) is not None
        if isinstance(event, ev.DeviceState):
            status = _DEVICE_STATUS.get(event.state)
            changed = False
            if status is None:
                return False
            for key, member in self._members.items():
                if member.state_interface == event.device and member.status != status:
                    self._members[key] = dataclasses.replace(
                        member, status=status, in_call=status != 1 and member.in_call
                    )
                    changed = True
            return changed
        return False

    def name_of(self, interface: str) -> str:
        """The member name the queues know ``interface`` by ("" if none)."""
        return next((m.name for (_q, i), m in self._members.items() if i == interface and m.name), "")

    def queues_of(self, interface: str) -> tuple[str, ...]:
        return tuple(sorted(q for (q, i) in self._members if i == interface))

    def view(self, interface: str, now: float, own_pause_reason: str) -> AgentView:
        """Can ``interface`` take a redial now? Paused with ``own_pause_reason`` counts as free."""
        entries = [m for (q, i), m in self._members.items() if i == interface]
        queues = tuple(sorted(m.queue for m in entries))
        if not entries:
            if self.known:
                return AgentView(interface, Availability.LOGGED_OFF, f"{interface} is not a member of any queue", ())
            return AgentView(interface, Availability.UNKNOWN, f"the state of {interface} is not known yet", ())
        member = entries[0]
        if member.status in (4, 5):
            return AgentView(
                interface, Availability.LOGGED_OFF, f"{interface} is {_STATUS_TEXT[member.status]}", queues
            )
        for entry in entries:
            if entry.paused and entry.paused_reason != own_pause_reason:
                reason = f" ({entry.paused_reason})" if entry.paused_reason else ""
                return AgentView(
                    interface, Availability.PAUSED, f"{interface} is paused in {entry.queue}{reason}", queues
                )
        if member.status not in (0, 1) or any(e.in_call for e in entries):
            text = _STATUS_TEXT.get(member.status, "busy")
            return AgentView(interface, Availability.BUSY, f"{interface} is {text}", queues)
        wrapup_end = max((e.last_call + e.wrapup_time for e in entries if e.wrapup_time), default=0)
        if wrapup_end > now:
            return AgentView(
                interface, Availability.BUSY, f"{interface} is in wrap-up for {wrapup_end - now:.0f} s more", queues
            )
        return AgentView(interface, Availability.FREE, f"{interface} is free", queues)

    def free_members(self, queue: str, now: float, own_pause_reason: str, exclude: Iterable[str] = ()) -> list[str]:
        """Free members of ``queue``, the one idle longest first (the fairest to ring)."""
        excluded = set(exclude)
        candidates = [m for (q, i), m in self._members.items() if q == queue and i not in excluded]
        free = [
            m for m in candidates if self.view(m.interface, now, own_pause_reason).availability is Availability.FREE
        ]
        return [m.interface for m in sorted(free, key=lambda m: (m.last_call, m.interface))]

    def free_count(self, now: float, own_pause_reason: str) -> int:
        interfaces = {i for (_q, i) in self._members}
        return sum(1 for i in interfaces if self.view(i, now, own_pause_reason).availability is Availability.FREE)
