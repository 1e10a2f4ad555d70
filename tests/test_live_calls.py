"""Tests for redial.core.live_calls."""

from __future__ import annotations

from redial.core.live_calls import LiveCallIndex


def _index() -> LiveCallIndex:
    """Keys are numbers of seven digits or more, a leading + dropped; dialled numbers lose an outside-line 9."""
    return LiveCallIndex(
        number_key=lambda n: n.lstrip("+") if len(n) >= 7 else "",
        dialled_key=lambda n: n.removeprefix("9").lstrip("+") if len(n) >= 7 else "",
    )


class TestAdd:
    """A call is found under its caller's and its dialled number's keys."""

    def test_caller_and_callee_keys(self) -> None:
        """The caller's key says "caller", the dialled number's key says "callee"; both are returned."""
        index = _index()
        assert index.add("1.1", "+5551234", "92025550143") == ("5551234", "2025550143")
        assert index.live_call_with("5551234") == ("1.1", "caller")
        assert index.live_call_with("2025550143") == ("1.1", "callee")

    def test_numbers_without_a_key_are_not_indexed(self) -> None:
        """An empty number or one with no key (an extension) leaves no entry."""
        index = _index()
        assert index.add("1.1", "", "1001") == ()
        assert len(index) == 0 and index.live_call_with("") is None

    def test_same_key_twice_is_kept_once_as_caller(self) -> None:
        """A call to one's own number is indexed once, under the caller's role."""
        index = _index()
        assert index.add("1.1", "5551234", "5551234") == ("5551234",)
        assert index.live_call_with("5551234") == ("1.1", "caller")

    def test_first_live_call_is_named(self) -> None:
        """With two live calls under one key, the earlier one is named until it is removed."""
        index = _index()
        index.add("1.1", "5551234", "")
        index.add("2.1", "", "5551234")
        assert index.live_call_with("5551234") == ("1.1", "caller")
        index.remove("1.1", ("5551234",))
        assert index.live_call_with("5551234") == ("2.1", "callee")


class TestRemove:
    """Removing a call leaves nothing behind."""

    def test_last_call_removes_the_key(self) -> None:
        """Once a key's only call is removed, the key is gone."""
        index = _index()
        keys = index.add("1.1", "5551234", "2025550143")
        index.remove("1.1", keys)
        assert len(index) == 0 and index.live_call_with("5551234") is None

    def test_unknown_call_or_key_is_ignored(self) -> None:
        """Removing a call or key never indexed changes nothing."""
        index = _index()
        index.add("1.1", "5551234", "")
        index.remove("9.9", ("5551234", "7777777"))
        assert index.live_call_with("5551234") == ("1.1", "caller") and len(index) == 1
