#!/usr/bin/env bash
# Set up, then run every check: lint, unit tests, end-to-end tests against kube-lite (or against
# $KUBECONFIG's cluster with RUNNER_USE_KUBECONFIG=1), molecule scenarios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check runner tests scripts bench
echo "== pytest" >&2
.venv/bin/pytest -q -p no:cacheprovider "$@"
