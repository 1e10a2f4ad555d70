"""Checks of the trunks: each needs an rtp_timeout, or a silent drop is seen only when the session timer ends it."""

from __future__ import annotations

from collections.abc import Mapping

from redial.config import Settings
from redial.tools import pjsipconf
from redial.tools.doctor.findings import Finding, Status

# A drop noticed later than this after the media stopped leaves the customer in silence long.
RTP_TIMEOUT_SLOW = 60


def trunk_names(settings: Settings) -> frozenset[str] | None:
    """The trunks named in the configuration, or None when every trunk is in scope."""
    named: set[str] = set()
    scoped = [settings.policy, *settings.queue_policies.values()]
    if any(policy.trunks is None for policy in scoped) and settings.originate.trunk is None:
        return None
    for policy in scoped:
        named.update(policy.trunks or ())
    if settings.originate.trunk is not None:
        named.add(settings.originate.trunk)
    return frozenset(named)


def check_rtp_timeouts(
    trunks: frozenset[str] | None,
    endpoints: Mapping[str, pjsipconf.PjsipEndpoint],
    agents: frozenset[str],
    source: str,
) -> Finding:
    """Trunk endpoints need ``rtp_timeout``: without it a silent drop waits for the session timer.

    ``trunks`` None means "every trunk": then the endpoints an identify section
    matches by address are the trunks, and when there are none, every endpoint
    that is not a queue member's device may carry customers and is checked.
    """
    fallback = ""
    if trunks is not None:
        candidates = sorted(trunks)
        scope = "configured trunks"
    else:
        candidates = sorted(name for name, e in endpoints.items() if e.identified and name not in agents)
        scope = "trunks found by their identify section"
        if not candidates:
            candidates = sorted(name for name in endpoints if name not in agents)
            scope = "endpoints outside the queues"
            fallback = "; or list your trunks in policy.trunks to check only those"
    if not candidates:
        return Finding("rtp_timeout", Status.WARN, f"no {scope} found ({source})")
    missing = [name for name in candidates if name not in endpoints]
    if missing:
        return Finding(
            "rtp_timeout",
            Status.FAIL,
            f"trunk endpoint {', '.join(missing)} does not exist in pjsip ({source})",
            "fix policy.trunks / originate.trunk in the redial configuration",
        )
    unset = [name for name in candidates if endpoints[name].rtp_timeout <= 0]
    slow = [name for name in candidates if endpoints[name].rtp_timeout > RTP_TIMEOUT_SLOW]
    if unset:
        shown = ", ".join(unset[:6]) + (f" and {len(unset) - 6} more" if len(unset) > 6 else "")
        sections = " ".join(f"[{name}]" for name in unset[:3])
        return Finding(
            "rtp_timeout",
            Status.FAIL,
            f"no rtp_timeout on {shown} ({source}): a call whose media stops is only ended when "
            "the session timer expires, up to 30 minutes later, so its drop is seen far too late",
            f"in pjsip.conf add rtp_timeout = 30 to the endpoint section {sections}, then run "
            'asterisk -rx "pjsip reload"' + fallback,
        )
    if slow:
        return Finding(
            "rtp_timeout",
            Status.WARN,
            f"rtp_timeout above {RTP_TIMEOUT_SLOW} s on {', '.join(slow)} ({source}): the customer "
            "hears silence that long before the drop is seen",
            "set rtp_timeout = 30 on those endpoints",
        )
    values = sorted({endpoints[name].rtp_timeout for name in candidates})
    return Finding(
        "rtp_timeout",
        Status.OK,
        f"{scope}: {', '.join(candidates[:6])}{' and more' if len(candidates) > 6 else ''}, "
        f"rtp_timeout {'/'.join(map(str, values))} s ({source})",
    )
