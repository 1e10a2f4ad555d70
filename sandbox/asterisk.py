"""A real Asterisk 22 (Debian unstable package) running in a chroot, configured for redial tests.

The root is built once with debootstrap and cached; each `Sandbox` writes its own config set into
ROOT/etc/redial-sandbox-<ami port>/ (with its own log, run, spool and db directories under
ROOT/var/tmp/), so it never touches the stock /etc/asterisk of the root and two sandboxes on
different ports do not clash. The dialplan and AMI user the daemon ships in config/ are copied in
unchanged (only the manager secret is replaced), so the tests exercise what admins install.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

REPO_DIR = Path(__file__).resolve().parents[1]
SHIPPED_EXTENSIONS = REPO_DIR / "config" / "extensions_redial.conf"
SHIPPED_MANAGER = REPO_DIR / "config" / "manager_redial.conf"

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "sid"  # the first Debian suite with Asterisk 22 (bookworm has none)

LOCALHOST = "127.0.0.1"
DEFAULT_AMI_PORT = 15038
DEFAULT_SIP_PORT = 15060
DEFAULT_RTP_PORTS = (20000, 20999)
# SIPp user agents that Asterisk calls out to (static AOR contacts); see sipp.py.
DEFAULT_AGENT_PORTS: dict[str, int] = {"agent1": 15061, "agent2": 15062, "agent3": 15063}
DEFAULT_CUSTOMER_PHONE_PORT = 15069
AGENT_NAMES: dict[str, str] = {"agent1": "Alice", "agent2": "Bob", "agent3": "Carol"}
DEFAULT_MEMBERS: tuple[tuple[str, str], ...] = (("PJSIP/agent1", "Alice"),)
DEFAULT_SALES_MEMBERS: tuple[tuple[str, str], ...] = (("PJSIP/agent2", "Bob"),)

# Only what the sandbox's calls use: loading all ~350 modules takes many seconds.
MODULES = (
    "res_sorcery_config",
    "res_sorcery_memory",
    "res_sorcery_memory_cache",
    "res_sorcery_astdb",
    "res_timing_timerfd",
    "res_pjproject",
    "res_pjsip",
    "res_pjsip_session",
    "res_pjsip_pubsub",
    "res_pjsip_sdp_rtp",
    "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_caller_id",  # From / P-Asserted-Identity from caller id and connected line
    "res_pjsip_rfc3326",  # honours `Reason: Q.850;cause=N` on BYE
    "res_pjsip_logger",  # `pjsip set logger on` when debugging a test
    "res_rtp_asterisk",
    "chan_pjsip",
    "bridge_simple",
    "bridge_native_rtp",
    "bridge_holding",
    "bridge_builtin_features",
    "pbx_config",
    "app_dial",
    "app_queue",
    "app_exec",  # ExecIf
    "func_strings",  # FILTER, REGEX
    "func_callerid",
    "func_cdr",
    "func_channel",
    "func_logic",
    "app_stack",  # Gosub/Return: [redial-returning], Dial's U() greeting
    "res_speech",  # res_agi depends on it
    "res_agi",  # the returning-caller FastAGI hook
    "app_playback",  # the agent's prompt and the customer's greeting
    "format_gsm",  # the stock prompts are GSM files
    "codec_gsm",  # GSM <-> signed linear
    "codec_ulaw",  # signed linear <-> the phones' ulaw (prompts, ringback)
)


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started or driven; the message says what is missing."""


