"""Run the ``safeguard`` command as ``python -m safeguard``."""

from safeguard.cli import main

main()
