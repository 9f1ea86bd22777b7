#!/usr/bin/env bash
# The MLflow UI over the embedded profile's store: runs, registered models and their aliases
# (@champion, @challenger) of $REACT_HOME/mlflow.db, artifacts from $REACT_HOME/mlartifacts.
#   ./scripts/mlflow.sh                 http://127.0.0.1:5000
#   MLFLOW_PORT=5001 ./scripts/mlflow.sh
# The links in the Dagster UI's asset metadata point here (same MLFLOW_PORT). In the cluster
# profile the tracking server's own UI is at REACT_MLFLOW_URI; this script is not needed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
mkdir -p "$REACT_HOME/mlartifacts"
exec "$VENV/bin/mlflow" server --host 127.0.0.1 --port "${MLFLOW_PORT:-5000}" --workers 1 \
    --backend-store-uri "sqlite:///$(cd "$REACT_HOME" && pwd)/mlflow.db" \
    --serve-artifacts --artifacts-destination "$(cd "$REACT_HOME" && pwd)/mlartifacts"
