"""The YAML shape of promised callbacks: ``policy.promise`` (per queue) and ``promise:``."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from redial.ami.actions import LABEL
from redial.config.promise_settings import PromiseApi, PromisePolicy, PromiseSettings, PromiseSounds

_SOUND_TEXT = "a sound name of letters, digits, _ - and / (no dots)"
Sound = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}\Z", description=_SOUND_TEXT)]
Sounds = Annotated[tuple[Sound, ...], Meta(description="a list of sound file names without extension ([] for none)")]
# 90s, 30m, 2h (a bare number is seconds), or next_opening.
Rung = Annotated[
    Annotated[str, Meta(pattern=r"^(?:\d{1,6}[smh]?|next_opening)\Z")] | Annotated[int, Meta(ge=1, le=2592000)],
    Meta(description='a delay such as 15m, 1h or 90s, or "next_opening"'),
]
Url = Annotated[str, Meta(pattern=r"^https?://[^\s]{1,500}\Z", description="an http:// or https:// URL")]
_LOOPBACK = r"^(?:localhost|::1|127(?:\.\d{1,3}){3})\Z"


class _Section(Struct, forbid_unknown_fields=True, kw_only=True):
    """A mapping of the file: unknown keys are errors."""


_SOUNDS = PromiseSounds()


class PromiseSoundsSection(_Section):
    agent_enter: Sounds = _SOUNDS.agent_enter
    agent_confirm_before: Sounds = _SOUNDS.agent_confirm_before
    agent_confirm_after: Sounds = _SOUNDS.agent_confirm_after
    agent_refused: Sounds = _SOUNDS.agent_refused
    customer_before: Sounds = _SOUNDS.customer_before
    customer_middle: Sounds = _SOUNDS.customer_middle
    customer_after: Sounds = _SOUNDS.customer_after
    whisper_before: Sounds = _SOUNDS.whisper_before
    note_exists: Sounds = _SOUNDS.note_exists


_POLICY = PromisePolicy()


class PromisePolicySection(_Section):
    owner_wait: Annotated[float, Meta(ge=0, le=86400)] = _POLICY.owner_wait
    owner_ring_timeout: Annotated[int, Meta(ge=5, le=300)] = _POLICY.owner_ring_timeout
    ladder: Annotated[tuple[Rung, ...], Meta(max_length=10)] = ("15m", "1h", "next_opening")
    min_talk: Annotated[float, Meta(ge=0, le=3600)] = _POLICY.min_talk
    late_after: Annotated[float, Meta(ge=0, le=86400)] = _POLICY.late_after
    agent_caller_id_name: Annotated[
        str, Meta(min_length=1, pattern=f"^(?:{LABEL.pattern})\\Z", description="letters, digits, spaces and _.:#*+-")
    ] = _POLICY.agent_caller_id_name
    name_sounds: Annotated[
        dict[Annotated[str, Meta(min_length=1)], Sound], Meta(description="a mapping of member names to sound names")
    ] = {}
    sounds: PromiseSoundsSection | None = None


_API = PromiseApi()


class PromiseApiSection(_Section):
    enabled: bool = _API.enabled
    host: Annotated[str, Meta(pattern=_LOOPBACK, description="a loopback address (127.0.0.1, ::1)")] = _API.host
    port: Annotated[int, Meta(ge=1, le=65535)] = _API.port
    token_file: Annotated[str, Meta(min_length=1)] | None = None


_PROMISE = PromiseSettings()


class PromiseSection(_Section):
    enabled: bool = _PROMISE.enabled
    keep_when_called_back: bool = _PROMISE.keep_when_called_back
    max_ahead_days: Annotated[int, Meta(ge=1, le=366)] = _PROMISE.max_ahead_days
    webhook: Url | None = None
    webhook_timeout: Annotated[float, Meta(ge=0.5, le=60)] = _PROMISE.webhook_timeout
    api: PromiseApiSection | None = None


def rung_seconds(rung: str | int) -> float | None:
    """A ladder rung in seconds (None: the next opening)."""
    if isinstance(rung, int):
        return float(rung)
    if rung == "next_opening":
        return None
    unit = {"s": 1, "m": 60, "h": 3600}.get(rung[-1])
    return float(int(rung[:-1]) * unit) if unit else float(int(rung))


__all__ = ["PromisePolicySection", "PromiseSection", "rung_seconds"]
