"""RFC 2833 (RFC 4733) key presses of the sandbox's SIPp user agents: the scenario XML that sends them.

SIPp 3.6's `<exec play_dtmf="DIGITS"/>` builds the events itself and sends them from a raw socket
(root only) beside the rtp_stream that keeps the call's media alive, so both run at once. What it
sends, fixed in its source (prepare_pcap.c):
  - 20 filler packets (400 ms) of payload type 97 first, then per digit 200 ms of events and a
    200 ms gap: "12#" takes 0.4 + 3 * 0.4 = 1.6 s, plus about 0.2 s for the last end packets;
  - the events with payload type 96, whatever the SDP says: the SDP must map 96 to
    telephone-event (customer_call.xml's offer does), or Asterisk ignores them;
  - a new play_dtmf cancels one still playing: so each step here waits for the digits to be
    sent (play_seconds) before the next step's delay starts.
That works when the user agent made the SDP offer (a customer calling in): Asterisk answers with
the offer's payload types. When Asterisk made the offer (a phone it calls), it only takes
telephone-event on the number it offered itself, always 101, and SIPp cannot send that with
play_dtmf: so a phone plays a pcap of 101 events written here (write_dtmf_pcap) instead.
While the events play, the call's rtp_stream is paused: with packets of two SSRCs interleaved,
Asterisk ends an event at each switch and sees one key press as several.
Every wait is a `<recv>` with a timeout (not a `<pause>`), so a BYE or a re-INVITE from Asterisk
meanwhile is still handled; a re-INVITE restarts that wait.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

DTMF_PAYLOAD_TYPE = 96  # what SIPp 3.6's play_dtmf puts in every event packet
ASTERISK_DTMF_PAYLOAD_TYPE = 101  # what Asterisk offers telephone-event as (and only takes then)
DIGITS = re.compile(r"[0-9*#]+")
_EVENTS = {**{str(n): n for n in range(10)}, "*": 10, "#": 11}
_FILLER = 0.4  # SIPp's 20 filler packets before the first digit
_PER_DIGIT = 0.4  # 200 ms tone, 200 ms gap
_TAIL = 0.1  # the three end-of-event packets, and a margin

DtmfSteps = Sequence[tuple[float, str]]


def play_seconds(digits: str) -> float:
    """How long SIPp's play_dtmf takes to send `digits` (see the module docstring); a phone's
    pcap takes less (no lead-in), so this bounds both."""
    return _FILLER + _PER_DIGIT * len(digits) + _TAIL


def check_steps(steps: DtmfSteps) -> list[tuple[float, str]]:
    """The steps as a list; ValueError unless each is (delay >= 0, digits of 0-9 * #)."""
    out: list[tuple[float, str]] = []
    for delay, digits in steps:
        if not DIGITS.fullmatch(digits):
            raise ValueError(f"DTMF digits must be 0-9, * or #: {digits!r}")
        if delay < 0:
            raise ValueError(f"a DTMF delay cannot be negative: {delay}")
        out.append((float(delay), digits))
    return out


def steps_seconds(steps: DtmfSteps) -> float:
    """From the answer until the last digits have been sent."""
    return sum(delay + play_seconds(digits) for delay, digits in steps)


def telephone_event_sdp(payload_type: int) -> str:
    """The SDP lines mapping payload_type to telephone-event (events 0-15), indented as in the scenarios."""
    return f"a=rtpmap:{payload_type} telephone-event/8000\n      a=fmtp:{payload_type} 0-15"


def play_dtmf(step: int, digits: str) -> str:
    """The SIPp action sending `digits` itself (payload type 96)."""
    return f'<exec play_dtmf="{digits}"/>'


def pcap_name(step: int) -> str:
    return f"dtmf-{step}.pcap"


def play_pcap(step: int, digits: str) -> str:
    """The SIPp action playing step's pcap (write_dtmf_pcap) in the work directory."""
    return f'<exec play_pcap_audio="{pcap_name(step)}"/>'


def write_dtmf_pcap(path: Path, digits: str, payload_type: int = ASTERISK_DTMF_PAYLOAD_TYPE) -> None:
    """A pcap (Ethernet, IPv4, UDP) of RFC 2833 events for `digits`, as SIPp's play_pcap_audio plays
    it: per digit 200 ms of events every 20 ms (marker on the first), three end packets, 200 ms
    gap. SIPp rewrites the addresses, ports and UDP checksum when it sends them."""
    packets: list[tuple[float, bytes]] = []
    seq = 0
    for n, digit in enumerate(check_steps([(0.0, digits)])[0][1]):
        start = 0.4 * n
        timestamp = 8000 + 3200 * n  # the event's RTP timestamp (8 kHz): fixed for all its packets
        for i in range(13):
            end = i >= 10
            duration = 200 if end else i * 20 + 20
            rtp = struct.pack("!BBHII", 0x80, ((i == 0) << 7) | payload_type, seq & 0xFFFF, timestamp, 0x5EED2833 + n)
            event = struct.pack("!BBH", _EVENTS[digit], (end << 7) | 10, duration * 8)
            packets.append((start + (0.2 + 0.001 * (i - 9) if end else 0.02 * i), rtp + event))
            seq += 1
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for when, payload in packets:
        udp = struct.pack("!HHHH", 16000, 20000, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), bytes(4)) + udp
        frame = bytes(12) + b"\x08\x00" + ip
        sec, usec = int(when), round((when % 1) * 1_000_000)
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def _reinvite_answer(wait: str, contact_user: str, origin: str, payload_type: int) -> str:
    """The 200 OK (with SDP) to a re-INVITE arriving during the wait `wait`, then back to that wait."""
    return f"""
  <label id="{wait}_reinvite"/>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{contact_user}@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o={origin} 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 {payload_type}
      a=rtpmap:0 PCMU/8000
      {telephone_event_sdp(payload_type)}
      a=ptime:20
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK" next="{wait}"/>
"""


