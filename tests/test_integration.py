"""The whole path on a real Asterisk 22 with SIPp phones: drops in, redials out, checked on the PBX.

Each test runs the real ``redial run`` (config/redial.yaml pointed at the sandbox)
as a subprocess and judges only by what the PBX did: the observer's AMI events
and what the SIPp phones received, never by the daemon's own log.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox import AgentPhone, AmiObserver, CustomerPhone, Sandbox, customer_call
from sandbox.daemon import DaemonProcess, daemon_config
from sandbox.observer import AmiMessage, where

pytestmark = pytest.mark.integration

WINDOW = 4.0  # callback window the daemon runs with in these tests
CUSTOMER = "5551234"
DID = "100"


async def _cli(rig: Rig, *args: str) -> str:
    """A redial command against the running daemon's configuration (and so its store)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "redial.tools.cli", *args, "--config", str(rig.daemon.config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def redial_leg(msg: AmiMessage) -> bool:
    """The agent leg of a redial: the daemon's ChannelId makes its Uniqueid."""
    return msg.get("Event") == "Newchannel" and msg.get("Uniqueid", "").startswith("redial-")


@dataclass
class Rig:
    sandbox: Sandbox
    observer: AmiObserver
    agent: AgentPhone
    customer_phone: CustomerPhone
    daemon: DaemonProcess

    def redials(self) -> list[AmiMessage]:
        return self.observer.find(redial_leg)

    async def drop_seen(self, cause: str, start: int = 0) -> AmiMessage:
        """The customer's channel hung up with ``cause`` on the PBX."""
        return await self.observer.wait_for(
            where(Event="Hangup", Channel=lambda c: c.startswith("PJSIP/trunk-"), Cause=cause),
            timeout=20,
            start=start,
            what=f"customer Hangup with cause {cause}",
        )

    async def assert_no_redial(self, after: float) -> None:
        """Wait past the callback window and the daemon's reaction time: no redial channel."""
        await asyncio.sleep(after)
        assert self.redials() == [], f"unexpected redial: {self.redials()}\n{self.daemon.tail()}"

    async def assert_one_connected_redial(self, start: int = 0) -> None:
        """Agent's phone rings first, then the customer's; both end up in one bridge; only once."""
        obs = self.observer
        agent_leg = await obs.wait_for(redial_leg, timeout=WINDOW + 15, start=start, what="the redial's agent leg")
        channel_id = agent_leg["Uniqueid"]
        assert agent_leg["Channel"].startswith("PJSIP/agent1-")
        customer_leg = await obs.wait_for(
            where(Event="Newchannel", Linkedid=channel_id, Channel=lambda c: c.startswith("PJSIP/trunk-")),
            timeout=30,
            what="the redial's customer leg",
        )
        bridged_agent = await obs.wait_for(
            where(Event="BridgeEnter", Uniqueid=channel_id), timeout=20, what="agent leg bridged"
        )
        bridged_customer = await obs.wait_for(
            where(Event="BridgeEnter", Uniqueid=customer_leg["Uniqueid"]), timeout=20, what="customer leg bridged"
        )
        assert bridged_agent["BridgeUniqueid"] == bridged_customer["BridgeUniqueid"]

        # The phones' own view: the agent's INVITE came before the customer's, with the
        # customer's number for the agent and the DID the customer originally dialled.
        redial_invite = self.agent.invites[-1]
        customer_invite = self.customer_phone.invites[0]
        assert redial_invite.received < customer_invite.received
        assert redial_invite.from_user == CUSTOMER
        assert customer_invite.from_user == DID

        # The redial goes to the agent's own device, never through the queue.
        assert not obs.find(where(Event="QueueCallerJoin", Linkedid=channel_id))
        # Exactly one: nothing else is originated once it has connected.
        await asyncio.sleep(2)
        assert [m["Uniqueid"] for m in self.redials()] == [channel_id]
        assert len(self.customer_phone.invites) == 1


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def agent() -> Iterator[AgentPhone]:
    phone = AgentPhone("agent1", ring_delay=0.5, max_time=120)
    phone.start()
    yield phone
    phone.stop()


