"""What a doctor check finds, and how the findings are shown: one line each, then a verdict.

A :class:`Finding` is the outcome of one check with, when something is wrong, a
plain-language fix; the fixes point the admin at the shipped examples named here.
"""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

# The shipped examples the fixes point to.
MANAGER_CONF_HINT = "config/manager_redial.conf"
EXTENSIONS_CONF_HINT = "config/extensions_redial.conf"


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIPPED = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check: what was found and, when something is wrong, how to fix it."""

    check: str
    status: Status
    summary: str
    fix: str | None = None


# --- Output ------------------------------------------------------------------------------

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIPPED: "cyan"}
_LABEL_WIDTH = 5
_CHECK_WIDTH = 12


def render(finding: Finding, *, colour: bool, width: int = 80) -> str:
    """One finding as wrapped lines of at most ``width`` columns (ANSI colour only on the label)."""
    import click

    label = finding.status.value.ljust(_LABEL_WIDTH)
    if colour:
        label = click.style(label, fg=_COLOURS[finding.status], bold=finding.status is Status.FAIL)
    indent = " " * (1 + _LABEL_WIDTH + 1 + _CHECK_WIDTH + 1)
    body = textwrap.wrap(finding.summary, width=width - len(indent), break_on_hyphens=False) or [""]
    lines = [f" {label} {finding.check.ljust(_CHECK_WIDTH)} {body[0]}"]
    lines.extend(indent + text for text in body[1:])
    if finding.fix:
        fix = textwrap.wrap(
            "fix: " + finding.fix, width=width - len(indent), subsequent_indent="     ", break_on_hyphens=False
        )
        lines.extend(indent + text for text in fix)
    return "\n".join(lines)


def verdict(findings: Sequence[Finding]) -> str:
    failed = sum(1 for f in findings if f.status is Status.FAIL)
    warned = sum(1 for f in findings if f.status is Status.WARN)
    skipped = sum(1 for f in findings if f.status is Status.SKIPPED)
    if not failed and not warned:
        tail = f" ({skipped} not checked)" if skipped else ""
        return f"All checks passed{tail}."
    parts = []
    if failed:
        parts.append(f"{failed} problem{'s' if failed != 1 else ''}")
    if warned:
        parts.append(f"{warned} warning{'s' if warned != 1 else ''}")
    return " and ".join(parts) + ": see the fixes above."
