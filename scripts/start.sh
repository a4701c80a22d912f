#!/usr/bin/env bash
# README command 1: install, build the index from corpus/ if it is missing or stale, start the page.
# The page listens on 127.0.0.1 only (see .streamlit/config.toml); PORT picks the port (default 8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python build_index.py --if-stale
exec .venv/bin/streamlit run search_app.py --server.address 127.0.0.1 --server.port "${PORT:-8501}"
