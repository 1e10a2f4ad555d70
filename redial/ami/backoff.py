"""Reconnect delays: capped exponential backoff with jitter. Pure: the randomness is passed in."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """``base * 2**n`` capped at ``cap``, each delay drawn from its upper half.

    The jitter spreads reconnects so a restarted Asterisk is not hit by every
    client at the same instant; the lower bound keeps a dead PBX from being
    hammered. :meth:`reset` after a successful login.
    """

    def __init__(self, base: float, cap: float, uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.base = base
        self.cap = max(cap, base)
        self._uniform = uniform
        self.attempts = 0
        self.current = base

    def advance(self) -> float:
        """The delay before the next attempt after this one fails."""
        ceiling = min(self.cap, self.base * 2 ** min(self.attempts, 30))
        self.attempts += 1
        self.current = self._uniform(ceiling / 2, ceiling)
        return self.current

    def reset(self) -> None:
        self.attempts = 0
        self.current = self.base
