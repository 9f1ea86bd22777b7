#!/usr/bin/env bash
# Query the metadata read-only, also while runs write it (python -m react_assets.metadata.read):
#   ./scripts/metadata.sh "SELECT count(*) FROM pairs"     run statements, print aligned tables
#   ./scripts/metadata.sh                                   a prompt (or statements from stdin)
#   ./scripts/metadata.sh --snapshots | --snapshot N ...    list snapshots, read as of one
#   ./scripts/metadata.sh --csv | --json ...                machine-readable output
#   ./scripts/metadata.sh --cluster ...                     the cluster profile's catalog
# The embedded profile's catalog is $REACT_HOME/lake/catalog.sqlite. The cluster profile's is
# on the cluster's PostgreSQL: with --cluster, or when REACT_PROFILE=cluster, its address comes
# from REACT_METADATA_DSN or from $REACT_HOME/cluster/cluster.env (scripts/cluster.sh start
# writes it; the command reads it, no need to source it first).
# Every other option: ./scripts/metadata.sh --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$VENV/bin/python" -m react_assets.metadata.read "$@"
