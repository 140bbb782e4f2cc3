"""Floor 5: the terminal. ``main`` is the ``posetrack`` command; each subcommand is one module here."""

from posetrack_cli.cli.app import main
from posetrack_cli.cli.eval import eval_cmd
from posetrack_cli.cli.pose import pose_cmd
from posetrack_cli.cli.render import render_cmd
from posetrack_cli.cli.run import run_cmd
from posetrack_cli.cli.train import train_cmd
from posetrack_cli.cli.weights import weights

for _command in (run_cmd, render_cmd, pose_cmd, eval_cmd, train_cmd, weights):
    main.add_command(_command)

__all__ = ["main"]
