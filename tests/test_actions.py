"""Tests for redial.ami.actions."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redial.ami.actions import (
    TOKEN,
    UNIQUEID,
    OriginateRequest,
    assert_header_safe,
    challenge_action,
    is_dialable,
    login_action,
    originate_action,
    pause_action,
    queue_log_action,
)
from redial.exceptions import UnsafeValueError

REQUEST = OriginateRequest(
    redial_id=7,
    channel_id="redial-7-1795354875.10",
    agent_interface="PJSIP/agent1",
    customer_number="5551234",
    trunk="trunk",
    did="100",
    original_uniqueid="1795354875.10",
    queue="support",
    context="redial-out",
    account="redial",
    caller_id_name="REDIAL",
    agent_ring_timeout=20,
    customer_ring_timeout=30,
)


class TestOriginateAction:
    """The Originate the daemon sends."""

    def test_agent_first_async_with_channel_id(self) -> None:
        action = originate_action(REQUEST, "a1")
        assert action["Channel"] == "PJSIP/agent1"
        assert action["Async"] == "true"
        assert action["ChannelId"] == "redial-7-1795354875.10"
        assert action["Account"] == "redial"
        assert action["Timeout"] == "20000"
        assert action["CallerID"] == '"REDIAL 5551234" <5551234>'
        assert action["Variable"] == [
            "REDIAL_ID=7",
            "REDIAL_ORIGINAL_UNIQUEID=1795354875.10",
            "REDIAL_NUMBER=5551234",
            "REDIAL_TRUNK=trunk",
            "REDIAL_RING_TIMEOUT=30",
            "REDIAL_DID=100",
            "REDIAL_QUEUE=support",
        ]

    def test_customer_number_never_in_channel_or_exten(self) -> None:
        action = originate_action(REQUEST, "a1")
        assert "5551234" not in str(action["Channel"]) and action["Exten"] == "s"

    @pytest.mark.parametrize(
        "number", ["", "anonymous", "123&PJSIP/999@trunk", "555\r\nAction: Originate", "55,51234", "++5551234", "12"]
    )
    def test_hostile_numbers_refused(self, number: str) -> None:
        with pytest.raises(UnsafeValueError, match="customer number"):
            originate_action(dataclasses.replace(REQUEST, customer_number=number), "a1")

    def test_odd_did_is_left_out_not_sent(self) -> None:
        action = originate_action(dataclasses.replace(REQUEST, did="s"), "a1")
        assert not any(v.startswith("REDIAL_DID") for v in action["Variable"])

    def test_local_channel_member_accepted(self) -> None:
        action = originate_action(dataclasses.replace(REQUEST, agent_interface="Local/100@agents/n"), "a1")
        assert action["Channel"] == "Local/100@agents/n"

    def test_odd_agent_interface_refused(self) -> None:
        with pytest.raises(UnsafeValueError, match="agent interface"):
            originate_action(dataclasses.replace(REQUEST, agent_interface="PJSIP/a&PJSIP/b"), "a1")

    @given(
        number=st.text(max_size=30),
        did=st.text(max_size=30),
        queue=st.text(max_size=30),
        trunk=st.text(max_size=30),
        uniqueid=st.text(max_size=30),
    )
    def test_whatever_comes_in_no_header_breaks_out(
        self, number: str, did: str, queue: str, trunk: str, uniqueid: str
    ) -> None:
        request = dataclasses.replace(
            REQUEST, customer_number=number, did=did, queue=queue, trunk=trunk, original_uniqueid=uniqueid
        )
        try:
            action = originate_action(request, "a1")
        except UnsafeValueError:
            return
        assert_header_safe(action)
        for variable in action["Variable"]:
            assert "," not in variable and "\n" not in variable and "\r" not in variable
        assert is_dialable(number)


class TestCustomerRoute:
    """The customer dialled through the admin's own routing: REDIAL_ROUTE_CONTEXT."""

    def test_no_route_by_default(self) -> None:
        """Existing callers send no route context: the dialplan dials the trunk."""
        variables = originate_action(REQUEST, "a1")["Variable"]
        assert not any(v.startswith("REDIAL_ROUTE_CONTEXT") for v in variables)

    def test_route_context_sent_as_variable(self) -> None:
        """The context travels as a Variable, never in Channel, Context or Exten."""
        action = originate_action(dataclasses.replace(REQUEST, route_context="from-internal"), "a1")
        assert action["Variable"][:5] == [
            "REDIAL_ID=7",
            "REDIAL_ORIGINAL_UNIQUEID=1795354875.10",
            "REDIAL_NUMBER=5551234",
            "REDIAL_ROUTE_CONTEXT=from-internal",
            "REDIAL_TRUNK=trunk",
        ]
        assert action["Context"] == "redial-out" and action["Exten"] == "s"
        assert "from-internal" not in str(action["Channel"])

    @pytest.mark.parametrize(
        "context", ["from internal", "a&b", "ctx/n", "x@y", "a,b", "-leading", "ctx\r\nAction: Originate", "x" * 65]
    )
    def test_hostile_context_refused(self, context: str) -> None:
        """A context that could change the dial string or the action is refused, not sent."""
        with pytest.raises(UnsafeValueError, match="route context"):
            originate_action(dataclasses.replace(REQUEST, route_context=context), "a1")

    def test_trunk_not_needed_on_a_route(self) -> None:
        """Through a context an unusable trunk name is left out instead of failing the redial."""
        action = originate_action(dataclasses.replace(REQUEST, route_context="from-internal", trunk=""), "a1")
        assert not any(v.startswith("REDIAL_TRUNK") for v in action["Variable"])
        with pytest.raises(UnsafeValueError, match="trunk"):
            originate_action(dataclasses.replace(REQUEST, trunk=""), "a1")


