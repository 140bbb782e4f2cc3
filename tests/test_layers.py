"""The floors of ../docs/ARCHITECTURE.md, checked on the package's own imports (read with ``ast``, nothing is run).

- an import points to the same floor or a lower one;
- a stage (detect, pose, track, export, report, render) never imports another stage, nor evaluate/train;
- no ``from x import _private`` from another module;
- internal imports at module level (function-level imports only for heavy optional third-party packages);
- click and tqdm (the terminal) only under cli/.
The checker itself is tested on a planted tree, so these rules cannot pass vacuously.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "posetrack_cli"

# The first dotted part below posetrack_cli -> its floor (../docs/ARCHITECTURE.md).
FLOORS = {
    "__init__": 0, "records": 0, "config": 0, "errors": 0,
    "nets": 1, "io": 1, "geometry": 1,
    "detect": 2, "pose": 2, "track": 2, "export": 2, "report": 2, "render": 2, "zoo": 2, "device": 2,
    "evaluate": 2, "train": 2,
    "pipeline": 3,
    "runs": 4,
    "cli": 5, "__main__": 5,
}
STAGES = {"detect", "pose", "track", "export", "report", "render"}
# Modules allowed to import the package lazily, and why (the only exception to "internal imports at module level").
LAZY = {"posetrack_cli/runs/doctor.py": "the doctor must run, and report, when a dependency of the pipeline is broken"}
SIDE = {"evaluate", "train"}  # import floors 0-2, stages included; no stage imports them


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def top_part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path, root: Path):
    """(line, imported module, names, at module level) for every import of ``root``'s package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = root.name
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == package:
                for alias in node.names:  # from posetrack_cli import zoo; from posetrack_cli import __version__
                    is_module = (root / f"{alias.name}.py").exists() or (root / alias.name).is_dir()
                    target = f"{package}.{alias.name}" if is_module else package
                    yield node.lineno, target, [] if is_module else [alias.name], id(node) in top_level
            elif node.module.startswith(package + "."):
                yield node.lineno, node.module, [a.name for a in node.names], id(node) in top_level
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(package + "."):
                    yield node.lineno, alias.name, [], id(node) in top_level


TERMINAL = ("click", "tqdm")


def terminal_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        found += [(node.lineno, n) for n in names if n.split(".")[0] in TERMINAL]
    return found


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        mine = top_part(me)
        if mine != "cli":
            found += [f"{path.relative_to(root.parent)}:{line}: {name} outside cli/"
                      for line, name in terminal_imports(path)]
        for line, target, names, module_level in imports_of(path, root):
            where, theirs = f"{path.relative_to(root.parent)}:{line}", top_part(target)
            if not module_level and path.relative_to(root.parent).as_posix() not in LAZY:
                found.append(f"{where}: internal import inside a function ({target})")
            if target != me and any(n.startswith("_") and not n.startswith("__") for n in names):
                found.append(f"{where}: private name imported from {target}")
            if mine not in FLOORS or theirs not in FLOORS:
                found.append(f"{where}: {mine if mine not in FLOORS else theirs} has no floor; add it to FLOORS")
            elif FLOORS[theirs] > FLOORS[mine]:
                found.append(f"{where}: upward import {me} (floor {FLOORS[mine]}) -> {target} "
                             f"(floor {FLOORS[theirs]})")
            elif mine in STAGES and theirs != mine and (theirs in STAGES or theirs in SIDE):
                found.append(f"{where}: stage {mine} imports {theirs}")
    return found


def test_the_package_keeps_its_floors():
    assert violations(PACKAGE) == []


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "posetrack_cli"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("files, expected", [
    ({"records.py": "from posetrack_cli.pipeline import run\n"}, "upward import posetrack_cli.records (floor 0)"),
    ({"geometry.py": "from posetrack_cli.io.video import probe\n"}, None),  # same floor
    ({"track/tracker.py": "from posetrack_cli.pose.crops import warp\n"}, "stage track imports pose"),
    ({"export/coco.py": "from posetrack_cli.evaluate.coco import x\n"}, "stage export imports evaluate"),
    ({"runs/folder.py": "def f():\n    from posetrack_cli.pipeline import build\n"}, "inside a function"),
    ({"runs/folder.py": "from posetrack_cli.pipeline import _hidden\n"}, "private name imported"),
    ({"newfloor/x.py": "from posetrack_cli.records import Poses\n"}, "newfloor has no floor"),
    ({"cli/run.py": "from posetrack_cli import zoo\nfrom posetrack_cli.runs.folder import run_batch\n"}, None),
    ({"pose/topdown.py": "from posetrack_cli.pose.crops import warp\nfrom posetrack_cli.zoo import card\n"}, None),
    ({"train/loop.py": "from tqdm import tqdm\n"}, "tqdm outside cli/"),
    ({"cli/run.py": "import click\nfrom tqdm import tqdm\n"}, None),
])
def test_checker_finds_planted_violations(tmp_path, files, expected):
    found = violations(_plant(tmp_path, files))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
