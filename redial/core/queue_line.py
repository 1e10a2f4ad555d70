"""Who waits in each queue, and since when. Pure: AMI events in, answers out.

A queue callback keeps the place its caller had: it goes when no live caller who
joined the queue earlier is still waiting (and never behind one who joined later).
This line is what it is compared with: every QueueCallerJoin adds a caller, every
QueueCallerLeave (answered, abandoned, timed out, left by a key) removes one, and each
login replaces it from the QueueStatus list (QueueEntry's ``Wait``).

A caller who left by the offer key is remembered a short while, so the FastAGI request
that follows finds their queue and the time they joined.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from redial.ami import events as ev

# How long a caller who left a queue is remembered for the offer that follows their key.
LEFT_KEPT = 600.0
_LEFT_MAX = 1024
# Weight of the newest call in a queue's average handle time.
_HANDLE_WEIGHT = 0.2


@dataclass(frozen=True, slots=True)
class Place:
    """A caller's place in a queue: since when they wait, and their number's key."""

    queue: str
    uniqueid: str
    joined_at: float
    number_key: str
    # Their position when they left (1 is next), for a caller sent back to the queue.
    position: int = 0
    left_at: float | None = None


class QueueLine:
    """The live callers waiting in each queue."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, Place]] = {}
        self._left: OrderedDict[str, Place] = OrderedDict()
        # Seconds per call in each queue (talk time), an average of the calls seen.
        self._handle: dict[str, float] = {}
        # Bumped by every change: a callback waiting for its turn is planned again.
        self.version = 0

    def joined(self, event: ev.QueueCallerJoined, now: float, number_key: str) -> None:
        # A caller sent back to the queue (no callback after the offer key) keeps their time.
        before = self._left.pop(event.ref.uniqueid, None)
        since = before.joined_at if before is not None and before.queue == event.queue else now
        place = Place(event.queue, event.ref.uniqueid, since, number_key)
        self._waiting.setdefault(event.queue, {})[event.ref.uniqueid] = place
        self.version += 1

    def left(self, event: ev.QueueCallerLeft, now: float) -> None:
        line = self._waiting.get(event.queue)
        place = line.pop(event.ref.uniqueid, None) if line else None
        if place is None:
            return
        if not line:
            del self._waiting[event.queue]
        self._left[place.uniqueid] = Place(
            place.queue, place.uniqueid, place.joined_at, place.number_key, event.position or 0, now
        )
        while len(self._left) > _LEFT_MAX:
            self._left.popitem(last=False)
        self.version += 1

    def handled(self, event: ev.AgentCompleted) -> None:
        """A queue call ended: its talk time moves the queue's average handle time."""
        if event.talk_time is None or event.talk_time <= 0:
            return
        old = self._handle.get(event.queue)
        talk = float(event.talk_time)
        self._handle[event.queue] = talk if old is None else old + _HANDLE_WEIGHT * (talk - old)

    def reset(self, waiting: tuple[ev.QueueWaiting, ...], now: float, number_key: dict[str, str]) -> None:
        """A login's QueueStatus list: the line as the PBX has it now (``number_key``: number -> key)."""
        self._waiting = {}
        for entry in waiting:
            place = Place(entry.queue, entry.uniqueid, now - entry.wait, number_key.get(entry.caller_number, ""))
            self._waiting.setdefault(entry.queue, {})[entry.uniqueid] = place
        self.version += 1

    # ---- answers ----------------------------------------------------------------------
    def ahead_of(self, queue: str, joined_at: float) -> int:
        """Live callers in ``queue`` who joined before ``joined_at``: a callback from then goes after them."""
        return sum(1 for place in self._waiting.get(queue, {}).values() if place.joined_at < joined_at)

    def waiting(self, queue: str) -> int:
        return len(self._waiting.get(queue, {}))

    def place_of(self, uniqueid: str, now: float) -> Place | None:
        """Where the caller of ``uniqueid`` waits, or waited until a moment ago (they pressed a key)."""
        for line in self._waiting.values():
            if uniqueid in line:
                return line[uniqueid]
        place = self._left.get(uniqueid)
        if place is None or place.left_at is None or now - place.left_at > LEFT_KEPT:
            return None
        return place

    def handle_time(self, queue: str, default: float) -> float:
        return self._handle.get(queue, default)

    def estimate(self, queue: str, ahead: int, free: int, staffed: int, default_handle: float) -> float:
        """Seconds until a caller with ``ahead`` before them reaches an agent: ``free`` agents take
        the first at once, then ``staffed`` agents one call each per handle time."""
        if ahead < free:
            return 0.0
        rounds = math.ceil((ahead + 1 - free) / max(1, staffed))
        return rounds * self.handle_time(queue, default_handle)

    def forget_old(self, now: float) -> None:
        while self._left:
            uniqueid, place = next(iter(self._left.items()))
            if place.left_at is not None and now - place.left_at <= LEFT_KEPT:
                break
            del self._left[uniqueid]
