#!/usr/bin/env bash
# Set everything up, then run the whole test suite (extra arguments go to pytest).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
export REACT_HOME="$(mktemp -d)/react-home"   # tests never touch the user's outputs
export DAGSTER_HOME="$REACT_HOME/dagster_home"
exec "$VENV/bin/python" -m pytest -q "$@"
