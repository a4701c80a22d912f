#!/usr/bin/env bash
# README command 1: install, build the index from corpus/ if it is missing or stale, start the page.
# The page listens on 127.0.0.1 only (see .streamlit/config.toml); PORT picks the port (default 8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python build_index.py --if-stale
# `streamlit run search_app.py`, but with the index loaded and the model warm before the server answers, so
# the first visitor (a shared link, say) does not wait for them (passage_search/app/launch.py).
exec .venv/bin/python -m passage_search.app.launch search_app.py \
    --server.address 127.0.0.1 --server.port "${PORT:-8501}"
