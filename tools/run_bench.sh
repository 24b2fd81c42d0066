#!/usr/bin/env bash
# Run every benchmark in bench/ and print its figures. Usage: tools/run_bench.sh [name ...]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck disable=SC1091
source tools/env.sh
status=0
for script in bench/*_bench.py; do
  name=$(basename "$script" _bench.py)
  if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then continue; fi
  echo "=== $script"
  python "$script" || status=1
done
exit $status
