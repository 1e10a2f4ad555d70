"""Promised callbacks: making a promise, and whom a due one rings. Pure: no I/O.

A promise is made on the phone (the agent's ``*7`` feature, through the FastAGI), with
``redial promise`` or the HTTP API, or by the daemon itself when a drop redial found
nobody to take it. It is stored before anyone is told it exists. When due, its owner
is reserved and rung first; a member of the queue takes it at once when the owner is
logged off, paused for another reason, failed to answer, or stayed busy past
``policy.promise.owner_wait``. A customer not reached is tried again along the queue's
ladder; after the last rung the promise is ``unreached``, in sight and alerted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PromiseRequest:
    """A promise to make, as the CLI, the HTTP API or the phone gives it (raw; checked by the engine).

    When: exactly one of ``within`` (``90s``, ``30m``, ``2h``), ``at`` (ISO 8601, or
    ``HH:MM`` today in the queue's time zone) and ``minutes`` (the phone's keyed minutes).
    """

    number: str = ""
    within: str = ""
    at: str = ""
    minutes: int | None = None
    # A queue member's name or interface (PJSIP/1001, Local/1001@from-queue/n); "" = the queue's.
    agent: str = ""
    queue: str = ""
    note: str = ""
    # The original call: its Uniqueid or Linkedid (a live call, or one in the store).
    call: str = ""
    # Who made it: the connecting user (control socket), "api", or the agent's interface.
    by: str = ""
    # cli, api, phone, drop.
    source: str = "cli"


@dataclass(frozen=True, slots=True)
class PromiseAnswer:
    """The promise made (its id, when, whose), or why not in words."""

    ok: bool
    detail: str
    promise_id: int | None = None
    due_at: float = 0.0
    queue: str = ""
    # The owner's member name ("" for the queue's), for the customer's confirmation.
    agent_name: str = ""
    agent_interface: str = ""
    # Whole minutes from now to the due time (what the phone says).
    minutes: int = 0
