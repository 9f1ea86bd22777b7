# Sourced by every script: the project's environment (offline, no telemetry, one output root).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REACT_HOME="${REACT_HOME:-$REPO_ROOT/var}"
export DAGSTER_HOME="$REACT_HOME/dagster_home"
set -a  # the offline, no-telemetry settings: their one list
. "$REPO_ROOT/dagster_project/offline.env"
set +a
VENV="$REPO_ROOT/.venv"
