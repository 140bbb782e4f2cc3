"""Every module and data file of the source tree is in the installed package.

The README installs in editable mode, which imports straight from the source tree and so hides a package missing from
pyproject.toml's explicit list; a wheel (``pip install .``, or one built for a user) leaves it out and the command
fails on import. The source tree is the expectation: every folder of ``posetrack_cli`` holding a module is a listed
package, and every other file is matched by its package's ``package-data`` globs. The checker is tested on a planted
tree, so it cannot pass vacuously.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def unpackaged(root: Path, setuptools: dict, top: str = "posetrack_cli") -> list[str]:
    """Files under ``root / top`` (and the folders ``package-dir`` maps packages to) that a wheel built with
    ``setuptools`` (pyproject's ``[tool.setuptools]`` table) would leave out."""
    packages = set(setuptools.get("packages", []))
    folders = {name: root / path for name, path in setuptools.get("package-dir", {}).items()}
    data = setuptools.get("package-data", {})
    missing = []
    for name, folder in [(top, root / top), *folders.items()]:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(folder)
            package = ".".join([name, *rel.parts[:-1]])
            if package not in packages:
                missing.append(f"{path.relative_to(root)}: its package {package} is not listed")
            elif path.suffix != ".py" and not any(fnmatch.fnmatch(path.name, g) for g in data.get(package, [])):
                missing.append(f"{path.relative_to(root)}: no package-data glob of {package} matches it")
    return missing


def test_the_wheel_holds_every_module_and_data_file():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert unpackaged(ROOT, setuptools) == []


def test_the_checker_finds_what_a_wheel_would_leave_out(tmp_path):
    for rel in ("pkg/__init__.py", "pkg/a/__init__.py", "pkg/a/deep/__init__.py", "pkg/a/deep/m.py",
                "pkg/static/page.html", "pkg/static/notes.txt", "data/w.pt", "data/README.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "x.pyc").write_text("x")
    config = {"packages": ["pkg", "pkg.a", "pkg.static", "pkg._data"], "package-dir": {"pkg._data": "data"},
              "package-data": {"pkg.static": ["*.html"], "pkg._data": ["*.pt"]}}
    assert unpackaged(tmp_path, config, "pkg") == [
        "pkg/a/deep/__init__.py: its package pkg.a.deep is not listed",
        "pkg/a/deep/m.py: its package pkg.a.deep is not listed",
        "pkg/static/notes.txt: no package-data glob of pkg.static matches it",
        "data/README.md: no package-data glob of pkg._data matches it",
    ]
    config["packages"].append("pkg.a.deep")
    config["package-data"] = {"pkg.static": ["*.html", "*.txt"], "pkg._data": ["*.pt", "*.md"]}
    assert unpackaged(tmp_path, config, "pkg") == []
