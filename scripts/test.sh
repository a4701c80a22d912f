#!/usr/bin/env bash
# README command 2: install the test dependencies (Debian chromium included) and run every check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

if [ ! -x /usr/bin/chromium ]; then
    # The browser tests drive Debian's chromium; Playwright's own browser download cannot work here.
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

.venv/bin/ruff check passage_search tests experiments search_app.py evaluate_app.py build_index.py
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
