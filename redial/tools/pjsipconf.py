"""Read ``pjsip.conf`` as Asterisk does, for ``redial doctor``. Pure except for reading files.

``redial doctor`` asks Asterisk for each endpoint's ``rtp_timeout`` over AMI, but
PJSIPShowEndpoint needs the ``system`` class that the daemon's own AMI user has no
business holding. When AMI refuses, the doctor reads the configuration files
instead, which it can do because it runs on the PBX's machine.

Asterisk's config syntax, as far as it matters here: ``[name]`` starts a section,
``[name](!)`` a template, ``[name](tpl1,tpl2)`` a section that inherits from
templates in order, ``[name](+)`` adds to an earlier section; ``key = value`` and
``key => value``; ``;`` starts a comment (``\\;`` is a literal semicolon) and
``;-- ... --;`` a block comment; ``#include`` and ``#tryinclude`` take a file name
or a glob, relative to the configuration directory. Like Asterisk, ``(+)`` adds to
the *first* section of that name, and one that names no earlier section makes the
whole file invalid (FreePBX's ``pjsip.endpoint_custom.conf`` is read before any
endpoint, which is why additions go into ``pjsip.endpoint_custom_post.conf``).
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# An include loop (a.conf includes b.conf includes a.conf) must end.
_MAX_INCLUDE_DEPTH = 10


@dataclass
class Section:
    name: str
    template: bool = False
    values: dict[str, str] = field(default_factory=dict)
    # Where its header is ("file:line"): which file defines a section matters on FreePBX.
    origin: str = ""


@dataclass(frozen=True, slots=True)
class PjsipEndpoint:
    name: str
    rtp_timeout: int
    # An identify section matches this endpoint by address: the usual mark of a trunk.
    identified: bool


def _strip_comment(line: str) -> str:
    out: list[str] = []
    escaped = False
    for char in line:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            break
        else:
            out.append(char)
    return "".join(out).strip()


def _lines(path: Path, etc_dir: Path, depth: int) -> list[tuple[str, str]]:
    """(line, "file:lineno") pairs with includes expanded and comments gone."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise ValueError(f"{path}: #include nested more than {_MAX_INCLUDE_DEPTH} deep (a loop?)")
    result: list[tuple[str, str]] = []
    in_block = False
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_block:
            end = line.find("--;")
            if end < 0:
                continue
            line = line[end + 3 :]
            in_block = False
        start = line.find(";--")
        if start >= 0:
            end = line.find("--;", start + 3)
            if end < 0:
                in_block = True
                line = line[:start]
            else:
                line = line[:start] + line[end + 3 :]
        stripped = line.strip()
        if stripped.startswith(("#include", "#tryinclude")):
            directive, _, target = stripped.partition(" ")
            target = target.strip().strip('"').strip("<>")
            pattern = target if target.startswith("/") else str(etc_dir / target)
            matches = sorted(glob.glob(pattern))
            if not matches and directive == "#include" and not glob.has_magic(pattern):
                raise ValueError(f"{path}:{number}: #include {target}: no such file")
            for match in matches:
                result.extend(_lines(Path(match), etc_dir, depth + 1))
            continue
        content = _strip_comment(line)
        if content:
            result.append((content, f"{path}:{number}"))
    return result


def config_lines(path: Path, etc_dir: Path | None = None) -> list[tuple[str, str]]:
    """Every line that says something, as (text, "file:line"): includes expanded, comments gone."""
    return _lines(path, path.parent if etc_dir is None else etc_dir, 0)


def _addition_target(named: list[Section], option: str) -> Section | None:
    """The section ``(+)`` or ``(+key=value&...)`` adds to: the first of that name whose values match."""
    wanted = [pair.partition("=") for pair in option[1:].split("&") if pair]
    for section in named:
        if all(section.values.get(key.strip()) == value.strip() for key, _, value in wanted):
            return section
    return None


def parse_sections(path: Path, etc_dir: Path | None = None) -> list[Section]:
    """The sections of ``path`` (includes expanded), templates applied, in file order."""
    sections: list[Section] = []
    # Every section and template of each name, in order: (+) adds to the first (as in Asterisk).
    named: dict[str, list[Section]] = {}
    templates: dict[str, Section] = {}
    current: Section | None = None
    for content, where in config_lines(path, etc_dir):
        if content.startswith("["):
            close = content.find("]")
            if close < 0:
                raise ValueError(f"{where}: section header without ]: {content!r}")
            name = content[1:close].strip()
            options: list[str] = []
            rest = content[close + 1 :].strip()
            if rest.startswith("(") and rest.endswith(")"):
                options = [item.strip() for item in rest[1:-1].split(",") if item.strip()]
            addition = next((option for option in options if option.startswith("+")), None)
            if addition is not None:
                current = _addition_target(named.get(name, []), addition)
                if current is None:
                    raise ValueError(
                        f"{where}: [{name}]({addition}) adds to a section not defined before it: "
                        "Asterisk refuses the whole file"
                    )
                continue
            current = Section(name=name, template="!" in options, origin=where)
            for option in options:
                if option == "!":
                    continue
                parent = templates.get(option)
                if parent is None:
                    raise ValueError(f"{where}: [{name}] inherits from unknown template {option!r}")
                current.values.update(parent.values)
            named.setdefault(name, []).append(current)
            if current.template:
                templates[name] = current
            else:
                sections.append(current)
            continue
        if current is None:
            continue
        key, sep, value = content.partition("=")
        if not sep:
            continue
        current.values[key.strip()] = value.lstrip(">").strip()
    return sections


