"""What the tracker reports about calls, and how channel names are read. Pure records."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EndedBy(enum.Enum):
    CUSTOMER = "customer"
    AGENT = "agent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class EndedCall:
    """How one call ended: the input to the policy."""

    linkedid: str
    customer_uniqueid: str
    customer_channel: str
    customer_number: str
    dialled: str
    queue: str | None
    agent_interface: str | None
    agent_member: str | None
    agent_uniqueid: str | None
    joined_at: float | None
    answered_at: float | None
    ended_at: float
    ended_by: EndedBy
    # The Q.850 cause of the channel that ended first (its Hangup event).
    cause: int | None
    # The SoftHangupRequest bit mask when a soft request ended it (1 = channel driver).
    soft_cause: int | None
    transferred: bool
    agent_complete_reason: str | None
    talk_time: int | None
    # The agent's own device leg (``PJSIP/1001-0000000b``), behind a Local member's halves.
    agent_channel: str | None = None
    # The caller restricted their presentation: treated as a withheld number.
    number_withheld: bool = False
    # Asterisk went down under the call (restart, crash); its own Hangup was never seen.
    pbx_restart: bool = False

    @property
    def trunk(self) -> str:
        """The endpoint the customer came in on (see :func:`trunk_of`)."""
        return trunk_of(self.customer_channel)


def trunk_of(channel: str) -> str:
    """The trunk a channel came in on, by its name.

    ``PJSIP/trunk-0000000a`` and ``SIP/carrier-00000001`` give the endpoint (``trunk``,
    ``carrier``), ``IAX2/carrier-1234`` the peer (``carrier``), and a DAHDI channel
    (``DAHDI/i1/5551234-1`` on an ISDN span, ``DAHDI/3-1`` analog) its span or
    channel group (``i1``, ``3``): the caller ID in the middle is no trunk.
    """
    tech, _, name = channel.partition("/")
    if tech.upper() == "DAHDI":
        first, slash, _rest = name.partition("/")
        if slash:
            return first
    endpoint, dash, _suffix = name.rpartition("-")
    return endpoint if dash else name


def device_of(channel: str) -> str:
    """The device a channel belongs to: ``PJSIP/agent1-0000002c`` gives ``PJSIP/agent1``."""
    device, dash, _suffix = channel.rpartition("-")
    return device if dash and "/" in device else channel


def local_twin(channel: str) -> str | None:
    """The other half of a Local channel: ``Local/100@q-00000001;1`` gives ``...;2``."""
    if channel.startswith("Local/") and channel.endswith(";1"):
        return channel[:-1] + "2"
    return None


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A new call began (a customer calling in, or an agent dialling out).

    Used to notice a customer who calls back on their own, or whom an agent called.
    """

    uniqueid: str
    caller_number: str
    at: float
    # The number the first channel dialled: a DID, or a customer an agent calls by hand.
    dialled: str = ""


@dataclass(frozen=True, slots=True)
class CallerWithheld:
    """The caller of this channel restricted their presentation (``Privacy: id``).

    AMI still shows the number (P-Asserted-Identity with ``trust_id_inbound``), so the
    returning-caller hook, which sees every inbound call's ``agi_callingpres``, says so.
    """

    uniqueid: str


# Q.850 presentation indicator bits of CALLERID(pres) / agi_callingpres: 0x20 restricted,
# 0x40 not available. Either means the caller did not want the number shown.
PRESENTATION_MASK = 0x60


def presentation_withheld(callingpres: str) -> bool:
    """True for an ``agi_callingpres`` value whose presentation is restricted or unavailable."""
    text = callingpres.strip()
    return text.isdigit() and len(text) < 5 and int(text) & PRESENTATION_MASK != 0


@dataclass(frozen=True, slots=True)
class RoutedToAgent:
    """The returning-caller service sent this channel straight to an agent, outside Queue().

    If that agent answers, the call is followed as a call of the dropped call's queue,
    so a second drop is seen (and redialled) like the first.
    """

    uniqueid: str
    queue: str
    agent_interface: str
    agent_member: str
