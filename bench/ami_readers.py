"""Reference AMI clients for ``bench.live_load --references``: what merely listening costs.

    python -m bench.ami_readers --config redial.yaml --kind floor|panoramisk

Each logs in with the daemon's own AMI user (so Asterisk's eventfilter gives it the same
stream), pings as the daemon does, and does nothing with what it reads:
- ``floor``: plain asyncio, one buffer (a BufferedProtocol), no parsing at all: the cost of the
  socket reads and wake-ups alone, below which no asyncio client of this stream can go;
- ``panoramisk``: panoramisk's Manager with one ``*`` event callback that does nothing: the
  library the design card names, parsing every frame into a Message.
At SIGTERM each prints one JSON line: reads (floor only), bytes (floor only), CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import sys
from collections.abc import Sequence
from typing import Any

import yaml

PING_EVERY = 2.0  # as the benchmark's daemon (sandbox/daemon.py sets ami.ping_interval 2)


class _Reader(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buffer = memoryview(bytearray(64 * 1024))
        self.reads = 0
        self.bytes = 0

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.reads += 1
        self.bytes += nbytes


def _until_stopped() -> asyncio.Future[None]:
    """A future SIGTERM completes."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stopped.set_result, None)
    return stopped


async def floor(ami: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(_Reader, ami["host"], int(ami["port"]))
    transport.write(f"Action: Login\r\nUsername: {ami['username']}\r\nSecret: {ami['secret']}\r\n\r\n".encode())
    stopped = _until_stopped()
    while not stopped.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stopped), PING_EVERY)
        transport.write(b"Action: Ping\r\n\r\n")
    transport.close()
    return {"reads": reader.reads, "bytes": reader.bytes}


async def panoramisk_reader(ami: dict[str, Any]) -> dict[str, Any]:
    from panoramisk import Manager

    manager = Manager(
        host=ami["host"],
        port=int(ami["port"]),
        username=ami["username"],
        secret=ami["secret"],
        ping_delay=PING_EVERY,
        loop=asyncio.get_running_loop(),
    )
    events = 0

    def on_event(_manager: object, _message: object) -> None:
        nonlocal events
        events += 1

    manager.register_event("*", on_event)
    await manager.connect()
    stopped = _until_stopped()
    await stopped
    manager.close()
    return {"events": events}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ami_readers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the daemon's redial.yaml (its ami section is used)")
    parser.add_argument("--kind", choices=("floor", "panoramisk"), required=True)
    args = parser.parse_args(argv)
    with open(args.config) as file:
        ami = yaml.safe_load(file)["ami"]
    run = floor if args.kind == "floor" else panoramisk_reader
    figures = asyncio.run(run(ami))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.update(kind=args.kind, cpu_s=round(usage.ru_utime + usage.ru_stime, 3))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
