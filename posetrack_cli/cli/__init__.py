"""Floor 5: the terminal. ``main`` is the ``posetrack`` command; each subcommand is a module of this package,
imported when it is used (``app.SUBCOMMANDS``)."""

from posetrack_cli.cli.app import main

__all__ = ["main"]
