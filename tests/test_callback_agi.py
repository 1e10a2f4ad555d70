"""Tests for redial.service.callback_agi: the queue-callback FastAGI script's offer and request steps."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import structlog

from redial.clock import ManualClock
from redial.config import Settings, parse_settings
from redial.core.queue_callbacks import CallbackOffer, CallbackRequest, RequestAnswer
from redial.exceptions import StoreError
from redial.service import callback_agi
from redial.service.callback_agi import QueueCallbackDesk
from redial.service.metrics import Metrics
from redial.store import Store

NOW = 1_800_000_000.0
OFFERED = CallbackOffer(True, "offered", "1 callers ahead; about 4 min", "support", NOW - 300, 2, 4)
FULL = CallbackOffer(False, "queue_full", "20 callbacks already wait", "support", NOW - 300, 7, 0)
UNKNOWN = CallbackOffer(False, "unknown_caller", "the daemon did not see this caller")


class FakeStore:
    """The offers log, kept in a list; ``fail`` makes every write fail."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, int | None, float]] = []
        self.fail = False

    async def log_offer(self, queue: str, event: str, detail: str, redial_id: int | None, now: float) -> None:
        if self.fail:
            raise StoreError("disk full")
        self.rows.append((queue, event, detail, redial_id, now))


class Channel:
    """The caller's channel as the script sees it: the variables set on it, in order."""

    def __init__(self) -> None:
        self.set: list[tuple[str, str]] = []

    async def set_variable(self, name: str, value: str) -> None:
        self.set.append((name, value))

    @property
    def values(self) -> dict[str, str]:
        return dict(self.set)


