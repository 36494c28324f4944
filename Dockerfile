# The operator image: ansible-operator-runner with the sample operator of this repository.
#
# Also a drop-in base image for an existing operator-sdk Ansible project: like
# quay.io/operator-framework/ansible-operator it runs as uid 1001 (group 0) with HOME and the
# working directory /opt/ansible, has ansible-galaxy on PATH and the same entrypoint, so the
# project's Dockerfile only changes its FROM line (see docs/workflow.md).
#
# The install steps live in scripts/install-image-deps.sh, which CI also runs
# (scripts/check-manifests.sh): build with `docker build -t ansible-operator-runner .`
#
# ANSIBLE_CORE picks the lock file: 2.19 (requirements.lock, the default) or 2.18
# (requirements-ansible218.lock, the ansible-core of the Go operator's image; see the README's
# "ansible-core 2.18 or 2.19"): `docker build --build-arg ANSIBLE_CORE=2.18 ...`
FROM python:3.11-slim-bookworm

ARG ANSIBLE_CORE=2.19

ENV HOME=/opt/ansible \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ANSIBLE_LOCAL_TEMP=/tmp/.ansible/tmp \
    ANSIBLE_REMOTE_TEMP=/tmp/.ansible/tmp \
    ANSIBLE_GATHERING=explicit

COPY requirements.lock requirements-ansible218.lock pyproject.toml /src/
COPY runner/ /src/runner/
COPY scripts/install-image-deps.sh /src/scripts/
RUN /src/scripts/install-image-deps.sh --src /src --venv /opt/venv --home /opt/ansible \
        --user ansible:1001 --os-packages install --ansible-core "${ANSIBLE_CORE}" \
    && rm -rf /src

COPY --chown=1001:0 watches.yaml /opt/ansible/watches.yaml
COPY --chown=1001:0 roles/ /opt/ansible/roles/
COPY --chown=1001:0 playbooks/ /opt/ansible/playbooks/

USER 1001
WORKDIR /opt/ansible
EXPOSE 6789 8080
ENTRYPOINT ["/usr/bin/tini", "--", "ansible-operator", "run", "--watches-file=./watches.yaml"]
