"""The queue-callback FastAGI script: thin I/O around :class:`redial.core.queue_callbacks.QueueCallbacks`.

``[redial-queue-callback]`` runs ``AGI(agi://127.0.0.1:4573/queue-callback,offer)`` after
the offer key, then ``...,request,own`` or ``...,request,<digits>`` with the caller's
choice. Every value set on the channel is whitelisted here and checked again by the
dialplan. A request is answered only once the consumer task has stored it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from redial.ami.actions import TOKEN, sound_list
from redial.clock import Clock
from redial.config import Settings
from redial.core.queue_callbacks import CallbackOffer, CallbackRequest, RequestAnswer
from redial.exceptions import StoreError, UnsafeValueError
from redial.service.metrics import Metrics
from redial.store import Store

SCRIPT = "queue-callback"
# A keyed number: digits only, as many as any number has (the number rules judge it then).
_MAX_KEYED = 20
# How long a caller waits for the request to be stored before hearing it failed.
REQUEST_TIMEOUT = 4.0

SetVariable = Callable[[str, str], Awaitable[None]]


class QueueCallbackDesk:
    """Answers the queue-callback script's two questions: the offer and the request."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        offer: Callable[[str], CallbackOffer],
        request: Callable[[CallbackRequest], Awaitable[RequestAnswer]],
        metrics: Metrics,
        log: structlog.typing.FilteringBoundLogger,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self._store, self._offer, self._request = store, offer, request
        self._metrics, self._log = metrics, log
        self._clock = clock

    async def serve(self, headers: Mapping[str, str], set_variable: SetVariable) -> None:
        step = headers.get("agi_arg_1", "")
        uniqueid = headers.get("agi_uniqueid", "")[:150]
        if step == "offer":
            await self._serve_offer(uniqueid, set_variable)
        elif step == "request":
            await self._serve_request(uniqueid, headers, set_variable)
        else:
            self._log.warning("queue_callback_unknown_step", step=step[:40])

    async def _serve_offer(self, uniqueid: str, set_variable: SetVariable) -> None:
        offer = self._offer(uniqueid)
        sounds = self.settings.queue_callback.sounds
        values = {
            "REDIAL_CB_OFFERED": "1" if offer.offered else "0",
            "REDIAL_CB_QUEUE": offer.queue if TOKEN.fullmatch(offer.queue) else "",
            "REDIAL_CB_POSITION": str(max(0, offer.position)),
            "REDIAL_CB_MINUTES": str(max(0, offer.minutes)),
            "REDIAL_CB_WAIT_BEFORE": _sounds(sounds.wait_before),
            "REDIAL_CB_WAIT_AFTER": _sounds(sounds.wait_after),
            "REDIAL_CB_MENU": _sounds(sounds.menu),
            "REDIAL_CB_ENTER": _sounds(sounds.enter_number),
            "REDIAL_CB_NOT_AVAILABLE": _sounds(sounds.not_available),
            "REDIAL_CB_INVALID": _sounds(sounds.invalid_number),
            "REDIAL_CB_CONFIRM_BEFORE": _sounds(sounds.confirm_before),
            "REDIAL_CB_CONFIRM_AFTER": _sounds(sounds.confirm_after),
        }
        for name, value in values.items():
            await set_variable(name, value)
        event = "offered" if offer.offered else "not_offered"
        self._log.info(
            "queue_callback_offer",
            uniqueid=uniqueid[:80],
            queue=offer.queue or None,
            offered=offer.offered,
            reason=offer.reason,
            detail=offer.detail,
        )
        if offer.queue:
            await self._count(offer.queue, event, "" if offer.offered else offer.reason, None)

    async def _serve_request(self, uniqueid: str, headers: Mapping[str, str], set_variable: SetVariable) -> None:
        choice = headers.get("agi_arg_2", "")
        caller = headers.get("agi_callerid", "")
        keyed = choice != "own"
        number = choice if keyed else caller
        if keyed and not (choice.isdigit() and len(choice) <= _MAX_KEYED):
            answer = RequestAnswer("number_refused", "the keyed number is empty or not digits")
        else:
            request = CallbackRequest(
                uniqueid=uniqueid,
                number=number[:40],
                keyed=keyed,
                dialled=_did(headers.get("agi_dnid", "")),
                channel=headers.get("agi_channel", "")[:150],
            )
            try:
                answer = await asyncio.wait_for(self._request(request), REQUEST_TIMEOUT)
            except TimeoutError:
                answer = RequestAnswer("failed", "the request was not stored in time")
            except StoreError as exc:
                answer = RequestAnswer("failed", f"the store failed: {exc}")
        await set_variable("REDIAL_CB_RESULT", answer.result)
        await set_variable("REDIAL_CB_MINUTES", str(max(0, answer.minutes)))
        log = self._log.warning if answer.result == "failed" else self._log.info
        log(
            "queue_callback_request",
            uniqueid=uniqueid[:80],
            customer=number[:40],
            result=answer.result,
            redial_id=answer.job_id,
            detail=answer.detail,
        )
        queue = self._offer(uniqueid).queue
        if queue and answer.result in ("accepted", "merged", "number_refused"):
            await self._count(queue, answer.result, "", answer.job_id)

    async def _count(self, queue: str, step: str, detail: str, redial_id: int | None) -> None:
        """The funnel: a metric and a row of the offers log (a failed write costs only the row)."""
        self._metrics.queue_callbacks.labels(queue, step).inc()
        try:
            await self._store.log_offer(queue, step, detail, redial_id, self._clock.now())
        except StoreError as exc:
            self._log.warning("callback_offer_not_logged", queue=queue, step=step, error=str(exc))


def _sounds(names: tuple[str, ...]) -> str:
    """A Playback list the dialplan checks again; empty when there is none (or it is unsafe)."""
    if not names:
        return ""
    try:
        return sound_list(names, "callback sounds")
    except UnsafeValueError:
        return ""


def _did(dnid: str) -> str:
    """The number the caller dialled: digits and one leading + only."""
    body = dnid.removeprefix("+")
    return dnid if body.isdigit() and len(body) <= 20 else ""
