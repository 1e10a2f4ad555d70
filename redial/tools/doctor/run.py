"""The doctor's run: every check in order, each finding handed over as soon as it is known.

One finding at a time, a slow PBX shows progress instead of a silent terminal. What
the AMI user may not ask is read from Asterisk's configuration files when they are on
this host; on FreePBX (:mod:`redial.tools.freepbx`) every fix is worded its way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from redial.ami.events import NEEDED_EVENTS
from redial.config import Settings
from redial.exceptions import ConfigError
from redial.tools import pjsipconf
from redial.tools.doctor.ami_user import (
    check_clear_logins,
    check_event_filters,
    check_permissions,
    check_read_classes,
    check_write_classes,
)
from redial.tools.doctor.dialplan import (
    check_dialplan,
    check_greeting,
    check_promise,
    check_queue_callback,
    check_returning,
    uses_greeting,
)
from redial.tools.doctor.findings import MANAGER_CONF_HINT, Finding, Status
from redial.tools.doctor.pbx import AGI_MODULE, MODULES, check_clock, check_modules, check_version
from redial.tools.doctor.probe import PbxProbe, ProbeError
from redial.tools.doctor.queues import check_queues, endpoint_of
from redial.tools.doctor.trunks import check_rtp_timeouts, trunk_names

if TYPE_CHECKING:
    from redial.tools.freepbx import FreePbx


@dataclass(frozen=True, slots=True)
class Admin:
    """An optional second AMI user with the ``system`` (and ``command``) class for deeper checks."""

    username: str
    secret: str


def _dialplan_findings(probe: PbxProbe, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    out = probe.dialplan(settings.originate.context)
    findings.append(check_dialplan(settings.originate.context, out))
    if out is not None and uses_greeting(out):
        findings.append(check_greeting(probe.dialplan("redial-greeting")))
    if settings.fastagi.enabled:
        findings.append(
            check_returning(probe.dialplan("redial-returning"), settings.fastagi.host, settings.fastagi.port)
        )
        if settings.queue_callback.enabled:
            offer = probe.dialplan("redial-queue-callback-offer")
            findings.append(check_queue_callback(offer, settings.fastagi.host, settings.fastagi.port))
        if settings.promise.enabled:
            feature = probe.dialplan("redial-promise")
            findings.append(check_promise(feature, settings.fastagi.host, settings.fastagi.port))
    return findings


_NO_CONFIG_FIX = (
    "give --asterisk-etc the directory of Asterisk's configuration, or run redial doctor "
    "--admin-user NAME with an AMI user that has read = system and write = system,command "
    f"(see the [redial-doctor] example in {MANAGER_CONF_HINT})"
)


def _rtp_finding(
    deep: PbxProbe | None,
    settings: Settings,
    agents: frozenset[str],
    config_dir: Path | None,
) -> Finding:
    trunks = trunk_names(settings)
    if deep is not None:
        names = sorted(trunks) if trunks is not None else deep.endpoint_names()
        known: dict[str, pjsipconf.PjsipEndpoint] = {}
        for name in names:
            endpoint = deep.endpoint(name)
            if endpoint is not None:
                known[name] = endpoint
        return check_rtp_timeouts(trunks, known, agents, "asked over AMI")
    if config_dir is None:
        return Finding(
            "rtp_timeout",
            Status.SKIPPED,
            "not checked: the AMI user lacks the system class, and no running Asterisk with AMI on "
            f"port {settings.ami.port} was found on this host to read pjsip.conf from",
            _NO_CONFIG_FIX,
        )
    pjsip = config_dir / "pjsip.conf"
    try:
        found = pjsipconf.endpoints(pjsip, config_dir)
    except (OSError, ValueError) as exc:
        return Finding(
            "rtp_timeout",
            Status.SKIPPED,
            f"not checked: the AMI user lacks the system class and {pjsip} cannot be read ({exc})",
            _NO_CONFIG_FIX,
        )
    return check_rtp_timeouts(trunks, found, agents, f"read from {pjsip}")


def _manager_findings(config_dir: Path | None, username: str, admin_checked: bool) -> list[Finding]:
    """What manager.conf says of the daemon's user: its read classes (unless asked over AMI) and filters."""
    if config_dir is None:
        return []
    section = pjsipconf.manager_user(config_dir, username)
    if section is None:
        return []
    source = f"read from {config_dir / 'manager.conf'}"
    findings = []
    if not admin_checked:
        read = [item.strip() for item in section.values.get("read", "").split(",") if item.strip()]
        finding = check_read_classes(username, read)
        findings.append(dataclasses.replace(finding, summary=f"{finding.summary} ({source})"))
    findings.append(check_event_filters(username, section.values, NEEDED_EVENTS, source))
    general = pjsipconf.manager_user(config_dir, "general")
    http = _general(config_dir / "http.conf", config_dir)
    findings.append(check_clear_logins(general.values if general else {}, http, f"read from {config_dir}"))
    return findings


