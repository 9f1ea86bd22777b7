# Sourced by every script: the project's environment (offline, no telemetry, one output root).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REACT_HOME="${REACT_HOME:-$REPO_ROOT/var}"
# One Dagster instance per profile: the cluster's is under REACT_HOME/cluster (devtools/cluster.py).
if [ "${REACT_PROFILE:-embedded}" = cluster ]; then
  export DAGSTER_HOME="$REACT_HOME/cluster/dagster_home"
else
  export DAGSTER_HOME="$REACT_HOME/dagster_home"
fi

# A read-only or unwritable home must fail here, naming the path, before Dagster opens its
# sqlite storage (whose error names no path). Checks the nearest folder that exists.
react_check_writable() {  # $1: the variable's name, $2: its path
    local dir="$2" probe
    while [ ! -e "$dir" ] && [ "$dir" != "/" ]; do dir="$(dirname "$dir")"; done
    if [ ! -d "$dir" ] || ! probe="$(mktemp -p "$dir" .write-probe-XXXXXX 2>/dev/null)"; then
        echo "error: $1=$2 is not writable (checked $dir); set $1 to a folder you can write" >&2
        return 1
    fi
    rm -f "$probe"
}
react_check_writable REACT_HOME "$REACT_HOME" || exit 1
react_check_writable DAGSTER_HOME "$DAGSTER_HOME" || exit 1
set -a  # the offline, no-telemetry settings: their one list
. "$REPO_ROOT/dagster_project/offline.env"
set +a
VENV="$REPO_ROOT/.venv"
