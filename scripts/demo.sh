#!/usr/bin/env bash
# The README's main command: a fresh venv, the project, then a run over the bundled sample corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PM_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install -q -e .
[ -f models/classifier/meta.json ] || "$VENV/bin/policyminer" train classifier
"$VENV/bin/policyminer" run corpora/samples --out outputs/samples "$@"
"$VENV/bin/policyminer" report outputs/samples >/dev/null 2>&1 || true
echo "results: outputs/samples/documents.jsonl, passages.csv, entities.csv, run.json"
