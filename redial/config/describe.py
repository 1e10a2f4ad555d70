"""The effective settings as plain data, for ``redial check-config``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redial.config.settings import WEEKDAYS, BusinessHours, Secret, Settings


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
    if settings.promise.webhook:
        # A webhook URL may carry a password, or a token in its path or query: only where it goes.
        parts = urllib.parse.urlsplit(settings.promise.webhook)
        port = f":{parts.port}" if parts.port else ""
        result["promise"]["webhook"] = f"{parts.scheme}://{parts.hostname}{port}/... (the rest hidden)"
    route = result["originate"]["customer_route"]
    result["originate"]["customer_route"] = "trunk" if route is None else {"context": route}
    return result
