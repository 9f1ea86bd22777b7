#!/usr/bin/env bash
# Query the metadata read-only, also while runs write it (python -m react_assets.metadata.read):
#   ./scripts/metadata.sh "SELECT count(*) FROM pairs"     run statements, print aligned tables
#   ./scripts/metadata.sh                                   a prompt (or statements from stdin)
#   ./scripts/metadata.sh --snapshots | --snapshot N ...    list snapshots, read as of one
#   ./scripts/metadata.sh --csv | --json ...                machine-readable output
#   ./scripts/metadata.sh --cluster ...                     the cluster profile's catalog
# The embedded profile's catalog is $REACT_HOME/lake/catalog.sqlite. The cluster profile's is
# on the cluster's PostgreSQL: with --cluster, or when REACT_PROFILE=cluster, the settings that
# scripts/cluster.sh start wrote to $REACT_HOME/cluster/cluster.env are read first.
# Every other option: ./scripts/metadata.sh --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
args=()
for arg in "$@"; do
    if [ "$arg" = "--cluster" ]; then REACT_PROFILE=cluster; else args+=("$arg"); fi
done
if [ "${REACT_PROFILE:-embedded}" = "cluster" ]; then
    env_file="$REACT_HOME/cluster/cluster.env"
    if [ ! -f "$env_file" ]; then
        echo "error: $env_file not found: start the cluster (./scripts/cluster.sh start) or" \
             "set REACT_HOME to its home" >&2
        exit 2
    fi
    set -a; . "$env_file"; set +a
fi
exec "$VENV/bin/python" -m react_assets.metadata.read "${args[@]}"
