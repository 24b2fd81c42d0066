#!/usr/bin/env bash
# Re-resolve requirements/base.in into requirements/lock.txt in a scratch venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -r "$root/requirements/base.in"
"$tmp/venv/bin/python" "$root/tools/freeze_lock.py" "$root/requirements/lock.txt"
rm -rf "$tmp"
echo "wrote requirements/lock.txt"