class TestShippedDialplan:
    """config/extensions_redial.conf re-checks the route context and keeps one dial line per path."""

    FILE = Path(__file__).resolve().parent.parent / "config" / "extensions_redial.conf"
    TEXT = FILE.read_text(encoding="utf-8").split("[redial-out]\n", 1)[1].split("\n[", 1)[0]

    def test_route_context_checked_with_the_token_class(self) -> None:
        """The dialplan's REGEX for the context is the same class as TOKEN (- last in the bracket)."""
        assert '$[${REGEX("^[A-Za-z0-9_.][A-Za-z0-9_.-]*$" ${REDIAL_ROUTE_CONTEXT})}]?route_ok' in self.TEXT
        assert TOKEN.pattern == "[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}"

    def test_both_targets_then_one_dial(self) -> None:
        """Local/<number>@<context> or PJSIP/<number>@<trunk>, dialled by a single Dial() line."""
        assert "Set(REDIAL_SAFE_TARGET=Local/${REDIAL_SAFE_NUMBER}@${REDIAL_ROUTE_CONTEXT})" in self.TEXT
        assert "Set(REDIAL_SAFE_TARGET=PJSIP/${REDIAL_SAFE_NUMBER}@${REDIAL_SAFE_TRUNK})" in self.TEXT
        dials = [line for line in self.TEXT.splitlines() if line.startswith(" same => n,Dial(")]
        assert dials == [" same => n,Dial(${REDIAL_SAFE_TARGET},${REDIAL_SAFE_TIMEOUT},${REDIAL_DIAL_OPTS})"]

    def test_original_uniqueid_checked_before_use(self) -> None:
        """REDIAL_ORIGINAL_UNIQUEID passes the UNIQUEID class before the CDR or a log line reads it."""
        lines = self.TEXT.splitlines()
        check = next(i for i, line in enumerate(lines) if "?uniqueid_ok)" in line)
        assert '${REGEX("^[A-Za-z0-9_.-]{1,150}$" ${REDIAL_ORIGINAL_UNIQUEID})}' in lines[check]
        assert UNIQUEID.pattern == "[A-Za-z0-9_.-]{1,150}"
        assert "Hangup(21)" in lines[check + 2] and "(uniqueid_ok)" in lines[check + 3]
        assert all("REDIAL_ORIGINAL_UNIQUEID" not in line for line in lines[:check])

    @pytest.mark.parametrize("variable", ["REDIAL_AGENT_PROMPT", "REDIAL_GREETING"])
    def test_sound_lists_checked_name_by_name(self, variable: str) -> None:
        """The dialplan's check of a sound list refuses an absolute path or .. in any name, not just the first."""
        (pattern,) = re.findall(r'REGEX\("([^"]+)" \$\{' + variable + r"\}\)", self.TEXT)
        for good in ("hello", "hello&custom/redial-greeting", "a_b-c&d"):
            assert re.search(pattern, good), good
        for bad in ("/etc/passwd", "hello&/etc/passwd", "hello&../../etc/x", "hello&", "a&&b", "hello&x.gsm"):
            assert not re.search(pattern, bad), bad

    def test_route_refused_before_any_dial(self) -> None:
        """A context failing the check hangs up with cause 21 before the target is set."""
        lines = self.TEXT.splitlines()
        check = next(i for i, line in enumerate(lines) if "?route_ok)" in line)
        assert "Hangup(21)" in lines[check + 2] and "(route_ok)" in lines[check + 3]


