"""Name the dependency whose newest version breaks the suite.

Given the lock (constraints.txt), the newest venv's `pip freeze` and the failing tests (JUnit XML), it upgrades each
package that differs from the lock, one at a time, inside the locked venv, reruns the failing tests there and
restores the locked version. Prints one line per package: BROKE / fine, then a summary line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def pins(path: str) -> dict[str, str]:
    found = {}
    for line in open(path, encoding="utf-8"):
        match = PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def failed_tests(junit: str) -> list[str]:
    ids = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("classname", "").replace(".", "/")
            ids.append(f"{path}.py::{case.get('name')}")
    return ids


def run(cmd: list[str]) -> int:
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--lock", "--newest", "--junit", "--python"):
        parser.add_argument(name, required=True)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds for all the reruns")
    args = parser.parse_args()
    locked, newest = pins(args.lock), pins(args.newest)
    changed = sorted((n, locked.get(n), v) for n, v in newest.items() if locked.get(n) != v)
    tests = failed_tests(args.junit)
    print(f"failing tests on the newest versions: {len(tests)}; packages newer than the lock: "
          + (", ".join(f"{n} {old or '(new)'} -> {new}" for n, old, new in changed) or "none"))
    if not tests or not changed:
        return 1
    broke, start = [], time.monotonic()
    pip = [args.python, "-m", "pip", "install", "-q", "--no-deps"]
    for name, old, new in changed:
        if time.monotonic() - start > args.budget:
            print(f"out of time before {name}")
            break
        if run(pip + [f"{name}=={new}"]) != 0:
            print(f"{name} {new}: cannot be installed beside the locked versions; not tried alone")
            continue
        failed = run([args.python, "-m", "pytest", "-q", "-x", *tests]) != 0
        run(pip + [f"{name}=={old}"] if old else [args.python, "-m", "pip", "uninstall", "-q", "-y", name])
        print(f"{'BROKE' if failed else 'fine '}: {name} {new} (locked {old})")
        if failed:
            broke.append(f"{name} {new}")
    print("newest versions that break the suite: " + (", ".join(broke) or
          "no single package alone; the combination does (compare the lists above)"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
