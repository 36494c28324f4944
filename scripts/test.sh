#!/usr/bin/env bash
# Set up, then run every check: lint, unit tests, end-to-end tests against kube-lite (or against
# $KUBECONFIG's cluster with RUNNER_USE_KUBECONFIG=1), molecule scenarios; last, the
# ansible-core-dependent tests and the operator end-to-end tests again on ansible-core 2.18.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check runner tests scripts bench
echo "== import-linter (the layers of docs/architecture.md)" >&2
.venv/bin/lint-imports --no-cache
# The ansible-core 2.18 virtualenv of the last pass is built meanwhile (about a minute and a half
# of pip on a fresh machine); its output is shown if it fails.
setup218_log=$(mktemp)
ANSIBLE_CORE=2.18 ./scripts/setup.sh >"$setup218_log" 2>&1 &
setup218=$!
echo "== mypy --strict" >&2
.venv/bin/mypy
# Two pytest-xdist workers (one kube-lite each; a test file stays on one worker, so its module
# fixtures are shared as written). Three were slower on two cores (the first pass 17:26 against
# 15:07–15:43, 30 % more CPU). RUNNER_TEST_WORKERS=0 runs everything in this process.
workers=(-n "${RUNNER_TEST_WORKERS:-2}" --dist loadfile)
echo "== pytest (everything; the operator's jobs on the fast executor)" >&2
.venv/bin/pytest -q -p no:cacheprovider "${workers[@]}" "$@"
echo "== pytest (the operator end-to-end tests and crash points again, on the plain executor)" >&2
RUNNER_E2E_EXECUTOR=plain .venv/bin/pytest -q -p no:cacheprovider "${workers[@]}" \
  tests/e2e/test_reconcile.py tests/e2e/test_jobs.py tests/e2e/test_dependents.py \
  tests/faults/test_api_outage.py "tests/faults/test_crash_points.py::test_crash_during_the_job" \
  "tests/faults/test_crash_points.py::test_crash_between_the_job_and_its_status_write" "$@"

# ---- ansible-core 2.18 (the Go operator image's), in its own virtualenv .venv-ansible218 from
# requirements-ansible218.lock: what depends on the ansible-core version (extra vars and markUnsafe
# as ansible-playbook reads them, the fast executor's hooks into ansible-core, templated values
# the API server refuses) and the operator end-to-end tests, on the fast executor.
echo "== pytest on ansible-core 2.18 (.venv-ansible218: extra vars, the fast executor, the operator end-to-end tests)" >&2
if ! wait "$setup218"; then
  cat "$setup218_log" >&2
  echo "setup of .venv-ansible218 failed" >&2
  exit 1
fi
rm -f "$setup218_log"
# Every operator end-to-end test runs again; left out are those that do not run a role (the
# manifests and the image's install steps, the kubectl helpers, the job proxy's own protocol,
# /metrics auth, the Go flags), those whose roles only prove what does not depend on Ansible
# (RBAC rules, scaffolded CRDs, the metrics text, the demo script), the benchmark's smoke run,
# and molecule (about 5 minutes; it runs the same roles through the same operator). The whole
# tests/e2e passes on 2.18: .venv-ansible218/bin/pytest tests/e2e runs it.
.venv-ansible218/bin/pytest -q -p no:cacheprovider "${workers[@]}" \
  tests/unit/jobs/test_extravars.py tests/unit/jobs/test_unsafe_ansible.py tests/unit/jobs/test_typehint.py \
  tests/unit/fastexec tests/e2e \
  --ignore=tests/e2e/test_manifests.py --ignore=tests/e2e/test_kube.py --ignore=tests/e2e/test_proxy.py \
  --ignore=tests/e2e/test_metrics_rbac.py --ignore=tests/e2e/test_compat.py \
  --ignore=tests/e2e/test_least_privilege.py --ignore=tests/e2e/test_scaffold_e2e.py \
  --ignore=tests/e2e/test_metrics.py --ignore=tests/e2e/test_demo.py \
  --ignore=tests/e2e/test_bench_smoke.py --ignore=tests/e2e/test_molecule.py "$@"
