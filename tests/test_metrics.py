"""Tests for redial.service.metrics and the shipped Grafana dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from redial.service.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "config" / "grafana-dashboard.json"


class TestDashboard:
    """Every metric the dashboard queries exists under that name."""

    def test_queries_use_real_metrics(self) -> None:
        metrics = Metrics()
        metrics.drops.labels("44", "trunk").inc()
        metrics.decisions.labels("redial", "abnormal_end").inc()
        metrics.outcomes.labels("connected").inc()
        metrics.drop_to_redial.observe(20)
        metrics.drop_to_connected.observe(30)
        metrics.event_lag.observe(0.001)
        metrics.ami_logins.inc()
        metrics.queue_callbacks.labels("support", "offered").inc()
        metrics.queue_callbacks_pending.labels("support").set(1)
        metrics.request_to_callback.observe(300)
        metrics.promises.labels("support", "made").inc()
        metrics.promises_pending.labels("support").set(1)
        exposed = {
            line.split("{")[0].split(" ")[0]
            for line in metrics.exposition().decode().splitlines()
            if line and not line.startswith("#")
        }
        dashboard = json.loads(DASHBOARD.read_text())
        used = set()
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):  # a row has none
                used |= set(re.findall(r"redial_[a-z_]+", target["expr"]))
        assert used and used <= exposed, used - exposed

    def test_panels_unique_and_callback_row(self) -> None:
        """Ids are unique, and the "Queue callbacks" row carries the callback funnel, pending and wait panels."""
        panels = json.loads(DASHBOARD.read_text())["panels"]
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids))
        (row,) = [panel for panel in panels if panel["type"] == "row" and panel["title"] == "Queue callbacks"]
        below = [panel for panel in panels if panel["gridPos"]["y"] > row["gridPos"]["y"] and panel["type"] != "row"]
        exprs = " ".join(target["expr"] for panel in below for target in panel["targets"])
        for metric in (
            "redial_queue_callbacks_total",
            "redial_queue_callbacks_pending",
            "redial_queue_callback_wait_seconds_bucket",
        ):
            assert metric in exprs
        assert all(panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for panel in below)

    def test_promise_row(self) -> None:
        """The "Promised callbacks" row carries the promise events and what is still to be kept."""
        panels = json.loads(DASHBOARD.read_text())["panels"]
        (row,) = [panel for panel in panels if panel["type"] == "row" and panel["title"] == "Promised callbacks"]
        below = [panel for panel in panels if panel["gridPos"]["y"] > row["gridPos"]["y"] and panel["type"] != "row"]
        exprs = " ".join(target["expr"] for panel in below for target in panel["targets"])
        assert "redial_promises_total" in exprs and "redial_promises_pending" in exprs
