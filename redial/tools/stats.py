"""The recovery funnel and the queue-callback funnel, computed from stored rows. Pure: rows in, numbers out."""

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


# How a queue callback job ended (``redials.outcome`` of a done job), as the funnel counts it.
REACHED = frozenset({"connected"})
UNREACHED = frozenset({"unreached"})
CANCELLED = frozenset({"customer_called_back", "cancelled"})


@dataclass
class CallbackFunnel:
    """One queue's callback funnel: offer steps (from the offers log) and how the requests fared."""

    offered: int = 0
    not_offered: dict[str, int] = field(default_factory=dict)
    # New requests stored plus those merged into a pending one: every "yes, call me back".
    accepted: int = 0
    merged: int = 0
    number_refused: int = 0
    # Jobs requested in the period: those that rang at least once, and how they ended.
    requested: int = 0
    served: int = 0
    reached: int = 0
    unreached: int = 0
    cancelled: int = 0
    ended_otherwise: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    # Seconds from request to agent and customer bridged, one per reached job.
    waits: list[float] = field(default_factory=list)

    @property
    def wait_median(self) -> float | None:
        return percentile(self.waits, 0.5)

    @property
    def wait_p90(self) -> float | None:
        return percentile(self.waits, 0.9)

    def as_dict(self) -> dict[str, Any]:
        median, p90 = self.wait_median, self.wait_p90
        return {
            "offered": self.offered,
            "not_offered": sum(self.not_offered.values()),
            "not_offered_by_reason": dict(sorted(self.not_offered.items())),
            "accepted": self.accepted,
            "merged": self.merged,
            "number_refused": self.number_refused,
            "requested": self.requested,
            "served": self.served,
            "reached": self.reached,
            "unreached": self.unreached,
            "cancelled": self.cancelled,
            "ended_otherwise": dict(sorted(self.ended_otherwise.items())),
            "pending": self.pending,
            "request_to_callback_median_seconds": None if median is None else round(median, 1),
            "request_to_callback_p90_seconds": None if p90 is None else round(p90, 1),
        }


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The ``fraction`` quantile by linear interpolation between closest ranks; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def callback_funnel(
    offers: Iterable[Mapping[str, Any]], jobs: Iterable[Mapping[str, Any]]
) -> dict[str, CallbackFunnel]:
    """The queue-callback funnel per queue, sorted by queue.

    ``offers`` are counts from the offers log (queue, event, detail, count); ``jobs`` are the
    queue-callback jobs requested in the period (queue, state, outcome, rings, created_at,
    connected_at). Only queues with a row in either appear.
    """
    groups: dict[str, CallbackFunnel] = {}
    for offer in offers:
        stage = groups.setdefault(str(offer["queue"] or "-"), CallbackFunnel())
        count = int(offer["count"])
        event = offer["event"]
        if event == "offered":
            stage.offered += count
        elif event == "not_offered":
            reason = str(offer["detail"] or "-")
            stage.not_offered[reason] = stage.not_offered.get(reason, 0) + count
        elif event == "accepted":
            stage.accepted += count
        elif event == "merged":
            stage.accepted += count
            stage.merged += count
        elif event == "number_refused":
            stage.number_refused += count
    for job in jobs:
        stage = groups.setdefault(str(job["queue"] or "-"), CallbackFunnel())
        stage.requested += 1
        if job["rings"]:
            stage.served += 1
        outcome = job["outcome"]
        if job["state"] != "done":
            stage.pending += 1
        elif outcome in REACHED:
            stage.reached += 1
            stage.waits.append(float(job["connected_at"]) - float(job["created_at"]))
        elif outcome in UNREACHED:
            stage.unreached += 1
        elif outcome in CANCELLED:
            stage.cancelled += 1
        else:
            key = str(outcome or "-")
            stage.ended_otherwise[key] = stage.ended_otherwise.get(key, 0) + 1
    return dict(sorted(groups.items()))


def format_seconds(seconds: float) -> str:
    """A wait for people: 45s, 4m05s, 2h03m."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


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
