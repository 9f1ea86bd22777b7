# Sourced by every script: the project's environment (offline, no telemetry, one output root).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REACT_HOME="${REACT_HOME:-$REPO_ROOT/var}"
export DAGSTER_HOME="$REACT_HOME/dagster_home"
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export MLFLOW_DISABLE_TELEMETRY=true
export DO_NOT_TRACK=1
export DAGSTER_DISABLE_TELEMETRY=true
export TOKENIZERS_PARALLELISM=false
VENV="$REPO_ROOT/.venv"
