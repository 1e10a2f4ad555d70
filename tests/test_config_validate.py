"""Tests for redial.config.validate."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import msgspec.inspect as mi
import pytest
from msgspec import Meta

from redial.config import parse_settings
from redial.config.validate import convert, in_words
from redial.exceptions import ConfigError


def _error(data: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={})
    return caught.value


class TestUnknownKeys:
    """A misspelled key is refused at any depth, named by its full path."""

    @pytest.mark.parametrize(
        ("data", "path", "meant"),
        [
            ({"loging": {}}, "loging", "logging"),
            ({"ami": {"prot": 5038}}, "ami.prot", "port"),
            ({"policy": {"retry": {"atempts": 3}}}, "policy.retry.atempts", "attempts"),
            ({"policy": {"hours": {"weekly": {"tues": []}}}}, "policy.hours.weekly.tues", "tue"),
            ({"originate": {"customer_route": {"contxt": "x"}}}, "originate.customer_route.contxt", "context"),
            (
                {"policy": {"queue_overrides": {"vip": {"numbers": {"dial_prefix": [9]}}}}},
                "policy.queue_overrides.vip.numbers.dial_prefix",
                "dial_prefixes",
            ),
        ],
    )
    def test_names_path_and_suggests(self, data: object, path: str, meant: str) -> None:
        """The error's path is the misspelled key's own, with the key it was probably meant to be."""
        error = _error(data)
        assert error.path == path
        assert error.message.startswith(f"unknown key; did you mean {meant!r}?")

    def test_lists_known_keys(self) -> None:
        """Without a close match the known keys are listed."""
        error = _error({"policy": {"retry": {"zzz": 1}}})
        assert (error.path, error.message) == ("policy.retry.zzz", "unknown key (known: attempts, retry_on, spacing)")

    def test_non_string_key(self) -> None:
        """A key YAML read as a number names the mapping it is in."""
        error = _error({"policy": {"agent": {1: 2}}})
        assert (error.path, error.message) == ("policy.agent", "key 1 is not a string")


class TestWrongType:
    """A value of the wrong type names the path, the type expected and the type given."""

    @pytest.mark.parametrize(
        ("data", "path", "message"),
        [
            ({"ami": {"port": "5038"}}, "ami.port", "expected a whole number from 1 to 65535, got str"),
            (
                {"policy": {"retry": {"attempts": 2.5}}},
                "policy.retry.attempts",
                "expected a whole number from 1 to 10, got float",
            ),
            (
                {"policy": {"retry": {"spacing": True}}},
                "policy.retry.spacing",
                "expected a number from 10 to 86400, got bool",
            ),
            ({"fastagi": {"enabled": "yes"}}, "fastagi.enabled", "expected true or false, got str"),
            ({"policy": {"numbers": []}}, "policy.numbers", "expected a mapping, got list"),
            ({"store": {"path": 7}}, "store.path", "expected a non-empty string, got int"),
            (
                {"policy": {"callback_window": None}},
                "policy.callback_window",
                "expected a number from 0 to 3600, got nothing",
            ),
            ([], "", "expected a mapping, got list"),
        ],
    )
    def test_names_path_and_types(self, data: object, path: str, message: str) -> None:
        """Path, expected type and given type, exactly."""
        error = _error(data)
        assert (error.path, error.message) == (path, message)
        assert str(error) == (f"{path}: {message}" if path else message)


class TestWrongValue:
    """A value of the right type that breaks a range, pattern or choice shows the value."""

    @pytest.mark.parametrize(
        ("data", "path", "message"),
        [
            (
                {"policy": {"retry": {"attempts": 0}}},
                "policy.retry.attempts",
                "expected a whole number from 1 to 10, got 0",
            ),
            ({"logging": {"format": "xml"}}, "logging.format", "expected one of console, json, got 'xml'"),
            (
                {"policy": {"abnormal_causes": [16, 128]}},
                "policy.abnormal_causes[1]",
                "expected a Q.850 cause code 0 to 127, got 128",
            ),
            (
                {"status": {"host": "0.0.0.0"}},
                "status.host",
                "expected a loopback address (127.0.0.1, ::1), got '0.0.0.0'",
            ),
        ],
    )
    def test_shows_the_value(self, data: object, path: str, message: str) -> None:
        """Path, expected value and the value given."""
        error = _error(data)
        assert (error.path, error.message) == (path, message)

    def test_missing_required_key(self) -> None:
        """A required key left out is named, with what it must hold."""
        error = _error({"originate": {"customer_route": {}}})
        assert error.path == "originate.customer_route.context"
        assert error.message.startswith("missing: expected the dialplan context to dial the customer through")


class TestConvert:
    """convert() on any schema, under a path prefix."""

    def test_prefix_names_the_key(self) -> None:
        """Errors of a document checked on its own carry the path it sits at."""

        class Part(msgspec.Struct, forbid_unknown_fields=True):
            size: Annotated[int, Meta(ge=1)] = 1

        with pytest.raises(ConfigError) as caught:
            convert({"size": 0}, Part, "outer.part")
        assert (caught.value.path, caught.value.message) == (
            "outer.part.size",
            "expected a whole number of at least 1, got 0",
        )

    def test_valid_document_converts(self) -> None:
        """A valid document comes back as the schema type."""

        class Part(msgspec.Struct, forbid_unknown_fields=True):
            mode: Literal["a", "b"] = "a"

        assert convert({"mode": "b"}, Part) == Part(mode="b")


class TestDescribe:
    """Schema types in words."""

    @pytest.mark.parametrize(
        ("annotation", "words"),
        [
            (Annotated[int, Meta(ge=0, le=9)], "a whole number from 0 to 9"),
            (Annotated[float, Meta(ge=0.5)], "a number of at least 0.5"),
            (Annotated[str, Meta(min_length=1)], "a non-empty string"),
            (Literal["x"] | None, '"x"'),
            (Literal["x", "y"], "one of x, y"),
            (Annotated[list[int], Meta(min_length=1)], "a non-empty list"),
            (Annotated[int, Meta(description="a port")], "a port"),
        ],
    )
    def test_words(self, annotation: object, words: str) -> None:
        """Ranges, choices, descriptions; nothing (null) is never offered."""
        assert in_words(mi.type_info(annotation)) == words
