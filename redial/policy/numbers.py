"""May this customer number be redialled, and in which form? Pure, apart from :class:`DoNotCallList`.

Whatever :func:`check_number` allows as ``dial_number`` passes
:func:`redial.ami.actions.is_dialable`; everything else is refused with a stable reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from redial.ami.actions import is_dialable
from redial.config import NumberRules
from redial.policy.service_numbers import EMERGENCY_NUMBER, SHORT_NUMBER, service_number

WITHHELD = "withheld"
MALFORMED = "malformed"
REGION_NOT_ALLOWED = "region_not_allowed"
TYPE_NOT_ALLOWED = "type_not_allowed"
DO_NOT_CALL = "do_not_call"
ALLOWED = "allowed"
REASONS = frozenset(
    {WITHHELD, MALFORMED, EMERGENCY_NUMBER, SHORT_NUMBER, REGION_NOT_ALLOWED, TYPE_NOT_ALLOWED, DO_NOT_CALL, ALLOWED}
)

# What carriers and channel drivers put in CALLERID(num) when the caller hides it.
_WITHHELD_VALUES = frozenset(
    {"anonymous", "<unknown>", "unknown", "unavailable", "restricted", "withheld", "private", "blocked"}
)
_ANONYMOUS_URI = re.compile(r"(?:sips?:)?anonymous@[A-Za-z0-9.-]*", re.IGNORECASE)
_SEPARATORS = str.maketrans("", "", " -.()")
_DIGITS = re.compile(r"\+?[0-9]+")
_SHOWN_MAX = 40

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """The verdict on one customer number; ``reason`` is a stable code, ``detail`` a sentence."""

    allowed: bool
    reason: str
    detail: str
    e164: str = ""
    dial_number: str = ""
    number_type: str = ""
    region: str = ""


def _shown(raw: str) -> str:
    """``raw`` safe for a log line: repr escapes CR/LF, and garbage is cut short."""
    return repr(raw if len(raw) <= _SHOWN_MAX else raw[:_SHOWN_MAX] + "...")


def _why(exc: phonenumbers.NumberParseException) -> str:
    return str(exc.args[0]).rstrip(".") if exc.args else "not a phone number"


def _region_of(number: phonenumbers.PhoneNumber) -> str:
    # phonenumbers names no region for invalid numbers; the country code's main region
    # stands in, so an invalid home number is refused for its type, not its region.
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code or 0
    )
    # "001" marks non-geographic numbers (+800, +881...), "ZZ" an unknown code: no ISO region.
    return region if region and region not in ("001", "ZZ") else ""


def _dial_form(number: phonenumbers.PhoneNumber, cleaned: str, rules: NumberRules) -> str:
    if rules.dial_format == "e164":
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if rules.dial_format == "national":
        if number.country_code == phonenumbers.country_code_for_region(rules.home_region):
            formatted = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        else:
            # Numbers abroad get the home region's international prefix (011 44..., 00 44...).
            formatted = phonenumbers.format_out_of_country_calling_number(number, rules.home_region)
        digits = re.sub(r"[^0-9]", "", formatted)
        return "+" + digits if formatted.startswith("+") else digits
    return cleaned


def _parse(raw: str, rules: NumberRules) -> tuple[phonenumbers.PhoneNumber, str] | NumberCheck:
    """``raw`` parsed (with its separators removed), or the refusal saying why it is no number."""
    shown = _shown(raw)
    if any(ch < " " or ch == "\x7f" for ch in raw):
        return NumberCheck(False, MALFORMED, f"customer number {shown} holds control characters")
    cleaned = raw.translate(_SEPARATORS)
    if not cleaned or cleaned.lower() in _WITHHELD_VALUES or _ANONYMOUS_URI.fullmatch(raw.strip()):
        return NumberCheck(False, WITHHELD, f"customer number is withheld ({shown})")
    if not _DIGITS.fullmatch(cleaned):
        return NumberCheck(False, MALFORMED, f"customer number {shown} is not a phone number")
    try:
        return phonenumbers.parse(cleaned, rules.home_region), cleaned
    except phonenumbers.NumberParseException as exc:
        return NumberCheck(False, MALFORMED, f"customer number {shown} cannot be parsed: {_why(exc)}")


def e164_of(raw: str, rules: NumberRules) -> str:
    """``raw`` in E.164, or "" if it is no phone number: all a call that is never redialled needs.

    About a tenth of the cost of :func:`check_number`, whose validity and type
    lookups dominate, and a call center ends most calls normally.
    """
    parsed = _parse(raw, rules)
    if isinstance(parsed, NumberCheck):
        return ""
    return phonenumbers.format_number(parsed[0], PhoneNumberFormat.E164)


# A number the numbering data cannot confirm (a local number without its area code, or
# one of unknown type) needs this many national digits. Emergency and service codes are
# 2 to 4 digits nearly everywhere (112, 110, 911, 999, 000, 15, N11, 4-digit 1xxx codes),
# while local numbers are 5 digits or more nearly everywhere (US 7, IN 6 or 7, most of GB
# 5 or 6; only a few GB exchanges have 4, and carriers send caller IDs with the area code).
# So the rule holds where the short-number data is incomplete; longer service codes
# (116117, 11833) are refused from that data. Not configurable: no safe reason to lower it.
MIN_UNVERIFIED_DIGITS = 5

# Shorter E.164 forms are extensions, DIDs or service codes, never a customer to match.
_MIN_KEY_LENGTH = 8


def customer_key(raw: str, rules: NumberRules, dial_prefixes: tuple[str, ...] = ()) -> str:
    """The one form in which two numbers of the same customer compare equal ("" for none).

    National form, ``+CC`` and ``00CC`` give the same E.164 number. ``dial_prefixes``
    (the digit an agent dials for an outside line, say ``9``) are taken off first; pass
    them only for numbers someone dialled, never for a caller ID. The tracker, the engine
    and the FastAGI lookup all decide "same customer" by this key.
    """
    cleaned = raw.strip()
    for prefix in dial_prefixes:
        if prefix and cleaned.startswith(prefix) and len(cleaned) > len(prefix) + 6:
            cleaned = cleaned[len(prefix) :]
            break
    if cleaned.startswith("00"):
        # The international prefix of most regions, and no valid national start where
        # it is not (011 in the US is read by phonenumbers itself).
        cleaned = "+" + cleaned[2:]
    key = e164_of(cleaned, rules)
    return key if len(key) >= _MIN_KEY_LENGTH else ""


def check_number(raw: str, rules: NumberRules, do_not_call: frozenset[str]) -> NumberCheck:
    """Whether ``raw`` (a caller ID as received) may be redialled under ``rules``, and as what."""
    parsed = _parse(raw, rules)
    cleaned = raw.translate(_SEPARATORS)
    if not isinstance(parsed, NumberCheck) or (parsed.reason == MALFORMED and _DIGITS.fullmatch(cleaned)):
        # Before any rule an admin can loosen: no setting makes these dialable. Digits
        # phonenumbers cannot parse at home (0112 in the US) may still reach one abroad.
        service = service_number(cleaned, rules.home_region, rules.dial_prefixes)
        if service is not None:
            what = "an emergency number" if service.kind == EMERGENCY_NUMBER else "a short service number"
            detail = f"customer number {_shown(raw)} is {what} ({service.digits} in {service.region}); never redialled"
            if isinstance(parsed, NumberCheck):
                return NumberCheck(False, service.kind, detail)
            number = parsed[0]
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            return NumberCheck(False, service.kind, detail, e164=e164, region=_region_of(number))
    if isinstance(parsed, NumberCheck):
        return parsed
    number, cleaned = parsed
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    region = _region_of(number)
    valid = phonenumbers.is_valid_number(number)
    number_type = _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown") if valid else "unknown"
    found = {"e164": e164, "number_type": number_type, "region": region}

    if region != rules.home_region and rules.allowed_regions is not None and region not in rules.allowed_regions:
        where = f"region {region}" if region else "no region"
        detail = f"customer number {e164} belongs to {where}, which is not allowed"
        return NumberCheck(False, REGION_NOT_ALLOWED, detail, **found)
    unverified = (
        not valid
        and not cleaned.startswith("+")
        and region == rules.home_region
        and phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY
    )
    national = phonenumbers.national_significant_number(number)
    if not valid and len(national) < MIN_UNVERIFIED_DIGITS:
        # Unverified, or of unknown type: whatever the rules allow, too short to be anyone's.
        detail = (
            f"customer number {_shown(raw)} has {len(national)} digits, too few for a subscriber's number"
            f" (at least {MIN_UNVERIFIED_DIGITS} when the numbering data cannot confirm it); never redialled"
        )
        return NumberCheck(False, SHORT_NUMBER, detail, **found)
    if unverified and rules.unverified_numbers == "allow":
        # A local number without its area code: the numbering data cannot confirm it,
        # and it cannot be premium-rate (those need their full prefix).
        number_type = "unverified"
        found["number_type"] = number_type
    elif number_type not in rules.allowed_types:
        what = f"of type {number_type}" if valid else "not a valid number (type unknown)"
        return NumberCheck(False, TYPE_NOT_ALLOWED, f"customer number {e164} is {what}, which is not allowed", **found)
    if e164 in do_not_call:
        return NumberCheck(False, DO_NOT_CALL, f"customer number {e164} is on the do-not-call list", **found)
    dial_number = _dial_form(number, cleaned, rules)
    if not is_dialable(dial_number):
        detail = f"customer number {e164} gives {_shown(dial_number)} as {rules.dial_format}, which cannot be dialled"
        return NumberCheck(False, MALFORMED, detail, **found)
    return NumberCheck(
        True, ALLOWED, f"customer number {e164} may be dialled as {dial_number}", dial_number=dial_number, **found
    )


class DoNotCallList:
    """The do-not-call file as E.164 numbers, re-read whenever the file changes."""

    def __init__(self, path: Path | None, home_region: str) -> None:
        self.path = path
        self.home_region = home_region
        # What went wrong at the last look at the file (bad lines, unreadable file); [] when fine.
        self.problems: list[str] = []
        self._numbers: frozenset[str] = frozenset()
        self._seen: tuple[int, int, int] | None = None

    def numbers(self) -> frozenset[str]:
        """The numbers not to call; never raises, keeps the last good list when the file is unreadable."""
        if self.path is None:
            return self._numbers
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if key == self._seen:
                return self._numbers
            data = self.path.read_bytes()
        except OSError as exc:
            # Forget the stat: the file is re-read as soon as it can be, even if it comes back unchanged.
            self._seen = None
            kept = f"; keeping the last {len(self._numbers)} number(s)" if self._numbers else ""
            self.problems = [f"do-not-call file {self.path}: cannot read: {exc.strerror or exc}{kept}"]
            return self._numbers
        self._numbers, self.problems = self._parse(data.decode("utf-8", errors="replace"))
        self._seen = key
        return self._numbers

    def _parse(self, text: str) -> tuple[frozenset[str], list[str]]:
        numbers: set[str] = set()
        problems: list[str] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            where = f"do-not-call file {self.path} line {lineno}"
            try:
                number = phonenumbers.parse(entry, self.home_region)
            except phonenumbers.NumberParseException as exc:
                problems.append(f"{where}: {_shown(entry)} skipped: {_why(exc)}")
                continue
            if not phonenumbers.is_possible_number(number):
                problems.append(f"{where}: {_shown(entry)} skipped: not a possible phone number")
                continue
            numbers.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
        return frozenset(numbers), problems


__all__ = ["REASONS", "DoNotCallList", "NumberCheck", "check_number"]
