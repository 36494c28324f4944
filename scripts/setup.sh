#!/usr/bin/env bash
# Set up everything the runner, its tests and its demo need, idempotently:
# Debian tools (kubectl, curl, openssl, xz), a virtualenv in .venv with the locked Python
# packages, and the runner itself installed in editable mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing locked Python packages into .venv (about a minute the first time)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
