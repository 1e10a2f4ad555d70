"""Tests for redial.policy.service_numbers: emergency numbers and short codes, in every form."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata

from redial.policy.service_numbers import EMERGENCY_NUMBER, SHORT_NUMBER, service_number

REGIONS = ("US", "CA", "GB", "DE", "AT", "FR", "IT", "ES", "NL", "IN", "AU", "BR", "JP")
# Every kind of short number the metadata knows; "emergency" first.
_DESCRIPTORS = (
    "emergency",
    "short_code",
    "toll_free",
    "standard_rate",
    "premium_rate",
    "carrier_specific",
    "sms_services",
)
# Outside-line digits agents dial (policy.numbers.dial_prefixes).
DIAL_PREFIXES = ("9", "0", "8", "99")


@dataclass(frozen=True)
class Code:
    """A short number of ``region`` from phonenumbers' metadata, and which descriptor it came from."""

    digits: str
    region: str
    descriptor: str


def _pattern_codes(region: str, descriptor: str) -> st.SearchStrategy[Code]:
    short = PhoneMetadata.short_metadata_for_region(region)
    assert short is not None
    desc = getattr(short, descriptor)
    lengths = desc.possible_length or short.general_desc.possible_length
    digits = st.from_regex(f"(?:{desc.national_number_pattern})", fullmatch=True, alphabet="0123456789")
    return digits.filter(lambda d: len(d) in lengths).map(lambda d: Code(d, region, descriptor))


def _descriptors(region: str) -> list[str]:
    short = PhoneMetadata.short_metadata_for_region(region)
    assert short is not None
    return [
        name
        for name in _DESCRIPTORS
        if getattr(short, name) is not None and getattr(short, name).national_number_pattern
    ]


CODES = st.one_of(*(_pattern_codes(region, name) for region in REGIONS for name in _descriptors(region)))
EMERGENCY = st.one_of(*(_pattern_codes(region, "emergency") for region in REGIONS))


