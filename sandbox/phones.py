"""The sandbox's phones, each a SIPp UAS (sipp.py): agents' phones and the customer's phone.

A phone is what Asterisk calls: it answers, rings out or is busy, and records every INVITE it
receives; an answering phone can press a key after the answer (RFC 2833, see dtmf.py). The
customers calling in (UACs) are in customers.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .asterisk_conf import DEFAULT_AGENT_PORTS, DEFAULT_CUSTOMER_PHONE_PORT, DEFAULT_SIP_PORT, LOCALHOST
from .dtmf import (
    ASTERISK_DTMF_PAYLOAD_TYPE,
    DtmfSteps,
    check_steps,
    dtmf_xml,
    pcap_name,
    play_pcap,
    steps_seconds,
    write_dtmf_pcap,
)
from .sipp import AUDIO_FILE, SippOptions, SippProcess, media_port_for

PhoneMode = Literal["answer", "silent", "noanswer", "busy"]


_NAME_ADDR = re.compile(r'^\s*(?:"(?P<q>[^"]*)"|(?P<t>[^<]*?))\s*<(?P<uri>[^>]*)>')


@dataclass(frozen=True)
class InviteRecord:
    """An INVITE a phone received: its headers as they arrived, and when."""

    call_id: str
    request_uri: str
    from_header: str
    to_header: str
    pai_header: str
    received: float  # time.monotonic()

    @staticmethod
    def _user(value: str) -> str:
        match = _NAME_ADDR.match(value)
        uri = match.group("uri") if match else value.strip().split(";")[0]
        return uri.split(":", 1)[-1].split("@", 1)[0]

    @staticmethod
    def _name(value: str) -> str:
        match = _NAME_ADDR.match(value)
        if not match:
            return ""
        return (match.group("q") if match.group("q") is not None else match.group("t")).strip()

    @property
    def from_user(self) -> str:
        """The user part of the From URI: the caller ID number the phone shows."""
        return self._user(self.from_header)

    @property
    def from_name(self) -> str:
        """The From display name: the caller ID name the phone shows."""
        return self._name(self.from_header)

    @property
    def to_user(self) -> str:
        return self._user(self.to_header)


class Phone(SippProcess):
    """A SIP phone Asterisk calls (UAS). It records every INVITE's headers and arrival time.

    mode: answer (after ring_delay s, stream RTP until BYE, or send BYE after hangup_after s),
    silent (answer like that but send no RTP: a softphone whose media died),
    noanswer (ring until CANCEL), busy (486 after ring_delay s). Handles calls one after another,
    up to max_calls, for at most max_time seconds.

    press (answer and silent modes): digits (0-9 * #) sent as RFC 2833 DTMF press_after s after
    each answer (logged as DTMF_SENT); hangup_after still counts from the answer, so it must
    leave time for the press to be sent. None: the phone never presses a key.
    presses: instead of press, several steps (delay after the answer or the previous
    digits, digits), such as an agent's feature code then the minutes: [(3, "*7"), (2, "30#")].
    """

    def __init__(
        self,
        label: str,
        port: int,
        *,
        user: str,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        media_port: int | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_host: str = LOCALHOST,
        pbx_port: int = DEFAULT_SIP_PORT,
        options: SippOptions | None = None,
        press: str | None = None,
        press_after: float = 2.0,
        presses: DtmfSteps = (),
    ) -> None:
        templates = {
            "answer": "phone_answer.xml",
            "silent": "phone_answer.xml",
            "noanswer": "phone_noanswer.xml",
            "busy": "phone_busy.xml",
        }
        if mode not in templates:
            raise ValueError(f"unknown phone mode {mode!r}")
        if press is not None and presses:
            raise ValueError("pass press or presses, not both")
        steps = check_steps(presses) if press is None else [(press_after, press)]
        if steps and mode not in ("answer", "silent"):
            raise ValueError(f"a {mode!r} phone never answers, so it cannot press {steps!r}")
        ring_ms = max(1, round(ring_delay * 1000))  # a recv timeout of 0 would mean "none"
        talk = hangup_after
        if talk is not None and steps:
            # The wait for BYE starts once the presses were sent: what is left of hangup_after.
            talk -= steps_seconds(steps)
            if talk <= 0:
                raise ValueError(f"hangup_after {hangup_after} s leaves no time to press {steps!r}")
        bye_wait = f'timeout="{max(1, round(talk * 1000))}" ontimeout="hangup"' if talk is not None else ""
        self.mode = mode
        self.user = user
        self.press = press
        self.presses = steps
        # silent: answers, then sends no RTP (its endpoint's rtp_timeout drops the call).
        media = "" if mode == "silent" else f'<exec rtp_stream="{AUDIO_FILE},-1,0"/>'
        super().__init__(
            label,
            templates[mode],
            {
                "RING_MS": str(ring_ms),
                "BYE_WAIT": bye_wait,
                "MEDIA": media,
                "DTMF": dtmf_xml(
                    steps,
                    contact_user="[service]",
                    origin="phone",
                    payload_type=ASTERISK_DTMF_PAYLOAD_TYPE,
                    play=play_pcap,
                ),
            },
            sip_port=port,
            media_port=media_port or media_port_for(port),
            service=user,
            max_calls=max_calls,
            max_time=max_time,
            # Where a BYE of its own goes ([remote_ip]:[remote_port] are empty
            # in a UAS otherwise).
            remote=f"{pbx_host}:{pbx_port}",
            options=options,
        )
        for step, (_, digits) in enumerate(steps):
            write_dtmf_pcap(self.workdir / pcap_name(step), digits)

    @property
    def invites(self) -> list[InviteRecord]:
        out: list[InviteRecord] = []
        for ev in self.events_of("INVITE"):
            ruri, frm, to, pai = ([*list(ev.fields), "", "", "", ""])[:4]
            out.append(
                InviteRecord(
                    ev.call_id, ruri.removeprefix("INVITE ").strip(), frm.strip(), to.strip(), pai.strip(), ev.received
                )
            )
        return out

    async def wait_for_invite(self, count: int = 1, timeout: float = 10.0) -> InviteRecord:
        """Wait for the count-th INVITE (counting from the phone's start) and return it."""
        await self.wait_for_event("INVITE", count, timeout)
        return self.invites[count - 1]


class AgentPhone(Phone):
    """An agent's phone: the UAS behind PJSIP/<name> (agent1, agent2, agent3).

    presses: keys the agent presses after answering each call, such as the promise's
    feature code and minutes: [(3.0, "*7"), (2.5, "30#")].
    """

    def __init__(
        self,
        name: str,
        port: int | None = None,
        *,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_port: int = DEFAULT_SIP_PORT,
        options: SippOptions | None = None,
        press: str | None = None,
        press_after: float = 2.0,
        presses: DtmfSteps = (),
    ) -> None:
        if port is None:
            if name not in DEFAULT_AGENT_PORTS:
                raise ValueError(f"no default port for agent {name!r}: pass port=")
            port = DEFAULT_AGENT_PORTS[name]
        self.name = name
        super().__init__(
            f"agent-{name}",
            port,
            user=name,
            mode=mode,
            ring_delay=ring_delay,
            hangup_after=hangup_after,
            max_calls=max_calls,
            max_time=max_time,
            pbx_port=pbx_port,
            options=options,
            press=press,
            press_after=press_after,
            presses=presses,
        )


class CustomerPhone(Phone):
    """The customer's phone, reached by a redial through the trunk's static contact.

    press: the key the customer presses press_after s after answering every call (a callback's
    "press 1 to be connected"); None answers without ever pressing (an answering machine).
    """

    def __init__(
        self,
        port: int = DEFAULT_CUSTOMER_PHONE_PORT,
        *,
        mode: PhoneMode = "answer",
        ring_delay: float = 1.0,
        hangup_after: float | None = None,
        max_calls: int = 100,
        max_time: float = 600.0,
        pbx_port: int = DEFAULT_SIP_PORT,
        options: SippOptions | None = None,
        press: str | None = None,
        press_after: float = 2.0,
    ) -> None:
        super().__init__(
            "customer-phone",
            port,
            user="customer",
            mode=mode,
            ring_delay=ring_delay,
            hangup_after=hangup_after,
            max_calls=max_calls,
            max_time=max_time,
            pbx_port=pbx_port,
            options=options,
            press=press,
            press_after=press_after,
        )
