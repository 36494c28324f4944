#!/usr/bin/env bash
# Set up everything the runner, its tests and its demo need, idempotently:
# Debian tools (kubectl, curl, openssl, xz), a virtualenv in .venv with the locked Python
# packages, and the runner itself installed in editable mode.
#
# ANSIBLE_CORE=2.18 ./scripts/setup.sh builds a second virtualenv, .venv-ansible218, from
# requirements-ansible218.lock (ansible-core 2.18, as the Go operator's image ships); the default
# (ANSIBLE_CORE unset or 2.19) is .venv from requirements.lock. Each has its own install stamp.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${ANSIBLE_CORE:-2.19}" in
  2.19) VENV=.venv LOCK=requirements.lock ;;
  2.18) VENV=.venv-ansible218 LOCK=requirements-ansible218.lock ;;
  *) echo "setup: ANSIBLE_CORE must be 2.18 or 2.19, not '${ANSIBLE_CORE}'" >&2; exit 2 ;;
esac

need_apt=()
for tool in curl:curl openssl:openssl xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool#*:}")
done
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp=$VENV/.installed-$(cat "$LOCK" requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing locked Python packages ($LOCK) into $VENV (about a minute the first time)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LOCK" -r requirements-dev.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
