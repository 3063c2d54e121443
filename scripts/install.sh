#!/usr/bin/env bash
# Create .venv (if missing) and install curator with its test extras into it; Debian's chromium
# is added for the App's browser test when we may use apt. Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,bench]"  # bench: cleanlab, for the benchmark smoke test
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: install Debian's chromium (sudo apt-get install chromium) to run the App browser test" >&2
    fi
fi
export PATH="$PWD/.venv/bin:$PATH" FIFTYONE_DO_NOT_TRACK=true
