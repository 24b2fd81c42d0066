#!/usr/bin/env bash
# Run every package's tests and the training tests in the workspace env.
# Propagates pytest's exit code (5 = no tests collected).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck disable=SC1091
source tools/env.sh
python -m pytest "$@"
