#!/usr/bin/env bash
# The install steps of the operator image, in one place: the Dockerfile runs this script, and
# scripts/check-manifests.sh (CI) runs it into a throwaway directory, so the steps are tested
# on machines without a Docker engine.
#
#   install-image-deps.sh [--src DIR] [--venv DIR] [--home DIR] [--user NAME:UID] [--os-packages MODE]
#                         [--ansible-core VERSION]
#
#   --src DIR          the checkout holding requirements.lock, pyproject.toml and runner/ (default: this repo)
#   --ansible-core V   2.19 (default: requirements.lock) or 2.18 (requirements-ansible218.lock, the
#                      ansible-core line of the Go operator's image); the Dockerfile's ANSIBLE_CORE
#   --venv DIR         virtualenv to create and install into (default /opt/venv)
#   --home DIR         the operator's home and working directory: watches.yaml, roles/,
#                      playbooks/ and ~/.ansible go there (default /opt/ansible)
#   --user NAME:UID    create this user (group 0, home --home), as the image does; needs root
#   --os-packages M    install (image), simulate (CI: apt-get --simulate) or skip (default) the
#                      Debian packages of the image (tini, the init process that reaps zombies)
#
# Python packages come only from the lock file (exact versions, --no-deps), then the runner
# itself; `pip check` proves the lock is complete and consistent, and the installed ansible-core
# must be the version asked for.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=/opt/venv
HOME_DIR=/opt/ansible
USER_SPEC=
OS_PACKAGES=skip
PYTHON=${PYTHON:-python3}
DEBIAN_PACKAGES=("tini=0.19.0-*")
ANSIBLE_CORE=2.19

while [ $# -gt 0 ]; do
  case "$1" in
    --src) SRC=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    --home) HOME_DIR=$2; shift 2 ;;
    --user) USER_SPEC=$2; shift 2 ;;
    --os-packages) OS_PACKAGES=$2; shift 2 ;;
    --ansible-core) ANSIBLE_CORE=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "install-image-deps: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

step() { echo "install-image-deps: $*" >&2; }

case "$ANSIBLE_CORE" in
  2.19) LOCK=requirements.lock ;;
  2.18) LOCK=requirements-ansible218.lock ;;
  *) echo "install-image-deps: --ansible-core must be 2.18 or 2.19, not '$ANSIBLE_CORE'" >&2; exit 2 ;;
esac

case "$OS_PACKAGES" in
  install)
    step "installing Debian packages: ${DEBIAN_PACKAGES[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  simulate)
    if ! apt-cache policy tini 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      apt-get update -qq
    fi
    step "checking that the Debian packages resolve: ${DEBIAN_PACKAGES[*]}"
    apt-get install --simulate -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
    ;;
  skip) ;;
  *) echo "install-image-deps: --os-packages must be install, simulate or skip" >&2; exit 2 ;;
esac

step "creating the virtualenv $VENV"
"$PYTHON" -m venv "$VENV"
pip_log=$(mktemp)
pip() {  # quiet unless it fails
  if ! "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>"$pip_log"; then
    cat "$pip_log" >&2
    return 1
  fi
}
step "installing $LOCK (exact versions, ansible-core $ANSIBLE_CORE)"
pip install --no-deps -r "$SRC/$LOCK"
step "installing the runner"
build=$(mktemp -d)
trap 'rm -rf "$build" "$pip_log"' EXIT
# Build from a copy: a read-only or shared source tree gets no build/ or egg-info directory.
cp -r "$SRC/pyproject.toml" "$SRC/runner" "$build/"
pip install --no-deps "$build"
if ! problems=$("$VENV/bin/python" -m pip --disable-pip-version-check check 2>&1); then
  echo "install-image-deps: $LOCK is incomplete or inconsistent (pip check):" >&2
  echo "$problems" >&2
  exit 1
fi
"$VENV/bin/ansible-operator" version >/dev/null
"$VENV/bin/ansible-galaxy" collection list kubernetes.core 2>/dev/null | grep -q '^kubernetes.core '
installed=$("$VENV/bin/python" -c 'from ansible.release import __version__; print(__version__)')
case "$installed" in
  "$ANSIBLE_CORE".*) step "ansible-core $installed" ;;
  *) echo "install-image-deps: $LOCK installed ansible-core $installed, not $ANSIBLE_CORE" >&2; exit 1 ;;
esac

step "preparing $HOME_DIR"
mkdir -p "$HOME_DIR/.ansible/tmp" "$HOME_DIR/roles" "$HOME_DIR/playbooks"
if [ -n "$USER_SPEC" ]; then
  name=${USER_SPEC%%:*}
  uid=${USER_SPEC#*:}
  step "creating the user $name (uid $uid, group 0)"
  useradd --uid "$uid" --gid 0 --home-dir "$HOME_DIR" --no-create-home --shell /usr/sbin/nologin "$name"
  chown -R "$uid:0" "$HOME_DIR"
fi
# Group 0 may write ~/.ansible (OpenShift runs the image with an arbitrary uid in group 0).
chmod -R g=u "$HOME_DIR"
step "done"
