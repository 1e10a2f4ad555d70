"""``python -m redial``: the same as the ``redial`` command."""

from redial.tools.cli import main

main()
