"""Tests for redial.config.schema."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from redial.config import Settings, parse_settings, schema
from redial.exceptions import ConfigError


def _structs() -> list[type[msgspec.Struct]]:
    return [
        cls
        for _, cls in inspect.getmembers(schema, inspect.isclass)
        if issubclass(cls, msgspec.Struct) and cls.__module__ == schema.__name__
    ]


class TestShape:
    """Every mapping of the file refuses keys it does not know."""

    def test_every_struct_forbids_unknown_keys(self) -> None:
        """A Struct added without forbid_unknown_fields would silently ignore misspellings."""
        structs = _structs()
        assert schema.ConfigFile in structs and schema.CustomerRoute in structs
        assert [cls.__name__ for cls in structs if not cls.__struct_config__.forbid_unknown_fields] == []

    def test_override_is_the_policy_without_its_scope(self) -> None:
        """A queue may override every policy key but the scope ones and the global caps."""
        policy, override = set(schema.Policy.__struct_fields__), set(schema.PolicyOverride.__struct_fields__)
        assert policy - override == set(schema.SCOPE_KEYS + schema.GLOBAL_KEYS)


class TestDefaults:
    """The schema's defaults are the dataclasses' own."""

    def test_empty_file_is_the_dataclass_defaults(self) -> None:
        """Nothing written gives exactly Settings() (but for its source)."""
        assert parse_settings({}, env={}, source="<defaults>") == Settings()

    def test_empty_sections_are_defaults(self) -> None:
        """A section written with nothing under it (``numbers:``) takes its defaults."""
        data = {"ami": None, "policy": {"numbers": None, "hours": None, "queue_overrides": {"vip": None}}}
        settings = parse_settings(data, env={}, source="<defaults>")
        assert settings.policy == Settings().policy and settings.policy_for("vip") == Settings().policy


class TestPatterns:
    """Patterns match the whole value (msgspec searches)."""

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            ({"originate": {"account": "redial\n"}}, "originate.account"),
            ({"originate": {"context": "x;Local/y"}}, "originate.context"),
            ({"policy": {"numbers": {"home_region": "USA"}}}, "policy.numbers.home_region"),
            ({"fastagi": {"host": "127.0.0.1.example.com"}}, "fastagi.host"),
            (
                {"policy": {"experience": {"agent_caller_id_name": "REDIAL\r\nAction: x"}}},
                "policy.experience.agent_caller_id_name",
            ),
        ],
    )
    def test_valid_start_is_not_enough(self, data: object, path: str) -> None:
        """A value that only begins like a valid one is refused."""
        with pytest.raises(ConfigError) as caught:
            parse_settings(data, env={})
        assert caught.value.path == path
