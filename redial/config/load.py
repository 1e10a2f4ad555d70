"""Loading: YAML and the environment into :class:`Settings`, checked by msgspec.

msgspec checks each key's type, range and pattern and refuses unknown keys
(``redial.config.schema``, errors worded in ``redial.config.validate``). What no
schema can say stays here as small checks: time zones and spans, the secret's
sources, per-queue overrides merged over the base policy, and keys that must differ.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import re
import stat
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from redial.config import schema
from redial.config.promise_schema import (
    PromiseApiSection,
    PromisePolicySection,
    PromiseSection,
    PromiseSoundsSection,
    rung_seconds,
)
from redial.config.promise_settings import PromiseApi, PromisePolicy, PromiseSettings, PromiseSounds
from redial.config.settings import (
    WEEKDAYS,
    AgentSettings,
    AmiSettings,
    BusinessHours,
    CallbackSounds,
    ControlSettings,
    ExperienceSettings,
    FastAgiSettings,
    LogSettings,
    NumberRules,
    OriginateSettings,
    OutageGuard,
    PolicySettings,
    QueueCallbackSettings,
    RetrySettings,
    Secret,
    Settings,
    StatusSettings,
    StoreSettings,
)
from redial.config.validate import convert
from redial.exceptions import ConfigError

T = TypeVar("T")

# The AMI secret's own rules. Asterisk's MD5 challenge keeps it off the wire, but whoever
# answers on the AMI port (a squatter after an Asterisk restart) gets md5(challenge + secret)
# to guess at offline: only a long random secret makes that hopeless.
MIN_SECRET_LENGTH = 16
# Words the shipped examples and the usual templates put where a secret belongs (compared
# in lower case, without punctuation: CHANGE-ME, change_me and ChangeMe are one).
PLACEHOLDER_WORDS = ("changeme", "changethis", "replaceme", "yoursecret", "placeholder")
_SECRET_FIX = "set a long random secret (openssl rand -hex 24) in manager.conf and here"
_STORE_FIX = "or keep the secret in ami.secret_file (mode 0600) or in systemd's LoadCredential=ami-secret"


def parse_settings(
    data: object,
    env: Mapping[str, str] | None = None,
    source: str = "<string>",
    secret_problems: list[ConfigError] | None = None,
) -> Settings:
    """Validate an already-loaded YAML document into :class:`Settings`.

    A secret that breaks its rules (:func:`secret_weakness`, a readable secret file)
    raises ConfigError; given ``secret_problems``, they are collected there instead
    (``redial doctor`` reports them with its other findings).
    """
    env = os.environ if env is None else env
    document = convert({} if data is None else data, schema.ConfigFile)
    raw_policy = data.get("policy") if isinstance(data, Mapping) else None
    policy, queue_policies = _policies(document.policy or schema.Policy(), raw_policy or {})
    store = document.store or schema.Store()
    return Settings(
        ami=_ami(document.ami or schema.Ami(), env, secret_problems),
        store=_same(StoreSettings, store, path=Path(store.path)),
        policy=policy,
        queue_policies=queue_policies,
        outage_guard=_same(OutageGuard, document.outage_guard or schema.Guard()),
        fastagi=_same(FastAgiSettings, document.fastagi or schema.FastAgi()),
        queue_callback=_queue_callback(document.queue_callback or schema.QueueCallback()),
        promise=_promise(document.promise or PromiseSection(), secret_problems),
        status=_same(StatusSettings, document.status or schema.Status()),
        control=_control(document.control or schema.Control()),
        originate=_originate(document.originate or schema.Originate()),
        logging=_same(LogSettings, document.logging or schema.Logging()),
        source=source,
    )


def load_settings(
    path: Path, env: Mapping[str, str] | None = None, secret_problems: list[ConfigError] | None = None
) -> Settings:
    """Read and validate the YAML file at ``path`` (``secret_problems`` as in :func:`parse_settings`)."""
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
    settings = parse_settings(data, env, source=str(path), secret_problems=secret_problems)
    inline = data.get("ami") if isinstance(data, Mapping) else None
    if isinstance(inline, Mapping) and inline.get("secret"):
        readers = _readers(path)
        if readers:
            _secret_problem(
                ConfigError(
                    "ami.secret",
                    f"the secret is written in {path}, which {readers} can read; chmod 600 {path}, {_STORE_FIX}",
                ),
                secret_problems,
            )
    return settings


def _same(cls: type[T], section: msgspec.Struct, omit: tuple[str, ...] = (), **changes: Any) -> T:
    """The dataclass ``cls`` from a schema section of the same keys (but ``omit``), with ``changes``."""
    fields = msgspec.structs.asdict(section)
    for key in omit:
        del fields[key]
    return cls(**{**fields, **changes})


def _queue_callback(section: schema.QueueCallback) -> QueueCallbackSettings:
    sounds = _same(CallbackSounds, section.sounds or schema.QueueCallbackSoundsSection())
    return _same(QueueCallbackSettings, section, omit=("sounds",), sounds=sounds)


def _ami(section: schema.Ami, env: Mapping[str, str], problems: list[ConfigError] | None) -> AmiSettings:
    secret, source = Secret(section.secret), "ami.secret"
    if section.secret_file is not None:
        if secret:
            raise ConfigError("ami.secret_file", "set secret or secret_file, not both")
        secret, source = _secret_file(Path(section.secret_file), "ami.secret_file", problems), "ami.secret_file"
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if not secret and credentials:
        # systemd's LoadCredential=ami-secret:/etc/redial/ami-secret puts it here, readable only by us.
        credential = Path(credentials) / "ami-secret"
        if credential.exists():
            try:
                secret = Secret(credential.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError("ami.secret", f"cannot read the credential {credential}: {exc.strerror}") from None
            source = f"credential {credential}"
    given = {key: env.get(f"REDIAL_AMI_{key.upper()}") for key in ("host", "port", "username", "secret")}
    try:
        # The environment holds only strings: strict=False reads "15038" as a port. Empty is unset.
        override = convert({k: v for k, v in given.items() if v}, schema.AmiEnvironment, strict=False)
    except ConfigError as exc:
        raise ConfigError(f"REDIAL_AMI_{exc.path.upper()}", exc.message) from None
    if override.secret:
        secret, source = Secret(override.secret), "REDIAL_AMI_SECRET"
    settings = _same(
        AmiSettings,
        section,
        omit=("secret_file",),
        host=override.host or section.host,
        port=override.port or section.port,
        username=override.username or section.username,
        secret=secret,
    )
    for key, value in (("username", settings.username), ("secret", settings.secret.reveal())):
        if any(ch in value for ch in "\r\n\0"):
            raise ConfigError(f"ami.{key}", "holds a line break or NUL, which AMI cannot carry")
    weakness = secret_weakness(secret.reveal()) if secret else None
    if weakness is not None:
        _secret_problem(ConfigError(source, f"the AMI secret {weakness}; {_SECRET_FIX}"), problems)
    return settings


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is no secret (a placeholder, too short, not random), or None when it will do."""
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    if any(word in folded for word in PLACEHOLDER_WORDS):
        return "is the placeholder of an example"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"has {len(secret)} characters, fewer than {MIN_SECRET_LENGTH}"
    if len(set(secret)) < 5:
        return "repeats a few characters: it is not random"
    return None


