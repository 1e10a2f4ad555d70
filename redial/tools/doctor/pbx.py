"""Checks of Asterisk itself: its version, its clock, and the modules the shipped dialplan needs."""

from __future__ import annotations

import re
from collections.abc import Mapping

from redial.tools.doctor.findings import Finding, Status

# Dialplan applications the shipped contexts use, and the module behind each.
MODULES: Mapping[str, str] = {
    "app_queue": "Queue() and the queue members",
    "chan_pjsip": "the PJSIP channels of agents and trunks",
    "app_dial": "Dial() in [redial-out]",
    "app_playback": "the agent's prompt and the customer's greeting",
    "app_stack": "Gosub/Return: the greeting runs as Dial's U() gosub",
    "func_strings": "FILTER and REGEX, which check every value from AMI",
}
AGI_MODULE = ("res_agi", "AGI() in [redial-returning]")
# Versions whose Hangup events carry TechCause (the SIP response code).
_TECH_CAUSE_SINCE = {20: 17, 22: 7, 23: 1}
# Asterisk and this host are one machine or share NTP: more is a broken clock.
CLOCK_SKEW_WARN = 2.0


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``22.10.1+dfsg-1`` or ``certified/20.7-cert1`` as (22, 10, 1); None when unreadable."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def has_tech_cause(version: tuple[int, int, int]) -> bool:
    major, minor, _ = version
    if major in _TECH_CAUSE_SINCE:
        return minor >= _TECH_CAUSE_SINCE[major]
    return major > max(_TECH_CAUSE_SINCE)


def check_version(text: str) -> Finding:
    """What the Asterisk version implies for drop detection."""
    version = parse_version(text)
    if version is None:
        return Finding("asterisk", Status.WARN, f"cannot read the Asterisk version {text!r}")
    shown = ".".join(map(str, version))
    if version[0] < 20:
        return Finding(
            "asterisk",
            Status.WARN,
            f"Asterisk {shown} is past its end of life; redial is tested on 22",
            "upgrade to a supported Asterisk (20 or 22 LTS)",
        )
    if has_tech_cause(version):
        return Finding(
            "asterisk",
            Status.OK,
            f"Asterisk {shown}: Hangup events carry TechCause, the SIP code behind a drop",
        )
    return Finding(
        "asterisk",
        Status.WARN,
        f"Asterisk {shown}: Hangup events have no TechCause (20.17, 22.7 and 23.1 add it), so a "
        "carrier's plain BYE after a network drop looks like a normal hang-up (cause 16)",
        "upgrade to 20.17+, 22.7+ or 23.1+ to see the SIP code of every drop",
    )


def check_clock(asterisk_epoch: float, host_before: float, host_after: float) -> Finding:
    """Asterisk's Ping timestamp against this host's clock (halfway through the round trip)."""
    skew = asterisk_epoch - (host_before + host_after) / 2
    if abs(skew) <= CLOCK_SKEW_WARN:
        return Finding("clock", Status.OK, f"Asterisk and this host agree ({skew:+.3f} s)")
    return Finding(
        "clock",
        Status.WARN,
        f"Asterisk's clock is {skew:+.1f} s off this host's: business hours and call "
        "times in the history will not match the PBX's reports",
        "run NTP (systemd-timesyncd or chrony) on both machines",
    )


def check_modules(loaded: Mapping[str, bool], wanted: Mapping[str, str]) -> Finding:
    absent = [name for name in wanted if not loaded.get(name, False)]
    if not absent:
        return Finding("modules", Status.OK, f"loaded: {', '.join(wanted)}")
    why = "; ".join(f"{name}: {wanted[name]}" for name in absent)
    return Finding(
        "modules",
        Status.FAIL,
        f"not loaded: {why}",
        "in modules.conf remove noload => "
        + ", ".join(f"{n}.so" for n in absent)
        + ' (or add load => lines), then asterisk -rx "module load <name>.so"',
    )