class Rig:
    """A desk with a fixed offer, a request callable that records what it was asked, and a fake store."""

    def __init__(
        self,
        offer: CallbackOffer = OFFERED,
        answer: RequestAnswer | None = None,
        settings: Settings | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.offer, self.answer = offer, answer or RequestAnswer("accepted", "callback 4 stored", 4, 4)
        self.delay, self.error = delay, error
        self.offers: list[str] = []
        self.requests: list[CallbackRequest] = []
        self.store = FakeStore()
        self.metrics = Metrics()
        self.desk = QueueCallbackDesk(
            settings or parse_settings({}, env={}),
            cast(Store, self.store),
            self._offer,
            self._request,
            self.metrics,
            structlog.get_logger("test"),
            ManualClock(NOW),
        )

    def _offer(self, uniqueid: str) -> CallbackOffer:
        self.offers.append(uniqueid)
        return self.offer

    async def _request(self, request: CallbackRequest) -> RequestAnswer:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.answer

    async def serve(self, *args: str, **headers: str) -> Channel:
        channel = Channel()
        sent = {"agi_uniqueid": "2.1", "agi_callerid": "2025550123", "agi_channel": "PJSIP/trunk-0000002a"}
        sent.update({f"agi_arg_{n}": arg for n, arg in enumerate(args, 1)})
        sent.update(headers)
        await self.desk.serve(sent, channel.set_variable)
        return channel

    def count(self, queue: str, event: str) -> float:
        labels = {"queue": queue, "event": event}
        return self.metrics.registry.get_sample_value("redial_queue_callbacks_total", labels) or 0.0


class TestOffer:
    """The offer step sets what the dialplan plays and where the caller goes back."""

    async def test_offered_sets_queue_position_minutes_and_sounds(self) -> None:
        """Offered: 1, the queue, position 2, 4 minutes, and every sound list of the configuration."""
        rig = Rig()
        channel = await rig.serve("offer")
        assert rig.offers == ["2.1"]
        values = channel.values
        assert [values[n] for n in ("REDIAL_CB_OFFERED", "REDIAL_CB_QUEUE", "REDIAL_CB_POSITION")] == [
            "1",
            "support",
            "2",
        ]
        assert values["REDIAL_CB_MINUTES"] == "4"
        assert values["REDIAL_CB_WAIT_BEFORE"] == "queue-holdtime"
        assert values["REDIAL_CB_WAIT_AFTER"] == "queue-minutes"
        assert (
            values["REDIAL_CB_MENU"] == "to-call-this-number&vm-press&digits/1&vm-enter-num-to-call&vm-press&digits/2"
        )
        assert values["REDIAL_CB_ENTER"] == "vm-enter-num-to-call"
        assert values["REDIAL_CB_NOT_AVAILABLE"] == "sorry&feature-not-avail-line"
        assert values["REDIAL_CB_INVALID"] == "invalid&please-try-again"
        assert values["REDIAL_CB_CONFIRM_BEFORE"] == "auth-thankyou&queue-holdtime"
        assert values["REDIAL_CB_CONFIRM_AFTER"] == "queue-minutes&queue-thankyou&goodbye"
        assert len(channel.set) == len(values) == 12

    async def test_configured_sounds_and_empty_lists(self) -> None:
        """Sounds come from queue_callback.sounds; an empty list is an empty value."""
        settings = parse_settings({"queue_callback": {"sounds": {"menu": ["custom/menu"], "wait_after": []}}}, env={})
        values = (await Rig(settings=settings).serve("offer")).values
        assert (values["REDIAL_CB_MENU"], values["REDIAL_CB_WAIT_AFTER"]) == ("custom/menu", "")

    async def test_not_offered_keeps_the_place_to_go_back_to(self) -> None:
        """Refused: 0, with the queue and position the caller returns to; counted with its reason."""
        rig = Rig(offer=FULL)
        values = (await rig.serve("offer")).values
        assert [values[n] for n in ("REDIAL_CB_OFFERED", "REDIAL_CB_QUEUE", "REDIAL_CB_POSITION")] == [
            "0",
            "support",
            "7",
        ]
        assert values["REDIAL_CB_MINUTES"] == "0"
        assert rig.store.rows == [("support", "not_offered", "queue_full", None, NOW)]
        assert (rig.count("support", "not_offered"), rig.count("support", "offered")) == (1, 0)

    async def test_offer_counted(self) -> None:
        """An offer is one metric and one row of the offers log."""
        rig = Rig()
        await rig.serve("offer")
        assert rig.count("support", "offered") == 1
        assert rig.store.rows == [("support", "offered", "", None, NOW)]

    async def test_unknown_caller_is_not_counted(self) -> None:
        """A caller with no queue: nothing to count, no row, an empty queue value."""
        rig = Rig(offer=UNKNOWN)
        values = (await rig.serve("offer")).values
        assert (values["REDIAL_CB_OFFERED"], values["REDIAL_CB_QUEUE"]) == ("0", "")
        assert rig.store.rows == []

    async def test_odd_queue_name_is_not_set(self) -> None:
        """A queue name outside the token class never reaches the channel."""
        rig = Rig(offer=CallbackOffer(True, "offered", "x", "sup port;x", NOW, 1, 1))
        assert (await rig.serve("offer")).values["REDIAL_CB_QUEUE"] == ""

    async def test_failed_log_write_costs_only_the_row(self) -> None:
        """The store failing to log the offer still answers the caller, and the metric counts it."""
        rig = Rig()
        rig.store.fail = True
        values = (await rig.serve("offer")).values
        assert values["REDIAL_CB_OFFERED"] == "1" and rig.count("support", "offered") == 1

    async def test_unknown_step_sets_nothing(self) -> None:
        """A step the script does not know is logged and answered with nothing."""
        rig = Rig()
        channel = await rig.serve("nonsense")
        assert channel.set == [] and rig.offers == [] and rig.requests == []


class TestRequest:
    """The request step: the caller's choice, answered once stored."""

    async def test_own_number(self) -> None:
        """``own`` asks for the caller ID, with the DID and the channel; accepted and its minutes set."""
        rig = Rig()
        channel = await rig.serve("request", "own", agi_dnid="+18005550100")
        assert rig.requests == [
            CallbackRequest("2.1", "2025550123", False, dialled="+18005550100", channel="PJSIP/trunk-0000002a")
        ]
        assert channel.set == [("REDIAL_CB_RESULT", "accepted"), ("REDIAL_CB_MINUTES", "4")]

    async def test_keyed_number(self) -> None:
        """Keyed digits are the number asked for, marked keyed; an odd DID is left out."""
        rig = Rig()
        await rig.serve("request", "2025550142", agi_dnid="s")
        (request,) = rig.requests
        assert (request.number, request.keyed, request.dialled) == ("2025550142", True, "")

    @pytest.mark.parametrize("keyed", ["", "12a4", "+12025550142", "1" * 21, "2025550142#"])
    async def test_non_digit_keyed_number_is_refused_without_a_request(self, keyed: str) -> None:
        """Anything but 1 to 20 digits is refused before the daemon is asked."""
        rig = Rig()
        channel = await rig.serve("request", keyed)
        assert rig.requests == []
        assert channel.values == {"REDIAL_CB_RESULT": "number_refused", "REDIAL_CB_MINUTES": "0"}
        assert rig.count("support", "number_refused") == 1

    async def test_timeout_answers_failed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A request not stored in time: the caller hears it failed, and nothing is counted."""
        monkeypatch.setattr(callback_agi, "REQUEST_TIMEOUT", 0.05)
        rig = Rig(delay=5.0)
        channel = await asyncio.wait_for(rig.serve("request", "own"), 2.0)
        assert channel.values == {"REDIAL_CB_RESULT": "failed", "REDIAL_CB_MINUTES": "0"}
        assert rig.store.rows == [] and rig.count("support", "accepted") == 0

    async def test_store_error_answers_failed(self) -> None:
        """The store refusing the request: failed."""
        rig = Rig(error=StoreError("database is locked"))
        channel = await rig.serve("request", "own")
        assert channel.values["REDIAL_CB_RESULT"] == "failed"

    @pytest.mark.parametrize(
        ("answer", "counted"),
        [
            (RequestAnswer("accepted", "callback 4 stored", 4, 4), True),
            (RequestAnswer("merged", "merged into callback 3", 6, 3), True),
            (RequestAnswer("number_refused", "customer number '911' is an emergency number"), True),
            (RequestAnswer("not_offered", "queue_full"), False),
        ],
    )
    async def test_results_counted(self, answer: RequestAnswer, counted: bool) -> None:
        """Accepted, merged and refused requests are counted under the offer's queue, with their job."""
        rig = Rig(answer=answer)
        channel = await rig.serve("request", "own")
        assert channel.values == {"REDIAL_CB_RESULT": answer.result, "REDIAL_CB_MINUTES": str(answer.minutes)}
        assert rig.count("support", answer.result) == (1 if counted else 0)
        expected: list[Any] = [("support", answer.result, "", answer.job_id, NOW)] if counted else []
        assert rig.store.rows == expected
