#!/usr/bin/env bash
# Run the benchmarks: ./bench/run.sh [--quick] [--only B1,B3] [--executor plain|fast] [--scale 0.1] ...
# Sets up the checkout (scripts/setup.sh), starts a fresh kube-lite, runs the operator under test
# against bare ansible-runner, prints a table and writes bench/RESULTS.md. `--help` lists every option.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
exec .venv/bin/python -m bench.main "$@"
