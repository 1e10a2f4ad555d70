"""The promise FastAGI script: the agent's in-call ``*7`` (``[redial-promise]``), thin I/O around the engine.

The feature runs ``AGI(agi://127.0.0.1:4573/promise,prompt)`` for the sounds of the
question, reads the minutes, then ``...,make,<minutes>,<Linkedid>``. The engine finds the
live queue call by its Linkedid, makes its agent the owner and stores the promise; only
then is the answer set on the channel: the minutes and the owner's name (or a recording of
it) for the confirmation and for the customer. Every value set is whitelisted here and
checked again by the dialplan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from redial.ami.actions import SOUND, sound_list
from redial.config import Settings
from redial.config.promise_settings import PromisePolicy
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.exceptions import StoreError, UnsafeValueError

SCRIPT = "promise"
# The most minutes the dialplan reads (five digits; the engine refuses what is too far ahead).
MAX_MINUTES = 99999
# How long the agent waits for the promise to be stored before hearing it failed.
MAKE_TIMEOUT = 4.0
_NAME_LENGTH = 40

SetVariable = Callable[[str, str], Awaitable[None]]
MakePromise = Callable[[PromiseRequest], Awaitable[PromiseAnswer]]


class PromiseDesk:
    """Answers the promise script's two steps: the prompt's sounds, and making the promise."""

    def __init__(
        self,
        settings: Settings,
        make_promise: MakePromise,
        log: structlog.typing.FilteringBoundLogger,
        timeout: float = MAKE_TIMEOUT,
    ) -> None:
        self.settings = settings
        self._make, self._log, self._timeout = make_promise, log, timeout

    async def serve(self, headers: Mapping[str, str], set_variable: SetVariable) -> None:
        step = headers.get("agi_arg_1", "")
        if step == "prompt":
            sounds = self.settings.policy.promise.sounds
            await set_variable("REDIAL_PR_ENTER", _sounds(sounds.agent_enter))
            await set_variable("REDIAL_PR_REFUSED", _sounds(sounds.agent_refused))
        elif step == "make":
            await self._serve_make(headers, set_variable)
        else:
            self._log.warning("promise_phone_unknown_step", step=step[:40])

    async def _serve_make(self, headers: Mapping[str, str], set_variable: SetVariable) -> None:
        keyed, call = headers.get("agi_arg_2", ""), headers.get("agi_arg_3", "")[:150]
        channel = headers.get("agi_channel", "")[:150]
        answer = await self._answer(keyed, call, channel)
        policy = self.settings.policy_for(answer.queue or None).promise
        values = {"REDIAL_PR_REFUSED": _sounds(policy.sounds.agent_refused)}
        if answer.ok:
            values |= _told(answer, policy)
        # The result last: the dialplan reads the other values only when it says ok.
        values["REDIAL_PR_RESULT"] = "ok" if answer.ok else "refused"
        for name, value in values.items():
            await set_variable(name, value)
        log = self._log.info if answer.ok else self._log.warning
        log(
            "promise_phone",
            call=call[:80],
            channel=channel,
            keyed=keyed[:10],
            ok=answer.ok,
            promise_id=answer.promise_id,
            queue=answer.queue or None,
            agent=answer.agent_name or None,
            minutes=answer.minutes,
            detail=answer.detail,
        )

    async def _answer(self, keyed: str, call: str, channel: str) -> PromiseAnswer:
        """The engine's answer, or why none was asked or came."""
        if not (keyed.isdigit() and 0 < int(keyed) <= MAX_MINUTES):
            return PromiseAnswer(False, "the keyed minutes are empty, zero or not digits")
        if not call:
            return PromiseAnswer(False, "no call to attach the promise to")
        request = PromiseRequest(minutes=int(keyed), call=call, by=channel, source="phone")
        try:
            return await asyncio.wait_for(self._make(request), self._timeout)
        except TimeoutError:
            return PromiseAnswer(False, "the promise was not stored in time")
        except StoreError as exc:
            return PromiseAnswer(False, f"the store failed: {exc}")


def _told(answer: PromiseAnswer, policy: PromisePolicy) -> dict[str, str]:
    """What agent and customer hear about a promise made: the minutes, whose, the sounds around them."""
    sounds = policy.sounds
    name = "".join(c for c in answer.agent_name if c.isascii() and c.isalnum())[:_NAME_LENGTH]
    recording = policy.name_sounds.get(answer.agent_name) or policy.name_sounds.get(answer.agent_interface, "")
    return {
        "REDIAL_PR_MINUTES": str(min(max(answer.minutes, 0), MAX_MINUTES)),
        "REDIAL_PR_NAME": name,
        "REDIAL_PR_NAME_SOUND": recording if SOUND.fullmatch(recording) else "",
        "REDIAL_PR_CONFIRM_BEFORE": _sounds(sounds.agent_confirm_before),
        "REDIAL_PR_CONFIRM_AFTER": _sounds(sounds.agent_confirm_after),
        "REDIAL_PR_CUSTOMER_BEFORE": _sounds(sounds.customer_before),
        "REDIAL_PR_CUSTOMER_MIDDLE": _sounds(sounds.customer_middle),
        "REDIAL_PR_CUSTOMER_AFTER": _sounds(sounds.customer_after),
    }


def _sounds(names: tuple[str, ...]) -> str:
    """A Playback list the dialplan checks again; empty when there is none (or it is unsafe)."""
    if not names:
        return ""
    try:
        return sound_list(names, "promise sounds")
    except UnsafeValueError:
        return ""