def _secret_problem(problem: ConfigError, problems: list[ConfigError] | None) -> None:
    if problems is None:
        raise problem
    problems.append(problem)


def _readers(file: Path) -> str:
    """Who besides the owner may read ``file``: "every user", "its group", or "" for nobody."""
    mode = file.stat().st_mode
    if mode & stat.S_IROTH:
        return "every user"
    return "its group" if mode & stat.S_IRGRP else ""


def _secret_file(file: Path, path: str, problems: list[ConfigError] | None) -> Secret:
    try:
        readers = _readers(file)
        if readers:
            _secret_problem(ConfigError(path, f"{file} is readable by {readers}; chmod 600 {file}"), problems)
        return Secret(file.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(path, f"cannot read {file}: {exc.strerror}") from None


def _policies(section: schema.Policy, raw: Mapping[str, Any]) -> tuple[PolicySettings, dict[str, PolicySettings]]:
    """The base policy and each overridden queue's: the base with the queue's keys merged over it."""
    base = _policy(section, "policy")
    base_raw = {k: v for k, v in raw.items() if k not in schema.SCOPE_KEYS + schema.GLOBAL_KEYS}
    per_queue: dict[str, PolicySettings] = {}
    for queue, override in (section.queue_overrides or {}).items():
        path = f"policy.queue_overrides.{queue}"
        if isinstance(override, Mapping):
            for key in schema.SCOPE_KEYS:
                if key in override:
                    raise ConfigError(f"{path}.{key}", "scope keys cannot be overridden per queue")
            for key in schema.GLOBAL_KEYS:
                if key in override:
                    raise ConfigError(f"{path}.{key}", "counts all queues together; set it under policy only")
        # Checked on its own first, so that an error names the override's own key.
        convert({} if override is None else override, schema.PolicyOverride, path)
        merged = convert(_merge(base_raw, override or {}), schema.PolicyOverride, path)
        policy = _policy(merged, path)
        per_queue[str(queue)] = dataclasses.replace(
            policy,
            queues=base.queues,
            dids=base.dids,
            trunks=base.trunks,
            max_redials_per_hour=base.max_redials_per_hour,
        )
    return base, per_queue


def _merge(base: Mapping[Any, Any], override: Mapping[Any, Any]) -> dict[Any, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "weekly":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _scope(value: frozenset[str | int] | str | None) -> frozenset[str] | None:
    """``"*"`` or nothing is every queue (None); DIDs written without quotes become strings."""
    return None if value is None or isinstance(value, str) else frozenset(str(v) for v in value)


def _policy(section: schema.PolicyOverride, path: str) -> PolicySettings:
    if section.max_talk_time is not None and section.max_talk_time <= section.min_talk_time:
        raise ConfigError(f"{path}.max_talk_time", "must be greater than min_talk_time")
    scope = section if isinstance(section, schema.Policy) else schema.Policy()
    numbers = section.numbers or schema.Numbers()
    experience = section.experience or schema.Experience()
    scoped = schema.SCOPE_KEYS if isinstance(section, schema.Policy) else ()
    return _same(
        PolicySettings,
        section,
        omit=scoped,
        queues=_scope(scope.queues),
        dids=_scope(scope.dids),
        trunks=_scope(scope.trunks),
        numbers=_same(
            NumberRules,
            numbers,
            allowed_regions=None if numbers.allowed_regions == "*" else numbers.allowed_regions,
            do_not_call_file=None if numbers.do_not_call_file is None else Path(numbers.do_not_call_file),
            dial_prefixes=tuple(str(p) for p in numbers.dial_prefixes),
        ),
        hours=_hours(section.hours or schema.Hours(), f"{path}.hours"),
        retry=_same(RetrySettings, section.retry or schema.Retry()),
        agent=_same(AgentSettings, section.agent or schema.Agent()),
        experience=_same(ExperienceSettings, experience, customer_caller_id=str(experience.customer_caller_id)),
        promise=_promise_policy(section.promise or PromisePolicySection()),
    )


def _promise_policy(section: PromisePolicySection) -> PromisePolicy:
    sounds = _same(PromiseSounds, section.sounds or PromiseSoundsSection())
    ladder = tuple(rung_seconds(rung) for rung in section.ladder)
    return _same(PromisePolicy, section, omit=("sounds",), sounds=sounds, ladder=ladder)


def _promise(section: PromiseSection, problems: list[ConfigError] | None) -> PromiseSettings:
    api = section.api or PromiseApiSection()
    token_file = None if api.token_file is None else Path(api.token_file)
    if api.enabled and token_file is None:
        raise ConfigError("promise.api.token_file", "the HTTP API needs a token file (mode 0600) when enabled")
    if section.webhook is not None and not _has_host_and_port(section.webhook):
        # Never the URL in the message: its path or query may hold a token.
        raise ConfigError("promise.webhook", "expected an http:// or https:// URL with a host and a valid port")
    settings = _same(PromiseSettings, section, omit=("api",), api=_same(PromiseApi, api, token_file=token_file))
    if api.enabled:
        api_token(settings.api, problems)  # readable, private and long enough: checked now (check-config too)
    return settings


def _has_host_and_port(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return False
    return bool(parts.hostname)


# A bearer token shorter than this is guessable (`openssl rand -hex 24` gives 48).
MIN_TOKEN_LENGTH = 16


def api_token(api: PromiseApi, problems: list[ConfigError] | None = None) -> Secret:
    """The CRM API's bearer token from ``promise.api.token_file``: ConfigError if missing, unreadable or short."""
    path = "promise.api.token_file"
    if api.token_file is None:
        raise ConfigError(path, "the HTTP API needs a token file (mode 0600) when enabled")
    token = _secret_file(api.token_file, path, problems)
    if len(token.reveal()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            path, f"the token in {api.token_file} is shorter than {MIN_TOKEN_LENGTH} characters (openssl rand -hex 24)"
        )
    return token


def _hours(section: schema.Hours, path: str) -> BusinessHours:
    try:
        zoneinfo.ZoneInfo(section.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}.timezone", f"unknown time zone {section.timezone!r}; expected an IANA name such as Europe/Berlin"
        ) from None
    weekly = None
    if isinstance(section.weekly, schema.Weekly):
        weekly = tuple(_spans(getattr(section.weekly, day), f"{path}.weekly.{day}") for day in WEEKDAYS)
    return BusinessHours(timezone=section.timezone, weekly=weekly, holidays=section.holidays)


def _spans(spans: tuple[str, ...], path: str) -> tuple[tuple[int, int], ...]:
    """``"08:00-12:00"`` spans (their form checked by the schema) as minutes after midnight."""
    minutes = []
    for index, span in enumerate(spans):
        h1, m1, h2, m2 = int(span[0:2]), int(span[3:5]), int(span[6:8]), int(span[9:11])
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
            raise ConfigError(
                f"{path}[{index}]", f"{span!r} is not a span within one day (start before end, end at most 24:00)"
            )
        minutes.append((start, end))
    return tuple(sorted(minutes))


# sun_path holds 108 bytes with the closing NUL.
_MAX_SOCKET_PATH = 107


def _control(section: schema.Control) -> ControlSettings:
    if len(os.fsencode(section.socket)) > _MAX_SOCKET_PATH:
        raise ConfigError("control.socket", f"is longer than a Unix socket path may be ({_MAX_SOCKET_PATH} bytes)")
    if section.group is not None:
        try:
            grp.getgrnam(section.group)
        except KeyError:
            raise ConfigError("control.group", f"there is no group {section.group!r} on this host") from None
    return ControlSettings(socket=Path(section.socket), group=section.group)


def _originate(section: schema.Originate) -> OriginateSettings:
    route = section.customer_route.context if isinstance(section.customer_route, schema.CustomerRoute) else None
    if route == section.context:
        raise ConfigError(
            "originate.customer_route.context",
            f"{section.context!r} is the redial context itself (originate.context); name the context "
            "of your outbound routes, for example from-internal",
        )
    return _same(OriginateSettings, section, customer_route=route)
