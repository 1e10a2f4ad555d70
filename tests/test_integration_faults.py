"""Faults on the real PBX: the daemon killed in each redial state, Asterisk restarted mid-wait.

Exactly one redial each time, checked on the PBX, and the agent is never left paused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox import AgentPhone, AmiObserver, CustomerPhone, Sandbox, customer_call
from tests.sandbox.daemon import DaemonProcess, daemon_config
from tests.sandbox.observer import where
from tests.test_integration import CUSTOMER, DID, redial_leg

pytestmark = pytest.mark.integration


@pytest.fixture
def customer_phone() -> Iterator[CustomerPhone]:
    phone = CustomerPhone(ring_delay=3, hangup_after=3, max_time=120)
    phone.start()
    yield phone
    phone.stop()




async def agent1_paused(observer: AmiObserver) -> bool:
    events = await observer.action_list({"Action": "QueueStatus", "Queue": "support"})
    (member,) = [e for e in events if e.get("Event") == "QueueMember" and e.get("Location") == "PJSIP/agent1"]
    return member.get("Paused") == "1"


class TestKilledInEachState:
    """SIGKILL while the agent rings, while the customer rings, and once connected: one redial, agent released."""

    @pytest.mark.parametrize("state", ["agent_ringing", "customer_ringing", "connected"])
    async def test_exactly_one_redial(
        self, state: str, sandbox: Sandbox, tmp_path: Path, customer_phone: CustomerPhone
    ) -> None:
        # The agent answers the queue call at once (the customer's silent line drops 3 s
        # after answer); for the redial, a phone that rings 4 s gives time to kill the daemon.
        agent = AgentPhone("agent1", ring_delay=0.5, max_time=120)
        agent.start()
        daemon = DaemonProcess(daemon_config(sandbox, tmp_path, callback_window=5), tmp_path / "redial.log")
        async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
            await asyncio.to_thread(daemon.start)
            call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=30)
            try:
                await obs.wait_for(
                    where(Event="Hangup", Channel=lambda c: c.startswith("PJSIP/trunk-"), Cause="44"), timeout=20
                )
                if state == "agent_ringing":
                    agent.stop()
                    agent = AgentPhone("agent1", ring_delay=4, max_time=120)
                    agent.start()
                leg = await obs.wait_for(redial_leg, timeout=25, what="the redial's agent leg")
                cid = leg["Uniqueid"]
                if state == "customer_ringing":
                    await obs.wait_for(
                        where(Event="Newchannel", Linkedid=cid, Channel=lambda c: c.startswith("PJSIP/trunk-")),
                        timeout=15,
                    )
                elif state == "connected":
                    await obs.wait_for(where(Event="BridgeEnter", Uniqueid=cid), timeout=20)
                daemon.kill()
                await asyncio.to_thread(daemon.start)
                # The call goes on without the daemon's help and ends (customer hangs up after 3 s).
                await obs.wait_for(where(Event="Hangup", Uniqueid=cid), timeout=30, what="the redial ended")
                await asyncio.sleep(3)
                assert [m["Uniqueid"] for m in obs.find(redial_leg)] == [cid], daemon.tail()
                assert len(customer_phone.invites) == 1
                assert obs.find(where(Event="BridgeEnter", Uniqueid=cid)), "the redial never connected"
                assert not await agent1_paused(obs), f"agent1 left paused after a kill in {state}"
            finally:
                call.stop()
                agent.stop()
                assert await asyncio.to_thread(daemon.stop) == 0, daemon.tail()


class TestAsteriskRestart:
    """Asterisk restarts while a redial waits in its window: the redial still happens, once."""

    async def test_restart_during_window(self, sandbox: Sandbox, tmp_path: Path, customer_phone: CustomerPhone) -> None:
        agent = AgentPhone("agent1", ring_delay=0.5, max_time=120)
        agent.start()
        daemon = DaemonProcess(daemon_config(sandbox, tmp_path, callback_window=10), tmp_path / "redial.log")
        try:
            async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
                await asyncio.to_thread(daemon.start)
                call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=20)
                try:
                    await obs.wait_for(
                        where(Event="Hangup", Channel=lambda c: c.startswith("PJSIP/trunk-"), Cause="44"), timeout=20
                    )
                    await asyncio.to_thread(daemon.wait_for, "redial", 10, state="waiting")
                finally:
                    call.stop()
            await asyncio.to_thread(sandbox.restart)
            async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
                leg = await obs.wait_for(redial_leg, timeout=30, what="the redial after the restart")
                await obs.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20)
                await asyncio.sleep(3)
                assert len(obs.find(redial_leg)) == 1 and len(customer_phone.invites) == 1
                assert len(daemon.lines("ami_logged_in")) >= 2
        finally:
            agent.stop()
            assert await asyncio.to_thread(daemon.stop) == 0, daemon.tail()
