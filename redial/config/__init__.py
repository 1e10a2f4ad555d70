"""All of redial's settings: loaded once from YAML and the environment, validated, frozen.

Every key has a default, so an empty file is a valid configuration. An unknown
key is an error (a misspelled option must never silently do nothing), and every
error names the key's dotted path and what was expected.

``settings`` holds the frozen dataclasses the rest of redial reads; ``schema`` the
file's shape as msgspec Structs; ``validate`` words msgspec's errors; ``load`` reads
the file and the environment; ``describe`` shows the effective settings.
"""

from redial.config.describe import describe
from redial.config.load import load_settings, parse_settings
from redial.config.promise_settings import PromiseApi, PromisePolicy, PromiseSettings, PromiseSounds
from redial.config.settings import (
    DEFAULT_ABNORMAL_CAUSES,
    DEFAULT_CONFIG_PATH,
    DEFAULT_NUMBER_TYPES,
    NUMBER_TYPES,
    REDIAL_OUTCOMES,
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

__all__ = [
    "DEFAULT_ABNORMAL_CAUSES",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_NUMBER_TYPES",
    "NUMBER_TYPES",
    "REDIAL_OUTCOMES",
    "WEEKDAYS",
    "AgentSettings",
    "AmiSettings",
    "BusinessHours",
    "CallbackSounds",
    "ControlSettings",
    "ExperienceSettings",
    "FastAgiSettings",
    "LogSettings",
    "NumberRules",
    "OriginateSettings",
    "OutageGuard",
    "PolicySettings",
    "PromiseApi",
    "PromisePolicy",
    "PromiseSettings",
    "PromiseSounds",
    "QueueCallbackSettings",
    "RetrySettings",
    "Secret",
    "Settings",
    "StatusSettings",
    "StoreSettings",
    "describe",
    "load_settings",
    "parse_settings",
]
