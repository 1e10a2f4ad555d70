"""Tests for redial.policy.numbers."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redial.ami.actions import is_dialable
from redial.config import NUMBER_TYPES, NumberRules
from redial.policy.numbers import REASONS, DoNotCallList, NumberCheck, check_number, customer_key, e164_of
from tests.test_service_numbers import CODES, Code, written

US = NumberRules(home_region="US")
GB = NumberRules(home_region="GB")
NO_DNC: frozenset[str] = frozenset()


def _check(raw: str, rules: NumberRules = US, dnc: frozenset[str] = NO_DNC) -> NumberCheck:
    return check_number(raw, rules, dnc)


def _refused(check: NumberCheck, reason: str) -> None:
    assert (check.allowed, check.reason) == (False, reason), check
    assert check.dial_number == ""
    assert check.detail


class TestSyntax:
    """Withheld and garbage caller IDs are refused before any parsing."""

    @pytest.mark.parametrize(
        "raw",
        [
            *("", "   ", "()", "-", "anonymous", "Anonymous", "ANONYMOUS", "<unknown>", "unknown", "unavailable"),
            *("Restricted", "withheld", "Private", "sip:anonymous@anonymous.invalid"),
        ],
    )
    def test_withheld(self, raw: str) -> None:
        check = _check(raw)
        _refused(check, "withheld")
        assert (check.e164, check.number_type, check.region) == ("", "", "")

    @pytest.mark.parametrize(
        "raw",
        [
            "123&PJSIP/999@trunk",
            "2025550123\r\nAction: Originate",
            "\r\nAction: Originate\r\nChannel: PJSIP/999",
            "2025550123\n",
            "2025550123\x00",
            "202555O123",
            "++12025550123",
            "1+2025550123",
            "2025550123,1",
            "+",
            "\uff12\uff10\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13",  # full-width digits
            "\u0662\u0660\u0662\u0665\u0665\u0665\u0660\u0661\u0662\u0663",  # Arabic-Indic digits
            "anonymous\r\n",
            "2025550123;ext=1",
        ],
    )
    def test_malformed(self, raw: str) -> None:
        check = _check(raw, NumberRules(home_region="US", allowed_regions=None, allowed_types=NUMBER_TYPES))
        _refused(check, "malformed")
        assert check.e164 == ""

    def test_detail_escapes_line_breaks(self) -> None:
        detail = _check("1\r\nAction: Originate").detail
        assert "\r" not in detail and "\n" not in detail

    def test_long_garbage_is_cut_short_in_detail(self) -> None:
        check = _check("x" * 10_000)
        _refused(check, "malformed")
        assert len(check.detail) < 200

    def test_unparseable_digits(self) -> None:
        _refused(_check("+" + "9" * 30), "malformed")
        _refused(_check("0" * 300), "malformed")

    def test_separators_removed(self) -> None:
        check = _check("(202) 555-0123")
        assert check.allowed and check.dial_number == "2025550123"
        assert _check("202.555.0123").dial_number == "2025550123"


class TestRegion:
    """Only the home region, the allowed regions, or any region with None."""

    def test_home_number_allowed(self) -> None:
        check = _check("2025550123")
        assert (check.allowed, check.reason) == (True, "allowed")
        assert (check.e164, check.number_type, check.region) == ("+12025550123", "fixed_line_or_mobile", "US")

    def test_foreign_number_refused(self) -> None:
        check = _check("+442079460000")
        _refused(check, "region_not_allowed")
        assert (check.e164, check.number_type, check.region) == ("+442079460000", "fixed_line", "GB")

    def test_foreign_region_allowed_by_list(self) -> None:
        check = _check("+442079460000", NumberRules(home_region="US", allowed_regions=frozenset({"GB"})))
        assert check.allowed and check.region == "GB"

    def test_any_region_allowed_by_none(self) -> None:
        assert _check("+442079460000", NumberRules(home_region="US", allowed_regions=None)).allowed

    def test_international_prefix_keeps_its_country(self) -> None:
        check = _check("011 44 20 7946 0000")
        _refused(check, "region_not_allowed")
        assert check.e164 == "+442079460000"
        assert _check("00442079460000", GB).allowed

    def test_other_nanp_region_is_not_home(self) -> None:
        check = _check("+14165550123")
        _refused(check, "region_not_allowed")
        assert check.region == "CA"

    def test_non_geographic_number_has_no_region(self) -> None:
        check = _check("+80012345678")
        _refused(check, "region_not_allowed")
        assert check.region == ""
        assert _check("+80012345678", NumberRules(allowed_regions=None)).allowed

    def test_region_checked_before_type(self) -> None:
        assert _check("+449098765432").reason == "region_not_allowed"


class TestType:
    """Types outside allowed_types, premium rate and invalid numbers by default, are refused."""

    def test_us_premium_rate(self) -> None:
        check = _check("+19005550123")
        _refused(check, "type_not_allowed")
        assert (check.number_type, check.region) == ("premium_rate", "US")

    def test_uk_premium_rate(self) -> None:
        check = _check("09098765432", GB)
        _refused(check, "type_not_allowed")
        assert (check.number_type, check.e164) == ("premium_rate", "+449098765432")

    def test_uk_premium_allowed_when_configured(self) -> None:
        rules = NumberRules(home_region="GB", allowed_types=frozenset({"premium_rate"}))
        assert _check("09098765432", rules).allowed

    @pytest.mark.parametrize("raw", ["+15551234567", "2021234567"])
    def test_invalid_number_is_unknown(self, raw: str) -> None:
        check = _check(raw)
        _refused(check, "type_not_allowed")
        assert (check.number_type, check.region) == ("unknown", "US")
        assert check.e164.startswith("+1")

    def test_unknown_allowed_when_configured(self) -> None:
        check = _check("+15551234567", NumberRules(allowed_types=frozenset({"unknown"})))
        assert check.allowed and check.dial_number == "+15551234567"

    def test_toll_free_allowed_by_default(self) -> None:
        check = _check("8005550123")
        assert check.allowed and check.number_type == "toll_free"

    def test_type_names_are_config_names(self) -> None:
        samples = ["2025550123", "+19005550123", "+442079460000", "+447400123456", "+15551234567", "8005550123"]
        rules = NumberRules(allowed_regions=None, allowed_types=NUMBER_TYPES)
        assert {_check(raw, rules).number_type for raw in samples} <= NUMBER_TYPES


class TestDoNotCall:
    """A number on the list is refused whatever form either side uses."""

    def test_listed_number_refused(self) -> None:
        check = _check("(202) 555-0123", dnc=frozenset({"+12025550123"}))
        _refused(check, "do_not_call")
        assert check.e164 == "+12025550123"

    def test_other_number_allowed(self) -> None:
        assert _check("2025550124", dnc=frozenset({"+12025550123"})).allowed

    def test_match_across_formats(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("(202) 555-0123\n")
        dnc = DoNotCallList(path, "US").numbers()
        for raw in ("+12025550123", "2025550123", "1-202-555-0123", "011 1 202 555 0123"):
            _refused(_check(raw, dnc=dnc), "do_not_call")

    def test_earlier_rules_win(self) -> None:
        dnc = frozenset({"+19005550123", "+442079460000"})
        assert _check("+19005550123", dnc=dnc).reason == "type_not_allowed"
        assert _check("+442079460000", dnc=dnc).reason == "region_not_allowed"


class TestDialFormat:
    """REDIAL_NUMBER as received, as E.164, or national for the home region."""

    @pytest.mark.parametrize(
        ("raw", "home", "dial_format", "expected"),
        [
            ("+1 (202) 555-0123", "US", "as_received", "+12025550123"),
            ("1-202-555-0123", "US", "as_received", "12025550123"),
            ("202 555 0123", "US", "e164", "+12025550123"),
            ("+12025550123", "US", "national", "2025550123"),
            ("020 7946 0000", "GB", "as_received", "02079460000"),
            ("020 7946 0000", "GB", "e164", "+442079460000"),
            ("+442079460000", "GB", "national", "02079460000"),
            ("0044 20 7946 0000", "GB", "national", "02079460000"),
            # Abroad, national means the home region's international prefix.
            ("+442079460000", "US", "national", "011442079460000"),
            ("+12025550123", "GB", "national", "0012025550123"),
        ],
    )
    def test_formats(self, raw: str, home: str, dial_format: str, expected: str) -> None:
        rules = NumberRules(home_region=home, allowed_regions=None, dial_format=dial_format)
        check = _check(raw, rules)
        assert check.allowed, check
        assert check.dial_number == expected
        assert is_dialable(check.dial_number)

    def test_undialable_result_refused(self) -> None:
        # "12" parses (as +112, type unknown) but two digits are below the AMI whitelist's
        # minimum; the length rule for unconfirmed numbers refuses it before the dial form.
        check = _check("12", NumberRules(allowed_types=frozenset({"unknown"})))
        _refused(check, "short_number")
        assert check.e164 == "+112"


class TestDoNotCallList:
    """Reading the do-not-call file: re-read on change, bad lines and missing files reported."""

    def test_no_path_is_empty(self) -> None:
        dnc = DoNotCallList(None, "US")
        assert dnc.numbers() == frozenset() and dnc.problems == []

    def test_comments_blanks_and_formats(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("# customers who asked\n\n(202) 555-0123\n  +44 20 7946 0000  # GB office\n2025550124\n")
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == {"+12025550123", "+442079460000", "+12025550124"}
        assert dnc.problems == []

    def test_reload_after_change(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("2025550123\n")
        os.utime(path, (1_700_000_000, 1_700_000_000))
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == {"+12025550123"}
        path.write_text("2025550199\n")
        os.utime(path, (1_700_000_100, 1_700_000_100))
        assert dnc.numbers() == {"+12025550199"}

    def test_unchanged_file_not_reread(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("2025550123\n")
        dnc = DoNotCallList(path, "US")
        first = dnc.numbers()
        assert dnc.numbers() is first

    def test_bad_lines_reported_and_skipped(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("2025550123\nnot a number\n# fine\n12\n2025550124\n")
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == {"+12025550123", "+12025550124"}
        assert len(dnc.problems) == 2
        assert str(path) in dnc.problems[0] and "line 2" in dnc.problems[0]
        assert "line 4" in dnc.problems[1]

    def test_bad_bytes_are_a_bad_line(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_bytes(b"2025550123\n\xff\xfe\n")
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == {"+12025550123"}
        assert len(dnc.problems) == 1 and "line 2" in dnc.problems[0]

    def test_problems_cleared_when_fixed(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("junk\n")
        dnc = DoNotCallList(path, "US")
        dnc.numbers()
        assert dnc.problems
        path.write_text("2025550123\n")
        os.utime(path, (1_700_000_000, 1_700_000_000))
        assert dnc.numbers() == {"+12025550123"} and dnc.problems == []

    def test_missing_at_start_is_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.txt"
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == frozenset()
        assert len(dnc.problems) == 1 and str(path) in dnc.problems[0]
        assert "No such file" in dnc.problems[0]

    def test_missing_file_keeps_previous_list(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("2025550123\n")
        dnc = DoNotCallList(path, "US")
        assert dnc.numbers() == {"+12025550123"}
        path.unlink()
        assert dnc.numbers() == {"+12025550123"}
        assert len(dnc.problems) == 1 and str(path) in dnc.problems[0] and "No such file" in dnc.problems[0]
        # Back with the same content: read again, problem gone.
        path.write_text("2025550123\n")
        assert dnc.numbers() == {"+12025550123"} and dnc.problems == []

    def test_unreadable_path_keeps_previous_list(self, tmp_path: Path) -> None:
        path = tmp_path / "dnc.txt"
        path.write_text("2025550123\n")
        dnc = DoNotCallList(path, "US")
        dnc.numbers()
        path.unlink()
        path.mkdir()  # a directory where the file was: stat works, reading fails
        assert dnc.numbers() == {"+12025550123"}
        assert len(dnc.problems) == 1 and str(path) in dnc.problems[0]


RULES = st.builds(
    NumberRules,
    home_region=st.sampled_from(["US", "GB", "DE", "FR", "IN", "BR", "RU", "AU", "XX"]),
    allowed_regions=st.none() | st.frozensets(st.sampled_from(["GB", "CA", "DE", "US"])),
    allowed_types=st.frozensets(st.sampled_from(sorted(NUMBER_TYPES))),
    dial_format=st.sampled_from(["as_received", "e164", "national"]),
)
NUMBERISH = st.text(alphabet="0123456789+-.() ", max_size=30) | st.from_regex(r"\+?[0-9]{1,24}", fullmatch=True)


class TestProperties:
    """Whatever comes in, nothing raises and only whitelisted numbers come out."""

    @settings(max_examples=500, deadline=None)
    @given(raw=st.text() | NUMBERISH, rules=RULES)
    def test_never_raises_and_dial_number_is_safe(self, raw: str, rules: NumberRules) -> None:
        check = check_number(raw, rules, NO_DNC)
        assert check.reason in REASONS
        assert check.allowed == (check.reason == "allowed")
        if check.allowed:
            assert is_dialable(check.dial_number)
            assert set(check.dial_number) <= set("+0123456789")
        else:
            assert check.dial_number == ""

    @settings(max_examples=500, deadline=None)
    @given(raw=st.text() | NUMBERISH, rules=RULES)
    def test_e164_of_agrees_with_the_full_check(self, raw: str, rules: NumberRules) -> None:
        """What a normal end stores is what the full check would have stored."""
        assert e164_of(raw, rules) == check_number(raw, rules, NO_DNC).e164


class TestUnverified:
    """Local numbers without an area code: possible, not verifiable."""

    def test_local_number_allowed_by_default(self) -> None:
        check = _check("5551234")
        assert check.allowed and check.number_type == "unverified" and check.dial_number == "5551234"

    def test_local_number_blocked_when_configured(self) -> None:
        _refused(_check("5551234", NumberRules(unverified_numbers="block")), "type_not_allowed")

    @pytest.mark.parametrize("raw", ["+15551234", "2021234567"])
    def test_international_or_full_length_must_be_valid(self, raw: str) -> None:
        _refused(_check(raw), "type_not_allowed")


# The loosest rules an admin can write: any region, any type, unverified numbers dialled.
ANYTHING = NumberRules(allowed_regions=None, allowed_types=NUMBER_TYPES, unverified_numbers="allow")


class TestServiceNumbers:
    """Emergency numbers and short codes are never dialled, whatever the rules allow."""

    @pytest.mark.parametrize(
        ("raw", "home"),
        [
            ("112", "DE"),
            ("110", "DE"),
            ("112", "AT"),
            ("133", "AT"),
            ("911", "US"),
            ("999", "GB"),
            ("000", "AU"),
            ("+49 110", "US"),
            ("0049 112", "GB"),
        ],
    )
    def test_emergency_numbers_refused(self, raw: str, home: str) -> None:
        """112 and 110 in DE were read as unverified local numbers and dialled; 911, 999, 000 with type unknown."""
        rules = dataclasses.replace(ANYTHING, home_region=home)
        check = _check(raw, rules)
        _refused(check, "emergency_number")
        assert "emergency" in check.detail

    def test_emergency_behind_an_outside_line_prefix(self) -> None:
        """9112 through a route that strips the 9 is 112."""
        rules = dataclasses.replace(ANYTHING, home_region="DE", dial_prefixes=("9",))
        _refused(_check("9112", rules), "emergency_number")

    @pytest.mark.parametrize(("raw", "home"), [("116117", "DE"), ("11833", "DE"), ("611", "US")])
    def test_short_codes_refused(self, raw: str, home: str) -> None:
        """Service, directory and carrier codes are short numbers."""
        _refused(_check(raw, dataclasses.replace(ANYTHING, home_region=home)), "short_number")

    @pytest.mark.parametrize(("raw", "home"), [("4567", "GB"), ("1234", "GB"), ("4567", "AT")])
    def test_unverified_number_needs_five_digits(self, raw: str, home: str) -> None:
        """A 'local number' of 4 digits or fewer is no subscriber's, listed as a short code or not."""
        check = _check(raw, dataclasses.replace(ANYTHING, home_region=home))
        _refused(check, "short_number")
        assert "too few" in check.detail
        # GB's 5-digit local numbers without their area code are still dialled when allowed.
        assert _check("45678", GB).number_type == "unverified"

    @settings(max_examples=1000, deadline=None)
    @given(case=written(CODES))
    def test_every_short_number_refused_in_any_form(self, case: tuple[str, str, tuple[str, ...], Code]) -> None:
        """13 regions' emergency numbers and short codes from the metadata, in every form, under the loosest rules."""
        raw, home, prefixes, code = case
        check = _check(raw, dataclasses.replace(ANYTHING, home_region=home, dial_prefixes=prefixes))
        assert not check.allowed and check.reason in ("emergency_number", "short_number"), (check, code)


