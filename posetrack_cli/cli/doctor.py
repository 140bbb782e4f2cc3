"""``posetrack doctor``: print the installation checks of ``doctor.run_checks``, one line each, and exit non-zero
when any failed. Registered by the main CLI with ``main.add_command(doctor_cmd)``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from posetrack_cli import __version__
from posetrack_cli.runs.doctor import Check, run_checks

EXIT_PROBLEMS = 1  # at least one check failed


def format_check(check: Check, width: int = 14) -> str:
    """``  ok    torch          2.14.1`` / ``  FAIL  run            <what is wrong>; fix: <what to do>``."""
    status = {"ok": "ok", "info": "--", "FAIL": "FAIL"}[check.status]
    line = f"  {status:4s}  {check.name:{width}s} {check.detail}"
    return f"{line}; fix: {check.fix}" if check.failed and check.fix else line


@click.command("doctor")
@click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Check the files of this folder against its MANIFEST.md (default: the bundled weights/).")
@click.option("--no-run", is_flag=True, help="Skip the two-frame run of the default pipeline.")
def doctor_cmd(weights_dir: Path | None, no_run: bool) -> None:
    """Check the installation: versions, CPU and CUDA, bundled files, pose weights and a two-frame run."""
    click.echo(f"posetrack {__version__}")
    problems = 0
    for section in run_checks(weights_dir, smoke=not no_run):
        click.echo(section.title)
        width = max(len(check.name) for check in section.checks)
        for check in section.checks:
            click.echo(format_check(check, width))
            problems += check.failed
    click.echo(f"{problems} problem(s): see the FAIL lines" if problems else "no problems found")
    if problems:
        sys.exit(EXIT_PROBLEMS)
