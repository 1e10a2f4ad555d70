"""Emergency numbers and short service codes: never redialled, in whatever form they arrive. Pure.

A spoofed caller ID of ``112`` whose call drops must not make the PBX dial an emergency
service with an agent on the line. phonenumbers' short-number data (emergency numbers,
short codes, SMS and carrier services) is asked for the home region and for every region
the number names by its country code, with the number read every way a PBX could dial it:
as received, with an outside-line prefix taken off (``9112`` through a route that strips
the 9 is 112), and behind ``+``, ``00`` or the home region's international prefix
(``+49 110``, ``0049110``, ``011 49 110``).

A valid full-length number (one phonenumbers confirms for its region) is a subscriber's
even where an emergency number is its prefix: a Delhi number ``11 2xxx xxxx`` begins with
India's 112. Only numbers the data cannot confirm are refused for such a prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumber

EMERGENCY_NUMBER = "emergency_number"
SHORT_NUMBER = "short_number"


@dataclass(frozen=True, slots=True)
class ServiceNumber:
    """What a caller ID turned out to be: ``kind`` is EMERGENCY_NUMBER or SHORT_NUMBER."""

    kind: str
    digits: str
    region: str


def _short(digits: str, region: str) -> PhoneNumber:
    """``digits`` as a number dialled within ``region``, its leading zeros kept (``000``, ``0800``)."""
    number = PhoneNumber(country_code=phonenumbers.country_code_for_region(region), national_number=int(digits))
    zeros = len(digits) - len(digits.lstrip("0"))
    if zeros == len(digits):
        zeros -= 1  # "000" is the national number 0 after two zeros
    if zeros:
        number.italian_leading_zero = True
        number.number_of_leading_zeros = zeros
    return number


def _readings(cleaned: str, home_region: str, dial_prefixes: tuple[str, ...]) -> Iterator[tuple[str, str, bool]]:
    """(digits, a region they may be dialled in, whether they form a valid full number) for each reading."""
    variants = [cleaned]
    if not cleaned.startswith("+"):
        variants += [cleaned[len(p) :] for p in dial_prefixes if p and cleaned.startswith(p) and len(cleaned) > len(p)]
    for variant in variants:
        forms = [variant]
        if variant.startswith("00"):
            # The international prefix of most regions, even where the home region's is another.
            forms.append("+" + variant[2:])
        for index, form in enumerate(forms):
            try:
                number = phonenumbers.parse(form, home_region)
            except phonenumbers.NumberParseException:
                number = None
            valid = number is not None and phonenumbers.is_valid_number(number)
            if index == 0 and not form.startswith("+"):
                yield form, home_region, valid  # dialled as it is, where the PBX is
            if number is None:
                continue
            # Behind its country code (+49 110), or with the national or international prefix read off.
            national = phonenumbers.national_significant_number(number)
            for region in phonenumbers.region_codes_for_country_code(number.country_code or 0):
                if region != "001":  # non-geographic (+800...): no short numbers
                    yield national, region, valid


def _kind(digits: str, region: str, valid: bool) -> str | None:
    if not digits.isdigit() or not phonenumbers.country_code_for_region(region):
        return None
    if phonenumbers.is_emergency_number(digits, region):
        return EMERGENCY_NUMBER
    # Networks connect an emergency number as soon as it is complete: 1120 reaches 112.
    if not valid and phonenumbers.connects_to_emergency_number(digits, region):
        return EMERGENCY_NUMBER
    short = _short(digits, region)
    # The metadata lists some codes only by their cost or use (BR's 27300 is standard-rate
    # but no "short code"): any of them makes a short number.
    if (
        phonenumbers.is_valid_short_number_for_region(short, region)
        or phonenumbers.expected_cost_for_region(short, region) != phonenumbers.ShortNumberCost.UNKNOWN_COST
        or phonenumbers.is_carrier_specific_for_region(short, region)
        or phonenumbers.is_sms_service_for_region(short, region)
    ):
        return SHORT_NUMBER
    return None


def service_number(cleaned: str, home_region: str, dial_prefixes: tuple[str, ...] = ()) -> ServiceNumber | None:
    """The emergency number or short code ``cleaned`` (digits, one optional leading +) would reach, if any.

    An emergency number wins over a short code whichever reading finds it.
    """
    found: ServiceNumber | None = None
    for digits, region, valid in _readings(cleaned, home_region, dial_prefixes):
        kind = _kind(digits, region, valid)
        if kind == EMERGENCY_NUMBER:
            return ServiceNumber(kind, digits, region)
        if kind is not None and found is None:
            found = ServiceNumber(kind, digits, region)
    return found


__all__ = ["EMERGENCY_NUMBER", "SHORT_NUMBER", "ServiceNumber", "service_number"]
