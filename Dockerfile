# The operator image: ansible-operator-runner with the sample operator of this repository.
#
# Also a drop-in base image for an existing operator-sdk Ansible project: like
# quay.io/operator-framework/ansible-operator it runs as uid 1001 (group 0) with HOME and the
# working directory /opt/ansible, has ansible-galaxy on PATH and the same entrypoint, so the
# project's Dockerfile only changes its FROM line (see docs/workflow.md).
#
# The install steps live in scripts/install-image-deps.sh, which CI also runs
# (scripts/check-manifests.sh): build with `docker build -t ansible-operator-runner .`
FROM python:3.11-slim-bookworm

ENV HOME=/opt/ansible \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ANSIBLE_LOCAL_TEMP=/tmp/.ansible/tmp \
    ANSIBLE_REMOTE_TEMP=/tmp/.ansible/tmp \
    ANSIBLE_GATHERING=explicit

COPY requirements.lock pyproject.toml /src/
COPY runner/ /src/runner/
COPY scripts/install-image-deps.sh /src/scripts/
RUN /src/scripts/install-image-deps.sh --src /src --venv /opt/venv --home /opt/ansible \
        --user ansible:1001 --os-packages install \
    && rm -rf /src

COPY --chown=1001:0 watches.yaml /opt/ansible/watches.yaml
COPY --chown=1001:0 roles/ /opt/ansible/roles/
COPY --chown=1001:0 playbooks/ /opt/ansible/playbooks/

USER 1001
WORKDIR /opt/ansible
EXPOSE 6789 8080
ENTRYPOINT ["/usr/bin/tini", "--", "ansible-operator", "run", "--watches-file=./watches.yaml"]