class TestMd5Login:
    """The login answers Asterisk's MD5 challenge; the secret itself is in no header."""

    def test_challenge_then_key(self) -> None:
        """Key is md5(challenge + secret) in lower-case hex, as manager.c computes it."""
        assert challenge_action() == {"Action": "Challenge", "AuthType": "MD5"}
        action = login_action("redial", "1804289383", "correct-horse-battery-staple", "call,agent")
        assert action == {
            "Action": "Login",
            "AuthType": "MD5",
            "Username": "redial",
            "Key": "53806f6f73c68a574be592abd3254acd",
            "Events": "call,agent",
        }


class TestHeaderSafety:
    """The last check before bytes reach the socket."""

    def test_line_break_refused(self) -> None:
        with pytest.raises(UnsafeValueError):
            assert_header_safe({"Action": "Ping", "X": "a\r\nAction: Originate"})

    def test_line_break_in_list_refused(self) -> None:
        with pytest.raises(UnsafeValueError):
            assert_header_safe({"Action": "Originate", "Variable": ["A=1", "B=2\n"]})

    @given(
        st.dictionaries(
            st.text("ab\r\n\0:=", max_size=4),
            st.one_of(st.text("ab\r\n\0 ", max_size=6), st.lists(st.text("ab\r\n\0", max_size=4), max_size=3)),
            max_size=4,
        )
    )
    def test_refused_exactly_when_a_line_break_or_nul_is_anywhere(self, action: dict[str, str | list[str]]) -> None:
        items = [
            item for key, value in action.items() for item in (key, *([value] if isinstance(value, str) else value))
        ]
        unsafe = any(ch in item for item in items for ch in "\r\n\0")
        try:
            assert_header_safe(action)
        except UnsafeValueError:
            assert unsafe
        else:
            assert not unsafe

    def test_dialable(self) -> None:
        assert is_dialable("+4930123456") and is_dialable("5551234")
        assert not is_dialable("<unknown>") and not is_dialable("+") and not is_dialable("1+2")


class TestExperienceVariables:
    """Prompts, greeting, shown number and agent name travel as checked variables."""

    @pytest.mark.parametrize("name", ["/etc/passwd", "../../etc/x", "hello&beep", "x.gsm"])
    def test_each_sound_name_checked_on_its_own(self, name: str) -> None:
        """A sound list is checked name by name: the error names the bad one; no name smuggles in a second."""
        for field, what in (("agent_prompt", "agent prompt"), ("customer_greeting", "customer greeting")):
            request = dataclasses.replace(REQUEST, **{field: ("hello", name)})
            with pytest.raises(UnsafeValueError, match=f"^{what} {re.escape(repr(name))} is not allowed"):
                originate_action(request, "a1")

    def test_present_when_set(self) -> None:
        request = dataclasses.replace(
            REQUEST,
            agent_prompt=("pls-hold-while-try",),
            customer_greeting=("hello", "custom/greeting"),
            show_number="100",
            agent_name="Alice",
        )
        variables = originate_action(request, "a1")["Variable"]
        assert "REDIAL_AGENT_PROMPT=pls-hold-while-try" in variables
        assert "REDIAL_GREETING=hello&custom/greeting" in variables
        assert "REDIAL_SHOW_NUMBER=100" in variables and "REDIAL_AGENT_NAME=Alice" in variables

    def test_sound_path_escape_refused(self) -> None:
        with pytest.raises(UnsafeValueError, match="greeting"):
            originate_action(dataclasses.replace(REQUEST, customer_greeting=("../../etc/passwd",)), "a1")

    def test_odd_agent_name_left_out(self) -> None:
        variables = originate_action(dataclasses.replace(REQUEST, agent_name="A,B=1"), "a1")["Variable"]
        assert not any(v.startswith("REDIAL_AGENT_NAME") for v in variables)


