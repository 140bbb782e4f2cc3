"""The ``posetrack`` command group: logging, signals, and the one place where errors become one line on stderr
and an exit code (never a traceback).

Subcommands are modules of this package, imported by name when they are used (click's documented lazy loading):
``posetrack doctor`` must start when a dependency of the pipeline (OpenCV, torch) is broken, to report it, and a
subcommand whose dependencies fail to import says so in one line instead of taking every other command down."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading

import click

from posetrack_cli import __version__
from posetrack_cli.errors import PosetrackError, dependency_failure, one_line

EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)
EXIT_INTERNAL = 70  # EX_SOFTWARE: an unexpected error inside posetrack


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that context managers close files and the summary is written (a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""


# subcommand -> its click object in the module posetrack_cli.cli.<subcommand>
SUBCOMMANDS = {"run": "run_cmd", "render": "render_cmd", "pose": "pose_cmd", "eval": "eval_cmd",
               "train": "train_cmd", "weights": "weights", "doctor": "doctor_cmd", "report": "report_cmd",
               "refine": "refine_cmd"}


class _Group(click.Group):
    """Maps library errors to one line on stderr and an exit code; no traceback except for bugs with -vv."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        try:
            return getattr(importlib.import_module(f"{__package__}.{name}"), SUBCOMMANDS[name])
        except (ImportError, AttributeError) as exc:  # a broken dependency: the command says so when run
            return _unavailable(name, exc)

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
        except Exception as exc:  # a broken dependency, else a bug: one line, the traceback only with -vv
            logging.getLogger("posetrack_cli").debug("unexpected error", exc_info=True)
            dependency = dependency_failure(exc)
            if dependency is not None:
                click.echo(f"error: {dependency}", err=True)
                ctx.exit(dependency.exit_code)
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


def _unavailable(name: str, exc: Exception) -> click.Command:
    error = dependency_failure(exc) or exc
    help_line = f"Unavailable: {one_line(error, with_type=False)}"

    def fail(**_) -> None:
        raise error

    return click.Command(name, callback=fail, help=help_line, context_settings={"ignore_unknown_options": True},
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)])


def _quiet_opencv(verbose: int) -> None:
    """OpenCV's own stderr lines ("[ERROR:0@0.1] global cap_ffmpeg_impl.hpp ... Could not find decoder") would
    follow our one-line errors; they are shown only with -vv."""
    if verbose < 2:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET for the FFmpeg inside OpenCV
    try:
        import cv2
    except ImportError:
        return  # a broken OpenCV: the command that needs it says so in one line, `posetrack doctor` reports it

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO if verbose >= 2
                                  else cv2.utils.logging.LOG_LEVEL_SILENT)


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