def endpoints(path: Path, etc_dir: Path | None = None) -> Mapping[str, PjsipEndpoint]:
    """Every ``type = endpoint`` section of a pjsip.conf with its ``rtp_timeout`` (0 when unset).

    A name can hold several sections of different types (an endpoint and its aor
    share one); only the endpoint's values count.
    """
    sections = parse_sections(path, etc_dir)
    identified = {s.values.get("endpoint", "") for s in sections if s.values.get("type") == "identify"}
    found: dict[str, PjsipEndpoint] = {}
    for section in sections:
        if section.values.get("type") != "endpoint":
            continue
        raw = section.values.get("rtp_timeout", "0")
        try:
            rtp_timeout = int(raw)
        except ValueError:
            rtp_timeout = 0
        found[section.name] = PjsipEndpoint(section.name, rtp_timeout, section.name in identified)
    return found


# --- Finding the running Asterisk's configuration ----------------------------------------

DEFAULT_ETC = Path("/etc/asterisk")
DEFAULT_AMI_PORT = 5038


def _argument(argv: list[str], flag: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(flag) and len(arg) > len(flag):
            return arg[len(flag) :]
    return None


def running_config_dirs(proc: Path = Path("/proc")) -> list[Path]:
    """The configuration directory of every running Asterisk, as this host sees it.

    Read from each process's ``-C asterisk.conf`` (default /etc/asterisk/asterisk.conf)
    and that file's ``astetcdir``, through ``/proc/PID/root`` so an Asterisk in a
    chroot or container is found too. Processes that cannot be read are skipped.
    """
    found: list[Path] = []
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text(encoding="utf-8").strip() != "asterisk":
                continue
            argv = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            root = entry / "root"
            conf_arg = _argument(argv, "-C") or str(DEFAULT_ETC / "asterisk.conf")
            conf = root / conf_arg.lstrip("/")
            etc = DEFAULT_ETC
            if conf.is_file():
                for section in parse_sections(conf, conf.parent):
                    if section.name == "directories" and "astetcdir" in section.values:
                        etc = Path(section.values["astetcdir"])
            located = root / str(etc).lstrip("/")
            # Show the admin the path they know (/etc/asterisk, or the chroot's) rather than
            # /proc/PID/root/...; a container in another mount namespace keeps the /proc path.
            resolved = located.resolve()
            if (resolved / "manager.conf").is_file():
                located = resolved
        except (OSError, ValueError):
            continue
        if located not in found:
            found.append(located)
    return found


def manager_port(etc_dir: Path) -> int | None:
    """The AMI port manager.conf in ``etc_dir`` sets (5038 when unset); None when unreadable."""
    try:
        sections = parse_sections(etc_dir / "manager.conf", etc_dir)
    except (OSError, ValueError):
        return None
    for section in sections:
        if section.name == "general":
            try:
                return int(section.values.get("port", DEFAULT_AMI_PORT))
            except ValueError:
                return None
    return DEFAULT_AMI_PORT


def locate_config_dir(ami_port: int, proc: Path = Path("/proc"), fallback: Path = DEFAULT_ETC) -> Path | None:
    """The configuration directory of the Asterisk whose AMI listens on ``ami_port``.

    Several Asterisks may run on one host (a test PBX beside the real one): the one
    whose manager.conf names the port the daemon logs in to is the one that counts.
    /etc/asterisk when no running Asterisk can be read but that directory has the port.
    """
    for etc in [*running_config_dirs(proc), fallback]:
        if manager_port(etc) == ami_port:
            return etc
    return None


def manager_user(etc_dir: Path, username: str) -> Section | None:
    """The ``[username]`` section of manager.conf (includes followed); None when absent or unreadable."""
    try:
        sections = parse_sections(etc_dir / "manager.conf", etc_dir)
    except (OSError, ValueError):
        return None
    for section in sections:
        if section.name == username:
            return section
    return None
