"""All of redial's settings: loaded once from YAML and the environment, validated, frozen.

Every key has a default, so an empty file is a valid configuration. An unknown
key is an error (a misspelled option must never silently do nothing), and every
error names the key's dotted path and what was expected.
"""

from __future__ import annotations

import difflib
import os
import stat
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
    reconnect_delay: float = 2.0


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path = Path("/var/lib/redial/redial.sqlite3")


@dataclass(frozen=True, slots=True)
class PolicySettings:
    # None means every queue ("*").
    queues: frozenset[str] | None = None
    abnormal_causes: frozenset[int] = DEFAULT_ABNORMAL_CAUSES
    # Cause 0 ("undefined") carries no information: the admin decides.
    undefined_cause_abnormal: bool = False
    # Seconds to wait for the customer to call back on their own before redialling.
    callback_window: float = 20.0


@dataclass(frozen=True, slots=True)
class OriginateSettings:
    context: str = "redial-out"
    account: str = "redial"
    channel_id_prefix: str = "redial"
    caller_id_name: str = "REDIAL"
    agent_ring_timeout: int = 20
    customer_ring_timeout: int = 30
    # None: the endpoint the customer's call came in on.
    trunk: str | None = None
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
    originate: OriginateSettings = field(default_factory=OriginateSettings)
    logging: LogSettings = field(default_factory=LogSettings)
    source: str = "<defaults>"


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


def _queues(value: object, path: str) -> frozenset[str] | None:
    if value == "*":
        return None
    if not isinstance(value, list) or not value:
        raise ConfigError(path, 'expected "*" or a non-empty list of queue names')
    names = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{path}[{index}]", f"expected a queue name, got {_kind(item)}")
        names.append(item)
    return frozenset(names)


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
    settings = AmiSettings(
        host=section.get("host", _string(), d.host),
        port=section.get("port", _integer(1, 65535), d.port),
        username=section.get("username", _string(), d.username),
        secret=secret,
        ping_interval=section.get("ping_interval", _number(1, 3600), d.ping_interval),
        action_timeout=section.get("action_timeout", _number(1, 600), d.action_timeout),
        reconnect_delay=section.get("reconnect_delay", _number(0.1, 600), d.reconnect_delay),
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
    return settings


def _env_int(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        return text


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _store(section: _Section) -> StoreSettings:
    path = section.get("path", lambda v, p: Path(_string()(v, p)), StoreSettings().path)
    section.finish()
    return StoreSettings(path=path)


def _policy(section: _Section) -> PolicySettings:
    d = PolicySettings()
    settings = PolicySettings(
        queues=section.get("queues", _queues, d.queues),
        abnormal_causes=section.get("abnormal_causes", _causes, d.abnormal_causes),
        undefined_cause_abnormal=section.get("undefined_cause_abnormal", _boolean, False),
        callback_window=section.get("callback_window", _number(0, 3600), d.callback_window),
    )
    section.finish()
    return settings


def _originate(section: _Section) -> OriginateSettings:
    d = OriginateSettings()
    token = _string(TOKEN, "letters, digits, _ . and - (at most 64, not starting with -)")
    settings = OriginateSettings(
        context=section.get("context", token, d.context),
        account=section.get("account", token, d.account),
        channel_id_prefix=section.get("channel_id_prefix", token, d.channel_id_prefix),
        caller_id_name=section.get(
            "caller_id_name", _string(LABEL, "letters, digits, spaces and _.:#*+- (at most 40)"), d.caller_id_name
        ),
        agent_ring_timeout=section.get("agent_ring_timeout", _integer(5, 300), d.agent_ring_timeout),
        customer_ring_timeout=section.get("customer_ring_timeout", _integer(5, 300), d.customer_ring_timeout),
        trunk=section.get("trunk", token, None),
        outcome_timeout=section.get("outcome_timeout", _number(30, 3600), d.outcome_timeout),
    )
    section.finish()
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
    settings = Settings(
        ami=_ami(root.section("ami"), env),
        store=_store(root.section("store")),
        policy=_policy(root.section("policy")),
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


def describe(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data (secret masked), for ``check-config``."""

    def plain(value: Any) -> Any:
        if isinstance(value, Secret):
            return "********" if value else ""
        if isinstance(value, frozenset):
            return sorted(value)
        if isinstance(value, Path):
            return str(value)
        if hasattr(value, "__slots__") and hasattr(value, "__dataclass_fields__"):
            return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
        return value

    result = plain(settings)
    assert isinstance(result, dict)
    if result["policy"]["queues"] is None:
        result["policy"]["queues"] = "*"
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