@pytest.fixture
def customer_phone() -> Iterator[CustomerPhone]:
    # The customer answers the redial, talks 3 s and hangs up.
    phone = CustomerPhone(ring_delay=0.5, hangup_after=3, max_time=120)
    phone.start()
    yield phone
    phone.stop()


@pytest.fixture
async def rig(sandbox: Sandbox, workdir: Path, agent: AgentPhone, customer_phone: CustomerPhone) -> AsyncIterator[Rig]:
    config = daemon_config(sandbox, workdir, callback_window=WINDOW)
    daemon = DaemonProcess(config, workdir / "redial.log")
    async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as observer:
        await asyncio.to_thread(daemon.start)
        try:
            yield Rig(sandbox, observer, agent, customer_phone, daemon)
        finally:
            code = await asyncio.to_thread(daemon.stop)
            assert code == 0, f"redial exited {code} on SIGTERM:\n{daemon.tail()}"
            assert not daemon.lines("event_failed"), daemon.tail()
            assert sandbox.ami_secret not in daemon.log_path.read_text(), "the AMI secret leaked into the log"
    # Leave the PBX idle for the next test.
    await asyncio.to_thread(_hang_up_everything, sandbox)


def _hang_up_everything(sandbox: Sandbox) -> None:
    sandbox.cli("channel request hangup all")


class TestDrops:
    """Abnormal ends get exactly one redial that connects agent and customer."""

    async def test_rtp_timeout_drop(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
            await rig.assert_one_connected_redial()
        finally:
            call.stop()
        # The operator's view of the same run: /metrics and `redial status`.
        metrics = await asyncio.to_thread(_get, "http://127.0.0.1:9327/metrics")
        assert 'redial_drops_total{cause="44",trunk="trunk"} 1.0' in metrics
        assert 'redial_outcomes_total{outcome="connected"} 1.0' in metrics
        assert "redial_ami_connected 1.0" in metrics
        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "redial.tools.cli", "status", "--config", str(rig.daemon.config)],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert status.returncode == 0 and "logged in" in status.stdout, status.stdout + status.stderr
        # history, show and stats read the store this real run filled.
        rows = [json.loads(row) for row in (await _cli(rig, "history", "--json")).splitlines()]
        (row,) = [r for r in rows if r["classification"] == "abnormal"]
        assert (row["verdict"], row["outcome"], row["cause"]) == ("redial", "connected", 44), row
        timeline = await _cli(rig, "show", str(row["call_id"]))
        assert "connected" in timeline and "44" in timeline and CUSTOMER in timeline, timeline
        funnel = json.loads(await _cli(rig, "stats", "--json"))["all"]
        assert (funnel["abnormal_ends"], funnel["redials_attempted"], funnel["connected"]) == (1, 1, 1), funnel

    async def test_bye_with_q850_cause_41(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "bye_q850", did=DID, talk_time=2, cause=41, max_time=25)
        try:
            await rig.drop_seen("41")
            await rig.assert_one_connected_redial()
        finally:
            call.stop()


class TestOperatorCancel:
    """An admin cancels a pending redial through the running daemon: nothing rings, and who asked is kept."""

    async def test_cancel_during_the_window(
        self, sandbox: Sandbox, workdir: Path, agent: AgentPhone, customer_phone: CustomerPhone
    ) -> None:
        window = 12.0
        config = daemon_config(sandbox, workdir, callback_window=window)
        daemon = DaemonProcess(config, workdir / "redial.log")
        async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
            await asyncio.to_thread(daemon.start)
            rig = Rig(sandbox, obs, agent, customer_phone, daemon)
            call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
            try:
                await rig.drop_seen("44")
                await asyncio.sleep(0.5)
                shown = json.loads(await _cli(rig, "status", "--json"))
                (pending,) = shown["open_redials"]
                assert (pending["customer"], pending["state"]) == (CUSTOMER, "waiting"), shown
                answer = await _cli(rig, "cancel", str(pending["redial_id"]), "--by", "alice")
                assert answer.strip() == f"redial {pending['redial_id']} cancelled", answer
                await rig.assert_no_redial(window + 3)
                # The agent's phone rang once: for the original queue call, never for a redial.
                assert len(agent.invites) == 1 and customer_phone.invites == []
                rows = [json.loads(r) for r in (await _cli(rig, "history", "--json")).splitlines()]
                (row,) = [r for r in rows if r["classification"] == "abnormal"]
                assert row["outcome"] == "cancelled", row
                assert "cancelled by alice" in await _cli(rig, "show", str(row["call_id"]))
            finally:
                call.stop()
                code = await asyncio.to_thread(daemon.stop)
        assert code == 0, daemon.tail()
        await asyncio.to_thread(_hang_up_everything, sandbox)