class TestCallbackVariables:
    """A queue callback's Originate: the CDR tag, the customer's press 1 and the agent's whisper."""

    CALLBACK = dataclasses.replace(
        REQUEST,
        callback=True,
        customer_press=("if-correct-press", "digits/1"),
        press_timeout=7,
        agent_after=("minutes",),
        waited_minutes=12,
    )
    NAMES = (
        "REDIAL_KIND",
        "REDIAL_CONFIRM",
        "REDIAL_PRESS_TIMEOUT",
        "REDIAL_PRESS_PROMPT",
        "REDIAL_WAITED_MINUTES",
        "REDIAL_AGENT_AFTER",
    )

    def test_callback_carries_them(self) -> None:
        """Every callback variable is set, after the redial's own ones."""
        variables = originate_action(self.CALLBACK, "a1")["Variable"]
        assert variables[-6:] == [
            "REDIAL_KIND=callback",
            "REDIAL_CONFIRM=1",
            "REDIAL_PRESS_TIMEOUT=7",
            "REDIAL_PRESS_PROMPT=if-correct-press&digits/1",
            "REDIAL_WAITED_MINUTES=12",
            "REDIAL_AGENT_AFTER=minutes",
        ]
        assert variables[:-6] == originate_action(REQUEST, "a1")["Variable"]

    def test_drop_redial_carries_none(self) -> None:
        """A drop redial's Originate sets none of them, even with the callback's fields filled in."""
        request = dataclasses.replace(self.CALLBACK, callback=False)
        variables = originate_action(request, "a1")["Variable"]
        assert [v for v in variables if v.partition("=")[0] in self.NAMES] == []

    def test_negative_wait_is_zero_and_empty_sounds_left_out(self) -> None:
        """Minutes never go below zero; an empty sound list sets no variable; the confirm flag stays."""
        request = dataclasses.replace(self.CALLBACK, customer_press=(), agent_after=(), waited_minutes=-3)
        variables = originate_action(request, "a1")["Variable"]
        assert "REDIAL_WAITED_MINUTES=0" in variables and "REDIAL_CONFIRM=1" in variables
        assert not any(v.startswith(("REDIAL_PRESS_PROMPT", "REDIAL_AGENT_AFTER")) for v in variables)
        unknown = originate_action(dataclasses.replace(self.CALLBACK, waited_minutes=None), "a1")["Variable"]
        assert not any(v.startswith("REDIAL_WAITED_MINUTES") for v in unknown)

    @pytest.mark.parametrize(("field", "what"), [("customer_press", "press prompt"), ("agent_after", "agent whisper")])
    @pytest.mark.parametrize("name", ["../../etc/passwd", "digits/1&beep", "x.gsm", "a,b"])
    def test_unsafe_sound_name_raises(self, field: str, what: str, name: str) -> None:
        """An unsafe sound name in the press prompt or the whisper refuses the whole Originate."""
        request = dataclasses.replace(self.CALLBACK, **{field: ("beep", name)})
        with pytest.raises(UnsafeValueError, match=f"^{what} {re.escape(repr(name))} is not allowed"):
            originate_action(request, "a1")


