"""Every exception redial raises on purpose."""

from __future__ import annotations


class RedialError(Exception):
    """Base of every error raised by redial."""


class ConfigError(RedialError):
    """The configuration file or an environment override is invalid.

    ``path`` is the dotted key path (``policy.callback_window``) or ``""`` for the file itself.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class StoreError(RedialError):
    """The SQLite store cannot be opened, migrated or written."""


class AlreadyRunning(StoreError):
    """Another redial daemon holds the store: two would redial every drop twice."""


class AmiError(RedialError):
    """An AMI action failed, timed out, or the link is down."""


class UnsafeValueError(RedialError, ValueError):
    """A value that would be written to AMI failed its whitelist."""


class AmiNotConnected(AmiError):
    """The link is down or not logged in: the action was not sent."""


class AmiRefused(AmiError):
    """Asterisk answered the action with an error."""


class AmiTimeout(AmiError):
    """The action was sent but no answer came in time: its fate is unknown."""


class LostWrite(StoreError):
    """A conditional update found the row moved on: another writer got there first."""


class InvalidTransition(RedialError):
    """A callback job was asked to make a move its transition table does not list."""


class ControlSocketError(RedialError):
    """The control socket cannot be set up: a daemon nobody could ask or cancel through would not start."""


class PortUnavailable(RedialError):
    """A loopback service the daemon must own could not listen: another process may hold its port."""

    def __init__(self, service: str, host: str, port: int, error: str, holder: str | None) -> None:
        self.service, self.host, self.port, self.holder = service, host, port, holder
        held = f"; held by {holder}" if holder else ""
        super().__init__(f"{service}: cannot listen on {host}:{port}: {error}{held}")


class PromiseRefused(RedialError, ValueError):
    """A promise that cannot be made as asked (a bad time, an unknown agent, a refused number): the text says why."""
