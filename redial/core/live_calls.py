"""Which customers are on a live call right now, by customer key. Pure bookkeeping.

A customer key is a number in the one form every comparison uses ("" for no
number): "same customer" means equal keys, here as in the engine and the FastAGI
lookup. The tracker adds each call it follows under its caller's key ("caller":
they called in) and the dialled number's key ("callee": someone dialled them),
and removes it when the call is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LiveCallIndex"]


class LiveCallIndex:
    """Customer key -> the live calls with that number: Linkedid -> "caller" or "callee"."""

    def __init__(self, number_key: Callable[[str], str], dialled_key: Callable[[str], str]) -> None:
        # A caller's number -> its key.
        self._number_key = number_key
        # A number someone dialled -> its key (an outside-line prefix such as 9 taken off).
        self._dialled_key = dialled_key
        self._by_key: dict[str, dict[str, str]] = {}

    def add(self, linkedid: str, caller: str, dialled: str) -> tuple[str, ...]:
        """Index call ``linkedid`` under its caller's and its dialled number's keys; returns those keys."""
        keys: list[str] = []
        for number, role, key_of in ((caller, "caller", self._number_key), (dialled, "callee", self._dialled_key)):
            key = key_of(number) if number else ""
            if key and key not in keys:
                keys.append(key)
                self._by_key.setdefault(key, {})[linkedid] = role
        return tuple(keys)

    def remove(self, linkedid: str, keys: tuple[str, ...]) -> None:
        """Take call ``linkedid`` out from under ``keys`` (the keys :meth:`add` returned for it)."""
        for key in keys:
            calls = self._by_key.get(key)
            if calls is not None:
                calls.pop(linkedid, None)
                if not calls:
                    del self._by_key[key]

    def live_call_with(self, key: str) -> tuple[str, str] | None:
        """A live call with the customer whose key is ``key``: (Linkedid, "caller" or "callee")."""
        calls = self._by_key.get(key) if key else None
        if not calls:
            return None
        linkedid, role = next(iter(calls.items()))
        return linkedid, role

    def __len__(self) -> int:
        """Customer keys with at least one live call."""
        return len(self._by_key)
