"""``python -m posetrack_cli``: the ``posetrack`` command, for environments where the console script is not on the
PATH (a source checkout on PYTHONPATH, a machine without an installed copy)."""

from posetrack_cli.cli.app import main

if __name__ == "__main__":
    main(prog_name="posetrack")
