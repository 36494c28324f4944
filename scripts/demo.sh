#!/usr/bin/env bash
# Set up (first run: about a minute) and run the sample operator against kube-lite until Ctrl-C.
# With KUBECONFIG set, uses that cluster instead. --once: exit after the sample CRs are Successful.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
