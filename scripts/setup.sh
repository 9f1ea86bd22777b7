#!/usr/bin/env bash
# Idempotent setup: Debian data packages of the demo world, the virtual environment and the
# project's pinned packages, and REACT_HOME with its dagster.yaml. Safe to run again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

DEBIAN_PACKAGES=(openclipart-png openclipart-svg fonts-noto-color-emoji unicode-data
                 dataset-fashion-mnist chromium
                 postgresql)  # the cluster profile's server (scripts/cluster.sh, tests/cluster)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.react-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (first run takes several minutes)"
  # This machine's pip configuration lists local package folders that may be absent: drop
  # those warnings, keep every other message.
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev,bench]" 2>&1 \
      | { grep -v '^WARNING: Location' || true; }; then
    echo "setup: pip install failed (see the messages above)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

if [ "${REACT_PROFILE:-embedded}" = embedded ]; then  # the cluster's: devtools/cluster.py
  mkdir -p "$DAGSTER_HOME"
  cp "$REPO_ROOT/dagster_project/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
fi
echo "setup: ready (REACT_HOME=$REACT_HOME)"
