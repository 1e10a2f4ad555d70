"""The sandbox Asterisk's configuration files, rendered from a Sandbox's settings.

Everything binds to 127.0.0.1. The dialplan, features and AMI user the daemon ships in config/ are
copied in unchanged (only the manager secret is replaced, and the returning-caller FastAGI address when a
sandbox moves it off the suite's port), so the tests exercise what admins install.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .asterisk import Sandbox

REPO_DIR = Path(__file__).resolve().parents[1]
SHIPPED_EXTENSIONS = REPO_DIR / "config" / "extensions_redial.conf"
SHIPPED_MANAGER = REPO_DIR / "config" / "manager_redial.conf"
SHIPPED_FEATURES = REPO_DIR / "config" / "features_redial.conf"

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
    "func_cut",  # CUT: [redial-returning] matches a device to its Local member
    "app_stack",  # Gosub/Return: [redial-returning], Dial's U() greeting
    "res_speech",  # res_agi depends on it
    "res_agi",  # the returning-caller FastAGI hook
    "app_playback",  # the agent's prompt and the customer's greeting
    "app_read",  # Read: DID 398's DTMF probe
    "app_userevent",  # UserEvent: DID 398 reports the digits it read
    "func_global",  # SHARED: [redial-promise] hands the promise to the customer's channel
    "app_channelredirect",  # ChannelRedirect: the customer hears the promise
    "format_gsm",  # the stock prompts are GSM files
    "codec_gsm",  # GSM <-> signed linear
    "codec_ulaw",  # signed linear <-> the phones' ulaw (prompts, ringback)
)


SHIPPED_FASTAGI = "agi://127.0.0.1:4573/"  # in config/extensions_redial.conf


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started or driven; the message says what is missing."""


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


def _extensions_redial(sb: Sandbox) -> str:
    """The shipped redial dialplan, its FastAGI address moved to sb.fastagi_port if set."""
    text = sb.extensions_conf.read_text(encoding="utf-8")
    if sb.fastagi_port is None:
        return text
    if SHIPPED_FASTAGI not in text:
        raise SandboxError(f"{sb.extensions_conf} does not call {SHIPPED_FASTAGI}: cannot move its FastAGI port")
    return text.replace(SHIPPED_FASTAGI, f"agi://{LOCALHOST}:{sb.fastagi_port}/")


def config_files(sb: Sandbox) -> dict[str, str]:
    """Every file of the sandbox's Asterisk config directory: name -> text."""
    state = sb.state_dir_in_root
    members = "\n".join(f"member => {iface},0,{name}" for iface, name in sb.members)
    sales = "\n".join(f"member => {iface},0,{name}" for iface, name in sb.sales_members)
    manager_redial = _replace_secret(sb.manager_conf.read_text(encoding="utf-8"), sb.ami_username, sb.ami_secret)
    agents = "\n".join(
        f"""
[{agent}]
type = endpoint
transport = transport-udp
context = from-agents
disallow = all
allow = ulaw
direct_media = no
{"" if sb.rtp_timeout is None else f"rtp_timeout = {sb.rtp_timeout}"}
aors = {agent}
callerid = "{AGENT_NAMES.get(agent, agent)}" <{agent}>

[{agent}]
type = aor
contact = sip:{agent}@{LOCALHOST}:{port}
max_contacts = 1
"""
        for agent, port in sb.agent_ports.items()
    )
    queue_common = f"""strategy = {sb.queue_strategy}
timeout = {sb.queue_timeout}
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
astetcdir => {sb.conf_dir_in_root}
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
{"" if sb.systemname is None else f"systemname = {sb.systemname}"}
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
rtpstart = {sb.rtp_ports[0]}
rtpend = {sb.rtp_ports[1]}
icesupport = no
""",
        "pjsip.conf": f"""[global]
type = global
endpoint_identifier_order = ip
user_agent = redial-sandbox

[transport-udp]
type = transport
protocol = udp
bind = {LOCALHOST}:{sb.sip_port}

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
{"" if sb.rtp_timeout is None else f"rtp_timeout = {sb.rtp_timeout}"}
aors = trunk

; PJSIP/<number>@trunk reaches the customer's phone (SIPp) through this contact.
[trunk]
type = aor
contact = sip:{LOCALHOST}:{sb.customer_phone_port}
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
contact = sip:overflow1@{LOCALHOST}:{sb.customer_phone_port - 2}
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
 ; The agent's *7 promise (config/features_redial.conf): the line admins add.
 same => n,Set(__DYNAMIC_FEATURES=redial-promise)
 same => n,Queue(support,t)
; DIDs 301 and 302: FreePBX's shape. Queue members are Local channels into [from-queue],
; which (like FreePBX's) hangs up a leg that Queue() did not place (no NODEST).
exten => 301,1,Answer()
 same => n,Set(__NODEST=${EXTEN})
 same => n,Set(__DYNAMIC_FEATURES=redial-promise)
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
; DID 307: queue callbacks. A caller in `cbq` who presses a key leaves through its context
; (redial-queue-callback, shipped in extensions_redial.conf) to be offered a callback.
exten => 307,1,Answer()
 same => n,Gosub(redial-returning,s,1)
 same => n,Queue(cbq,t)
; DID 398: a DTMF probe. Reads up to 4 digits (# ends them, 10 s timeout) and reports them.
exten => 398,1,Answer()
 same => n,Read(PRESSED,silence/1,4,,1,10)
 same => n,UserEvent(SandboxDtmf,Digits: ${PRESSED})
 same => n,Hangup()
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
        "extensions_redial.conf": _extensions_redial(sb),
        "manager.conf": f"""[general]
enabled = yes
bindaddr = {LOCALHOST}
port = {sb.ami_port}
displayconnects = no

; From config/manager_redial.conf, only the secret replaced.
{manager_redial}
; The tests' own eyes on the PBX.
[{sb.observer_username}]
secret = {sb.observer_secret}
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

; Queue callbacks: a key pressed while waiting exits into this context (the offer).
[cbq]
{queue_common}
context = redial-queue-callback
setqueuevar = yes
member => PJSIP/agent1,0,Alice

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
        "features.conf": '[general]\n\n#include "features_redial.conf"\n',
        "features_redial.conf": SHIPPED_FEATURES.read_text(encoding="utf-8"),
        "udptl.conf": "[general]\n",
        "acl.conf": "",
        "ccss.conf": "[general]\n",
        "pjproject.conf": "",
        "indications.conf": "[general]\ncountry = us\n\n[us]\ndescription = United States\n"
        "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
        "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n",
    }
