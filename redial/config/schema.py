"""The YAML file's shape as msgspec Structs: each key, its type, range or pattern.

``msgspec.convert`` checks a loaded document against :class:`ConfigFile`: a wrong
type, a value out of range, a missing key and an unknown key (every Struct forbids
unknown fields) are its errors, which ``redial.config.validate`` words for people.
A field's ``description`` is what its error says was expected; fields without one are
described from their type and constraints. Defaults are those of the dataclasses in
``redial.config.settings``; a section may be written empty (``numbers:``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from redial.ami.actions import LABEL, TOKEN
from redial.config.promise_schema import PromisePolicySection, PromiseSection
from redial.config.settings import (
    DEFAULT_NUMBER_TYPES,
    DEFAULT_RETRY_ON,
    AgentSettings,
    AmiSettings,
    CallbackSounds,
    ControlSettings,
    ExperienceSettings,
    FastAgiSettings,
    NumberRules,
    NumberType,
    OriginateSettings,
    OutageGuard,
    PolicySettings,
    QueueCallbackSettings,
    RedialOutcome,
    RetrySettings,
    StatusSettings,
    StoreSettings,
)


def _whole(pattern: str) -> str:
    """``pattern`` matching a whole string (msgspec searches; ``\\Z`` refuses a trailing newline)."""
    return f"^(?:{pattern})\\Z"


Text = Annotated[str, Meta(min_length=1)]
_TOKEN_TEXT = "letters, digits, _ . and - (at most 64, not starting with -)"
Token = Annotated[str, Meta(pattern=_whole(TOKEN.pattern), description=_TOKEN_TEXT)]
_LABEL_TEXT = "letters, digits, spaces and _.:#*+- (at most 40)"
Port = Annotated[int, Meta(ge=1, le=65535)]
Loopback = Annotated[
    str,
    Meta(pattern=r"^(?:localhost|::1|127(?:\.\d{1,3}){3})\Z", description="a loopback address (127.0.0.1, ::1)"),
]
Region = Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z", description="a two-letter region code such as US or DE")]
Cause = Annotated[int, Meta(ge=0, le=127, description="a Q.850 cause code 0 to 127")]
Span = Annotated[str, Meta(pattern=r"^\d\d:\d\d-\d\d:\d\d\Z", description="HH:MM-HH:MM")]
Spans = Annotated[
    tuple[Span, ...],
    Meta(description='a list of spans such as ["08:00-12:00", "13:00-18:00"] ([] = closed)'),
]
Sound = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}\Z",
        description="a sound name of letters, digits, _ - and / (no dots)",
    ),
]
Sounds = Annotated[tuple[Sound, ...], Meta(description="a list of sound file names without extension ([] for none)")]
# Numbers written without quotes (a DID, a prefix, a caller ID) arrive as ints.
DialPrefix = Annotated[
    Annotated[str, Meta(pattern=r"^[0-9*#]{1,4}\Z")] | Annotated[int, Meta(ge=0, le=9999)],
    Meta(description="1 to 4 digits (an outside-line prefix)"),
]
ShownNumber = Annotated[
    Annotated[str, Meta(pattern=r"^(?:dialled|\+?[0-9]{1,20})\Z")] | Annotated[int, Meta(ge=0)],
    Meta(description='"dialled" or a phone number (digits, optional leading +)'),
]
QueueName = Annotated[Annotated[str, Meta(min_length=1)] | int, Meta(description="a queue name")]
DialledNumber = Annotated[Annotated[str, Meta(min_length=1)] | int, Meta(description="a dialled number")]
TrunkName = Annotated[str, Meta(min_length=1, description="a trunk endpoint")]
# None in the scope keys is "*": every queue, DID or trunk.
Queues = Annotated[
    Literal["*"] | Annotated[frozenset[QueueName], Meta(min_length=1)] | None,
    Meta(description='"*" or a non-empty list of queue names'),
]
Dids = Annotated[
    Literal["*"] | Annotated[frozenset[DialledNumber], Meta(min_length=1)] | None,
    Meta(description='"*" or a non-empty list of dialled numbers'),
]
Trunks = Annotated[
    Literal["*"] | Annotated[frozenset[TrunkName], Meta(min_length=1)] | None,
    Meta(description='"*" or a non-empty list of trunk endpoints'),
]


class Section(Struct, forbid_unknown_fields=True, kw_only=True):
    """A mapping of the file: unknown keys are errors."""


_AMI = AmiSettings()


class Ami(Section):
    host: Text = _AMI.host
    port: Port = _AMI.port
    username: Text = _AMI.username
    secret: Text = ""  # "" is unset; written, it must be a non-empty string
    secret_file: Text | None = None
    ping_interval: Annotated[float, Meta(ge=1, le=3600)] = _AMI.ping_interval
    action_timeout: Annotated[float, Meta(ge=1, le=600)] = _AMI.action_timeout
    reconnect_delay: Annotated[float, Meta(ge=0.1, le=600)] = _AMI.reconnect_delay
    reconnect_max: Annotated[float, Meta(ge=0.1, le=3600)] = _AMI.reconnect_max


class AmiEnvironment(Section):
    """``REDIAL_AMI_*``: read with ``strict=False``, so ``"15038"`` is a port."""

    host: Text | None = None
    port: Port | None = None
    username: Text | None = None
    secret: Text | None = None


_STORE = StoreSettings()


class Store(Section):
    path: Text = str(_STORE.path)
    retention_days: Annotated[int, Meta(ge=0, le=36500)] = _STORE.retention_days


_NUMBERS = NumberRules()


class Numbers(Section):
    home_region: Region = _NUMBERS.home_region
    allowed_regions: Annotated[
        Literal["*"] | frozenset[Region], Meta(description='"*" or a list of two-letter region codes')
    ] = frozenset()
    allowed_types: Annotated[frozenset[NumberType], Meta(description="a list of number types")] = DEFAULT_NUMBER_TYPES
    dial_format: Literal["as_received", "e164", "national"] = "as_received"
    unverified_numbers: Literal["allow", "block"] = "allow"
    do_not_call_file: Text | None = None
    dial_prefixes: tuple[DialPrefix, ...] = ()
    max_redials_per_day: Annotated[int, Meta(ge=0, le=1000)] = _NUMBERS.max_redials_per_day


class Weekly(Section):
    mon: Spans = ()
    tue: Spans = ()
    wed: Spans = ()
    thu: Spans = ()
    fri: Spans = ()
    sat: Spans = ()
    sun: Spans = ()


class Hours(Section):
    timezone: Text = "UTC"
    weekly: Annotated[
        Literal["always"] | Weekly | None, Meta(description='"always" or a mapping of weekdays (mon to sun) to spans')
    ] = None
    holidays: Annotated[frozenset[dt.date], Meta(description="a list of dates (YYYY-MM-DD)")] = frozenset()


_RETRY = RetrySettings()


class Retry(Section):
    attempts: Annotated[int, Meta(ge=1, le=10)] = _RETRY.attempts
    spacing: Annotated[float, Meta(ge=10, le=86400)] = _RETRY.spacing
    retry_on: Annotated[frozenset[RedialOutcome], Meta(description="a list of outcomes")] = DEFAULT_RETRY_ON


_AGENT = AgentSettings()


class Agent(Section):
    busy_wait: Annotated[float, Meta(ge=0, le=3600)] = _AGENT.busy_wait
    pause_reason: Annotated[str, Meta(pattern=_whole(TOKEN.pattern), description="letters, digits, _ . and -")] = (
        _AGENT.pause_reason
    )
    fallback: Literal["queue_member", "callback"] = "queue_member"
    wrapup_time: Annotated[int, Meta(ge=0, le=3600)] = _AGENT.wrapup_time


_EXPERIENCE = ExperienceSettings()


class Experience(Section):
    agent_caller_id_name: Annotated[
        str,
        Meta(min_length=1, pattern=_whole(LABEL.pattern), description=_LABEL_TEXT),
    ] = _EXPERIENCE.agent_caller_id_name
    agent_prompt: Sounds = _EXPERIENCE.agent_prompt
    customer_greeting: Sounds = _EXPERIENCE.customer_greeting
    customer_caller_id: ShownNumber = _EXPERIENCE.customer_caller_id


_POLICY = PolicySettings()


class PolicyOverride(Section):
    """What a queue may override: everything but the scope."""

    abnormal_causes: Annotated[frozenset[Cause], Meta(description="a list of Q.850 cause codes (0 to 127)")] = (
        _POLICY.abnormal_causes
    )
    undefined_cause_abnormal: bool = _POLICY.undefined_cause_abnormal
    driver_hangup_abnormal: bool = _POLICY.driver_hangup_abnormal
    pbx_restart_abnormal: bool = _POLICY.pbx_restart_abnormal
    min_talk_time: Annotated[float, Meta(ge=0, le=86400)] = _POLICY.min_talk_time
    max_talk_time: Annotated[float, Meta(ge=1, le=86400)] | None = None
    callback_window: Annotated[float, Meta(ge=0, le=3600)] = _POLICY.callback_window
    numbers: Numbers | None = None
    hours: Hours | None = None
    retry: Retry | None = None
    agent: Agent | None = None
    experience: Experience | None = None
    promise: PromisePolicySection | None = None


# Keys that select calls, not how they are handled: not overridable per queue.
SCOPE_KEYS = ("queues", "dids", "trunks", "queue_overrides")
# Keys that count all queues together: not overridable per queue either.
GLOBAL_KEYS = ("max_redials_per_hour",)


class Policy(PolicyOverride):
    max_redials_per_hour: Annotated[int, Meta(ge=0, le=100000)] = _POLICY.max_redials_per_hour
    queues: Queues = None
    dids: Dids = None
    trunks: Trunks = None
    # Each queue's overrides are checked on their own (PolicyOverride), so errors name the queue.
    queue_overrides: Annotated[
        dict[Annotated[str, Meta(min_length=1)] | int, Any] | None,
        Meta(description="a mapping of queue names to policy settings"),
    ] = None


_GUARD = OutageGuard()


class Guard(Section):
    drops: Annotated[int, Meta(ge=1, le=10000)] = _GUARD.drops
    within: Annotated[float, Meta(ge=1, le=86400)] = _GUARD.within
    rate: Annotated[float, Meta(ge=0.1, le=6000)] = _GUARD.rate


_FASTAGI = FastAgiSettings()


class FastAgi(Section):
    enabled: bool = _FASTAGI.enabled
    host: Loopback = _FASTAGI.host
    port: Port = _FASTAGI.port
    returning_window: Annotated[float, Meta(ge=0, le=86400)] = _FASTAGI.returning_window
    ring_timeout: Annotated[int, Meta(ge=5, le=300)] = _FASTAGI.ring_timeout


_STATUS = StatusSettings()


_CALLBACK = QueueCallbackSettings()
_CALLBACK_SOUNDS = CallbackSounds()


class QueueCallbackSoundsSection(Section):
    wait_before: Sounds = _CALLBACK_SOUNDS.wait_before
    wait_after: Sounds = _CALLBACK_SOUNDS.wait_after
    menu: Sounds = _CALLBACK_SOUNDS.menu
    enter_number: Sounds = _CALLBACK_SOUNDS.enter_number
    confirm_before: Sounds = _CALLBACK_SOUNDS.confirm_before
    confirm_after: Sounds = _CALLBACK_SOUNDS.confirm_after
    not_available: Sounds = _CALLBACK_SOUNDS.not_available
    invalid_number: Sounds = _CALLBACK_SOUNDS.invalid_number
    agent_before: Sounds = _CALLBACK_SOUNDS.agent_before
    agent_after: Sounds = _CALLBACK_SOUNDS.agent_after
    customer_greeting: Sounds = _CALLBACK_SOUNDS.customer_greeting
    customer_press: Sounds = _CALLBACK_SOUNDS.customer_press


class QueueCallback(Section):
    enabled: bool = _CALLBACK.enabled
    max_pending: Annotated[int, Meta(ge=0, le=10000)] = _CALLBACK.max_pending
    handle_time: Annotated[float, Meta(ge=10, le=7200)] = _CALLBACK.handle_time
    attempts: Annotated[int, Meta(ge=1, le=10)] = _CALLBACK.attempts
    spacing: Annotated[float, Meta(ge=10, le=86400)] = _CALLBACK.spacing
    agent_caller_id_name: Annotated[
        str,
        Meta(min_length=1, pattern=_whole(LABEL.pattern), description=_LABEL_TEXT),
    ] = _CALLBACK.agent_caller_id_name
    press_timeout: Annotated[int, Meta(ge=2, le=30)] = _CALLBACK.press_timeout
    sounds: QueueCallbackSoundsSection | None = None


class Status(Section):
    enabled: bool = _STATUS.enabled
    host: Loopback = _STATUS.host
    port: Port = _STATUS.port


_CONTROL = ControlSettings()


class Control(Section):
    socket: Annotated[str, Meta(pattern=r"^/", description="an absolute path")] = str(_CONTROL.socket)
    group: Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z", description="a group name")] | None = None


class CustomerRoute(Section):
    context: Annotated[
        str,
        Meta(
            pattern=_whole(TOKEN.pattern),
            description="the dialplan context to dial the customer through: " + _TOKEN_TEXT,
        ),
    ]


_ORIGINATE = OriginateSettings()


class Originate(Section):
    context: Token = _ORIGINATE.context
    account: Token = _ORIGINATE.account
    channel_id_prefix: Token = _ORIGINATE.channel_id_prefix
    queue_log: bool = _ORIGINATE.queue_log
    agent_ring_timeout: Annotated[int, Meta(ge=5, le=300)] = _ORIGINATE.agent_ring_timeout
    customer_ring_timeout: Annotated[int, Meta(ge=5, le=300)] = _ORIGINATE.customer_ring_timeout
    trunk: Token | None = None
    # None ("trunk"): Dial(PJSIP/<number>@<trunk>); {context: NAME}: Dial(Local/<number>@NAME).
    customer_route: Annotated[
        Literal["trunk"] | CustomerRoute | None,
        Meta(
            description='"trunk" or {context: <dialplan context>}',
            extra={"hint": "to dial through that context write customer_route: {{context: {value}}}"},
        ),
    ] = None
    outcome_timeout: Annotated[float, Meta(ge=30, le=3600)] = _ORIGINATE.outcome_timeout


class Logging(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    mask_numbers: bool = False


class ConfigFile(Section):
    """The whole file."""

    ami: Ami | None = None
    store: Store | None = None
    policy: Policy | None = None
    outage_guard: Guard | None = None
    fastagi: FastAgi | None = None
    queue_callback: QueueCallback | None = None
    promise: PromiseSection | None = None
    status: Status | None = None
    control: Control | None = None
    originate: Originate | None = None
    logging: Logging | None = None
