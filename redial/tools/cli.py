"""The ``redial`` command line: the group, with the commands of cli_daemon, cli_records and cli_checks."""

from __future__ import annotations

import os
import sys

import click

from redial.tools.cli_checks import check_config, doctor, replay
from redial.tools.cli_daemon import cancel, run, status
from redial.tools.cli_forget import forget
from redial.tools.cli_promise import promise
from redial.tools.cli_records import history, show, stats


@click.group()
@click.version_option(package_name="redial")
def main() -> None:
    """Call back customers whose queue call dropped: the same agent first, off their metrics."""


for command in (run, status, cancel, promise, history, show, stats, forget, check_config, replay, doctor):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
