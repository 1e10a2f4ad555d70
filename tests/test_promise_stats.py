"""Tests for redial.tools.promise_stats: the promise funnel per queue and per agent. Pure."""

from __future__ import annotations

from typing import Any

from redial.tools.promise_stats import (
    QUEUE_OWNER,
    AgentPromises,
    PromiseFunnel,
    agent_lines,
    funnel_lines,
    promise_funnel,
    promises_by_agent,
)

ALICE, BOB = "PJSIP/1001", "PJSIP/1002"


def row(**changes: Any) -> dict[str, Any]:
    """A promise of Alice in support, kept by her on time."""
    base: dict[str, Any] = {
        "queue": "support",
        "owner_interface": ALICE,
        "owner_member": "Alice",
        "state": "done",
        "outcome": "connected",
        "ring_interface": ALICE,
        "ring_member": "Alice",
        "late": 0,
    }
    return base | changes


ROWS = [
    row(),
    row(late=1),
    row(ring_interface=BOB, ring_member="Bob"),
    row(outcome="unreached"),
    row(outcome="customer_called_back"),
    row(outcome="cancelled"),
    row(outcome="failed"),
    row(state="waiting", outcome=None, ring_interface=""),
    row(queue="sales", owner_interface=None, owner_member=None, ring_interface=BOB, ring_member="Bob"),
    row(queue="sales", owner_interface=BOB, owner_member="Bob", outcome="unreached", ring_interface=BOB),
]


class TestFunnel:
    """Per queue: made, kept (and late), unreached, called back, cancelled, pending, the rest by outcome."""

    def test_per_queue(self) -> None:
        funnels = promise_funnel(ROWS)
        assert list(funnels) == ["sales", "support"]
        assert funnels["support"] == PromiseFunnel(
            made=8,
            kept=3,
            kept_late=1,
            unreached=1,
            customer_called_back=1,
            cancelled=1,
            pending=1,
            ended_otherwise={"failed": 1},
        )
        assert funnels["sales"].as_dict()["kept"] == 1 and funnels["sales"].as_dict()["unreached"] == 1


class TestByAgent:
    """Per owner who kept their promises; others' promises an agent kept; the queue's promises last."""

    def test_owners_and_keepers(self) -> None:
        agents = promises_by_agent(ROWS)
        assert list(agents) == ["Alice", "Bob", QUEUE_OWNER]
        assert agents["Alice"] == AgentPromises(
            made=8,
            kept_by_owner=2,
            kept_by_other=1,
            late=1,
            unreached=1,
            called_back_or_cancelled=2,
            pending=1,
            ended_otherwise=1,
        )
        # Bob kept one of Alice's and one of the queue's; his own promise went unreached.
        assert agents["Bob"] == AgentPromises(made=1, unreached=1, kept_for_others=2)
        # The queue's promise is kept by whichever member takes it.
        assert agents[QUEUE_OWNER] == AgentPromises(made=1, kept_by_owner=1)

    def test_keeper_without_a_name(self) -> None:
        """A keeper no call named is shown by interface, and owns nothing."""
        agents = promises_by_agent([row(ring_interface="PJSIP/1009", ring_member="")])
        assert agents["PJSIP/1009"].as_dict() == AgentPromises(kept_for_others=1).as_dict()
        assert agents["Alice"].kept_by_other == 1


class TestLines:
    """The tables fit 80 columns; their numbers are the funnels'."""

    def test_tables(self) -> None:
        funnel = funnel_lines(promise_funnel(ROWS))
        agents = agent_lines(promises_by_agent(ROWS))
        assert all(len(line) <= 80 for line in funnel + agents)
        assert funnel[2].split() == ["sales", "2", "1", "0", "1", "0", "0", "0"]
        assert funnel[3].split() == ["support", "8", "3", "1", "1", "1", "1", "1"]
        assert "   ended failed: 1" in funnel[4]
        assert agents[2].split() == ["Alice", "8", "2", "1", "1", "1", "2", "1", "0"]
        assert agents[4].split() == ["Bob", "1", "0", "0", "0", "1", "0", "0", "2"]
        assert agents[5].split() == [QUEUE_OWNER, "1", "1", "0", "0", "0", "0", "0", "0"]