class TestPromiseVariables:
    """A promised callback's Originate: the CDR tag and the whisper of whose promise, each sound checked."""

    PROMISE = dataclasses.replace(
        REQUEST, promise=True, owner_name="Alice", owner_sound="custom/alice", note_sound=("vm-message", "beep")
    )
    NAMES = ("REDIAL_KIND", "REDIAL_OWNER_NAME", "REDIAL_OWNER_SOUND", "REDIAL_NOTE_SOUND")

    def test_promise_carries_them(self) -> None:
        """Every promise variable is set, after the redial's own ones."""
        variables = originate_action(self.PROMISE, "a1")["Variable"]
        assert variables[-4:] == [
            "REDIAL_KIND=promise",
            "REDIAL_OWNER_NAME=Alice",
            "REDIAL_OWNER_SOUND=custom/alice",
            "REDIAL_NOTE_SOUND=vm-message&beep",
        ]
        assert variables[:-4] == originate_action(REQUEST, "a1")["Variable"]

    def test_other_redials_carry_none(self) -> None:
        """Without the promise flag none is set, even with the promise's fields filled in."""
        variables = originate_action(dataclasses.replace(self.PROMISE, promise=False), "a1")["Variable"]
        assert [v for v in variables if v.partition("=")[0] in self.NAMES] == []

    def test_empty_or_odd_ones_left_out(self) -> None:
        """No owner sound, no note, and an owner name that is no label set nothing; the kind stays."""
        request = dataclasses.replace(self.PROMISE, owner_name="A,B=1", owner_sound="", note_sound=())
        variables = originate_action(request, "a1")["Variable"]
        assert [v for v in variables if v.partition("=")[0] in self.NAMES] == ["REDIAL_KIND=promise"]

    @pytest.mark.parametrize(("field", "what"), [("owner_sound", "owner name sound"), ("note_sound", "note sound")])
    @pytest.mark.parametrize("name", ["../../etc/passwd", "digits/1&beep", "x.gsm", "a,b"])
    def test_unsafe_sound_name_raises(self, field: str, what: str, name: str) -> None:
        """An unsafe owner or note sound refuses the whole Originate, naming which sound."""
        value: object = name if field == "owner_sound" else ("beep", name)
        with pytest.raises(UnsafeValueError, match=f"^{what} {re.escape(repr(name))} is not allowed"):
            originate_action(dataclasses.replace(self.PROMISE, **{field: value}), "a1")


class TestQueueLog:
    """queue_log lines."""

    def test_fields(self) -> None:
        action = queue_log_action("support", "PJSIP/agent1", "1795354875.10", "REDIALEND", ["7", "1", "connected"])
        assert action == {
            "Action": "QueueLog",
            "Queue": "support",
            "Event": "REDIALEND",
            "Uniqueid": "1795354875.10",
            "Interface": "PJSIP/agent1",
            "Message": "7|1|connected",
        }

    def test_hostile_field_replaced(self) -> None:
        action = queue_log_action("support", "PJSIP/agent1", "1.1", "REDIALSTART", ["5551234\r\nAction: X", "a|b"])
        assert action["Message"] == "-|-"


class TestEveryWriteIsSafe:
    """Whatever reaches the builders, no action carries a line break, NUL or a second action."""

    @given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40), st.lists(st.text(max_size=30)))
    def test_queue_log(self, queue: str, interface: str, uniqueid: str, fields: list[str]) -> None:
        action = queue_log_action(queue, interface, uniqueid, "REDIALEND", fields)
        assert_header_safe(action)
        assert str(action["Message"]).count("|") == max(0, len(fields) - 1)

    @given(st.text(max_size=60), st.booleans(), st.text(max_size=30))
    def test_pause(self, interface: str, paused: bool, reason: str) -> None:
        try:
            action = pause_action(interface, paused, reason)
        except UnsafeValueError:
            return
        assert_header_safe(action)
        assert action["Interface"] == interface and "/" in interface

    @given(st.text(max_size=30), st.text(max_size=30))
    def test_login(self, username: str, secret: str) -> None:
        try:
            action = login_action(username, "1804289383", secret, "call,agent")
        except UnsafeValueError:
            assert any(ch in username for ch in "\r\n\0")
            return
        assert_header_safe(action)
        assert "Secret" not in action
