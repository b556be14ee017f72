#!/usr/bin/env bash
# The README's test command: a fresh venv, the project with its test extras, models trained if missing, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PM_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install -q -e ".[test]"
[ -f models/classifier/meta.json ] || "$VENV/bin/policyminer" train classifier
exec "$VENV/bin/python" -m pytest -q "$@"
