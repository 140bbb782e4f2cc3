"""The ``posetrack`` command group: logging, signals, and the one place where errors become one line on stderr
and an exit code (never a traceback). The subcommands live in their own modules and are added in ``__init__``."""

from __future__ import annotations

import logging
import os
import signal
import threading

import click

from posetrack_cli import __version__
from posetrack_cli.errors import PosetrackError, one_line

EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)
EXIT_INTERNAL = 70  # EX_SOFTWARE: an unexpected error inside posetrack


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that context managers close files and the summary is written (a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""


class _Group(click.Group):
    """Maps library errors to one line on stderr and an exit code; no traceback except for bugs with -vv."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PosetrackError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: finished frames are kept in the .jsonl stream", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            click.echo("terminated: finished frames are kept in the .jsonl stream", err=True)
            ctx.exit(EXIT_TERMINATED)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug, not bad input: one line, the traceback only with -vv
            logging.getLogger("posetrack_cli").debug("internal error", exc_info=True)
            click.echo(f"internal error: {one_line(exc)}"
                       + " (rerun with -vv for the traceback and report it)", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="posetrack")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Find every person in a video, estimate their keypoints and track them with stable ids."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _quiet_opencv(verbose)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)  # stop cleanly: files close, the batch summary is written


def _quiet_opencv(verbose: int) -> None:
    """OpenCV's own stderr lines ("[ERROR:0@0.1] global cap_ffmpeg_impl.hpp ... Could not find decoder") would
    follow our one-line errors; they are shown only with -vv."""
    if verbose < 2:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET for the FFmpeg inside OpenCV
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO if verbose >= 2
                                  else cv2.utils.logging.LOG_LEVEL_SILENT)


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


