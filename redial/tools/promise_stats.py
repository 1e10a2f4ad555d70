"""Promised callbacks in ``redial stats``: the funnel per queue, and per agent who kept whose
promises. Pure: rows of :meth:`redial.store.promise_reports.PromiseReports.promise_rows` in,
numbers out.

A promise is kept when its outcome is ``connected``; by its owner when the member who took
it (``ring_interface``) is the owner's interface, else by someone else, who counts it as
kept for others. A promise of the queue (no owner, the row ``(queue)``) is kept by whichever
member takes it: that member counts it as kept for others too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

QUEUE_OWNER = "(queue)"
_CALLED_BACK_OR_CANCELLED = frozenset({"customer_called_back", "cancelled"})


@dataclass
class PromiseFunnel:
    """One queue's promises made in the period, by how they stand."""

    made: int = 0
    kept: int = 0
    kept_late: int = 0
    unreached: int = 0
    customer_called_back: int = 0
    cancelled: int = 0
    pending: int = 0
    ended_otherwise: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "kept": self.kept,
            "kept_late": self.kept_late,
            "unreached": self.unreached,
            "customer_called_back": self.customer_called_back,
            "cancelled": self.cancelled,
            "pending": self.pending,
            "ended_otherwise": dict(sorted(self.ended_otherwise.items())),
        }


@dataclass
class AgentPromises:
    """One owner's promises made in the period, and the promises of others this agent kept."""

    made: int = 0
    kept_by_owner: int = 0
    kept_by_other: int = 0
    # Kept (by anyone) later than policy.promise.late_after.
    late: int = 0
    unreached: int = 0
    called_back_or_cancelled: int = 0
    pending: int = 0
    ended_otherwise: int = 0
    kept_for_others: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "made": self.made,
            "kept_by_owner": self.kept_by_owner,
            "kept_by_other": self.kept_by_other,
            "late": self.late,
            "unreached": self.unreached,
            "called_back_or_cancelled": self.called_back_or_cancelled,
            "pending": self.pending,
            "ended_otherwise": self.ended_otherwise,
            "kept_for_others": self.kept_for_others,
        }


def promise_funnel(rows: Iterable[Mapping[str, Any]]) -> dict[str, PromiseFunnel]:
    """The funnel per queue, sorted by queue; only queues with a promise appear."""
    groups: dict[str, PromiseFunnel] = {}
    for row in rows:
        stage = groups.setdefault(str(row["queue"] or "-"), PromiseFunnel())
        stage.made += 1
        outcome = row["outcome"]
        if row["state"] != "done":
            stage.pending += 1
        elif outcome == "connected":
            stage.kept += 1
            stage.kept_late += 1 if row["late"] else 0
        elif outcome == "unreached":
            stage.unreached += 1
        elif outcome == "customer_called_back":
            stage.customer_called_back += 1
        elif outcome == "cancelled":
            stage.cancelled += 1
        else:
            key = str(outcome or "-")
            stage.ended_otherwise[key] = stage.ended_otherwise.get(key, 0) + 1
    return dict(sorted(groups.items()))


def owner_of(row: Mapping[str, Any]) -> str:
    """The owner's member name, else interface; ``(queue)`` for the queue's promise."""
    return str(row["owner_member"] or row["owner_interface"] or QUEUE_OWNER)


def promises_by_agent(rows: Iterable[Mapping[str, Any]]) -> dict[str, AgentPromises]:
    """Per owner (and per agent who kept another's promise), sorted by name, ``(queue)`` last."""
    groups: dict[str, AgentPromises] = {}
    for row in rows:
        owner = groups.setdefault(owner_of(row), AgentPromises())
        owner.made += 1
        outcome = row["outcome"]
        if row["state"] != "done":
            owner.pending += 1
        elif outcome == "connected":
            owner.late += 1 if row["late"] else 0
            queue_owned = not row["owner_interface"]
            if queue_owned or row["ring_interface"] == row["owner_interface"]:
                owner.kept_by_owner += 1
            else:
                owner.kept_by_other += 1
            if queue_owned or row["ring_interface"] != row["owner_interface"]:
                keeper = str(row["ring_member"] or row["ring_interface"] or "-")
                groups.setdefault(keeper, AgentPromises()).kept_for_others += 1
        elif outcome == "unreached":
            owner.unreached += 1
        elif outcome in _CALLED_BACK_OR_CANCELLED:
            owner.called_back_or_cancelled += 1
        else:
            owner.ended_otherwise += 1
    return dict(sorted(groups.items(), key=lambda item: (item[0] == QUEUE_OWNER, item[0])))


def funnel_lines(funnels: Mapping[str, PromiseFunnel]) -> list[str]:
    """The per-queue funnel as ``redial stats`` prints it (80 columns), then what the columns leave out."""
    lines = [
        "promised callbacks",
        f"{'QUEUE':14} {'MADE':>5} {'KEPT':>5} {'LATE':>5} {'UNREACHED':>9} {'CALLED BACK':>11} "
        f"{'CANCEL':>6} {'PENDING':>7}",
    ]
    for queue, stage in funnels.items():
        lines.append(
            f"{queue[:14]:14} {stage.made:>5} {stage.kept:>5} {stage.kept_late:>5} {stage.unreached:>9} "
            f"{stage.customer_called_back:>11} {stage.cancelled:>6} {stage.pending:>7}"
        )
        lines += [f"{'':14}   ended {outcome}: {count}" for outcome, count in stage.ended_otherwise.items()]
    return lines


def agent_lines(agents: Mapping[str, AgentPromises]) -> list[str]:
    """Promises per owner as ``redial stats --by agent`` prints them (80 columns)."""
    lines = [
        "promised callbacks by owner (FOR OTHERS: others' promises the agent kept)",
        f"{'AGENT':14} {'MADE':>5} {'KEPT':>5} {'BY OTHER':>8} {'LATE':>5} {'UNREACH':>7} {'CB/CANC':>7} "
        f"{'PENDING':>7} {'FOR OTHERS':>10}",
    ]
    for name, stage in agents.items():
        lines.append(
            f"{name[:14]:14} {stage.made:>5} {stage.kept_by_owner:>5} {stage.kept_by_other:>8} {stage.late:>5} "
            f"{stage.unreached:>7} {stage.called_back_or_cancelled:>7} {stage.pending:>7} {stage.kept_for_others:>10}"
        )
        if stage.ended_otherwise:
            lines.append(f"{'':14}   ended otherwise (failed, talk too short, ...): {stage.ended_otherwise}")
    return lines
