#!/usr/bin/env bash
# Install everything (a fresh machine is fine) and run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install.sh --browser
python -m pytest "$@"
