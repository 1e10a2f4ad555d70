"""Tests for redial.service.promise_agi: the agent's in-call promise (``*7``), its prompt and make steps."""

from __future__ import annotations

import asyncio

import structlog

from redial.config import Settings, parse_settings
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.exceptions import StoreError
from redial.service.promise_agi import PromiseDesk

LINKEDID = "pbx-east-1796218590.0"
AGENT_LEG = "PJSIP/agent1-00000001"
MADE = PromiseAnswer(True, "promise 7 stored", 7, 1_800_001_800.0, "support", "Alice", "PJSIP/agent1", 30)
REFUSED = PromiseAnswer(False, "no live queue call with that Linkedid")


class Channel:
    """The agent's channel as the script sees it: the variables set on it, in order."""

    def __init__(self) -> None:
        self.set: list[tuple[str, str]] = []

    async def set_variable(self, name: str, value: str) -> None:
        self.set.append((name, value))

    @property
    def values(self) -> dict[str, str]:
        return dict(self.set)


class Rig:
    """A desk whose make_promise records what it was asked and answers ``answer`` (or waits, or fails)."""

    def __init__(
        self,
        answer: PromiseAnswer = MADE,
        settings: Settings | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.answer, self.delay, self.error = answer, delay, error
        self.asked: list[PromiseRequest] = []
        self.desk = PromiseDesk(
            settings or parse_settings({}, env={}), self._make, structlog.get_logger("test"), timeout=0.2
        )

    async def _make(self, request: PromiseRequest) -> PromiseAnswer:
        self.asked.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.answer

    async def serve(self, *args: str, **headers: str) -> Channel:
        channel = Channel()
        sent = {"agi_uniqueid": "pbx-east-1796218590.1", "agi_channel": AGENT_LEG}
        sent.update({f"agi_arg_{n}": arg for n, arg in enumerate(args, 1)})
        sent.update(headers)
        await self.desk.serve(sent, channel.set_variable)
        return channel


def queue_sounds(**sounds: list[str]) -> Settings:
    """Settings whose queue ``support`` has its own promise sounds."""
    return parse_settings(
        {"policy": {"queue_overrides": {"support": {"promise": {"sounds": sounds}}}}},
        env={},
    )


class TestPrompt:
    """The prompt step: what the agent hears before keying the minutes, and on a refusal."""

    async def test_stock_sounds(self) -> None:
        """The default prompt and refusal, as Playback lists; nothing else set, nothing asked."""
        rig = Rig()
        channel = await rig.serve("prompt")
        assert channel.set == [
            ("REDIAL_PR_ENTER", "minutes&vm-then-pound"),
            ("REDIAL_PR_REFUSED", "sorry&please-try-again"),
        ]
        assert rig.asked == []

    async def test_configured_and_empty_lists(self) -> None:
        """policy.promise.sounds: a list of one's own, and [] for none (the dialplan then beeps)."""
        settings = parse_settings(
            {"policy": {"promise": {"sounds": {"agent_enter": ["custom/minutes"], "agent_refused": []}}}}, env={}
        )
        values = (await Rig(settings=settings).serve("prompt")).values
        assert (values["REDIAL_PR_ENTER"], values["REDIAL_PR_REFUSED"]) == ("custom/minutes", "")

    async def test_unknown_step_sets_nothing(self) -> None:
        """A step the script does not know is logged and answered with nothing."""
        rig = Rig()
        channel = await rig.serve("nonsense", "30", LINKEDID)
        assert channel.set == [] and rig.asked == []


class TestMake:
    """The make step: the engine is asked for the call's promise; the answer is set once it is stored."""

    async def test_asks_for_the_calls_promise_from_the_phone(self) -> None:
        """Minutes, the call's Linkedid and the agent's channel go to the engine, marked phone."""
        rig = Rig()
        await rig.serve("make", "30", LINKEDID)
        assert rig.asked == [PromiseRequest(minutes=30, call=LINKEDID, by=AGENT_LEG, source="phone")]

    async def test_made_sets_the_confirmation_and_the_customers_sentence(self) -> None:
        """ok, the engine's minutes and owner name, every sound list; the result is set last."""
        channel = await Rig().serve("make", "30", LINKEDID)
        values = channel.values
        assert values == {
            "REDIAL_PR_REFUSED": "sorry&please-try-again",
            "REDIAL_PR_MINUTES": "30",
            "REDIAL_PR_NAME": "Alice",
            "REDIAL_PR_NAME_SOUND": "",
            "REDIAL_PR_CONFIRM_BEFORE": "auth-thankyou",
            "REDIAL_PR_CONFIRM_AFTER": "minutes&vm-saved",
            "REDIAL_PR_CUSTOMER_BEFORE": "auth-thankyou",
            "REDIAL_PR_CUSTOMER_MIDDLE": "to-call-this-number",
            "REDIAL_PR_CUSTOMER_AFTER": "minutes&goodbye",
            "REDIAL_PR_RESULT": "ok",
        }
        assert channel.set[-1] == ("REDIAL_PR_RESULT", "ok")

    async def test_minutes_are_the_engines(self) -> None:
        """The minutes said are the engine's (whole minutes to the due time), not the keyed ones."""
        rig = Rig(PromiseAnswer(True, "stored", 8, 0.0, "support", "Alice", "PJSIP/agent1", 29))
        assert (await rig.serve("make", "30", LINKEDID)).values["REDIAL_PR_MINUTES"] == "29"

    async def test_name_recording_by_member_name_or_interface(self) -> None:
        """policy.promise.name_sounds: the member name's recording, else the interface's."""
        by_name = parse_settings({"policy": {"promise": {"name_sounds": {"Alice": "custom/alice"}}}}, env={})
        by_interface = parse_settings({"policy": {"promise": {"name_sounds": {"PJSIP/agent1": "custom/a1"}}}}, env={})
        named = (await Rig(settings=by_name).serve("make", "30", LINKEDID)).values
        assert named["REDIAL_PR_NAME_SOUND"] == "custom/alice"
        assert (await Rig(settings=by_interface).serve("make", "30", LINKEDID)).values[
            "REDIAL_PR_NAME_SOUND"
        ] == "custom/a1"

    async def test_the_queues_own_sounds(self) -> None:
        """The sounds are those of the promise's queue (its override), not the base policy's."""
        channel = await Rig(settings=queue_sounds(customer_middle=["custom/will-call-back"])).serve(
            "make", "30", LINKEDID
        )
        assert channel.values["REDIAL_PR_CUSTOMER_MIDDLE"] == "custom/will-call-back"

    async def test_name_keeps_letters_and_digits_only(self) -> None:
        """A member name with spaces or punctuation is said as its letters and digits."""
        rig = Rig(PromiseAnswer(True, "stored", 9, 0.0, "support", "Mary-Jo O'Neil 2", "PJSIP/agent1", 30))
        assert (await rig.serve("make", "30", LINKEDID)).values["REDIAL_PR_NAME"] == "MaryJoONeil2"

    async def test_refused_sets_only_the_refusal(self) -> None:
        """The engine refuses: refused and the refusal's sounds; no minutes, name or sentence."""
        channel = await Rig(REFUSED).serve("make", "30", LINKEDID)
        assert channel.set == [("REDIAL_PR_REFUSED", "sorry&please-try-again"), ("REDIAL_PR_RESULT", "refused")]

    async def test_bad_minutes_are_never_asked(self) -> None:
        """Empty, zero, not digits or more than 99999: refused without asking the engine."""
        rig = Rig()
        for keyed in ("", "0", "3a", "-5", "100000"):
            assert (await rig.serve("make", keyed, LINKEDID)).values["REDIAL_PR_RESULT"] == "refused"
        assert rig.asked == []

    async def test_no_call_is_never_asked(self) -> None:
        """No Linkedid: nothing to attach the promise to."""
        rig = Rig()
        assert (await rig.serve("make", "30")).values["REDIAL_PR_RESULT"] == "refused"
        assert rig.asked == []

    async def test_slow_engine_is_a_refusal(self) -> None:
        """Not stored within the timeout: the agent hears the refusal rather than silence."""
        channel = await Rig(delay=1.0).serve("make", "30", LINKEDID)
        assert channel.values["REDIAL_PR_RESULT"] == "refused"

    async def test_store_failure_is_a_refusal(self) -> None:
        """The store failing while the promise is written: refused."""
        channel = await Rig(error=StoreError("disk full")).serve("make", "30", LINKEDID)
        assert channel.values["REDIAL_PR_RESULT"] == "refused"
