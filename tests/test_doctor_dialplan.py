"""Tests for redial.tools.doctor.dialplan: the redial context, its greeting and the returning-caller hook."""

from __future__ import annotations

from redial.tools.doctor.dialplan import (
    DialplanLine,
    check_dialplan,
    check_greeting,
    check_promise,
    check_queue_callback,
    check_returning,
    uses_greeting,
)
from redial.tools.doctor.findings import Status


def line(app: str, data: str = "", exten: str = "s") -> DialplanLine:
    return DialplanLine("redial-out", exten, "1", app, data)


class TestDialplan:
    """The redial context, greeting and returning-caller hook."""

    def test_missing_context_fails_with_install_fix(self) -> None:
        finding = check_dialplan("redial-out", None)
        assert finding.status is Status.FAIL and "[redial-out] does not exist" in finding.summary
        assert finding.fix is not None and "#include extensions_redial.conf" in finding.fix

    def test_context_without_s(self) -> None:
        assert check_dialplan("redial-out", [line("NoOp", exten="100")]).status is Status.FAIL

    def test_context_ok(self) -> None:
        finding = check_dialplan("redial-out", [line("NoOp"), line("Dial", "PJSIP/x,30,U(redial-greeting)")])
        assert finding.status is Status.OK and "greeting" in finding.summary

    def test_greeting_context_needed_only_when_used(self) -> None:
        assert uses_greeting([line("Dial", "PJSIP/x,30,U(redial-greeting)")])
        assert not uses_greeting([line("Dial", "PJSIP/x,30"), line("Playback", "U(redial-greeting)")])
        missing = check_greeting(None)
        assert missing.status is Status.FAIL and "[redial-greeting]" in (missing.fix or "")
        assert check_greeting([line("Return")]).status is Status.OK

    def test_returning_agi_address_must_match(self) -> None:
        hook = [
            DialplanLine("redial-returning", "s", "3", "AGI", "agi://127.0.0.1:4573/returning"),
            DialplanLine("redial-returning", "s", "7", "Set", "REDIAL_MEMBERS=${QUEUE_MEMBER_LIST(${REDIAL_QUEUE})}"),
        ]
        assert check_returning(hook, "127.0.0.1", 4573).status is Status.OK
        wrong = check_returning(hook, "127.0.0.1", 4574)
        assert wrong.status is Status.FAIL and "agi://127.0.0.1:4574/" in wrong.summary
        assert check_returning(None, "127.0.0.1", 4573).status is Status.WARN

    def test_returning_hook_without_the_member_check_warns(self) -> None:
        """An older [redial-returning] that dials any REDIAL_AGENT: a warning, with the shipped context as fix."""
        hook = [DialplanLine("redial-returning", "s", "2", "AGI", "agi://127.0.0.1:4573/returning")]
        finding = check_returning(hook, "127.0.0.1", 4573)
        assert finding.status is Status.WARN and "member of the queue" in finding.summary
        assert finding.fix is not None and "QUEUE_MEMBER_LIST" in finding.fix


class TestQueueCallback:
    """The queue-callback offer context and its FastAGI address."""

    def test_offer_context_asks_the_daemon(self) -> None:
        """Present and asking the daemon's address: OK; another port: FAIL; missing: WARN with the fix."""
        offer = [
            DialplanLine("redial-queue-callback-offer", "s", "4", "AGI", "agi://127.0.0.1:4573/queue-callback,offer"),
            DialplanLine(
                "redial-queue-callback-offer", "s", "30", "AGI", "agi://127.0.0.1:4573/queue-callback,request"
            ),
        ]
        assert check_queue_callback(offer, "127.0.0.1", 4573).status is Status.OK
        wrong = check_queue_callback(offer, "127.0.0.1", 4574)
        assert wrong.status is Status.FAIL and "agi://127.0.0.1:4574/queue-callback" in wrong.summary
        missing = check_queue_callback(None, "127.0.0.1", 4573)
        assert missing.status is Status.WARN and missing.fix is not None and "queue_callback.enabled" in missing.fix

    def test_offer_without_agi_fails(self) -> None:
        """An offer context that never asks the daemon cannot offer anything."""
        offer = [DialplanLine("redial-queue-callback-offer", "s", "1", "Playback", "beep")]
        assert check_queue_callback(offer, "127.0.0.1", 4573).status is Status.FAIL


class TestPromise:
    """The agents' promise feature context and its FastAGI address."""

    def test_feature_context_asks_the_daemon(self) -> None:
        """Present and asking the daemon: OK; another port: FAIL; missing: WARN naming *7 and the switch."""
        feature = [DialplanLine("redial-promise", "s", "3", "AGI", "agi://127.0.0.1:4573/promise,make,30,1.2")]
        assert check_promise(feature, "127.0.0.1", 4573).status is Status.OK
        wrong = check_promise(feature, "127.0.0.1", 4574)
        assert wrong.status is Status.FAIL and "agi://127.0.0.1:4574/promise" in wrong.summary
        missing = check_promise(None, "127.0.0.1", 4573)
        assert missing.status is Status.WARN and "*7" in missing.summary
        assert missing.fix is not None and "promise.enabled" in missing.fix
