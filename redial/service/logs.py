"""structlog set-up: one JSON object a line on stdout, for journald."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from redial.config import LogSettings

_SECRET_KEYS = ("secret", "password", "passwd", "token")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@functools.lru_cache(maxsize=1024)
def _is_secret(key: str) -> bool:
    # Cached: the daemon logs the same few dozen field names over and over.
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEYS)


def _mask_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Belt and braces: a field named like a secret is never written out."""
    for key in [k for k in event if _is_secret(k)]:
        event[key] = "********"
    return event


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[settings.level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    # panoramisk logs through the standard library; keep its chatter out of the journal.
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
