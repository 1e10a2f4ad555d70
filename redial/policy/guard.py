"""The outage guard: many drops on one trunk at once is a carrier outage, not bad luck.

More than ``drops`` abnormal drops within ``within`` seconds on one trunk trips
the guard for that trunk; while it is tripped, redials through that trunk start
at most ``rate`` a minute. It ends once the trunk is quiet again and the
backlog has drained. The clock is passed in; nothing here reads it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from redial.config import OutageGuard as GuardSettings


@dataclass(frozen=True, slots=True)
class GuardChange:
    trunk: str
    tripped: bool
    drops: int
    detail: str


class OutageGuard:
    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self._drops: dict[str, deque[float]] = {}
        self._tripped: set[str] = set()
        self._next_slot: dict[str, float] = {}

    def _prune(self, trunk: str, now: float) -> deque[float]:
        drops = self._drops.setdefault(trunk, deque())
        while drops and drops[0] <= now - self.settings.within:
            drops.popleft()
        return drops

    def tripped(self, trunk: str) -> bool:
        return trunk in self._tripped

    def record_drop(self, trunk: str, now: float) -> GuardChange | None:
        """Count an abnormal drop; the change when it trips the guard."""
        drops = self._prune(trunk, now)
        drops.append(now)
        if trunk in self._tripped or len(drops) <= self.settings.drops:
            return None
        self._tripped.add(trunk)
        self._next_slot[trunk] = now
        return GuardChange(
            trunk,
            True,
            len(drops),
            f"{len(drops)} drops within {self.settings.within:g} s on trunk {trunk}: "
            f"redials limited to {self.settings.rate:g} a minute",
        )

    def slot(self, trunk: str, now: float) -> float:
        """When the next redial through ``trunk`` may start (``now`` if not throttled)."""
        if trunk not in self._tripped:
            return now
        return max(now, self._next_slot.get(trunk, now))

    def take(self, trunk: str, now: float) -> None:
        """A redial through ``trunk`` starts now: the next one waits its turn."""
        if trunk in self._tripped:
            self._next_slot[trunk] = max(now, self._next_slot.get(trunk, now)) + 60.0 / self.settings.rate

    def refresh(self, now: float) -> list[GuardChange]:
        """End the guard on trunks that are quiet again and have no backlog left."""
        ended = []
        for trunk in sorted(self._tripped):
            drops = self._prune(trunk, now)
            if len(drops) <= self.settings.drops and self._next_slot.get(trunk, now) <= now:
                self._tripped.discard(trunk)
                self._next_slot.pop(trunk, None)
                ended.append(GuardChange(trunk, False, len(drops), f"trunk {trunk} is quiet again: guard ended"))
        for trunk in [t for t, d in self._drops.items() if not d and t not in self._tripped]:
            del self._drops[trunk]
        return ended

    def next_change(self) -> float | None:
        """A hint for when :meth:`refresh` may next end a guard."""
        times = []
        for trunk in self._tripped:
            drops = self._drops.get(trunk)
            quiet = drops[0] + self.settings.within if drops else 0.0
            times.append(max(quiet, self._next_slot.get(trunk, 0.0)))
        return min(times) if times else None
