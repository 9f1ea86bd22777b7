#!/usr/bin/env bash
# The cluster profile's local services on 127.0.0.1 (PostgreSQL, Dask scheduler and workers,
# MLflow tracking server, the code location's gRPC server, Dagster webserver and daemon), all
# files under $REACT_HOME/cluster (its Dagster instance in $REACT_HOME/cluster/dagster_home, each
# service's log in $REACT_HOME/cluster/logs):
#   ./scripts/cluster.sh start [--workers N] [--worker-resources GPU=1]   ./scripts/cluster.sh stop
# Clients then use it with: set -a; . "$REACT_HOME/cluster/cluster.env"; set +a
set -euo pipefail
export REACT_PROFILE=cluster  # env.sh and setup.sh: the cluster's DAGSTER_HOME, not the embedded one
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
action="${1:-start}"; shift || true
extra=()
[ "$action" = "start" ] && extra=(--ui)
exec "$VENV/bin/python" -m devtools.cluster "$action" "${extra[@]}" "$@"
