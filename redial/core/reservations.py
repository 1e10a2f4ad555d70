"""The one owner of every QueuePause the daemon makes. Pure: it returns commands.

A job reserves the member it rings (paused with the daemon's reason, so no queue
call slips in while their phone rings). The reservation is stored with the job, in
the same commit as its ORIGINATING state, and forgotten in the store only once the
agent is released. Three rules hold whatever happens:

- an agent who paused themselves meanwhile (lunch, end of shift) stays paused;
- an agent still talking on a connected redial stays reserved until that call ends,
  also across a restart of the daemon (found by the redial's ChannelId on the PBX);
- an unpause that could not be sent (the link was down) is sent at the next login.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from redial.core.commands import Command, ForgetReservation, Pause, Unpause
from redial.exceptions import AmiError, AmiNotConnected


class Reservations:
    def __init__(self, paused_by_agent: Callable[[str, float], bool], reason: Callable[[], str]) -> None:
        # Is the agent paused with a reason of their own (not one of the daemon's)?
        self._paused_by_agent = paused_by_agent
        self._reason = reason
        # (job id, interface) -> the job's ChannelId: to release at the next login,
        # unless that ChannelId is still up (a connected redial left by a previous run).
        self._to_release: dict[tuple[int, str], str] = {}
        # A connected redial keeps its agent until the agent's channel hangs up:
        # ChannelId -> (job id, interface).
        self._held: dict[str, tuple[int, str]] = {}
        # The ChannelId of a stored reservation being released, until it is.
        self._channels: dict[tuple[int, str], str] = {}

    def reserve(self, job_id: int, interface: str, reason: str) -> Pause:
        return Pause(job_id, interface, reason)

    def release(self, job_id: int, interface: str, now: float) -> list[Command]:
        """Give ``interface`` back to its queues (see the module's rules)."""
        if self._paused_by_agent(interface, now):
            self._channels.pop((job_id, interface), None)
            return [ForgetReservation(job_id, interface)]
        return [Unpause(job_id, interface, self._reason())]

    def unpaused(self, command: Unpause) -> list[Command]:
        self._channels.pop((command.job_id, command.interface), None)
        return [ForgetReservation(command.job_id, command.interface)]

    def unpause_failed(self, command: Unpause, error: AmiError) -> list[Command]:
        """Not sent: again at the next login, and the store keeps the reservation meanwhile."""
        if isinstance(error, AmiNotConnected):
            key = (command.job_id, command.interface)
            self._to_release[key] = self._channels.get(key, "")
            return []
        # Asterisk said no (the member left the queue): nothing left to undo.
        self._channels.pop((command.job_id, command.interface), None)
        return [ForgetReservation(command.job_id, command.interface)]

    def hold(self, channel_id: str, job_id: int, interface: str) -> None:
        """Agent and customer are talking: keep the agent out of the queue until the call ends."""
        self._held[channel_id] = (job_id, interface)

    def held_by(self, uniqueid: str) -> bool:
        return uniqueid in self._held

    def channel_ended(self, uniqueid: str, now: float) -> list[Command]:
        """A channel hung up: the agent a connected redial held on it is free again."""
        held = self._held.pop(uniqueid, None)
        if held is None:
            return []
        return self.release(*held, now)

    def resume(self, stored: Iterable[tuple[int, str, str]]) -> None:
        """Reservations a previous run stored for finished jobs: (job id, interface, ChannelId)."""
        for job_id, interface, channel_id in stored:
            self._to_release[job_id, interface] = channel_id

    def link_up(self, alive: frozenset[str], now: float) -> list[Command]:
        """After a login: release what is due, keep agents whose redial call is still up."""
        commands: list[Command] = []
        for (job_id, interface), channel_id in list(self._to_release.items()):
            del self._to_release[job_id, interface]
            # Kept until released, so an unpause that fails again checks the call again next time.
            self._channels[job_id, interface] = channel_id
            if channel_id and channel_id in alive:
                self._channels.pop((job_id, interface), None)
                self.hold(channel_id, job_id, interface)
            else:
                commands += self.release(job_id, interface, now)
        for channel_id, (job_id, interface) in list(self._held.items()):
            if channel_id not in alive:
                del self._held[channel_id]
                commands += self.release(job_id, interface, now)
        return commands

    def release_all(self, reserved_by_open_jobs: Iterable[tuple[int, str]], now: float) -> list[Command]:
        """Stopping: release every agent held, rather than leave them out of their queues."""
        held = [*self._held.values(), *reserved_by_open_jobs]
        self._held.clear()
        commands: list[Command] = []
        for job_id, interface in held:
            commands += self.release(job_id, interface, now)
        return commands

    @property
    def held(self) -> int:
        return len(self._held)
