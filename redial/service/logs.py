"""structlog set-up: one JSON object a line on stdout, for journald."""

from __future__ import annotations

import functools
import logging
import re
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


# Fields that carry a customer's number (or one someone dialled) whole.
_NUMBER_KEYS = frozenset(
    {"customer", "number", "caller", "callee", "callerid", "customer_number", "dial_number", "dialled", "e164"}
)
# A number inside free text (a detail, an error, a DAHDI channel name): 7 to 20 digits, an
# optional +. Not a Uniqueid or Linkedid (1700000000.42) or the fraction of one.
_NUMBER_IN_TEXT = re.compile(r"(?<![\d.])(\+?)\d{3,16}(\d{4})(?!\d|\.\d)")
_KEPT_DIGITS = 4


def _masked(value: str) -> str:
    """A whole number field: only its last digits, so a line can still be matched to a customer."""
    digits = [ch for ch in value if ch.isdigit()]
    if len(digits) <= _KEPT_DIGITS:
        return value  # an extension, a service number, "anonymous": nobody's number
    return ("+" if value.startswith("+") else "") + "***" + "".join(digits[-_KEPT_DIGITS:])


def _mask_numbers(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``logging.mask_numbers``: customer numbers show only their last four digits."""
    for key, value in event.items():
        if not isinstance(value, str) or key in ("event", "timestamp", "level"):
            continue
        if key in _NUMBER_KEYS:
            event[key] = _masked(value)
        elif any(ch.isdigit() for ch in value):
            event[key] = _NUMBER_IN_TEXT.sub(r"\1***\2", value)
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
            # After format_exc_info: a traceback's text is masked too.
            *([_mask_numbers] if settings.mask_numbers else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[settings.level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    # panoramisk logs through the standard library; keep its chatter out of the journal.
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