def dtmf_xml(
    steps: DtmfSteps,
    *,
    contact_user: str,
    origin: str,
    payload_type: int = DTMF_PAYLOAD_TYPE,
    play: Callable[[int, str], str] = play_dtmf,
    done: str = "talk",
) -> str:
    """Scenario XML (between the answer and the label `done`) that sends each step's digits.

    play(step, digits) is the SIPp action that sends them (play_dtmf, or play_pcap with the
    pcaps written); payload_type is the one a re-INVITE's answer maps to telephone-event.

    Step i waits its delay after the previous digits were sent (the first: after the answer),
    then logs `DTMF_SENT|<call id>|<digits>` and plays them; after the last digits have been
    sent it goes on to `done`. A BYE meanwhile goes to the scenario's label `bye` (logged as
    BYE_RECEIVED). Empty for no steps: the scenario then runs as without DTMF.
    """
    checked = check_steps(steps)
    parts: list[str] = []
    for step, (delay, digits) in enumerate(checked):
        after = f"dtmf_resume_{step}"
        then = f"dtmf_delay_{step + 1}" if step + 1 < len(checked) else done
        parts.append(_wait(f"dtmf_delay_{step}", delay, f"dtmf_press_{step}", contact_user, origin, payload_type))
        # The call's own stream pauses while the events play: Asterisk ends an event early
        # when packets of another SSRC come between its packets.
        parts.append(f"""
  <label id="dtmf_press_{step}"/>
  <nop next="dtmf_play_{step}">
    <action>
      <log message="DTMF_SENT|[call_id]|{digits}"/>
      <exec rtp_stream="pause"/>
      {play(step, digits)}
    </action>
  </nop>
""")
        parts.append(_wait(f"dtmf_play_{step}", play_seconds(digits), after, contact_user, origin, payload_type))
        parts.append(f"""
  <label id="{after}"/>
  <nop next="{then}"><action><exec rtp_stream="resume"/></action></nop>
""")
    return "".join(parts)


def _wait(label: str, seconds: float, ontimeout: str, contact_user: str, origin: str, payload_type: int) -> str:
    """Wait `seconds` at `label`, then go to `ontimeout`; a BYE meanwhile goes to `bye`, a
    re-INVITE is answered and the wait starts again."""
    return f"""
  <label id="{label}"/>
  <recv request="BYE" optional="true" next="bye" timeout="{max(1, round(seconds * 1000))}" ontimeout="{ontimeout}">
    <action><log message="BYE_RECEIVED|[call_id]"/></action>
  </recv>
  <recv request="INVITE" next="{label}_reinvite"/>
{_reinvite_answer(label, contact_user, origin, payload_type)}"""