class TestCustomerKey:
    """One definition of "the same customer", whatever form the number arrives in."""

    def test_national_and_international_forms_are_one_customer(self) -> None:
        """+12025550143, 2025550143, 12025550143 and 0012025550143 name one US customer."""
        keys = {customer_key(n, US) for n in ("+12025550143", "2025550143", "12025550143", "0012025550143")}
        assert keys == {"+12025550143"}

    def test_german_national_and_00_forms(self) -> None:
        """030 1234567, +49 30 1234567 and 0049 30 1234567 are one German customer."""
        de = NumberRules(home_region="DE")
        assert {customer_key(n, de) for n in ("0301234567", "+49301234567", "0049301234567")} == {"+49301234567"}

    def test_different_numbers_differ(self) -> None:
        """Numbers that differ in one digit are different customers."""
        assert customer_key("2025550143", US) != customer_key("2025550144", US)

    def test_no_key_for_short_or_withheld_numbers(self) -> None:
        """Extensions, DIDs such as 100, and withheld numbers match nobody."""
        for raw in ("", "100", "1001", "anonymous", "<unknown>", "abc"):
            assert customer_key(raw, US) == ""

    def test_dial_prefix_only_when_given(self) -> None:
        """An outside-line prefix is taken off a dialled number, never off a caller ID."""
        assert customer_key("912025550143", US, ("9",)) == "+12025550143"
        assert customer_key("912025550143", US) != "+12025550143"
