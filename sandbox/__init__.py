"""Test sandbox: a real Asterisk 22 in a Debian chroot, SIPp phones and an AMI observer.

Everything binds to 127.0.0.1 on ports that do not clash with a real PBX
(AMI 15038, SIP 15060, RTP 20000-20999; SIPp phones 15061-15099, their media 16000-16999).
Needs root (chroot, mount), `sipp` and, for the first build of the root, `debootstrap`.
"""

from .asterisk import Sandbox
from .asterisk_conf import (
    AGENT_NAMES,
    DEFAULT_AGENT_PORTS,
    DEFAULT_AMI_PORT,
    DEFAULT_CUSTOMER_PHONE_PORT,
    DEFAULT_SIP_PORT,
    LOCALHOST,
    SHIPPED_EXTENSIONS,
    SHIPPED_MANAGER,
    SandboxError,
)
from .customers import CallMode, CustomerCall, CustomerCalls, customer_call
from .dtmf import DtmfSteps
from .observer import AmiError, AmiMessage, AmiObserver, where
from .phones import AgentPhone, CustomerPhone, InviteRecord, Phone, PhoneMode
from .root import ensure_root
from .sipp import SippError, SippEvent, SippOptions, SippProcess, sipp_available

__all__ = [
    "AGENT_NAMES",
    "DEFAULT_AGENT_PORTS",
    "DEFAULT_AMI_PORT",
    "DEFAULT_CUSTOMER_PHONE_PORT",
    "DEFAULT_SIP_PORT",
    "LOCALHOST",
    "SHIPPED_EXTENSIONS",
    "SHIPPED_MANAGER",
    "AgentPhone",
    "AmiError",
    "AmiMessage",
    "AmiObserver",
    "CallMode",
    "CustomerCall",
    "CustomerCalls",
    "CustomerPhone",
    "DtmfSteps",
    "InviteRecord",
    "Phone",
    "PhoneMode",
    "Sandbox",
    "SandboxError",
    "SippError",
    "SippEvent",
    "SippOptions",
    "SippProcess",
    "customer_call",
    "ensure_root",
    "sipp_available",
    "where",
]
