"""FreePBX: recognise an installation and check redial's place in it, for ``redial doctor``.

FreePBX writes most of Asterisk's configuration itself: ``manager.conf``,
``extensions.conf`` and the ``*_additional.conf`` files, ``queues_additional.conf``
and the ``pjsip.*.conf`` files. It rewrites them from its database (``fwconsole
reload``, module upgrades), so what an admin adds by hand belongs in the files they
``#include`` and FreePBX never writes: ``manager_custom.conf``,
``extensions_custom.conf``, ``pjsip.endpoint_custom_post.conf``. On such a PBX the
doctor says so, checks that redial's pieces live in those files, and words every
fix the FreePBX way. Pure except for reading files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redial.tools import pjsipconf
from redial.tools.doctor.findings import EXTENSIONS_CONF_HINT, MANAGER_CONF_HINT, Finding, Status

CHECK = "freepbx"
DEFAULT_ETC = Path("/etc/asterisk")
# The snippet an admin pastes into extensions_custom.conf: the Custom Destination's context.
SNIPPET_HINT = "config/freepbx/extensions_custom.conf"
RETURNING_CONTEXT = "redial-freepbx-returning"
# FreePBX's own configuration, beside Asterisk's directory (/etc/freepbx.conf; /etc/amportal.conf
# on older releases and on FreePBX-derived PBXs such as Issabel), or in it.
_OUTSIDE_MARKERS = ("freepbx.conf", "amportal.conf")
_INSIDE_MARKERS = ("freepbx.conf", "extensions_additional.conf")
# A FreePBX queue member: Local/<extension>@from-queue/n (its state interface is hint:<ext>@ext-local).
_LOCAL_MEMBER = re.compile(r"^Local/([^@/]+)@from-queue(?:/|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FreePbx:
    """How FreePBX was recognised, and Asterisk's configuration directory (None: seen over AMI only)."""

    evidence: str
    etc_dir: Path | None

    def path(self, name: str) -> Path:
        return (self.etc_dir or DEFAULT_ETC) / name


def detect_files(etc_dir: Path | None) -> FreePbx | None:
    """FreePBX's files beside or in Asterisk's configuration directory, or None."""
    if etc_dir is None:
        return None
    candidates = [etc_dir.parent / name for name in _OUTSIDE_MARKERS]
    candidates += [etc_dir / name for name in _INSIDE_MARKERS]
    for marker in candidates:
        if marker.is_file():
            return FreePbx(f"at {marker}", etc_dir)
    return None


def detect_dialplan(lookup: Callable[[str], object | None]) -> FreePbx | None:
    """FreePBX's own contexts in the running dialplan (``lookup`` gives None for a missing context).

    Both are required: a lab dialplan may imitate FreePBX's [from-queue] for its Local
    queue members, but only FreePBX generates the [ext-queues] that runs Queue().
    """
    if lookup("from-queue") is None or lookup("ext-queues") is None:
        return None
    return FreePbx("by its [from-queue] and [ext-queues] contexts", None)


def detected(site: FreePbx) -> Finding:
    return Finding(CHECK, Status.OK, f"FreePBX detected {site.evidence}")


def member_endpoints(interfaces: Iterable[str]) -> frozenset[str]:
    """The extensions behind FreePBX's Local queue members: on FreePBX an extension's PJSIP endpoint has its number."""
    return frozenset(match.group(1) for interface in interfaces if (match := _LOCAL_MEMBER.match(interface)))


# --- Fixes, the FreePBX way -------------------------------------------------------------


def _returning_fix(site: FreePbx) -> str:
    return (
        f"add [{RETURNING_CONTEXT}] from {SNIPPET_HINT} to {site.path('extensions_custom.conf')}; in "
        f"Admin > Custom Destinations add the target {RETURNING_CONTEXT},<queue number>,1 and make it "
        "the destination of your inbound route (Connectivity > Inbound Routes); then fwconsole reload"
    )


def _rtp_sections(match: re.Match[str], site: FreePbx) -> str:
    names = re.findall(r"\[([^\]]+)\]", match.group(1))
    additions = " and ".join(f"[{name}](+)" for name in names)
    return (
        f"in {site.path('pjsip.endpoint_custom_post.conf')} (FreePBX rewrites pjsip.endpoint.conf) add "
        f"{additions}, each followed by the line rtp_timeout = 30"
    )


