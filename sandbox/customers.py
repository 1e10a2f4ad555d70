"""The sandbox's customers calling in, each a SIPp UAC (sipp.py): one call, or many at a rate for load.

A customer's call dials a DID and ends the way a test asks (RTP stops, a BYE with a Q.850 cause, a
plain hang-up, or waiting for Asterisk's BYE); after the answer it can press keys (RFC 2833, see
dtmf.py). CustomerCalls places many such calls from one SIPp at a steady rate, for load.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from typing import Literal

from .asterisk_conf import DEFAULT_SIP_PORT, LOCALHOST
from .dtmf import DtmfSteps, dtmf_xml, steps_seconds
from .sipp import AUDIO_FILE, SippError, SippOptions, SippProcess, media_port_for, udp_port_free

CallMode = Literal["rtp_drop", "bye_q850", "hangup", "wait_for_bye"]
# Customers' UAC ports are taken from this range, round robin, skipping ports in use.
CUSTOMER_CALL_PORTS = range(15070, 15100)
# Digits with one optional leading +, or `anonymous`: a withheld caller ID (RFC 3323: the From
# user is `anonymous`).
CUSTOMER_NUMBER = re.compile(r"\+?[0-9]{1,20}|anonymous")


def caller_values(
    caller: str,
    mode: CallMode,
    *,
    talk_time: float,
    wait_time: float,
    cause: int,
    caller_name: str,
    private: bool,
    dtmf: DtmfSteps = (),
) -> dict[str, str]:
    """customer_call.xml's placeholders for a call from `caller` that ends per `mode` (see
    customer_call()) after pressing the `dtmf` keys; `wait_time` bounds the wait for the far
    end's BYE after the answer (the keys' time included)."""
    talk_ms = max(1, round(talk_time * 1000))
    wait_ms = max(1, round((wait_time - steps_seconds(dtmf)) * 1000))
    return {
        "CALLER": caller,
        "CALLER_NAME": caller_name,
        "MEDIA": f'<exec rtp_stream="{AUDIO_FILE},-1,0"/>' if mode != "rtp_drop" else "",
        "TALK": {
            "rtp_drop": f'timeout="{wait_ms}" ontimeout="giveup"',
            "wait_for_bye": f'timeout="{wait_ms}" ontimeout="giveup"',
            "hangup": f'timeout="{talk_ms}" ontimeout="hangup"',
            "bye_q850": f'timeout="{talk_ms}" ontimeout="hangup"',
        }[mode],
        "BYE_HEADERS": f"      Reason: Q.850;cause={cause}\n" if mode == "bye_q850" else "",
        # A restricted presentation: the number only in P-Asserted-Identity, with Privacy: id.
        "INVITE_HEADERS": (
            f"      P-Asserted-Identity: <sip:{caller}@{LOCALHOST}>\n      Privacy: id\n" if private else ""
        ),
        "DTMF": dtmf_xml(dtmf, contact_user=caller, origin="customer"),
    }


class CustomerCall(SippProcess):
    """One customer calling in (SIPp UAC, a single call). See customer_call()."""

    def __init__(
        self,
        number: str,
        mode: CallMode,
        *,
        did: str,
        sip_host: str,
        sip_port: int,
        talk_time: float,
        cause: int,
        max_time: float,
        caller_name: str,
        local_port: int | None,
        media_port: int | None,
        private: bool = False,
        dtmf: DtmfSteps = (),
    ) -> None:
        if not CUSTOMER_NUMBER.fullmatch(number):
            raise ValueError(f"customer number must be digits or 'anonymous': {number!r}")
        # After the answer: how long until we hang up, or until we give up waiting for a BYE.
        values = caller_values(
            number,
            mode,
            talk_time=talk_time,
            wait_time=max_time - 2,
            cause=cause,
            caller_name=caller_name,
            private=private,
            dtmf=dtmf,
        )
        port = local_port if local_port is not None else _next_customer_port()
        self.mode = mode
        self.number = number
        super().__init__(
            f"customer-{number}-{mode}",
            "customer_call.xml",
            values,
            sip_port=port,
            media_port=media_port or media_port_for(port),
            service=did,
            max_calls=1,
            max_time=max_time,
            remote=f"{sip_host}:{sip_port}",
        )

    @property
    def call_id(self) -> str | None:
        """SIP Call-ID of the call: SIPp numbers them `<call number>-<pid>@<local ip>`."""
        return None if self._proc is None else f"1-{self._proc.pid}@{LOCALHOST}"

    @property
    def gave_up(self) -> bool:
        """True if the far end never hung up and the call ended by our own BYE at max_time."""
        return bool(self.events_of("GAVE_UP"))


_port_lock = threading.Lock()
_port_cycle = itertools.cycle(CUSTOMER_CALL_PORTS)


def _next_customer_port() -> int:
    with _port_lock:
        for _ in CUSTOMER_CALL_PORTS:
            port = next(_port_cycle)
            if udp_port_free(port):
                return port
    raise SippError(f"no free UDP port in {CUSTOMER_CALL_PORTS} for a customer call")


def customer_call(
    number: str = "5551234",
    mode: CallMode = "hangup",
    *,
    did: str = "100",
    sip_host: str = LOCALHOST,
    sip_port: int = DEFAULT_SIP_PORT,
    talk_time: float = 3.0,
    cause: int = 41,
    max_time: float = 30.0,
    caller_name: str = "Customer",
    local_port: int | None = None,
    media_port: int | None = None,
    private: bool = False,
    dtmf: DtmfSteps = (),
) -> CustomerCall:
    """Start a customer's call from `number` to `did` at the sandbox; returns the started call.

    `number` is digits (one optional leading +), or `anonymous` for a withheld caller ID.
    Modes, after Asterisk answers:
      rtp_drop      send no RTP, so the trunk's rtp_timeout drops the call; wait for the BYE
      bye_q850      stream RTP, after talk_time s send BYE with `Reason: Q.850;cause=<cause>`
      hangup        stream RTP, after talk_time s send a plain BYE
      wait_for_bye  stream RTP until the other side hangs up
    `private` restricts the presentation (Privacy: id, the number in P-Asserted-Identity).
    `dtmf`: keys pressed after the answer, before the mode's own part (talk_time then counts
    from the last digits sent): for each (delay, digits) in order, wait delay s after the answer
    or after the previous digits were sent, then send digits (0-9 * #) as RFC 2833 events
    (payload type 96; the call's RTP keeps streaming). A re-INVITE restarts a step's wait; a
    BYE meanwhile ends the call as in wait_for_bye. Each sent step is logged as DTMF_SENT.
    A call the far end has not ended by max_time - 2 s is hung up (gave_up is then True);
    SIPp itself stops at max_time.
    """
    call = CustomerCall(
        number,
        mode,
        did=did,
        sip_host=sip_host,
        sip_port=sip_port,
        talk_time=talk_time,
        cause=cause,
        max_time=max_time,
        caller_name=caller_name,
        local_port=local_port,
        media_port=media_port,
        private=private,
        dtmf=dtmf,
    )
    call.start()
    return call


class CustomerCalls(SippProcess):
    """Many customers calling `did` from one SIPp (UAC), a number each, placed evenly over
    `duration` seconds, every call ending per `mode` (see customer_call()); for load.

    The numbers go to an injection file the scenario reads ([field0]); `wait_time` bounds a
    call's wait for the far end's BYE, `max_time` the whole SIPp.
    """

    def __init__(
        self,
        label: str,
        numbers: Sequence[str],
        mode: CallMode,
        *,
        did: str,
        duration: float,
        local_port: int,
        max_time: float,
        wait_time: float,
        talk_time: float = 3.0,
        cause: int = 41,
        caller_name: str = "Customer",
        sip_host: str = LOCALHOST,
        sip_port: int = DEFAULT_SIP_PORT,
        options: SippOptions | None = None,
    ) -> None:
        bad = [n for n in numbers if not CUSTOMER_NUMBER.fullmatch(n)]
        if bad or not numbers:
            raise ValueError(f"customer numbers must be digits or 'anonymous', at least one: {bad[:3]}")
        values = caller_values(
            "[field0]",
            mode,
            talk_time=talk_time,
            wait_time=wait_time,
            cause=cause,
            caller_name=caller_name,
            private=False,
        )
        count = str(len(numbers))
        super().__init__(
            label,
            "customer_call.xml",
            values,
            sip_port=local_port,
            media_port=media_port_for(local_port),
            service=did,
            max_calls=len(numbers),
            max_time=max_time,
            remote=f"{sip_host}:{sip_port}",
            # -r N -rp D: N calls per D ms, i.e. all of them spread evenly over the duration.
            args=("-inf", "numbers.csv", "-r", count, "-rp", str(round(duration * 1000)), "-l", count),
            options=options,
        )
        self.mode = mode
        (self.workdir / "numbers.csv").write_text(
            "SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers), encoding="ascii"
        )
