"""What redial's settings are: frozen dataclasses, with every default.

``redial.config.load`` fills them from YAML and the environment; everything else
only reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from redial.config.promise_settings import PromisePolicy, PromiseSettings

# Causes that end a call abnormally after answer (asterisk-facts.md, default table).
DEFAULT_ABNORMAL_CAUSES = frozenset({18, 19, 27, 34, 38, 41, 42, 44, 47, 102, 127})
DEFAULT_CONFIG_PATH = Path("/etc/redial/redial.yaml")


class Secret:
    """A string that never shows itself in a repr, a log line or an error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "redial"
    secret: Secret = field(default_factory=lambda: Secret(""))
    # Seconds between the daemon's own Pings; a peer silent for two of them is dead.
    ping_interval: float = 10.0
    action_timeout: float = 10.0
    # Reconnect after a first delay of reconnect_delay seconds, doubling (with
    # jitter) up to reconnect_max.
    reconnect_delay: float = 2.0
    reconnect_max: float = 60.0


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path = Path("/var/lib/redial/redial.sqlite3")
    # Calls and redials older than this many days are purged (0: keep everything).
    retention_days: int = 90


# phonenumbers' number types, by the names the YAML uses.
NumberType = Literal[
    "fixed_line",
    "mobile",
    "fixed_line_or_mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "unknown",
]
NUMBER_TYPES: frozenset[str] = frozenset(get_args(NumberType))
# Premium-rate, shared-cost, pagers, voicemail and unknown types are never dialled by default.
DEFAULT_NUMBER_TYPES: frozenset[NumberType] = frozenset(
    {"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip", "personal_number", "uan"}
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The outcomes of a redial attempt that policy.retry.retry_on may name.
RedialOutcome = Literal["agent_no_answer", "customer_no_answer", "customer_busy", "failed"]
REDIAL_OUTCOMES: frozenset[str] = frozenset(get_args(RedialOutcome))
DEFAULT_RETRY_ON: frozenset[RedialOutcome] = frozenset({"customer_no_answer", "customer_busy"})


@dataclass(frozen=True, slots=True)
class NumberRules:
    """Which customer numbers may be dialled, and in which form."""

    # ISO 3166 region numbers without a leading + are read in (phonenumbers).
    home_region: str = "US"
    # Regions whose numbers may be dialled besides the home region; None: any ("*").
    allowed_regions: frozenset[str] | None = frozenset()
    allowed_types: frozenset[str] = DEFAULT_NUMBER_TYPES
    # What REDIAL_NUMBER carries: the number as the carrier delivered it, E.164, or national.
    dial_format: str = "as_received"
    # Local numbers without their area code (5551234 in the US), which the numbering data
    # cannot confirm: "allow" dials them, "block" treats them as type unknown. Numbers
    # with an area code or a leading + must always be valid.
    unverified_numbers: str = "allow"
    # One number a line; re-read when the file changes.
    do_not_call_file: Path | None = None
    # Digits an agent dials for an outside line (9, 0): taken off a number an agent
    # dialled by hand before it is compared with a customer's.
    dial_prefixes: tuple[str, ...] = ()
    # At most this many redials to one number per day, counted from local midnight in
    # policy.hours.timezone (0: no limit). A spoofed caller ID whose calls are answered
    # and dropped would otherwise ring its victim again after every one.
    max_redials_per_day: int = 3


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When redials may ring customers; ``weekly`` None means at any time."""

    timezone: str = "UTC"
    # Index 0 is Monday; each day a tuple of (start, end) minutes after midnight, end exclusive.
    weekly: tuple[tuple[tuple[int, int], ...], ...] | None = None
    holidays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True, slots=True)
class RetrySettings:
    # Attempts in all, the first included.
    attempts: int = 2
    # Seconds between the end of one attempt and the next.
    spacing: float = 120.0
    retry_on: frozenset[str] = DEFAULT_RETRY_ON


@dataclass(frozen=True, slots=True)
class AgentSettings:
    # Seconds to wait for a busy agent to become free before the fallback.
    busy_wait: float = 120.0
    # The QueuePause reason that reserves the agent for the redial (shown in queue_log).
    pause_reason: str = "redial"
    # When the agent stays busy, is paused for another reason, or left the queue:
    # "queue_member" rings another free member of the same queue, "callback" records
    # the drop for a person to call back.
    fallback: str = "queue_member"
    # The queue's own wrapuptime from queues.conf, in seconds: set it to the same value.
    # AMI never reports it (QueueMemberStatus shows only a member's own override), yet
    # app_queue rings no member during it, and neither does the daemon.
    wrapup_time: int = 0


@dataclass(frozen=True, slots=True)
class ExperienceSettings:
    """What agent and customer see and hear on a redial."""

    # The agent's phone shows "<agent_caller_id_name> <customer number>".
    agent_caller_id_name: str = "REDIAL"
    # Played to the agent on answer, before the customer is dialled ("Please hold
    # while we try to connect you.").
    agent_prompt: tuple[str, ...] = ("pls-hold-while-try",)
    # Played to the customer on answer, before they are bridged ("Hello. One moment, please.").
    customer_greeting: tuple[str, ...] = ("hello", "one-moment-please")
    # The number the customer sees: "dialled" (what they dialled when the call dropped)
    # or a fixed number.
    customer_caller_id: str = "dialled"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    # Scope; None means all ("*").
    queues: frozenset[str] | None = None
    dids: frozenset[str] | None = None
    trunks: frozenset[str] | None = None
    abnormal_causes: frozenset[int] = DEFAULT_ABNORMAL_CAUSES
    # Cause 0 ("undefined") carries no information: the admin decides.
    undefined_cause_abnormal: bool = False
    # A hang-up the channel driver requested (SoftHangupRequest bit 1: RTP timeout,
    # lost transport) is a drop whatever the Hangup cause.
    driver_hangup_abnormal: bool = True
    # A call the PBX itself cut (`core restart now`, `core stop now`, a crash) is a drop:
    # redialled once Asterisk is back.
    pbx_restart_abnormal: bool = True
    # Drops after less talk time than this are not redialled (seconds).
    min_talk_time: float = 0.0
    # Drops after more talk time than this are not redialled; None: no limit.
    max_talk_time: float | None = None
    # Seconds to wait for the customer to call back on their own before redialling.
    callback_window: float = 20.0
    numbers: NumberRules = field(default_factory=NumberRules)
    hours: BusinessHours = field(default_factory=BusinessHours)
    retry: RetrySettings = field(default_factory=RetrySettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    experience: ExperienceSettings = field(default_factory=ExperienceSettings)
    promise: PromisePolicy = field(default_factory=PromisePolicy)
    # At most this many redials in any 60 minutes, all queues together (0: no limit):
    # a flood of drops (a carrier outage, an abuser, a loop) never becomes a flood of
    # calls. Global: a queue override cannot change it.
    max_redials_per_hour: int = 120


@dataclass(frozen=True, slots=True)
class FastAgiSettings:
    """The returning-caller service the inbound dialplan asks before Queue()."""

    enabled: bool = True
    # Loopback only: Asterisk runs on the same machine.
    host: str = "127.0.0.1"
    port: int = 4573
    # A caller whose last call dropped this recently is offered to the same agent first.
    returning_window: float = 900.0
    # Seconds the inbound dialplan rings that agent before falling back to the queue.
    ring_timeout: int = 20


@dataclass(frozen=True, slots=True)
class CallbackSounds:
    """What the caller and the customer hear around a queue callback: stock sounds by default."""

    # After the offer key: before and after the estimated wait in minutes ("The estimated
    # hold time is currently ... minutes").
    wait_before: tuple[str, ...] = ("queue-holdtime",)
    wait_after: tuple[str, ...] = ("queue-minutes",)
    # The choice: 1 for the number they call from, 2 for another one.
    menu: tuple[str, ...] = (
        "to-call-this-number",
        "vm-press",
        "digits/1",
        "vm-enter-num-to-call",
        "vm-press",
        "digits/2",
    )
    # Before keying another number, ended by #.
    enter_number: tuple[str, ...] = ("vm-enter-num-to-call",)
    # The confirmation, around the minutes until the callback ("... about N minutes; you keep
    # your place").
    confirm_before: tuple[str, ...] = ("auth-thankyou", "queue-holdtime")
    confirm_after: tuple[str, ...] = ("queue-minutes", "queue-thankyou", "goodbye")
    # No callback now (closed, the queue's callbacks are full): back to the queue.
    not_available: tuple[str, ...] = ("sorry", "feature-not-avail-line")
    # The number keyed (or called from) cannot be called back.
    invalid_number: tuple[str, ...] = ("invalid", "please-try-again")
    # The agent's whisper before the customer is dialled, around the minutes since the request.
    agent_before: tuple[str, ...] = ("beep",)
    agent_after: tuple[str, ...] = ("minutes",)
    # The customer, on answer: the company's greeting, then "press 1" (they are connected
    # only after pressing 1; an answering machine never does).
    customer_greeting: tuple[str, ...] = ("hello", "queue-thankyou")
    customer_press: tuple[str, ...] = ("if-correct-press", "digits/1")


@dataclass(frozen=True, slots=True)
class QueueCallbackSettings:
    """Queue callbacks: a caller waiting in a queue keeps their place and is called back.

    The offer runs where queues.conf sets ``context=redial-queue-callback`` on a queue.
    """

    enabled: bool = True
    # Pending callbacks per queue; a caller past it hears "not available" and stays queued.
    max_pending: int = 20
    # Seconds an agent spends per call, for the estimate until calls in the queue show it.
    handle_time: float = 240.0
    # Attempts to reach the customer in all, and seconds between them (within the queue's
    # business hours); then the callback is stored ``unreached``.
    attempts: int = 3
    spacing: float = 300.0
    # The agent's phone shows "<agent_caller_id_name> <customer number>".
    agent_caller_id_name: str = "CALLBACK"
    # Seconds the customer has to press 1 after each "press 1"; the prompt plays 3 times.
    press_timeout: int = 5
    sounds: CallbackSounds = field(default_factory=CallbackSounds)


@dataclass(frozen=True, slots=True)
class StatusSettings:
    """The loopback TCP endpoint Prometheus scrapes: ``/metrics`` only (status and cancel use the control socket)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9327


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """The Unix socket ``redial status``, ``redial cancel`` and every operator action go through."""

    # systemd's RuntimeDirectory=redial; a manual run names its own.
    socket: Path = Path("/run/redial/control.sock")
    # Who may use it besides root and the service user: members of this group.
    # None: the service's own group.
    group: str | None = None


@dataclass(frozen=True, slots=True)
class OutageGuard:
    """Many drops on one trunk at once is a carrier outage: spread the redials out."""

    # More than ``drops`` abnormal drops within ``within`` seconds on one trunk trips it.
    drops: int = 5
    within: float = 60.0
    # While tripped: at most this many redials a minute on that trunk.
    rate: float = 6.0


@dataclass(frozen=True, slots=True)
class OriginateSettings:
    context: str = "redial-out"
    account: str = "redial"
    channel_id_prefix: str = "redial"
    # Write REDIALSTART / REDIALEND lines to queue_log (the QueueLog action).
    queue_log: bool = True
    agent_ring_timeout: int = 20
    customer_ring_timeout: int = 30
    # None: the endpoint the customer's call came in on.
    trunk: str | None = None
    # How the dialplan reaches the customer. None ("trunk" in the YAML):
    # Dial(PJSIP/<number>@<trunk>). A context name ({context: from-internal}):
    # Dial(Local/<number>@<context>), the admin's own outbound routing.
    customer_route: str | None = None
    # Seconds after the Originate by which a final outcome must be seen.
    outcome_timeout: float = 180.0


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "json"
    # Customer numbers in log lines show only their last four digits.
    mask_numbers: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    ami: AmiSettings = field(default_factory=AmiSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    # Per-queue policies: the base policy with that queue's overrides applied.
    queue_policies: Mapping[str, PolicySettings] = field(default_factory=dict)
    outage_guard: OutageGuard = field(default_factory=OutageGuard)
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    queue_callback: QueueCallbackSettings = field(default_factory=QueueCallbackSettings)
    promise: PromiseSettings = field(default_factory=PromiseSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    originate: OriginateSettings = field(default_factory=OriginateSettings)
    logging: LogSettings = field(default_factory=LogSettings)
    source: str = "<defaults>"

    def policy_for(self, queue: str | None) -> PolicySettings:
        """The effective policy of ``queue``."""
        if queue is not None and queue in self.queue_policies:
            return self.queue_policies[queue]
        return self.policy

    def queue_wrapup_times(self) -> dict[str, int]:
        """``policy.agent.wrapup_time`` of each queue with an override; the rest have the base value.

        For :meth:`redial.core.agents.AgentBoard.set_queue_wrapup`, with
        ``default=self.policy.agent.wrapup_time``.
        """
        return {queue: policy.agent.wrapup_time for queue, policy in self.queue_policies.items()}
