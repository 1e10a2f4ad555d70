"""What each queue member is doing, from AMI events. Pure: events in, availability out.

Fed by QueueMemberStatus / QueueMemberAdded / QueueMemberPause / QueueMemberRemoved,
DeviceStateChange, and the QueueStatus list the daemon asks for after every login.
A queue's own ``wrapuptime`` never appears on AMI: it comes from the configuration
(``policy.agent.wrapup_time``) through :meth:`AgentBoard.set_queue_wrapup`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


def _with_device_status(member: ev.MemberState, status: int) -> ev.MemberState:
    """``member`` with its device's new status (off a call once the device is free).

    ``dataclasses.replace`` spelt out: it looks up the record's fields on every call, and a
    busy PBX's device changes come by the thousand. Every field is named, so one added to
    MemberState must be added here too (a test compares the two).
    """
    return ev.MemberState(
        queue=member.queue,
        interface=member.interface,
        name=member.name,
        state_interface=member.state_interface,
        status=status,
        paused=member.paused,
        paused_reason=member.paused_reason,
        in_call=status != 1 and member.in_call,
        last_call=member.last_call,
        wrapup_time=member.wrapup_time,
    )


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
    # In wrap-up: when it ends (Asterisk's epoch seconds, like LastCall); else None.
    wrapup_until: float | None = None


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
        # Every interface's view is stale from this version on (a reset, new queue wrap-ups).
        self._reset_at = 0
        # The queues' own wrapuptime (queues.conf), by queue name; _default_wrapup for the rest.
        self._queue_wrapup: dict[str, int] = {}
        # hint:<exten>@<context> state interfaces (FreePBX) -> the phone the hint names.
        self._hint_devices: dict[str, str] = {}
        self._default_wrapup = 0

    def set_queue_wrapup(self, wrapup: Mapping[str, int], default: int = 0) -> None:
        """Each queue's own ``wrapuptime`` in seconds (AMI never reports it); ``default`` for other queues.

        The engine passes ``policy.agent.wrapup_time`` of every queue with an override
        (:meth:`redial.config.Settings.queue_wrapup_times`) and the base value as
        ``default``, at start and after every reload. Until then no queue has a wrap-up.
        """
        table = {str(queue): int(seconds) for queue, seconds in wrapup.items()}
        if default < 0 or any(seconds < 0 for seconds in table.values()):
            raise ValueError("a wrap-up time cannot be negative")
        if table == self._queue_wrapup and default == self._default_wrapup:
            return
        self._queue_wrapup, self._default_wrapup = table, int(default)
        self.version += 1
        self._reset_at = self.version

    def queue_wrapup(self, queue: str) -> int:
        """The wrap-up ``queue`` applies after a member's call, in seconds (0: none)."""
        return self._queue_wrapup.get(queue, self._default_wrapup)

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
        apply = _APPLY.get(type(event))
        if apply is None:  # a call's event: it names no member (most of the stream)
            return False
        self.version += 1
        changed = apply(self, event)
        if not changed:
            self.version -= 1
        return changed

    def version_of(self, interface: str) -> int:
        """The board's version when ``interface``'s own entries last changed (0: never)."""
        return max(self._changed.get(interface, 0), self._reset_at)

    def _member_state(self, event: ev.MemberState) -> bool:
        self._put(event)
        return True

    def _member_removed(self, event: ev.MemberRemoved) -> bool:
        queues = self._members.get(event.interface)
        old = queues.pop(event.queue, None) if queues is not None else None
        if old is None:
            return False
        if not queues:
            del self._members[event.interface]
        self._unlink_device(old.state_interface, event.interface)
        self._changed[event.interface] = self.version
        return True

    def _device_state(self, event: ev.DeviceState) -> bool:
        status = _DEVICE_STATUS.get(event.state)
        changed = False
        if status is None:
            return False
        for interface in self._devices.get(event.device, ()):
            queues = self._members[interface]
            for queue, member in queues.items():
                if member.state_interface == event.device and member.status != status:
                    queues[queue] = _with_device_status(member, status)
                    self._changed[interface] = self.version
                    changed = True
        return changed

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
        wrapup = self._wrapup_end(entries)
        if wrapup is not None and wrapup[0] > now:
            end, queue = wrapup
            detail = f"{interface} is in wrap-up ({queue}) for {end - now:.0f} s more"
            return AgentView(interface, Availability.BUSY, detail, queues, wrapup_until=end)
        return AgentView(interface, Availability.FREE, f"{interface} is free", queues)

    def _wrapup_end(self, entries: list[ev.MemberState]) -> tuple[int, str] | None:
        """When the member's wrap-up ends and the queue whose wrap-up it is; None if there is none.

        As app_queue decides whether to ring a member (can_ring_entry, Asterisk 22): not
        while ``now - LastCall < wrapuptime``, where wrapuptime is the member's own
        (``Wrapuptime``) when non-zero, even if shorter, else the wrapuptime of the queue
        the last call came from. Without ``shared_lastcall`` that is the entry's own queue.
        With it, every queue's entry carries the same LastCall and the queue the call came
        from is not on AMI: the longest wrap-up of the queues whose entries carry that
        LastCall is taken, so the daemon may wait longer than app_queue, never shorter.
        A wrap-up in any queue keeps the agent busy: the redial rings their phone itself.
        """
        latest: tuple[int, str] | None = None
        for entry in entries:
            if not entry.last_call:  # never took a call: nothing to wrap up
                continue
            if entry.wrapup_time > 0:
                seconds, queue = entry.wrapup_time, entry.queue
            else:
                seconds, queue = max(
                    (self.queue_wrapup(e.queue), e.queue) for e in entries if e.last_call == entry.last_call
                )
            if seconds and (latest is None or entry.last_call + seconds > latest[0]):
                latest = (entry.last_call + seconds, queue)
        return latest

    def free_members(self, queue: str, now: float, own_pause_reason: str, exclude: Iterable[str] = ()) -> list[str]:
        """Free members of ``queue``, the one idle longest first (the fairest to ring)."""
        excluded = set(exclude)
        candidates = [queues[queue] for i, queues in self._members.items() if queue in queues and i not in excluded]
        free = [
            m for m in candidates if self.view(m.interface, now, own_pause_reason).availability is Availability.FREE
        ]
        return [m.interface for m in sorted(free, key=lambda m: (m.last_call, m.interface))]

    def device_of(self, interface: str) -> str:
        """Where to ring member ``interface``: its own device.

        A Local member (``Local/1001@from-queue/n``, FreePBX's form) runs a dialplan that
        may refuse a call not placed by Queue() (FreePBX hangs up without Queue()'s
        variables); its StateInterface (``PJSIP/1001``) is the phone itself. A state
        interface ``hint:1001@ext-local`` (current FreePBX) gives the device its hint
        names, once resolved (:meth:`set_hint_devices`). Any other state interface that
        is no channel (``Custom:...``) is no place to ring: then the member interface is used.
        """
        entries = self._members.get(interface)
        if not entries:
            return interface
        device = next(iter(entries.values())).state_interface
        device = self._hint_devices.get(device, device)
        tech, slash, rest = device.partition("/")
        if not slash or not rest or tech.lower() in _NOT_RINGABLE or device == interface:
            return interface
        return device

    def hints(self) -> set[str]:
        """The ``hint:exten@context`` state interfaces of the members, to resolve to devices."""
        return {
            m.state_interface
            for queues in self._members.values()
            for m in queues.values()
            if m.state_interface.startswith("hint:")
        }

    def set_hint_devices(self, devices: Mapping[str, str]) -> None:
        """``hint:exten@context`` -> the phone that hint names (from the ExtensionState action).

        Added to what is known: a lookup that failed this time keeps the last answer.
        """
        self._hint_devices.update(devices)

    def unresolved_hint(self, interface: str) -> str | None:
        """The member's ``hint:`` state interface when no phone is known for it yet."""
        for member in self._members.get(interface, {}).values():
            state = member.state_interface
            if state.startswith("hint:") and state not in self._hint_devices:
                return state
        return None

    def find_member(self, name: str) -> list[str]:
        """Member interfaces ``name`` names: the interface, its device or state interface, the
        extension or endpoint in them (``1001`` for ``PJSIP/1001`` or ``Local/1001@from-queue/n``),
        or the member name (any case)."""
        wanted = name.strip().lower()
        found = []
        for interface, queues in self._members.items():
            for member in queues.values():
                phone = self._hint_devices.get(member.state_interface, member.state_interface)
                devices = (interface, member.state_interface, phone)
                extensions = tuple(d.partition("/")[2].partition("@")[0] for d in devices)
                names = (*devices, *extensions, member.name)
                if wanted in (n.lower() for n in names if n):
                    found.append(interface)
                    break
        return sorted(found)

    def queues(self) -> set[str]:
        """Every queue with a member."""
        return {queue for queues in self._members.values() for queue in queues}

    def members_of(self, queue: str) -> list[str]:
        """Every member interface of ``queue``, whatever its state."""
        return [interface for interface, queues in self._members.items() if queue in queues]

    def member_at(self, device: str, queue: str) -> tuple[str, str] | None:
        """The member of ``queue`` whose interface or device is ``device``: (interface, name)."""
        for interface, queues in self._members.items():
            member = queues.get(queue)
            if member is None:
                continue
            phone = self._hint_devices.get(member.state_interface, member.state_interface)
            if device in (interface, member.state_interface, phone) or interface.startswith(device + "/"):
                return interface, member.name
        return None


# State-interface technologies that name no phone to ring.
_NOT_RINGABLE = frozenset({"local", "custom", "queue", "hint"})


def device_in_hint(hint: str) -> str | None:
    """The phone a dialplan hint names: ``PJSIP/1001&Custom:DND1001`` gives ``PJSIP/1001``."""
    for part in hint.split("&"):
        tech, slash, rest = part.strip().partition("/")
        if slash and rest and tech.isalnum() and tech.lower() not in _NOT_RINGABLE:
            return part.strip()
    return None


# The events that can change the board, by type: a dict lookup instead of a chain of isinstance
# checks for each of the stream's events (the records are final classes).
_APPLY: dict[type[ev.AmiEvent], Callable[[AgentBoard, Any], bool]] = {
    ev.MemberState: AgentBoard._member_state,
    ev.MemberRemoved: AgentBoard._member_removed,
    ev.DeviceState: AgentBoard._device_state,
}
