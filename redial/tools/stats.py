"""The recovery funnel, computed from stored rows. Pure: rows in, numbers out."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GROUPINGS = ("queue", "agent", "trunk", "day")


@dataclass
class Funnel:
    """One group's funnel: each stage counts calls that reached it."""

    answered: int = 0
    abnormal: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    called_back_first: int = 0
    # An agent had the customer on a call already (they dialled them by hand).
    on_call: int = 0
    attempted: int = 0
    connected: int = 0
    # Nobody could take the redial: left for a person to call back, never a silent end.
    callback_requested: int = 0

    @property
    def recovery_rate(self) -> float | None:
        """Connected redials per abnormal end; None without abnormal ends."""
        return self.connected / self.abnormal if self.abnormal else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "abnormal_ends": self.abnormal,
            "skipped_by_policy": dict(sorted(self.skipped.items())),
            "customer_called_back_first": self.called_back_first,
            "customer_on_call": self.on_call,
            "callback_requested": self.callback_requested,
            "redials_attempted": self.attempted,
            "connected": self.connected,
            "recovery_rate": None if self.recovery_rate is None else round(self.recovery_rate, 4),
        }


def group_key(row: Mapping[str, Any], by: str, zone: zoneinfo.ZoneInfo) -> str:
    if by == "queue":
        return str(row["queue"] or "-")
    if by == "agent":
        return str(row["agent_member"] or row["agent_interface"] or "-")
    if by == "trunk":
        return str(row["trunk"] or "-")
    return dt.datetime.fromtimestamp(float(row["ended_at"]), zone).date().isoformat()


def funnel(rows: Iterable[Mapping[str, Any]], by: str | None = None, timezone: str = "UTC") -> dict[str, Funnel]:
    """The funnel per group (one group ``all`` without ``by``).

    A row is one ended queue call with its decision and, if any, its redial's
    outcome and whether an Originate was ever sent.
    """
    zone = zoneinfo.ZoneInfo(timezone)
    groups: dict[str, Funnel] = {}
    for row in rows:
        key = group_key(row, by, zone) if by else "all"
        stage = groups.setdefault(key, Funnel())
        if row["answered_at"] is not None:
            stage.answered += 1
        if row["classification"] != "abnormal":
            continue
        stage.abnormal += 1
        if row["verdict"] != "redial":
            stage.skipped[row["reason"]] = stage.skipped.get(row["reason"], 0) + 1
        if row["outcome"] == "customer_called_back":
            stage.called_back_first += 1
        elif row["outcome"] == "customer_on_call":
            stage.on_call += 1
        elif row["outcome"] == "callback_requested":
            stage.callback_requested += 1
        if row["attempted"]:
            stage.attempted += 1
        if row["outcome"] == "connected":
            stage.connected += 1
    return dict(sorted(groups.items()))


_RELATIVE = re.compile(r"(\d+)\s*([mhdw])")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, now: float, timezone: str = "UTC") -> float:
    """``7d``, ``24h``, ``30m`` (that long before ``now``) or an ISO date/time (local to ``timezone``)."""
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration like 7d, 24h, 30m nor a date like 2026-11-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return when.timestamp()
