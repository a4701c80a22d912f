#!/usr/bin/env bash
# Create .venv and install passage-search into it: torch (CPU build) first, then the package.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test
# Re-running is quick: nothing is reinstalled while pyproject.toml and the extras are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
venv=".venv"

if [ ! -x "$venv/bin/python" ]; then
    echo "Creating $venv with $python_bin" >&2
    "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"

stamp="$venv/.passage-search-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) extras=$extras"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

"$py" -m pip install --quiet --upgrade pip
# Pinned and first: an unpinned torch (asked for by sentence-transformers) would pull a multi-GB CUDA build.
"$py" -m pip install --quiet "torch==2.13.0"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
"$py" -m pip install --quiet -e "$spec"
echo "$want" > "$stamp"