def cache_dir() -> Path:
    """`$REDIAL_SANDBOX_CACHE`, else ~/.cache/redial."""
    env = os.environ.get("REDIAL_SANDBOX_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "redial"


def _root_is_complete(root: Path) -> bool:
    return (root / "usr" / "sbin" / "asterisk").is_file()


def _mountpoints() -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as mounts:
        # Octal escapes (\040 for a space) are left alone: our paths have none.
        return [line.split()[1] for line in mounts if len(line.split()) > 1]


def _umount_below(path: Path) -> None:
    """Unmount everything mounted at or below path, deepest first (before deleting a tree)."""
    prefix = str(path.resolve())
    for mnt in sorted((m for m in _mountpoints() if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], check=False, timeout=30)


def ensure_root(cache: Path | None = None, mirror: str = DEBIAN_MIRROR, timeout: float = 900.0) -> Path:
    """Return the cached Asterisk chroot, building it with debootstrap first if it is missing.

    The build goes into a `.tmp` sibling that is renamed only once complete, so an interrupted
    build is never mistaken for a finished one (it is thrown away by the next call).
    """
    root = (cache or cache_dir()) / "asterisk-root"
    if _root_is_complete(root):
        return root
    if root.exists():
        raise SandboxError(f"{root} exists but has no usr/sbin/asterisk: remove it to rebuild")
    if os.geteuid() != 0:
        raise SandboxError("building the Asterisk root needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise SandboxError(
            f"no Asterisk root at {root} and debootstrap is not installed "
            "(apt-get install debootstrap), needed to build it"
        )
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        _umount_below(tmp)  # a killed build may have left proc/sys mounted inside
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", "--variant=minbase", "--include=asterisk", DEBIAN_SUITE, str(tmp), mirror]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        _umount_below(tmp)
        raise SandboxError(f"{' '.join(cmd)} took more than {timeout:.0f} s") from exc
    _umount_below(tmp)
    if proc.returncode != 0 or not _root_is_complete(tmp):
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise SandboxError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    os.rename(tmp, root)  # atomic on one file system: the root is either absent or complete
    return root


def _replace_secret(manager_text: str, section: str, secret: str) -> str:
    """Replace `secret = ...` inside [section] of a manager.conf fragment, keeping all else."""
    out: list[str] = []
    current = ""
    replaced = False
    for line in manager_text.splitlines():
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
        elif current == section and re.match(r"\s*secret\s*=", line):
            line = f"secret = {secret}"
            replaced = True
        out.append(line)
    if not replaced:
        raise SandboxError(f"no `secret =` line in section [{section}] of the shipped manager conf")
    return "\n".join(out) + "\n"


class Sandbox:
    """One Asterisk in the cached chroot, on its own ports, with the shipped redial config.

    Use as a context manager, or call start() and stop(). stop() is idempotent and start()
    cleans up after itself when it fails half-way.
    """

    ami_host = LOCALHOST
    sip_host = LOCALHOST
    ami_username = "redial"
    observer_username = "observer"

    def __init__(
        self,
        *,
        root: Path | None = None,
        ami_port: int = DEFAULT_AMI_PORT,
        sip_port: int = DEFAULT_SIP_PORT,
        rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
        rtp_timeout: int | None = 3,
        members: Sequence[tuple[str, str]] = DEFAULT_MEMBERS,
        sales_members: Sequence[tuple[str, str]] = DEFAULT_SALES_MEMBERS,
        agent_ports: dict[str, int] | None = None,
        customer_phone_port: int = DEFAULT_CUSTOMER_PHONE_PORT,
        queue_timeout: int = 15,
        extensions_conf: Path = SHIPPED_EXTENSIONS,
        manager_conf: Path = SHIPPED_MANAGER,
        start_timeout: float = 30.0,
        systemname: str | None = None,
    ) -> None:
        self._root_arg = root
        self.ami_port = ami_port
        self.sip_port = sip_port
        self.rtp_ports = rtp_ports
        self.rtp_timeout = rtp_timeout
        self.members = tuple(members)
        self.sales_members = tuple(sales_members)
        self.agent_ports = dict(DEFAULT_AGENT_PORTS if agent_ports is None else agent_ports)
        self.customer_phone_port = customer_phone_port
        self.queue_timeout = queue_timeout
        self.extensions_conf = extensions_conf
        self.manager_conf = manager_conf
        self.start_timeout = start_timeout
        # asterisk.conf's systemname prefixes every Uniqueid and Linkedid (pbx-east-1796173056.0).
        self.systemname = systemname
        # Fresh secrets per sandbox: nothing in the tests may rely on a known password.
        self.ami_secret = "test-" + secrets.token_hex(12)
        self.observer_secret = "observer-" + secrets.token_hex(12)
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._state_cleared = False
        self.start_seconds: float | None = None  # how long the last start() took

    # ---- paths -------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self._root_arg if self._root_arg is not None else ensure_root()
        return self._root

    @property
    def name(self) -> str:
        return f"redial-sandbox-{self.ami_port}"

    @property
    def conf_dir_in_root(self) -> str:
        """The config directory as Asterisk (inside the chroot) sees it."""
        return f"/etc/{self.name}"

    @property
    def conf_dir(self) -> Path:
        return self.root / "etc" / self.name

    @property
    def asterisk_conf_in_root(self) -> str:
        return f"{self.conf_dir_in_root}/asterisk.conf"

    @property
    def state_dir_in_root(self) -> str:
        return f"/var/tmp/{self.name}"

    @property
    def state_dir(self) -> Path:
        return self.root / "var" / "tmp" / self.name

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def log_path(self) -> Path:
        """Asterisk's full log (notices, warnings, errors, verbose 4) on the host."""
        return self.log_dir / "full"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def queue_log_path(self) -> Path:
        return self.log_dir / "queue_log"

    @property
    def observer_credentials(self) -> tuple[str, str]:
        return (self.observer_username, self.observer_secret)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ---- config ------------------------------------------------------------------------
    def _config_files(self) -> dict[str, str]:
        state = self.state_dir_in_root
        members = "\n".join(f"member => {iface},0,{name}" for iface, name in self.members)
        sales = "\n".join(f"member => {iface},0,{name}" for iface, name in self.sales_members)
        manager_redial = _replace_secret(
            self.manager_conf.read_text(encoding="utf-8"), self.ami_username, self.ami_secret
        )
        agents = "\n".join(
            f"""
[{agent}]
type = endpoint
transport = transport-udp
context = from-agents
disallow = all
allow = ulaw
direct_media = no
{"" if self.rtp_timeout is None else f"rtp_timeout = {self.rtp_timeout}"}
aors = {agent}
callerid = "{AGENT_NAMES.get(agent, agent)}" <{agent}>

[{agent}]
type = aor
contact = sip:{agent}@{LOCALHOST}:{port}
max_contacts = 1
"""
            for agent, port in self.agent_ports.items()
        )
        queue_common = f"""strategy = ringall
timeout = {self.queue_timeout}
retry = 1
wrapuptime = 0
ringinuse = no
joinempty = yes
leavewhenempty = no
announce-frequency = 0
periodic-announce-frequency = 0
announce-holdtime = no
announce-position = no"""
        return {
            "asterisk.conf": f"""[directories]
astcachedir => {state}/cache
astetcdir => {self.conf_dir_in_root}
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => /var/lib/asterisk
astdbdir => {state}/db
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {state}/spool
astrundir => {state}/run
astlogdir => {state}/log
astsbindir => /usr/sbin

[options]
verbose = 4
debug = 0
documentation_language = en_US
{"" if self.systemname is None else f"systemname = {self.systemname}"}
""",
            "modules.conf": "[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in MODULES),
            "logger.conf": """[general]
dateformat = %F %T.%3q
queue_log = yes
queue_log_to_file = yes
queue_log_name = queue_log

[logfiles]
full => notice,warning,error,verbose,dtmf
""",
            "cdr.conf": "[general]\nenable = no\n",
            "cel.conf": "[general]\nenable = no\n",
            "rtp.conf": f"""[general]
rtpstart = {self.rtp_ports[0]}
rtpend = {self.rtp_ports[1]}
icesupport = no
""",
            "pjsip.conf": f"""[global]
type = global
endpoint_identifier_order = ip
user_agent = redial-sandbox

[transport-udp]
type = transport
protocol = udp
bind = {LOCALHOST}:{self.sip_port}

; The carrier. Every request from 127.0.0.1 is identified as the trunk: in the sandbox only
; customers place calls in; agents' phones only receive calls.
[trunk]
type = endpoint
transport = transport-udp
context = from-trunk
; The carrier is trusted: P-Asserted-Identity and Privacy: id are honoured.
trust_id_inbound = yes
disallow = all
allow = ulaw
direct_media = no
{"" if self.rtp_timeout is None else f"rtp_timeout = {self.rtp_timeout}"}
aors = trunk

; PJSIP/<number>@trunk reaches the customer's phone (SIPp) through this contact.
[trunk]
type = aor
contact = sip:{LOCALHOST}:{self.customer_phone_port}
max_contacts = 1

[trunk-identify]
type = identify
endpoint = trunk
match = {LOCALHOST}
{agents}

; The overflow queue's member: a phone that never runs (nothing listens on its port).
[overflow1]
type = endpoint
transport = transport-udp
context = from-agents
disallow = all
allow = ulaw
aors = overflow1

[overflow1]
type = aor
contact = sip:overflow1@{LOCALHOST}:{self.customer_phone_port - 2}
max_contacts = 1
""",
            "extensions.conf": """[general]
static = yes
writeprotect = yes

[globals]

[from-trunk]
exten => _X.,1,NoOp(inbound ${CALLERID(num)})
 same => n,Answer()
 same => n,Gosub(redial-returning,s,1)
 same => n,Queue(support,t)
; DIDs 301 and 302: FreePBX's shape. Queue members are Local channels into [from-queue],
; which (like FreePBX's) hangs up a leg that Queue() did not place (no NODEST).
exten => 301,1,Answer()
 same => n,Set(__NODEST=${EXTEN})
 same => n,Queue(fpbx,t)
exten => 302,1,Answer()
 same => n,Set(__NODEST=${EXTEN})
 same => n,Queue(fpbxopt,t)
exten => 305,1,Answer()
 same => n,Set(__NODEST=${EXTEN})
 same => n,Queue(fpbxhint,t)
; DID 306: a queue with wrapuptime = 8.
exten => 306,1,Answer()
 same => n,Queue(wrapq,t)
; DID 303: an IVR that reaches Queue() through Dial(Local/...).
exten => 303,1,Answer()
 same => n,Dial(Local/s@sandbox-ivr)
; DID 304: overflow. Nobody answers in `overflow` within 3 s; `sales` answers.
exten => 304,1,Answer()
 same => n,Queue(overflow,t,,,3)
 same => n,Queue(sales,t)

; DID 199: a carrier that delivers a hostile caller ID (tests of injection).
exten => 199,1,Set(CALLERID(num)=123&PJSIP/999@trunk)
 same => n,Answer()
 same => n,Queue(support,t)

; Current FreePBX's state interfaces are hints in [ext-local].
[ext-local]
exten => agent3,hint,PJSIP/agent3&Custom:DNDagent3

[sandbox-ivr]
exten => s,1,Answer()
 same => n,Queue(support,t)

[from-queue]
exten => _[a-z0-9].,1,GotoIf($["${NODEST}" = ""]?nodest)
 same => n,Dial(PJSIP/${EXTEN},,)
 same => n,Hangup()
 same => n(nodest),NoOp(not placed by Queue(): no NODEST)
 same => n,Hangup()

[from-agents]
; Agents' phones only receive calls in the sandbox.
exten => _X.,1,Hangup(21)

; The file shipped in config/, copied unchanged.
#include "extensions_redial.conf"
""",
            "extensions_redial.conf": self.extensions_conf.read_text(encoding="utf-8"),
            "manager.conf": f"""[general]
enabled = yes
bindaddr = {LOCALHOST}
port = {self.ami_port}
displayconnects = no

; From config/manager_redial.conf, only the secret replaced.
{manager_redial}
; The tests' own eyes on the PBX.
[{self.observer_username}]
secret = {self.observer_secret}
deny = 0.0.0.0/0.0.0.0
permit = {LOCALHOST}/255.255.255.255
read = all
write = all
""",
            "queues.conf": f"""[general]
persistentmembers = no
autofill = yes
shared_lastcall = yes

[support]
{queue_common}
{members}

[sales]
{queue_common}
{sales}

; FreePBX's member form: Local/<ext>@from-queue/n,<penalty>,<name>,<state interface>.
[fpbx]
{queue_common}
member => Local/agent3@from-queue/n,0,Carol,PJSIP/agent3

; Current FreePBX: the state interface is the extension's hint.
[fpbxhint]
{queue_common}
member => Local/agent3@from-queue/n,0,Carol,hint:agent3@ext-local

; The same without /n: the phone is swapped into the queue's bridge.
[fpbxopt]
{queue_common}
member => Local/agent3@from-queue,0,Carol,PJSIP/agent3

; A queue with a wrap-up time of its own (AMI never reports it).
[wrapq]
{queue_common.replace("wrapuptime = 0", "wrapuptime = 8")}
member => PJSIP/agent1,0,Alice

; An overflow queue nobody answers in: its member's phone never runs.
[overflow]
{queue_common}
member => PJSIP/overflow1,0,Nobody
""",
            # Present (and near empty) so Asterisk does not log errors about missing files.
            "musiconhold.conf": "[general]\n",
            "features.conf": "[general]\n",
            "udptl.conf": "[general]\n",
            "acl.conf": "",
            "ccss.conf": "[general]\n",
            "pjproject.conf": "",
            "indications.conf": "[general]\ncountry = us\n\n[us]\ndescription = United States\n"
            "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
            "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n",
        }

    def write_config(self) -> None:
        """(Re)write the config directory; start() calls this."""
        if self.conf_dir.exists():
            shutil.rmtree(self.conf_dir)
        self.conf_dir.mkdir(parents=True)
        for fname, text in self._config_files().items():
            (self.conf_dir / fname).write_text(text, encoding="utf-8")
        # The AMI secrets are in there: keep them from other local users.
        for path in self.conf_dir.iterdir():
            path.chmod(0o600)

    # ---- lifecycle ---------------------------------------------------------------------
    def _port_open(self, port: int) -> bool:
        try:
            with socket.create_connection((self.ami_host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _mount_proc(self) -> None:
        target = self.root / "proc"
        if str(target.resolve()) in _mountpoints():
            return
        subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True, timeout=30, capture_output=True)

    def _pids_in_root(self) -> list[int]:
        """Processes whose root directory is the chroot (this or another sandbox's Asterisk)."""
        root = str(self.root.resolve())
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def _root_in_use(self) -> bool:
        """Is any process (another sandbox) still running inside the chroot?"""
        return bool(self._pids_in_root())

    @property
    def _owner_file(self) -> Path:
        """Holds the pid of the process that started this sandbox's Asterisk."""
        return self.root / "var" / "tmp" / f"{self.name}.owner"

    def _stop_stale(self) -> None:
        """Stop an Asterisk of this same sandbox (same config path) left by a killed session.

        Only when the process that started it is gone (a live test run elsewhere keeps its
        Asterisk), and matched by its root and its exact `-C <our asterisk.conf>`.
        """
        try:
            owner = int(self._owner_file.read_text().strip())
        except (OSError, ValueError):
            owner = 0
        if owner == os.getpid() or (owner > 0 and Path(f"/proc/{owner}").exists()):
            return
        conf = self.asterisk_conf_in_root.encode()
        stale: list[int] = []
        for pid in self._pids_in_root():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-C" in argv and conf in argv and b"-f" in argv:
                stale.append(pid)
        for pid in stale:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while stale and time.monotonic() < deadline:
            stale = [pid for pid in stale if Path(f"/proc/{pid}").exists()]
            time.sleep(0.05)
        for pid in stale:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _umount_proc(self) -> None:
        """Unmount ROOT/proc once nothing runs in the root any more (whoever mounted it: with
        two sandboxes, the last one to stop unmounts)."""
        if self._root is None:  # never started: do not build or look up a root just to stop
            return
        target = str((self._root / "proc").resolve())
        if target in _mountpoints() and not self._root_in_use():
            subprocess.run(["umount", target], check=False, timeout=30, capture_output=True)
            if target in _mountpoints():
                subprocess.run(["umount", "-l", target], check=False, timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Asterisk's stdout and full log, for error messages."""
        parts: list[str] = []
        for path in (self.stdout_path, self.log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or "(no Asterisk log written)"

    def start(self) -> None:
        """Write the config, start Asterisk and wait until AMI accepts a login (fully booted)."""
        if self.running:
            return
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot, mount)")
        began = time.monotonic()
        self._stop_stale()
        if self._port_open(self.ami_port):
            raise SandboxError(
                f"something already listens on {self.ami_host}:{self.ami_port}: a sandbox left "
                "running by an earlier session? (ps -ef | grep 'asterisk -f')"
            )
        try:
            self.write_config()
            if not self._state_cleared:
                # A fresh sandbox starts with empty logs and astdb; restart() keeps them.
                if self.state_dir.exists():
                    shutil.rmtree(self.state_dir)
                self._state_cleared = True
            for sub in ("log", "run", "spool", "db", "cache"):
                (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
            for stale in (self.state_dir / "run").iterdir():  # a crashed run's ctl socket
                stale.unlink()
            self._mount_proc()
            with open(self.stdout_path, "ab") as out:
                self._proc = subprocess.Popen(
                    ["chroot", str(self.root), "asterisk", "-f", "-n", "-C", self.asterisk_conf_in_root],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # not killed by a ^C meant for pytest
            self._owner_file.write_text(f"{os.getpid()}\n")
            self._wait_ready(began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        last_error = "no connection yet"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SandboxError(f"Asterisk exited with {self._proc.returncode} while starting\n" + self.log_tail())
            try:
                if _ami_login_fully_booted(
                    self.ami_host, self.ami_port, self.observer_username, self.observer_secret, deadline
                ):
                    return
                last_error = "login refused"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise SandboxError(
            f"AMI on {self.ami_host}:{self.ami_port} did not accept a login within "
            f"{self.start_timeout:.0f} s ({last_error})\n" + self.log_tail()
        )

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run one Asterisk CLI command (asterisk -rx) and return its output."""
        proc = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", self.asterisk_conf_in_root, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise SandboxError(f"asterisk -rx {command!r} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc.stdout

    def stop(self) -> None:
        """Stop Asterisk (core stop now, then SIGTERM, then SIGKILL) and unmount proc."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(SandboxError, subprocess.TimeoutExpired, OSError):
                self.cli("core stop now", timeout=5)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self._proc = None
        self._umount_proc()

    def restart(self) -> None:
        """Stop and start again with the same config, ports and secrets (logs are kept)."""
        self.stop()
        self.start()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ami_login_fully_booted(host: str, port: int, username: str, secret: str, deadline: float) -> bool:
    """Log in over a plain socket; True once Asterisk says FullyBooted, False if refused.

    AMI listens before all modules are loaded: a login alone does not mean PJSIP is up.
    FullyBooted is sent to a session at login when boot is complete, or later when it completes.
    """
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(0.5)
        sock.sendall((f"Action: Login\r\nActionID: ready\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n").encode())
        buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return False
            buf += chunk
            if b"Response: Error" in buf:
                return False
            if b"Event: FullyBooted" in buf:
                return True
    return False
