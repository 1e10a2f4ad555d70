"""All of redial's settings: loaded once from YAML and the environment, validated, frozen.

Every key has a default, so an empty file is a valid configuration. An unknown
key is an error (a misspelled option must never silently do nothing), and every
error names the key's dotted path and what was expected.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import stat
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from redial.ami.actions import LABEL, TOKEN
from redial.exceptions import ConfigError

# Causes that end a call abnormally after answer (asterisk-facts.md, default table).
DEFAULT_ABNORMAL_CAUSES = frozenset({18, 19, 27, 34, 38, 41, 42, 44, 47, 102, 127})
DEFAULT_CONFIG_PATH = Path("/etc/redial/redial.yaml")

T = TypeVar("T")


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
NUMBER_TYPES = frozenset(
    {
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
    }
)
# Premium-rate, shared-cost, pagers, voicemail and unknown types are never dialled by default.
DEFAULT_NUMBER_TYPES = frozenset(
    {"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip", "personal_number", "uan"}
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REDIAL_OUTCOMES = frozenset({"agent_no_answer", "customer_no_answer", "customer_busy", "failed"})


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
    # At most this many redials to one number per day (0: no limit). Off by default:
    # each drop already gets a bounded number of attempts, and a customer whose calls
    # keep dropping still wants them back.
    max_redials_per_day: int = 0


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
    retry_on: frozenset[str] = frozenset({"customer_no_answer", "customer_busy"})


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


# A sound file name as Playback() takes it, without extension: no dots, so no "..".
SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}")


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
class StatusSettings:
    """The loopback endpoint ``redial status`` and Prometheus read."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9327


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


