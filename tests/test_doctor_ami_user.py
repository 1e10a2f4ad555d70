"""Tests for redial.tools.doctor.ami_user: the daemon's AMI user may send, read and filter what it needs."""

from __future__ import annotations

from redial.tools.doctor.ami_user import (
    check_clear_logins,
    check_event_filters,
    check_permissions,
    check_read_classes,
    check_write_classes,
)
from redial.tools.doctor.findings import Status

ALL_ACTIONS = (
    "Originate",
    "QueuePause",
    "QueueLog",
    "CoreShowChannels",
    "ExtensionState",
    "CoreStatus",
    "Status",
    "QueueStatus",
    "Ping",
)


class TestPermissions:
    """ListCommands must hold every action the daemon sends."""

    def test_all_present(self) -> None:
        assert check_permissions("redial", (*ALL_ACTIONS, "Extra")).status is Status.OK

    def test_missing_originate_names_class_and_fix(self) -> None:
        finding = check_permissions("redial", [a for a in ALL_ACTIONS if a != "Originate"])
        assert finding.status is Status.FAIL
        assert "Originate" in finding.summary
        assert finding.fix is not None and "missing: originate" in finding.fix and "manager reload" in finding.fix

    def test_no_call_class_needed(self) -> None:
        """Status and ExtensionState come with reporting: the fix asks for no call class."""
        finding = check_permissions("redial", ["Ping"])
        assert finding.fix is not None and "write = originate,agent,reporting (" in finding.fix

    def test_write_classes_beyond_the_needed_ones(self) -> None:
        """call (Redirect) is a warning; command, config and system are failures; each is named."""
        assert check_write_classes("redial", ALL_ACTIONS).status is Status.OK
        call = check_write_classes("redial", (*ALL_ACTIONS, "Redirect", "Hangup"))
        assert call.status is Status.WARN and "write classes call," in call.summary
        assert call.fix is not None and "write = originate,agent,reporting (nothing more)" in call.fix
        system = check_write_classes("redial", (*ALL_ACTIONS, "Redirect", "Command", "ModuleLoad"))
        assert system.status is Status.FAIL and "call, command, system" in system.summary

    def test_ami_over_http_is_a_clear_login(self) -> None:
        """webenabled with http.conf enabled warns (logins in clear); either off is fine."""
        assert check_clear_logins({"webenabled": "no"}, {"enabled": "yes"}, "x").status is Status.OK
        assert check_clear_logins({"webenabled": "yes"}, {}, "x").status is Status.OK
        finding = check_clear_logins({"webenabled": "Yes"}, {"enabled": "on"}, "read from /etc/asterisk")
        assert finding.status is Status.WARN and "in clear" in finding.summary
        assert finding.fix is not None and "webenabled = no" in finding.fix and "manager reload" in finding.fix

    def test_read_classes(self) -> None:
        assert check_read_classes("redial", ["call", "agent"]).status is Status.OK
        assert check_read_classes("redial", ["all"]).status is Status.OK
        missing = check_read_classes("redial", ["call"])
        assert missing.status is Status.FAIL and "agent" in missing.summary


NEEDED = frozenset({"Hangup", "Newchannel"})


class TestEventFilters:
    """The [redial] user's eventfilter lines pass what the daemon reads."""

    def test_whitelist_covering_the_needed_events(self) -> None:
        values = {"read": "call,agent", "eventfilter(name(Hangup))": "", "eventfilter(name(Newchannel))": ""}
        assert check_event_filters("redial", values, NEEDED, "x").status is Status.OK

    def test_whitelist_missing_one_fails_naming_it(self) -> None:
        finding = check_event_filters("redial", {"eventfilter(name(Newchannel))": ""}, NEEDED, "x")
        assert finding.status is Status.FAIL and "Hangup" in finding.summary and "manager reload" in (finding.fix or "")

    def test_excluding_a_needed_event_fails(self) -> None:
        values = {"eventfilter(action(exclude),name(Hangup))": ""}
        finding = check_event_filters("redial", values, NEEDED, "x")
        assert finding.status is Status.FAIL and "Hangup" in finding.summary

    def test_no_filters_warn(self) -> None:
        finding = check_event_filters("redial", {"read": "call"}, NEEDED, "x")
        assert finding.status is Status.WARN and "config/manager_redial.conf" in (finding.fix or "")

    def test_legacy_filters_not_judged(self) -> None:
        finding = check_event_filters("redial", {"eventfilter": "Event: Hangup"}, NEEDED, "x")
        assert finding.status is Status.OK and "not evaluated" in finding.summary

    def test_shipped_user_passes(self) -> None:
        from redial.ami.events import NEEDED_EVENTS
        from redial.tools.pjsipconf import parse_sections
        from sandbox import SHIPPED_MANAGER

        (user,) = [x for x in parse_sections(SHIPPED_MANAGER) if x.name == "redial"]
        assert check_event_filters("redial", user.values, NEEDED_EVENTS, "x").status is Status.OK