def _general(path: Path, config_dir: Path) -> dict[str, str]:
    """The [general] values of an Asterisk file, or none when it is absent or unreadable."""
    try:
        sections = pjsipconf.parse_sections(path, config_dir)
    except (OSError, ValueError):
        return {}
    return next((section.values for section in sections if section.name == "general"), {})


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def diagnose(
    settings: Settings,
    *,
    admin: Admin | None = None,
    etc_dir: Path | None = None,
    timeout: float = 5.0,
    probe_factory: Callable[[str, int, float], PbxProbe] = PbxProbe,
    secret_problems: Sequence[ConfigError] = (),
) -> Iterator[Finding]:
    """Run every check, yielding each finding as soon as it is known.

    ``etc_dir`` is where Asterisk's configuration is; by default that of the running
    Asterisk whose AMI port is the configured one, found through /proc (only when
    AMI is on this host). ``secret_problems`` are what the configuration's secret rules
    refused (a placeholder, a short secret, a file others can read): each is a failure,
    reported first. On a FreePBX installation (:mod:`redial.tools.freepbx`) the run
    says so, checks FreePBX's files too, and words every fix the FreePBX way.
    """
    from redial.tools import freepbx  # it builds on doctor.findings: imported here, so no import cycle

    for problem in secret_problems:
        yield Finding("secret", Status.FAIL, str(problem))
    seen = _Seen()
    with contextlib.closing(_checks(settings, admin, etc_dir, timeout, probe_factory, seen)) as checks:
        for finding in checks:
            yield finding if seen.freepbx is None else freepbx.adapt(finding, seen.freepbx)


@dataclass
class _Seen:
    """What a run has learnt that changes how its findings are worded."""

    # A FreePBX installation: fixes then name its *_custom.conf files and fwconsole reload.
    freepbx: FreePbx | None = None


def _checks(
    settings: Settings,
    admin: Admin | None,
    etc_dir: Path | None,
    timeout: float,
    probe_factory: Callable[[str, int, float], PbxProbe],
    seen: _Seen,
) -> Generator[Finding, None, None]:
    from redial.tools import freepbx

    ami = settings.ami
    config_dir = etc_dir
    if config_dir is None and ami.host in _LOOPBACK:
        config_dir = pjsipconf.locate_config_dir(ami.port)
    seen.freepbx = freepbx.detect_files(config_dir)
    probe = probe_factory(ami.host, ami.port, timeout)
    deep: PbxProbe | None = None
    try:
        try:
            probe.login(ami.username, ami.secret.reveal())
        except ProbeError as exc:
            yield Finding("AMI", Status.FAIL, exc.summary, exc.fix)
            if seen.freepbx is not None:
                yield freepbx.detected(seen.freepbx)
            return
        yield Finding(
            "AMI",
            Status.OK,
            f"logged in as {ami.username} at {ami.host}:{ami.port} with the MD5 challenge ({probe.banner})",
        )
        commands = probe.commands()
        if seen.freepbx is None and "ShowDialPlan" in commands:
            seen.freepbx = freepbx.detect_dialplan(probe.dialplan)
        if seen.freepbx is not None:
            yield freepbx.detected(seen.freepbx)
        yield check_permissions(ami.username, commands)
        yield check_write_classes(ami.username, commands)
        if admin is not None:
            deep = probe_factory(ami.host, ami.port, timeout)
            try:
                deep.login(admin.username, admin.secret)
            except ProbeError as exc:
                yield Finding("admin", Status.FAIL, exc.summary, exc.fix)
                deep = None
        elif "PJSIPShowEndpoint" in commands:
            deep = probe
        version = probe.version() if "CoreSettings" in commands else (deep.version() if deep else "")
        if version:
            yield check_version(version)
        else:
            yield Finding("asterisk", Status.SKIPPED, "version not read: CoreSettings needs the reporting class")
        clock = probe.ping_clock()
        if clock is None:
            yield Finding("clock", Status.SKIPPED, "Asterisk's Ping carried no Timestamp")
        else:
            yield check_clock(*clock)
        if "ShowDialPlan" in commands:
            yield from _dialplan_findings(probe, settings)
        else:
            yield Finding("dialplan", Status.SKIPPED, "not checked: ShowDialPlan needs the reporting class")
        queues = probe.queues()
        # The queues the configuration names; none named ("*"): every queue Asterisk has.
        named = set(settings.policy.queues or ()) | set(settings.queue_policies)
        yield from check_queues(sorted(named) if named else None, queues)
        agents = frozenset(
            name for members in queues.values() for m in members if (name := endpoint_of(m.interface)) is not None
        )
        if seen.freepbx is not None:
            agents |= freepbx.member_endpoints(m.interface for members in queues.values() for m in members)
        yield _rtp_finding(deep, settings, agents, config_dir)
        read_checked = False
        if deep is not None and admin is not None:
            wanted_modules = dict(MODULES)
            if settings.fastagi.enabled:
                wanted_modules[AGI_MODULE[0]] = AGI_MODULE[1]
            yield check_modules({name: deep.module_loaded(name) for name in wanted_modules}, wanted_modules)
            read = deep.read_classes(ami.username)
            if read is not None:
                read_checked = True
                yield check_read_classes(ami.username, read)
        else:
            yield Finding(
                "modules",
                Status.SKIPPED,
                "loaded modules not checked (ModuleCheck needs an AMI user with the system class)",
                f"run redial doctor --admin-user NAME (see [redial-doctor] in {MANAGER_CONF_HINT})",
            )
        yield from _manager_findings(config_dir, ami.username, read_checked)
        if seen.freepbx is not None:
            yield from freepbx.file_findings(
                seen.freepbx, ami.username, settings.originate.context, settings.fastagi.enabled
            )
    except ProbeError as exc:
        yield Finding("AMI", Status.FAIL, exc.summary, exc.fix)
    finally:
        if deep is not None and deep is not probe:
            deep.close()
        probe.close()