def _rewrites(site: FreePbx) -> Sequence[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]]:
    custom = site.path("manager_custom.conf")
    return (
        (re.compile(r'asterisk -rx "(?:manager|dialplan|pjsip) reload"'), "fwconsole reload"),
        (re.compile(r"\bin manager\.conf give \["), f"in {custom} give ["),
        (re.compile(r"\bmanager\.conf has a \["), f"{custom} has a ["),
        (
            re.compile(r"(copy the eventfilter lines of \[[^\]]+\] in \S+ to \[[^\]]+\])"),
            lambda m: f"{m.group(1)} in {custom}",
        ),
        (
            re.compile(r"#include extensions_redial\.conf to extensions\.conf"),
            f"#include extensions_redial.conf to {site.path('extensions_custom.conf')} (FreePBX owns extensions.conf)",
        ),
        (
            re.compile(r"in pjsip\.conf add rtp_timeout = 30 to the endpoint section ((?:\[[^\]]+\] ?)+)"),
            lambda m: _rtp_sections(m, site),
        ),
        (
            re.compile(r"set rtp_timeout = 30 on those endpoints$"),
            f"set rtp_timeout = 30 on those endpoints with [name](+) sections in "
            f"{site.path('pjsip.endpoint_custom_post.conf')}, then fwconsole reload",
        ),
        (re.compile(r"define your queues in queues\.conf"), "create your queues in Applications > Queues"),
        (re.compile(r"define \[([^\]]+)\] in queues\.conf"), r"create queue \1 in Applications > Queues"),
        (
            re.compile(r"add members to \[([^\]]+)\] in queues\.conf \(member => PJSIP/<agent>\)"),
            r"add agents to queue \1 in Applications > Queues, then Apply Config",
        ),
    )


def adapt(finding: Finding, site: FreePbx) -> Finding:
    """The same finding with its fix worded for FreePBX: its *_custom.conf files, its GUI, fwconsole reload."""
    fix = finding.fix
    if not fix:
        return finding
    if finding.check == "returning" and "before Queue() in your inbound context" in fix:
        return dataclasses.replace(finding, fix=_returning_fix(site))
    for pattern, replacement in _rewrites(site):
        fix = pattern.sub(replacement, fix)
    return finding if fix == finding.fix else dataclasses.replace(finding, fix=fix)


# --- Where redial's pieces live -----------------------------------------------------------


def _origin_key(origin: str) -> tuple[Path, str]:
    """ "file:line" as (resolved file, line), so two parses of one file compare equal."""
    path, _, line = origin.rpartition(":")
    return Path(path).resolve(), line


def _sections_named(path: Path, etc_dir: Path, name: str) -> list[pjsipconf.Section]:
    if not path.is_file():
        return []
    return [section for section in pjsipconf.parse_sections(path, etc_dir) if section.name == name]


def check_ami_user(etc_dir: Path, username: str) -> Finding:
    """The daemon's AMI user is defined in manager_custom.conf (or through FreePBX's GUI), not in manager.conf."""
    site = FreePbx("", etc_dir)
    custom = site.path("manager_custom.conf")
    fix = f"put the [{username}] section of {MANAGER_CONF_HINT} into {custom} (and nowhere else), then fwconsole reload"
    try:
        loaded = _sections_named(etc_dir / "manager.conf", etc_dir, username)
        kept = _sections_named(custom, etc_dir, username)
        from_gui = _sections_named(etc_dir / "manager_additional.conf", etc_dir, username)
    except (OSError, ValueError) as exc:
        return Finding(CHECK, Status.SKIPPED, f"where [{username}] is defined was not checked: {exc}")
    safe = {_origin_key(section.origin) for section in kept + from_gui}
    exposed = [section for section in loaded if _origin_key(section.origin) not in safe]
    if exposed:
        where = exposed[0].origin
        also = " (it is in manager_custom.conf too: Asterisk reads both)" if kept else ""
        return Finding(
            CHECK,
            Status.WARN,
            f"AMI user [{username}] is defined at {where}, a file FreePBX rewrites: the daemon "
            f"would lose its login at a later fwconsole reload{also}",
            f"move the [{username}] section from {where.rpartition(':')[0]} into {custom}, then fwconsole reload",
        )
    if not loaded:
        if kept:
            return Finding(
                CHECK,
                Status.WARN,
                f"AMI user [{username}] is in {custom}, but manager.conf does not include that file",
                "add the line #include manager_custom.conf at the end of manager.conf (as FreePBX "
                "writes it), then fwconsole reload",
            )
        return Finding(CHECK, Status.WARN, f"AMI user [{username}] is in none of FreePBX's manager files", fix)
    if kept:
        return Finding(CHECK, Status.OK, f"AMI user [{username}] is in {custom}, which FreePBX leaves alone")
    return Finding(
        CHECK,
        Status.OK,
        f"AMI user [{username}] comes from Admin > Asterisk Manager Users (manager_additional.conf)",
    )