@dataclass(frozen=True, slots=True)
class Settings:
    ami: AmiSettings = field(default_factory=AmiSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    # Per-queue policies: the base policy with that queue's overrides applied.
    queue_policies: Mapping[str, PolicySettings] = field(default_factory=dict)
    outage_guard: OutageGuard = field(default_factory=OutageGuard)
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
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


class _Section:
    """Reads one mapping of the YAML file, remembering which keys were used."""

    def __init__(self, data: object, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(path, f"expected a mapping, got {_kind(data)}")
        self.data: Mapping[Any, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, parse: Callable[[object, str], T], default: T) -> T:
        self.used.add(key)
        if key not in self.data or (self.data[key] is None and default is None):
            return default
        return parse(self.data[key], self.key_path(key))

    def section(self, key: str) -> _Section:
        self.used.add(key)
        return _Section(self.data.get(key), self.key_path(key))

    def finish(self) -> None:
        for key in self.data:
            if not isinstance(key, str):
                raise ConfigError(self.path, f"key {key!r} is not a string")
            if key not in self.used:
                hint = difflib.get_close_matches(key, sorted(self.used), n=1)
                known = ", ".join(sorted(self.used))
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(self.key_path(key), f"unknown key{also} (known: {known})")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _string(pattern: Any = None, what: str = "") -> Callable[[object, str], str]:
    def parse(value: object, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(path, f"expected a non-empty string, got {_kind(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise ConfigError(path, f"{value!r} is not {what}")
        return value

    return parse


def _number(low: float, high: float) -> Callable[[object, str], float]:
    def parse(value: object, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number from {low:g} to {high:g}, got {_kind(value)}")
        if not low <= value <= high:
            raise ConfigError(path, f"expected a number from {low:g} to {high:g}, got {value}")
        return float(value)

    return parse


def _integer(low: int, high: int) -> Callable[[object, str], int]:
    def parse(value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected a whole number from {low} to {high}, got {_kind(value)}")
        if not low <= value <= high:
            raise ConfigError(path, f"expected a whole number from {low} to {high}, got {value}")
        return value

    return parse


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"expected true or false, got {_kind(value)}")
    return value


def _choice(*choices: str) -> Callable[[object, str], str]:
    def parse(value: object, path: str) -> str:
        if value not in choices:
            raise ConfigError(path, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return parse


def _names(what: str) -> Callable[[object, str], frozenset[str] | None]:
    def parse(value: object, path: str) -> frozenset[str] | None:
        if value == "*":
            return None
        if not isinstance(value, list) or not value:
            raise ConfigError(path, f'expected "*" or a non-empty list of {what}s')
        names = []
        for index, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                item = str(item)  # a DID written without quotes
            if not isinstance(item, str) or not item:
                raise ConfigError(f"{path}[{index}]", f"expected a {what}, got {_kind(item)}")
            names.append(item)
        return frozenset(names)

    return parse


def _choices(allowed: frozenset[str], what: str) -> Callable[[object, str], frozenset[str]]:
    def parse(value: object, path: str) -> frozenset[str]:
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list of {what}s: {', '.join(sorted(allowed))}")
        for index, item in enumerate(value):
            if item not in allowed:
                raise ConfigError(f"{path}[{index}]", f"expected one of {', '.join(sorted(allowed))}, got {item!r}")
        return frozenset(value)

    return parse


def _region(value: object, path: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
        raise ConfigError(path, f"expected a two-letter region code such as US or DE, got {value!r}")
    return value


def _regions(value: object, path: str) -> frozenset[str] | None:
    if value == "*":
        return None
    if not isinstance(value, list):
        raise ConfigError(path, 'expected "*" or a list of two-letter region codes')
    return frozenset(_region(item, f"{path}[{index}]") for index, item in enumerate(value))


def _timezone(value: object, path: str) -> str:
    name = _string()(value, path)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin") from None
    return name


_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


def _spans(value: object, path: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        raise ConfigError(path, 'expected a list of spans such as ["08:00-12:00", "13:00-18:00"] ([] = closed)')
    spans = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        match = _SPAN.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise ConfigError(where, f"expected HH:MM-HH:MM, got {item!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
            raise ConfigError(where, f"{item!r} is not a span within one day (start before end, end at most 24:00)")
        spans.append((start, end))
    return tuple(sorted(spans))


def _weekly(value: object, path: str) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    if value == "always":
        return None
    section = _Section(value, path)
    closed: tuple[tuple[int, int], ...] = ()
    days = tuple(section.get(day, _spans, closed) for day in WEEKDAYS)
    section.finish()
    return days


def _holidays(value: object, path: str) -> frozenset[dt.date]:
    if not isinstance(value, list):
        raise ConfigError(path, "expected a list of dates (YYYY-MM-DD)")
    dates = set()
    for index, item in enumerate(value):
        if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            dates.add(item)
            continue
        try:
            dates.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise ConfigError(f"{path}[{index}]", f"expected a date YYYY-MM-DD, got {item!r}") from None
    return frozenset(dates)


def _optional_number(low: float, high: float) -> Callable[[object, str], float | None]:
    def parse(value: object, path: str) -> float | None:
        return None if value is None else _number(low, high)(value, path)

    return parse


def _causes(value: object, path: str) -> frozenset[int]:
    if not isinstance(value, list):
        raise ConfigError(path, "expected a list of Q.850 cause codes (0 to 127)")
    causes = set()
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 127:
            raise ConfigError(f"{path}[{index}]", f"expected a Q.850 cause code 0 to 127, got {item!r}")
        causes.add(item)
    return frozenset(causes)


def _secret_file(value: object, path: str) -> Secret:
    name = _string()(value, path)
    file = Path(name)
    try:
        mode = file.stat().st_mode
        if mode & stat.S_IROTH:
            raise ConfigError(path, f"{file} is readable by every user; chmod o-r it")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, f"cannot read {file}: {exc.strerror}") from None
    return Secret(text.strip())


def _ami(section: _Section, env: Mapping[str, str]) -> AmiSettings:
    d = AmiSettings()
    secret = section.get("secret", lambda v, p: Secret(_string()(v, p)), d.secret)
    from_file = section.get("secret_file", _secret_file, None)
    if from_file is not None:
        if secret:
            raise ConfigError(section.key_path("secret_file"), "set secret or secret_file, not both")
        secret = from_file
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if not secret and credentials:
        # systemd's LoadCredential=ami-secret:/etc/redial/ami-secret puts it here, readable only by us.
        credential = Path(credentials) / "ami-secret"
        if credential.exists():
            try:
                secret = Secret(credential.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError("ami.secret", f"cannot read the credential {credential}: {exc.strerror}") from None
    settings = AmiSettings(
        host=section.get("host", _string(), d.host),
        port=section.get("port", _integer(1, 65535), d.port),
        username=section.get("username", _string(), d.username),
        secret=secret,
        ping_interval=section.get("ping_interval", _number(1, 3600), d.ping_interval),
        action_timeout=section.get("action_timeout", _number(1, 600), d.action_timeout),
        reconnect_delay=section.get("reconnect_delay", _number(0.1, 600), d.reconnect_delay),
        reconnect_max=section.get("reconnect_max", _number(0.1, 3600), d.reconnect_max),
    )
    section.finish()
    overrides: dict[str, Any] = {}
    if env.get("REDIAL_AMI_HOST"):
        overrides["host"] = env["REDIAL_AMI_HOST"]
    if env.get("REDIAL_AMI_PORT"):
        overrides["port"] = _integer(1, 65535)(_env_int(env["REDIAL_AMI_PORT"]), "REDIAL_AMI_PORT")
    if env.get("REDIAL_AMI_USERNAME"):
        overrides["username"] = env["REDIAL_AMI_USERNAME"]
    if env.get("REDIAL_AMI_SECRET"):
        overrides["secret"] = Secret(env["REDIAL_AMI_SECRET"])
    if overrides:
        settings = AmiSettings(**{**_fields(settings), **overrides})
    for key, value in (("username", settings.username), ("secret", settings.secret.reveal())):
        if any(ch in value for ch in "\r\n\0"):
            raise ConfigError(f"ami.{key}", "holds a line break or NUL, which AMI cannot carry")
    return settings


def _env_int(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        return text


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _store(section: _Section) -> StoreSettings:
    d = StoreSettings()
    path = section.get("path", lambda v, p: Path(_string()(v, p)), d.path)
    retention = section.get("retention_days", _integer(0, 36500), d.retention_days)
    section.finish()
    return StoreSettings(path=path, retention_days=retention)


def _number_rules(section: _Section) -> NumberRules:
    d = NumberRules()
    rules = NumberRules(
        home_region=section.get("home_region", _region, d.home_region),
        allowed_regions=section.get("allowed_regions", _regions, d.allowed_regions),
        allowed_types=section.get("allowed_types", _choices(NUMBER_TYPES, "number type"), d.allowed_types),
        dial_format=section.get("dial_format", _choice("as_received", "e164", "national"), d.dial_format),
        unverified_numbers=section.get("unverified_numbers", _choice("allow", "block"), d.unverified_numbers),
        do_not_call_file=section.get("do_not_call_file", lambda v, p: Path(_string()(v, p)), None),
        max_redials_per_day=section.get("max_redials_per_day", _integer(0, 1000), d.max_redials_per_day),
        dial_prefixes=section.get("dial_prefixes", _dial_prefixes, d.dial_prefixes),
    )
    section.finish()
    return rules


def _dial_prefixes(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, f"expected a list of outside-line prefixes such as [9], got {_kind(value)}")
    prefixes = []
    for index, item in enumerate(value):
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not re.fullmatch(r"[0-9*#]{1,4}", text):
            raise ConfigError(f"{path}[{index}]", f"expected 1 to 4 digits (an outside-line prefix), got {item!r}")
        prefixes.append(text)
    return tuple(prefixes)


def _hours(section: _Section) -> BusinessHours:
    d = BusinessHours()
    hours = BusinessHours(
        timezone=section.get("timezone", _timezone, d.timezone),
        weekly=section.get("weekly", _weekly, None),
        holidays=section.get("holidays", _holidays, d.holidays),
    )
    section.finish()
    return hours


def _retry(section: _Section) -> RetrySettings:
    d = RetrySettings()
    retry = RetrySettings(
        attempts=section.get("attempts", _integer(1, 10), d.attempts),
        spacing=section.get("spacing", _number(10, 86400), d.spacing),
        retry_on=section.get("retry_on", _choices(REDIAL_OUTCOMES, "outcome"), d.retry_on),
    )
    section.finish()
    return retry


def _sounds(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, "expected a list of sound file names without extension ([] for none)")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not SOUND.fullmatch(item):
            raise ConfigError(
                f"{path}[{index}]", f"expected a sound name of letters, digits, _ - and / (no dots), got {item!r}"
            )
    return tuple(value)


def _shown_number(value: object, path: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value == "dialled" or (isinstance(value, str) and re.fullmatch(r"\+?[0-9]{1,20}", value)):
        return str(value)
    raise ConfigError(path, f'expected "dialled" or a phone number (digits, optional leading +), got {value!r}')


def _experience(section: _Section) -> ExperienceSettings:
    d = ExperienceSettings()
    experience = ExperienceSettings(
        agent_caller_id_name=section.get(
            "agent_caller_id_name",
            _string(LABEL, "letters, digits, spaces and _.:#*+- (at most 40)"),
            d.agent_caller_id_name,
        ),
        agent_prompt=section.get("agent_prompt", _sounds, d.agent_prompt),
        customer_greeting=section.get("customer_greeting", _sounds, d.customer_greeting),
        customer_caller_id=section.get("customer_caller_id", _shown_number, d.customer_caller_id),
    )
    section.finish()
    return experience


def _loopback(value: object, path: str) -> str:
    host = _string()(value, path)
    if host not in ("localhost", "::1") and not re.fullmatch(r"127(\.\d{1,3}){3}", host):
        raise ConfigError(path, f"expected a loopback address (127.0.0.1, ::1), got {host!r}")
    return host


def _fastagi(section: _Section) -> FastAgiSettings:
    d = FastAgiSettings()
    settings = FastAgiSettings(
        enabled=section.get("enabled", _boolean, d.enabled),
        host=section.get("host", _loopback, d.host),
        port=section.get("port", _integer(1, 65535), d.port),
        returning_window=section.get("returning_window", _number(0, 86400), d.returning_window),
        ring_timeout=section.get("ring_timeout", _integer(5, 300), d.ring_timeout),
    )
    section.finish()
    return settings


def _status(section: _Section) -> StatusSettings:
    d = StatusSettings()
    settings = StatusSettings(
        enabled=section.get("enabled", _boolean, d.enabled),
        host=section.get("host", _loopback, d.host),
        port=section.get("port", _integer(1, 65535), d.port),
    )
    section.finish()
    return settings


def _agent(section: _Section) -> AgentSettings:
    d = AgentSettings()
    agent = AgentSettings(
        busy_wait=section.get("busy_wait", _number(0, 3600), d.busy_wait),
        pause_reason=section.get("pause_reason", _string(TOKEN, "letters, digits, _ . and -"), d.pause_reason),
        fallback=section.get("fallback", _choice("queue_member", "callback"), d.fallback),
        wrapup_time=section.get("wrapup_time", _integer(0, 3600), d.wrapup_time),
    )
    section.finish()
    return agent


# Keys that select calls, not how they are handled: not overridable per queue.
_SCOPE_KEYS = ("queues", "dids", "trunks")


def _policy(section: _Section, scope: bool = True) -> PolicySettings:
    d = PolicySettings()
    if scope:
        queues = section.get("queues", _names("queue name"), None)
        dids = section.get("dids", _names("dialled number"), None)
        trunks = section.get("trunks", _names("trunk endpoint"), None)
    else:
        queues = dids = trunks = None
    settings = PolicySettings(
        queues=queues,
        dids=dids,
        trunks=trunks,
        abnormal_causes=section.get("abnormal_causes", _causes, d.abnormal_causes),
        undefined_cause_abnormal=section.get("undefined_cause_abnormal", _boolean, False),
        driver_hangup_abnormal=section.get("driver_hangup_abnormal", _boolean, True),
        pbx_restart_abnormal=section.get("pbx_restart_abnormal", _boolean, True),
        min_talk_time=section.get("min_talk_time", _number(0, 86400), d.min_talk_time),
        max_talk_time=section.get("max_talk_time", _optional_number(1, 86400), None),
        callback_window=section.get("callback_window", _number(0, 3600), d.callback_window),
        numbers=_number_rules(section.section("numbers")),
        hours=_hours(section.section("hours")),
        retry=_retry(section.section("retry")),
        agent=_agent(section.section("agent")),
        experience=_experience(section.section("experience")),
    )
    if settings.max_talk_time is not None and settings.max_talk_time <= settings.min_talk_time:
        raise ConfigError(section.key_path("max_talk_time"), "must be greater than min_talk_time")
    return settings


def _merge(base: Mapping[Any, Any], override: Mapping[Any, Any]) -> dict[Any, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "weekly":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _policies(section: _Section) -> tuple[PolicySettings, dict[str, PolicySettings]]:
    base = _policy(section)
    overrides = section.get("queue_overrides", lambda v, p: _Section(v, p), _Section({}, ""))
    section.finish()
    base_raw = {k: v for k, v in section.data.items() if k not in (*_SCOPE_KEYS, "queue_overrides")}
    per_queue: dict[str, PolicySettings] = {}
    for queue, override in overrides.data.items():
        path = overrides.key_path(str(queue))
        if not isinstance(override, Mapping):
            raise ConfigError(path, f"expected a mapping of policy settings, got {_kind(override)}")
        for key in (*_SCOPE_KEYS, "queue_overrides"):
            if key in override:
                raise ConfigError(f"{path}.{key}", "scope keys cannot be overridden per queue")
        # Validate the override on its own first, so errors name its own path.
        _checked = _Section(override, path)
        _policy(_checked, scope=False)
        _checked.finish()
        merged = _Section(_merge(base_raw, override), path)
        policy = _policy(merged, scope=False)
        per_queue[str(queue)] = PolicySettings(
            **{**_fields(policy), "queues": base.queues, "dids": base.dids, "trunks": base.trunks}
        )
    return base, per_queue


def _outage_guard(section: _Section) -> OutageGuard:
    d = OutageGuard()
    guard = OutageGuard(
        drops=section.get("drops", _integer(1, 10000), d.drops),
        within=section.get("within", _number(1, 86400), d.within),
        rate=section.get("rate", _number(0.1, 6000), d.rate),
    )
    section.finish()
    return guard


_TOKEN_TEXT = "letters, digits, _ . and - (at most 64, not starting with -)"
_ROUTE_FORMS = '"trunk" or {context: <dialplan context>}'


def _customer_route(value: object, path: str) -> str | None:
    """``trunk`` (None) or ``{context: NAME}`` (NAME): where the dialplan sends the customer's leg."""
    if value == "trunk":
        return None
    if isinstance(value, str):
        hint = f"; to dial through that context write customer_route: {{context: {value}}}" if value else ""
        raise ConfigError(path, f"expected {_ROUTE_FORMS}, got {value!r}{hint}")
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected {_ROUTE_FORMS}, got {_kind(value)}")
    section = _Section(value, path)
    context = section.get("context", _string(TOKEN, _TOKEN_TEXT), None)
    section.finish()
    if context is None:
        raise ConfigError(section.key_path("context"), "missing: the dialplan context to dial the customer through")
    return context


def _originate(section: _Section) -> OriginateSettings:
    d = OriginateSettings()
    token = _string(TOKEN, _TOKEN_TEXT)
    settings = OriginateSettings(
        context=section.get("context", token, d.context),
        account=section.get("account", token, d.account),
        channel_id_prefix=section.get("channel_id_prefix", token, d.channel_id_prefix),
        queue_log=section.get("queue_log", _boolean, d.queue_log),
        agent_ring_timeout=section.get("agent_ring_timeout", _integer(5, 300), d.agent_ring_timeout),
        customer_ring_timeout=section.get("customer_ring_timeout", _integer(5, 300), d.customer_ring_timeout),
        trunk=section.get("trunk", token, None),
        customer_route=section.get("customer_route", _customer_route, None),
        outcome_timeout=section.get("outcome_timeout", _number(30, 3600), d.outcome_timeout),
    )
    section.finish()
    if settings.customer_route == settings.context:
        raise ConfigError(
            section.key_path("customer_route.context"),
            f"{settings.context!r} is the redial context itself (originate.context); name the context "
            "of your outbound routes, for example from-internal",
        )
    return settings


def _logging(section: _Section) -> LogSettings:
    settings = LogSettings(
        level=section.get("level", _choice("debug", "info", "warning", "error"), "info"),
        format=section.get("format", _choice("json", "console"), "json"),
    )
    section.finish()
    return settings


def parse_settings(data: object, env: Mapping[str, str] | None = None, source: str = "<string>") -> Settings:
    """Validate an already-loaded YAML document into :class:`Settings`."""
    env = os.environ if env is None else env
    root = _Section(data, "")
    policy, queue_policies = _policies(root.section("policy"))
    settings = Settings(
        ami=_ami(root.section("ami"), env),
        store=_store(root.section("store")),
        policy=policy,
        queue_policies=queue_policies,
        outage_guard=_outage_guard(root.section("outage_guard")),
        fastagi=_fastagi(root.section("fastagi")),
        status=_status(root.section("status")),
        originate=_originate(root.section("originate")),
        logging=_logging(root.section("logging")),
        source=source,
    )
    root.finish()
    return settings


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError("", f"{path} is not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    return parse_settings(data, env, source=str(path))


def _minutes(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return "********" if value else ""
    if isinstance(value, BusinessHours):
        weekly: Any = "always"
        if value.weekly is not None:
            weekly = {
                day: [f"{_minutes(a)}-{_minutes(b)}" for a, b in spans]
                for day, spans in zip(WEEKDAYS, value.weekly, strict=True)
            }
        return {"timezone": value.timezone, "weekly": weekly, "holidays": sorted(str(d) for d in value.holidays)}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def describe(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data (secret masked), for ``check-config``.

    ``policy`` is the default; ``queue_policies`` holds each overridden queue's complete policy.
    """
    result = _plain(settings)
    assert isinstance(result, dict)
    for policy in [result["policy"], *result["queue_policies"].values()]:
        for key in ("queues", "dids", "trunks"):
            if policy[key] is None:
                policy[key] = "*"
        if policy["numbers"]["allowed_regions"] is None:
            policy["numbers"]["allowed_regions"] = "*"
    route = result["originate"]["customer_route"]
    result["originate"]["customer_route"] = "trunk" if route is None else {"context": route}
    return result


__all__ = [
    "AmiSettings",
    "LogSettings",
    "OriginateSettings",
    "PolicySettings",
    "Secret",
    "Settings",
    "StoreSettings",
    "describe",
    "load_settings",
    "parse_settings",
]
