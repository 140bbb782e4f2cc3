#!/usr/bin/env bash
# Rewrites constraints.txt: the exact versions `pip install -e ".[test]" -c constraints.txt` installs.
#
#   bash tools/update_constraints.sh            # then run the suite on them (the README's test command)
#
# It installs the project with every extra into a throwaway venv, with the newest versions that pyproject.toml's
# bounds allow, and freezes that venv. Commit the new file only after `python -m pytest -q` passed on it: CI
# installs exactly these versions (.ci/run) and, besides, the newest ones (.ci/newest).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e ".[test,bench,onnx,ray]"
tmp=constraints.txt.tmp
{
  echo "# Tested versions: pip install -e \".[test]\" -c constraints.txt"
  echo "# Made by tools/update_constraints.sh on $(date -u +%Y-%m-%d), $("$venv/bin/python" -c 'import platform; print("Python", platform.python_version(), platform.system(), platform.machine())')"
  "$venv/bin/pip" freeze --exclude-editable | grep -v '^-e '
} >"$tmp"
mv "$tmp" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