def _international_prefix(region: str) -> st.SearchStrategy[str]:
    """A prefix ``region`` dials abroad with: its preferred one, or any its pattern admits (BR's carriers)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    assert metadata is not None and metadata.international_prefix is not None
    preferred = metadata.preferred_international_prefix
    pattern = st.from_regex(f"(?:{metadata.international_prefix})", fullmatch=True, alphabet="0123456789")
    return st.just(preferred) | pattern if preferred else pattern


@st.composite
def written(draw: st.DrawFn, codes: st.SearchStrategy[Code]) -> tuple[str, str, tuple[str, ...], Code]:
    """(caller ID, home region, dial prefixes, the code it is) with the code in any form a PBX could dial."""
    code = draw(codes)
    country = str(phonenumbers.country_code_for_region(code.region))
    home = draw(st.sampled_from(REGIONS))
    form = draw(st.sampled_from(("national", "plus", "00", "idd")))
    if form == "national":
        home, raw = code.region, code.digits
    elif form == "plus":
        raw = f"+{country}{code.digits}"
    elif form == "00":
        raw = f"00{country}{code.digits}"
    else:
        raw = draw(_international_prefix(home)) + country + code.digits
    prefixes: tuple[str, ...] = ()
    if not raw.startswith("+") and draw(st.booleans()):
        prefix = draw(st.sampled_from(DIAL_PREFIXES))
        prefixes, raw = (prefix,), prefix + raw
    return raw, home, prefixes, code


class TestProperties:
    """Every emergency number and short code of 13 regions, in every form, is found."""

    @settings(max_examples=2000, deadline=None)
    @given(case=written(CODES))
    def test_every_short_number_is_found(self, case: tuple[str, str, tuple[str, ...], Code]) -> None:
        """National, +CC, 00CC, international prefix, each behind an outside-line prefix."""
        raw, home, prefixes, code = case
        found = service_number(raw, home, prefixes)
        assert found is not None, (raw, home, prefixes, code)
        assert found.kind in (EMERGENCY_NUMBER, SHORT_NUMBER)

    @settings(max_examples=1000, deadline=None)
    @given(case=written(EMERGENCY))
    def test_emergency_numbers_are_emergency(self, case: tuple[str, str, tuple[str, ...], Code]) -> None:
        """An emergency number is called one, whichever form and home region."""
        raw, home, prefixes, code = case
        found = service_number(raw, home, prefixes)
        assert found is not None and found.kind == EMERGENCY_NUMBER, (raw, home, prefixes, code)

    @pytest.mark.parametrize("region", REGIONS)
    def test_every_emergency_number_exhaustively(self, region: str) -> None:
        """Each emergency number of the region, all of them enumerated, with +CC and 00CC from anywhere."""
        short = PhoneMetadata.short_metadata_for_region(region)
        assert short is not None and short.emergency is not None
        pattern = re.compile(f"(?:{short.emergency.national_number_pattern})")
        numbers = [
            "".join(digits)
            for length in short.emergency.possible_length
            for digits in itertools.product("0123456789", repeat=length)
            if pattern.fullmatch("".join(digits))
        ]
        assert numbers
        country = phonenumbers.country_code_for_region(region)
        for number, home in itertools.product(numbers, ("US", "DE", region)):
            forms = [f"+{country}{number}", f"00{country}{number}"] + ([number] if home == region else [])
            for raw in forms:
                found = service_number(raw, home)
                assert found is not None and found.kind == EMERGENCY_NUMBER, (raw, home)

    @pytest.mark.parametrize("region", REGIONS)
    def test_every_region_has_emergency_data(self, region: str) -> None:
        """The metadata the properties draw from is there for each region."""
        assert "emergency" in _descriptors(region) and "short_code" in _descriptors(region)


class TestForms:
    """The readings that find a code, one by one."""

    @pytest.mark.parametrize(
        ("raw", "home", "prefixes", "digits", "region"),
        [
            ("112", "DE", (), "112", "DE"),
            ("133", "AT", (), "133", "AT"),
            ("+49110", "US", (), "110", "DE"),
            ("0049110", "US", (), "110", "DE"),
            ("01149110", "US", (), "110", "DE"),
            ("001149110", "AU", (), "110", "DE"),
            ("9911", "US", ("9",), "911", "US"),
            ("0112", "DE", ("0",), "112", "DE"),
            ("+1911", "GB", (), "911", "US"),
        ],
    )
    def test_emergency(self, raw: str, home: str, prefixes: tuple[str, ...], digits: str, region: str) -> None:
        """Each reading names the digits and the region that make it an emergency number."""
        found = service_number(raw, home, prefixes)
        assert found is not None and found.kind == EMERGENCY_NUMBER
        assert (found.digits, found.region) == (digits, region)

    def test_emergency_prefix_connects(self) -> None:
        """1120 in Germany reaches 112: the network connects once the number is complete."""
        found = service_number("1120", "DE")
        assert found is not None and found.kind == EMERGENCY_NUMBER

    @pytest.mark.parametrize(("raw", "home"), [("116117", "DE"), ("11833", "DE"), ("411", "US"), ("+333631", "US")])
    def test_short_codes(self, raw: str, home: str) -> None:
        """Service and directory codes are short numbers."""
        found = service_number(raw, home)
        assert found is not None and found.kind == SHORT_NUMBER

    @pytest.mark.parametrize(
        ("raw", "home"),
        [
            ("2025550123", "US"),
            ("+12025550123", "DE"),
            ("5551234", "US"),
            ("030123456", "DE"),
            ("1123456789", "IN"),  # Delhi: begins with 112, a valid full number
            ("+911123456789", "US"),
            ("0112345678", "FR"),  # Paris, national form
        ],
    )
    def test_subscribers_are_not_service_numbers(self, raw: str, home: str) -> None:
        """A customer's number, even one that begins like an emergency number."""
        assert service_number(raw, home) is None

    def test_dial_prefix_only_when_configured(self) -> None:
        """9112 is 112 where agents dial 9 for an outside line, and no service number elsewhere."""
        assert service_number("9112", "DE") is None
        found = service_number("9112", "DE", ("9",))
        assert found is not None and found.kind == EMERGENCY_NUMBER