class TestNormalEnds:
    """Normal hang-ups by either side are never redialled."""

    async def test_customer_hangs_up(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "hangup", did=DID, talk_time=2, max_time=25)
        try:
            await rig.drop_seen("16")
            await rig.assert_no_redial(WINDOW + 3)
        finally:
            call.stop()

    async def test_agent_hangs_up(self, sandbox: Sandbox, workdir: Path, customer_phone: CustomerPhone) -> None:
        agent = AgentPhone("agent1", ring_delay=0.5, hangup_after=2, max_time=60)
        agent.start()
        try:
            config = daemon_config(sandbox, workdir, callback_window=WINDOW)
            daemon = DaemonProcess(config, workdir / "redial.log")
            async with AmiObserver(sandbox.ami_host, sandbox.ami_port, *sandbox.observer_credentials) as obs:
                await asyncio.to_thread(daemon.start)
                call = customer_call(CUSTOMER, "wait_for_bye", did=DID, max_time=25)
                try:
                    await obs.wait_for(
                        where(Event="Hangup", Channel=lambda c: c.startswith("PJSIP/agent1-"), Cause="16"), timeout=20
                    )
                    await asyncio.sleep(WINDOW + 3)
                    assert obs.find(redial_leg) == [], daemon.tail()
                finally:
                    call.stop()
                    assert await asyncio.to_thread(daemon.stop) == 0
        finally:
            agent.stop()


class TestCallback:
    """A customer who calls back inside the window is not redialled."""

    async def test_customer_calls_back_first(self, rig: Rig) -> None:
        first = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
        finally:
            first.stop()
        again = customer_call(CUSTOMER, "hangup", did=DID, talk_time=1, max_time=25)
        try:
            mark = rig.observer.mark()
            await rig.drop_seen("16", start=mark)
            await rig.assert_no_redial(WINDOW + 3)
        finally:
            again.stop()


class TestRestart:
    """The daemon killed inside the window still redials, exactly once."""

    async def test_sigkill_during_window(self, rig: Rig, workdir: Path) -> None:
        rig.daemon.config = daemon_config(rig.sandbox, workdir, callback_window=8)
        await asyncio.to_thread(rig.daemon.stop)
        await asyncio.to_thread(rig.daemon.start)
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
            # The drop is in the store once the daemon logged the waiting redial.
            await asyncio.to_thread(rig.daemon.wait_for, "redial", 10, state="waiting")
            rig.daemon.kill()
            assert rig.redials() == []
            await asyncio.to_thread(rig.daemon.start)
            await rig.assert_one_connected_redial()
        finally:
            call.stop()


class TestLogin:
    """A wrong secret is reported by username, never by secret, and retried."""

    async def test_refused_login(self, sandbox: Sandbox, workdir: Path) -> None:
        config = daemon_config(sandbox, workdir, callback_window=WINDOW)
        wrong = "wrong-" + sandbox.ami_secret
        config.write_text(config.read_text().replace(sandbox.ami_secret, wrong))
        daemon = DaemonProcess(config, workdir / "redial.log")
        with pytest.raises(AssertionError, match="did not log in"):
            await asyncio.to_thread(daemon.start, 6.0)
        try:
            refusals = daemon.lines("ami_login_refused")
            # Retried every reconnect_delay (2 s) while it runs, without exiting.
            assert len(refusals) >= 2 and refusals[0]["username"] == "redial"
            text = daemon.log_path.read_text()
            assert wrong not in text and sandbox.ami_secret not in text
        finally:
            assert await asyncio.to_thread(daemon.stop) == 0
