#!/usr/bin/env bash
# Set everything up, then run the whole REACT pipeline on the embedded demo world.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
"$VENV/bin/python" -m dagster_project.demo "$@"
echo
echo "Results are under $REACT_HOME (reports/, lake/ for the metadata, mlflow.db)."
echo "Query the metadata with: ./scripts/metadata.sh \"SELECT * FROM models\""
echo "Open the Dagster UI with: ./scripts/ui.sh   (then http://127.0.0.1:3000)"