@dataclass
class _Context:
    origins: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _contexts(path: Path, etc_dir: Path) -> dict[str, _Context]:
    """The dialplan contexts of ``path`` (includes followed): where each is defined and its lines."""
    found: dict[str, _Context] = {}
    current: _Context | None = None
    for content, where in pjsipconf.config_lines(path, etc_dir):
        if content.startswith("[") and "]" in content:
            current = found.setdefault(content[1 : content.index("]")].strip(), _Context())
            current.origins.append(where)
        elif current is not None:
            current.lines.append(content)
    return found


def _calls_returning(lines: Iterable[str]) -> bool:
    return any("gosub(redial-returning," in line.lower().replace(" ", "") for line in lines)


def _leads_to(context: str, contexts: dict[str, _Context]) -> bool:
    """Does any other context send calls to ``context`` (Goto/Gosub target or include)?"""
    include = re.compile(rf"^include\s*=>?\s*{re.escape(context)}\s*$")
    return any(
        f"{context}," in line or include.match(line)
        for name, ctx in contexts.items()
        if name != context
        for line in ctx.lines
    )


def check_dialplan_files(etc_dir: Path, context: str, returning: bool) -> list[Finding]:
    """The redial dialplan comes in through extensions_custom.conf, and FreePBX routes callers to the hook."""
    site = FreePbx("", etc_dir)
    custom = site.path("extensions_custom.conf")
    install = (
        f"copy {EXTENSIONS_CONF_HINT} to {etc_dir}/, add the line #include extensions_redial.conf "
        f"to {custom} (see {SNIPPET_HINT}), then fwconsole reload"
    )
    try:
        everywhere = _contexts(etc_dir / "extensions.conf", etc_dir)
        ours = _contexts(custom, etc_dir) if custom.is_file() else {}
    except (OSError, ValueError) as exc:
        return [
            Finding(CHECK, Status.FAIL, f"the dialplan files cannot be read as Asterisk reads them: {exc}", install)
        ]
    findings: list[Finding] = []
    if context in ours:
        findings.append(Finding(CHECK, Status.OK, f"[{context}] comes in through {custom}"))
    elif context in everywhere:
        where = everywhere[context].origins[0]
        findings.append(
            Finding(
                CHECK,
                Status.WARN,
                f"[{context}] is defined at {where}, outside extensions_custom.conf: FreePBX replaces "
                "its own dialplan files, and the redial dialplan would go with them",
                f"move what brings [{context}] in (the line #include extensions_redial.conf) from "
                f"{where.rpartition(':')[0]} to {custom}, then fwconsole reload",
            )
        )
    else:
        # A warning: whether the context is loaded is the dialplan check's (a FAIL there when it is not).
        findings.append(
            Finding(
                CHECK,
                Status.WARN,
                f"{custom} does not include the redial dialplan: [{context}] is in no dialplan file",
                install,
            )
        )
    if returning:
        findings.append(_returning_route(site, ours, everywhere))
    return findings


def _returning_route(site: FreePbx, ours: dict[str, _Context], everywhere: dict[str, _Context]) -> Finding:
    hooks = [name for name, ctx in ours.items() if name != "redial-returning" and _calls_returning(ctx.lines)]
    if not hooks:
        return Finding(
            CHECK,
            Status.WARN,
            "nothing in extensions_custom.conf calls Gosub(redial-returning,s,1): a customer who calls "
            "back after a drop waits in the queue instead of reaching the same agent",
            _returning_fix(site),
        )
    routed = [hook for hook in hooks if _leads_to(hook, everywhere)]
    if routed:
        return Finding(
            CHECK, Status.OK, f"returning callers: FreePBX sends calls to [{routed[0]}], which asks the daemon"
        )
    return Finding(
        CHECK,
        Status.WARN,
        f"[{hooks[0]}] calls Gosub(redial-returning,s,1), but no FreePBX destination leads to it: returning "
        "callers wait in the queue",
        f"in Admin > Custom Destinations add the target {hooks[0]},<queue number>,1, make it the destination "
        "of your inbound route (Connectivity > Inbound Routes), then Apply Config",
    )


def file_findings(site: FreePbx, username: str, context: str, returning: bool) -> list[Finding]:
    """FreePBX's files, when the doctor can read them: the AMI user's and the dialplan's place."""
    if site.etc_dir is None:
        return []
    return [check_ami_user(site.etc_dir, username), *check_dialplan_files(site.etc_dir, context, returning)]
