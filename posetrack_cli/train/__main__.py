"""``python -m posetrack_cli.train CONFIG.yaml [--resume] [--device D]`` -- the entry point for torchrun:
``torchrun --nproc_per_node=8 -m posetrack_cli.train CONFIG.yaml``. Same command and errors as ``posetrack train``."""

import logging
import sys

import click

from posetrack_cli.errors import PosetrackError


def main(argv: list[str] | None = None) -> int:
    from posetrack_cli.cli_train import train_cmd

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        train_cmd.main(args=argv, prog_name="posetrack-train", standalone_mode=False)
    except PosetrackError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
