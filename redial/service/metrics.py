"""Prometheus metrics, on a registry of the daemon's own (served on the loopback status endpoint)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds from the drop: the callback window is 20 s by default, the whole redial a minute or two.
_DROP_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.drops = Counter("redial_drops", "Abnormal ends of answered queue calls", ["cause", "trunk"], registry=r)
        self.decisions = Counter(
            "redial_decisions", "Decisions on ended queue calls", ["verdict", "reason"], registry=r
        )
        self.cap_skips = Counter(
            "redial_cap_skips",
            "Drops not redialled because a cap was reached: daily (per number) or hourly (all redials)",
            ["cap"],
            registry=r,
        )
        self.redials_last_hour = Gauge(
            "redial_redials_last_hour",
            "Redials decided in the last 60 minutes (policy.max_redials_per_hour)",
            registry=r,
        )
        self.outcomes = Counter("redial_outcomes", "Finished redial attempts by outcome", ["outcome"], registry=r)
        self.drop_to_redial = Histogram(
            "redial_drop_to_originate_seconds",
            "From the drop to the redial's Originate",
            buckets=_DROP_BUCKETS,
            registry=r,
        )
        self.drop_to_connected = Histogram(
            "redial_drop_to_connected_seconds",
            "From the drop to agent and customer bridged",
            buckets=_DROP_BUCKETS,
            registry=r,
        )
        self.ami_connected = Gauge("redial_ami_connected", "1 while logged in to AMI", registry=r)
        self.ami_logins = Counter(
            "redial_ami_logins", "Successful AMI logins (the first and every reconnect)", registry=r
        )
        self.event_lag = Histogram(
            "redial_event_lag_seconds",
            "From the arrival of the oldest AMI event of a batch to the end of its processing",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=r,
        )
        self.open_redials = Gauge("redial_open_redials", "Redials not yet finished", registry=r)
        # Queue callbacks: the funnel per queue (offered, not_offered, accepted, merged,
        # number_refused, started, reached, unreached, cancelled) and what waits.
        self.queue_callbacks = Counter(
            "redial_queue_callbacks", "Queue callback offers, requests and ends", ["queue", "event"], registry=r
        )
        self.queue_callbacks_pending = Gauge(
            "redial_queue_callbacks_pending", "Queue callbacks requested and not yet finished", ["queue"], registry=r
        )
        self.request_to_callback = Histogram(
            "redial_queue_callback_wait_seconds",
            "From a queue callback's request to agent and customer bridged",
            buckets=(60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800),
            registry=r,
        )
        # Promised callbacks per queue: made, kept_by_owner, kept_by_other, late, unreached,
        # called_back, cancelled; and what is still to be kept.
        self.promises = Counter("redial_promises", "Promised callbacks made and ended", ["queue", "event"], registry=r)
        self.promises_pending = Gauge(
            "redial_promises_pending", "Promised callbacks not yet kept or ended", ["queue"], registry=r
        )
        self.tracked_calls = Gauge("redial_tracked_calls", "Calls being followed", registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
