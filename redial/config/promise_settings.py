"""Promised callbacks' settings: per queue (``policy.promise``) and for the daemon (``promise:``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# A rung of the retry ladder that waits for the queue's next opening (not the current one).
NEXT_OPENING = None


@dataclass(frozen=True, slots=True)
class PromiseSounds:
    """What agent and customer hear around a promise: stock sounds by default; record your own.

    The defaults are Asterisk's core English sounds, so they say only roughly what is meant:
    "minutes, then press pound"; "thank you, 30 minutes, saved"; to the customer "thank you,
    <name>, to call this number, 30 minutes, goodbye". Record "will call you back in" and
    name it in customer_middle for a proper sentence.
    """

    # The agent, after the feature code: key the minutes, then # (policy.promise's, never a queue's own).
    agent_enter: tuple[str, ...] = ("minutes", "vm-then-pound")
    # The agent's confirmation, around the minutes.
    agent_confirm_before: tuple[str, ...] = ("auth-thankyou",)
    agent_confirm_after: tuple[str, ...] = ("minutes", "vm-saved")
    # The promise could not be made (no call to attach it to, the number is refused).
    agent_refused: tuple[str, ...] = ("sorry", "please-try-again")
    # The customer: before the owner's name, between the name and the time, after the time.
    customer_before: tuple[str, ...] = ("auth-thankyou",)
    customer_middle: tuple[str, ...] = ("to-call-this-number",)
    customer_after: tuple[str, ...] = ("minutes", "goodbye")
    # The agent who takes the promise hears, before the customer is dialled: this, the
    # owner's name, and note_exists when the promise carries a note.
    whisper_before: tuple[str, ...] = ("beep",)
    note_exists: tuple[str, ...] = ("vm-message",)


@dataclass(frozen=True, slots=True)
class PromisePolicy:
    """How a queue keeps its promises (``policy.promise``; a queue may override it)."""

    # Seconds to wait for a busy owner; then another member takes it.
    owner_wait: float = 120.0
    # Seconds the owner's phone rings before another member takes it.
    owner_ring_timeout: int = 20
    # When the customer is not reached: seconds until the next attempt, one per rung;
    # NEXT_OPENING (None) waits for the queue's next opening. After the last rung: unreached.
    ladder: tuple[float | None, ...] = (900.0, 3600.0, NEXT_OPENING)
    # A promise is kept only after agent and customer talked this many seconds.
    min_talk: float = 20.0
    # Kept more than this many seconds after the time promised counts as late.
    late_after: float = 900.0
    # The phone of the agent who takes it shows "<agent_caller_id_name> <customer number>".
    agent_caller_id_name: str = "PROMISED"
    # Member name (or interface) -> a recording of that agent's name, said to the customer.
    # Without one, the name is spelled (SayAlpha).
    name_sounds: Mapping[str, str] = field(default_factory=dict)
    sounds: PromiseSounds = field(default_factory=PromiseSounds)


@dataclass(frozen=True, slots=True)
class PromiseApi:
    """The HTTP/JSON API for a CRM (``POST /promises``): off unless enabled, loopback, a token."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9328
    # A file holding the bearer token (mode 0600); required when enabled.
    token_file: Path | None = None


@dataclass(frozen=True, slots=True)
class PromiseSettings:
    """Promised callbacks, daemon-wide (``promise:``)."""

    enabled: bool = True
    # A customer who called in and reached an agent before the promise was due: false
    # closes it (customer_called_back), true keeps it.
    keep_when_called_back: bool = False
    # Promises further ahead than this many days are refused (a typo, not a plan).
    max_ahead_days: int = 30
    # POSTed as JSON when a promise becomes unreached (None: only the log, status and metrics).
    webhook: str | None = None
    webhook_timeout: float = 5.0
    api: PromiseApi = field(default_factory=PromiseApi)
