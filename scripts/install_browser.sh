#!/usr/bin/env bash
# Installs what the `browser` tests (augment_assets_tests/test_ui.py) need:
#   - Debian's Chromium at /usr/bin/chromium (Playwright's own browser download,
#     `playwright install`, cannot work on this closed network: never run it);
#   - the Python `playwright` package (the driver only; it is in pyproject's `test` extra).
# Idempotent: does nothing for what is already there, and says what it did.
# Usage: bash scripts/install_browser.sh
#   Python: $PYTHON if set, else the active virtual environment's, else the repository's
#   .venv/bin/python (as `make test` sets it up), else python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    elif [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON="$ROOT/.venv/bin/python"
    else
        PYTHON=python3
    fi
fi

if [ -x /usr/bin/chromium ]; then
    echo "install_browser: /usr/bin/chromium already present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: installing Debian's chromium with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
    echo "install_browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
    echo "install_browser: /usr/bin/chromium is missing and cannot be installed here (need root and apt-get);" >&2
    echo "install_browser: the browser tests will be skipped." >&2
fi

if "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install_browser: Python package playwright already importable in $PYTHON ($("$PYTHON" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p'))"
else
    echo "install_browser: installing the Python package playwright with pip (driver only, no browser download) ..."
    "$PYTHON" -m pip install --quiet "playwright>=1.45"
    echo "install_browser: installed playwright $("$PYTHON" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p')"
fi
