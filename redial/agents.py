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
        # interface -> queue -> member, in the order the members became known.
        self._members: dict[str, dict[str, ev.MemberState]] = {}
        # StateInterface -> the interfaces whose device it is (DeviceStateChange names devices).
        self._devices: dict[str, set[str]] = {}
        self.known = False
        # Moves on every change: what was derived from the board is stale when it moved.
        self.version = 0
        # The version at which each interface's own entries last changed.
        self._changed: dict[str, int] = {}
        self._reset_at = 0

    def reset(self, members: Iterable[ev.MemberState]) -> None:
        """Replace everything with a fresh QueueStatus snapshot."""
        self._members = {}
        self._devices = {}
        self.version += 1
        self._changed = {}
        self._reset_at = self.version
        for member in members:
            self._put(member)
        self.known = True

    def _put(self, member: ev.MemberState) -> None:
        self._changed[member.interface] = self.version
        queues = self._members.setdefault(member.interface, {})
        old = queues.get(member.queue)
        queues[member.queue] = member
        if old is None or old.state_interface != member.state_interface:
            self._devices.setdefault(member.state_interface, set()).add(member.interface)
            if old is not None:
                self._unlink_device(old.state_interface, member.interface)

    def _unlink_device(self, device: str, interface: str) -> None:
        if any(m.state_interface == device for m in self._members.get(interface, {}).values()):
            return
        interfaces = self._devices.get(device)
        if interfaces is not None:
            interfaces.discard(interface)
            if not interfaces:
                del self._devices[device]

    def handle(self, event: ev.AmiEvent) -> bool:
        """Apply an event; True when it changed a member."""
        self.version += 1
        changed = self._apply(event)
        if not changed:
            self.version -= 1
        return changed

    def version_of(self, interface: str) -> int:
        """The board's version when ``interface``'s own entries last changed (0: never)."""
        return max(self._changed.get(interface, 0), self._reset_at)

    def _apply(self, event: ev.AmiEvent) -> bool:
        if isinstance(event, ev.MemberState):
            self._put(event)
            return True
        if isinstance(event, ev.MemberRemoved):
            queues = self._members.get(event.interface)
            old = queues.pop(event.queue, None) if queues is not None else None
            if old is None:
                return False
            if not queues:
                del self._members[event.interface]
            self._unlink_device(old.state_interface, event.interface)
            self._changed[event.interface] = self.version
            return True
        if isinstance(event, ev.DeviceState):
            status = _DEVICE_STATUS.get(event.state)
            changed = False
            if status is None:
                return False
            for interface in self._devices.get(event.device, ()):
                queues = self._members[interface]
                for queue, member in queues.items():
                    if member.state_interface == event.device and member.status != status:
                        queues[queue] = dataclasses.replace(
                            member, status=status, in_call=status != 1 and member.in_call
                        )
                        self._changed[interface] = self.version
                        changed = True
            return changed
        return False

    def name_of(self, interface: str) -> str:
        """The member name the queues know ``interface`` by ("" if none)."""
        return next((m.name for m in self._members.get(interface, {}).values() if m.name), "")

    def queues_of(self, interface: str) -> tuple[str, ...]:
        return tuple(sorted(self._members.get(interface, ())))

    def view(self, interface: str, now: float, own_pause_reason: str) -> AgentView:
        """Can ``interface`` take a redial now? Paused with ``own_pause_reason`` counts as free."""
        entries = list(self._members.get(interface, {}).values())
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
        candidates = [
            queues[queue] for i, queues in self._members.items() if queue in queues and i not in excluded
        ]
        free = [
            m for m in candidates if self.view(m.interface, now, own_pause_reason).availability is Availability.FREE
        ]
        return [m.interface for m in sorted(free, key=lambda m: (m.last_call, m.interface))]

