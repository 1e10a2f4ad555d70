"""An ended call in, its decision and (for a drop to redial) its new job out, as one ``RecordCall``. Pure."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import deque
from collections.abc import Callable

import structlog

from redial.config import PolicySettings, Settings
from redial.core.commands import Command, NewJob, RecordCall
from redial.core.jobs import JobKind
from redial.core.tracker import EndedBy, EndedCall
from redial.policy.classify import cause_name, classify
from redial.policy.decide import Decision, Reason, Verdict, decide, skip_by_kind
from redial.policy.guard import OutageGuard
from redial.policy.hours import is_open
from redial.policy.numbers import NumberCheck, check_number, customer_key
from redial.service.metrics import Metrics

# Customer keys kept (number -> key); the cache starts over when full. It must outlive a
# call (the FastAGI lookup, then the tracker and the decision) and hold every pending job's
# number: 100 s of calls at 10 a second. Larger only holds more memory that is never freed.
_KEYS_CACHED = 2048
# Redials per number are kept this long for the daily cap (a day in any time zone, and then some).
_CAP_MEMORY = 2 * 86400.0
# The hourly cap counts the redials of the last this many seconds.
_HOUR = 3600.0


def local_midnight(now: float, timezone: str) -> float:
    zone = zoneinfo.ZoneInfo(timezone)
    local = dt.datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Intake:
    """Judges each ended queue call; remembers the redials the daily (per number) and hourly caps count."""

    def __init__(
        self,
        settings: Settings,
        guard: OutageGuard,
        do_not_call: Callable[[PolicySettings], frozenset[str]],
        log: structlog.typing.FilteringBoundLogger,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self._guard = guard
        self._do_not_call = do_not_call
        self._log = log
        self._metrics = metrics
        self._keys: dict[tuple[str, bool], str] = {}
        # Customer key -> when each of its redials was created (the last two days).
        self._redialled: dict[str, list[float]] = {}
        # When each redial of the last hour was created, oldest first, whatever its number.
        self._last_hour: deque[float] = deque()
        # The hourly cap's warning is logged once each time it is reached, not for every call it stops.
        self._hourly_warned = False

    def reload(self, settings: Settings) -> None:
        self.settings = settings
        self._keys.clear()  # the number rules may have changed

    def resume(self, recent_redials: list[tuple[str, float]]) -> None:
        """(customer key, created at) of the redials a previous run made lately: what the caps count."""
        for key, created_at in recent_redials:
            if key:
                self._redialled.setdefault(key, []).append(created_at)
        self._last_hour.extend(sorted(created_at for _, created_at in recent_redials))

    def redial_created(self, key: str, now: float) -> None:
        if key:
            self._redialled.setdefault(key, []).append(now)
        self._last_hour.append(now)
        self.redials_last_hour(now)

    def forget_old(self, now: float) -> None:
        """Drop what the daily cap no longer counts (at each login, so it never grows for good)."""
        for key, times in list(self._redialled.items()):
            kept = [t for t in times if t >= now - _CAP_MEMORY]
            if kept:
                self._redialled[key] = kept
            else:
                del self._redialled[key]
        self.redials_last_hour(now)

    def redials_since(self, key: str, since: float) -> int:
        return sum(1 for t in self._redialled.get(key, ()) if t >= since) if key else 0

    def redials_last_hour(self, now: float) -> int:
        """Redials created in the 60 minutes up to ``now``, all numbers: what the hourly cap counts."""
        while self._last_hour and self._last_hour[0] <= now - _HOUR:
            self._last_hour.popleft()
        self._metrics.redials_last_hour.set(len(self._last_hour))
        return len(self._last_hour)

    def customer_key(self, number: str) -> str:
        """The customer a number names, in the one form every "same customer" check uses."""
        return self._cached_key(number, False)

    def dialled_key(self, number: str) -> str:
        """The customer behind a number someone dialled (an outside-line prefix taken off)."""
        return self._cached_key(number, True)

    def _cached_key(self, number: str, dialled: bool) -> str:
        # Parsing costs ~20 us; the same numbers come back (each pending job's, at every call).
        key = self._keys.get((number, dialled))
        if key is None:
            numbers = self.settings.policy.numbers
            key = customer_key(number, numbers, numbers.dial_prefixes if dialled else ())
            if len(self._keys) >= _KEYS_CACHED:
                self._keys.clear()
            self._keys[(number, dialled)] = key
        return key

    def check_callback_number(self, number: str, queue: str) -> NumberCheck:
        """The number rules' verdict on a number a caller asked to be called back on."""
        policy = self.settings.policy_for(queue)
        return check_number(number, policy.numbers, self._do_not_call(policy))

    def call_ended(self, call: EndedCall, now: float) -> list[Command]:
        if call.queue is None:
            # Internal and outbound calls are not the daemon's business; keep them out of the store.
            return []
        policy = self.settings.policy_for(call.queue)
        classification = classify(call, policy)
        skipped = skip_by_kind(classification)
        # Stored for history and returning callers in the one "same customer" form.
        key = self.customer_key(call.customer_number)
        if skipped is not None:
            # Most calls: the number is stored, not judged.
            decision = skipped
        else:
            # A restricted presentation is a withheld number, whatever AMI's CallerIDNum shows.
            shown = "anonymous" if call.number_withheld else call.customer_number
            number = check_number(shown, policy.numbers, self._do_not_call(policy))
            hours = is_open(now, policy.hours)
            today = self.redials_since(key, local_midnight(now, policy.hours.timezone))
            hour = self.redials_last_hour(now)
            decision = decide(
                call, classification, policy, number=number, hours=hours, redials_today=today, redials_this_hour=hour
            )
            self._cap_reached(decision, key or call.customer_number, today, hour, policy)
        self._metrics.decisions.labels(decision.verdict.value, decision.reason.value).inc()
        if classification.abnormal:
            self._metrics.drops.labels(str(call.cause), call.trunk).inc()
            tripped = self._guard.record_drop(call.trunk, now)
            if tripped is not None:
                self._log.warning(
                    "outage_guard_tripped", trunk=tripped.trunk, drops=tripped.drops, detail=tripped.detail
                )
        job = None
        if decision.verdict is Verdict.REDIAL and decision.due_at is not None:
            # The agent's own leg failed (their phone lost media or transport): ringing that
            # phone again would only wait out a dead device, so another member takes it.
            agent_failed = (
                call.ended_by is EndedBy.AGENT
                and call.agent_interface
                and not call.pbx_restart
                and not (call.soft_cause or 0) & 4  # Asterisk shutting down hangs up either leg first
            )
            passed_over = (call.agent_interface,) if agent_failed and call.agent_interface else ()
            prefix = self.settings.originate.channel_id_prefix
            job = NewJob(JobKind.DROP_REDIAL, decision.due_at, prefix, decision.dial_number, passed_over)
        fields: dict[str, object] = {
            "linkedid": call.linkedid,
            "uniqueid": call.customer_uniqueid,
            "customer": call.customer_number,
            "queue": call.queue,
            "agent": call.agent_interface,
            "agent_name": call.agent_member,
            "trunk": call.trunk,
            "ended_by": call.ended_by.value,
            "cause": call.cause,
            "cause_text": cause_name(call.cause),
            "classification": classification.kind.value,
            "decision": decision.verdict.value,
            "reason": decision.reason.value,
            "detail": decision.detail,
        }
        return [RecordCall(call, classification, decision, key, job, fields)]

    def _cap_reached(self, decision: Decision, customer: str, today: int, hour: int, policy: PolicySettings) -> None:
        """Count and log a drop a cap stopped; the hourly cap's warning once each time it is reached."""
        if decision.reason is Reason.DAILY_CAP:
            self._metrics.cap_skips.labels("daily").inc()
            cap = policy.numbers.max_redials_per_day
            self._log.warning("daily_cap_reached", customer=customer, redials_today=today, max_redials_per_day=cap)
        elif decision.reason is Reason.HOURLY_CAP:
            self._metrics.cap_skips.labels("hourly").inc()
            if not self._hourly_warned:
                cap = policy.max_redials_per_hour
                self._log.warning("hourly_cap_reached", redials_last_hour=hour, max_redials_per_hour=cap)
            self._hourly_warned = True
        elif decision.verdict is Verdict.REDIAL:
            self._hourly_warned = False
