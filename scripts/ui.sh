#!/usr/bin/env bash
# Start the Dagster UI (webserver + daemon) bound to 127.0.0.1 unless HOST is set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
exec "$VENV/bin/dagster" dev -w workspace.yaml -h "${HOST:-127.0.0.1}" -p "${PORT:-3000}"
