#!/usr/bin/env bash
# Runs the CEDetect demo: the whole system on embedded PostgreSQL and the amqtt broker, no system services.
#   ./scripts/demo.sh [--trucks N] [--speedup X] [--port P] [--data-dir DIR]
# Installs the Python packages into ./.venv on the first run (and when pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec .venv/bin/cedetect demo "$@"
