"""Job planning: what one run of a CR executes, with which extra vars, verbosity, artifacts and
environment. Pure functions of the CR, its watch and the operator's settings."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.config.durations import parse_duration
from runner.config.settings import Config
from runner.config.watches import Watch
from runner.jobs.extravars import ReservedVariableError, build_extravars, check_spec_keys
from runner.jobs.rolespath import default_roles_path, job_ansible_cfg

ANNOTATION_PREFIX = "ansible.sdk.operatorframework.io/"
PERIOD_ANNOTATION = ANNOTATION_PREFIX + "reconcile-period"
ARTIFACTS_ANNOTATION = ANNOTATION_PREFIX + "max-runner-artifacts"
VERBOSITY_ANNOTATION = ANNOTATION_PREFIX + "verbosity"


@dataclass(frozen=True, slots=True)
class JobPlan:
    """Everything about one run that comes from the watch, the CR and its annotations."""

    finalizing: bool
    target: str  # playbook path or role
    is_role: bool
    extravars: Mapping[str, Any]
    verbosity: int
    artifacts: int
    resync_after: float | None


class SpecError(Exception):
    """The CR cannot be run as it is; the message is shown on the CR."""

    def __init__(self, reason: str, message: str, retry: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry = retry


def plan_job(obj: Mapping[str, Any], watch: Watch, config: Config, log_: logging.LoggerAdapter) -> JobPlan:  # type: ignore[type-arg]
    """Pure: what to run for this CR now (raises SpecError for a spec or annotation we refuse)."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    finalizing = bool(meta.get("deletionTimestamp"))
    fin = watch.finalizer if finalizing else None

    resync: float | None = watch.reconcile_period or config.reconcile_period
    if PERIOD_ANNOTATION in annotations:
        try:
            resync = parse_duration(annotations[PERIOD_ANNOTATION])
        except ValueError as exc:
            raise SpecError(
                "Failed", f"Unable to parse reconcile period annotation: {exc}", retry=True
            ) from exc

    artifacts = watch.max_runner_artifacts
    if ARTIFACTS_ANNOTATION in annotations:
        try:
            artifacts = max(int(annotations[ARTIFACTS_ANNOTATION]), 0)
        except (TypeError, ValueError):
            log_.warning(
                "ignoring invalid %s annotation %r", ARTIFACTS_ANNOTATION, annotations[ARTIFACTS_ANNOTATION]
            )

    verbosity = config.verbosity_for(watch.gvk.env_suffix)
    if VERBOSITY_ANNOTATION in annotations:
        try:
            verbosity = min(max(int(annotations[VERBOSITY_ANNOTATION]), 0), 7)
        except (TypeError, ValueError):
            log_.warning(
                "ignoring invalid %s annotation %r", VERBOSITY_ANNOTATION, annotations[VERBOSITY_ANNOTATION]
            )

    try:
        if watch.finalizer and not finalizing:
            # A spec key that clashes with the finalizer's vars would only be refused at deletion,
            # leaving the CR stuck in Terminating: refuse it now.
            check_spec_keys(
                obj.get("spec"),
                group=watch.gvk.group,
                kind=watch.gvk.kind,
                snake_case=watch.snake_case_parameters,
                watch_vars=watch.vars,
                finalizer_vars=watch.finalizer.vars,
            )
        extravars = build_extravars(
            obj,
            group=watch.gvk.group,
            kind=watch.gvk.kind,
            snake_case=watch.snake_case_parameters,
            mark_unsafe=watch.mark_unsafe,
            watch_vars=watch.vars,
            finalizer_vars=fin.vars if fin else None,
        )
    except ReservedVariableError as exc:
        raise SpecError("InvalidSpec", f"Refused: {exc}. Nothing was run.", retry=False) from exc

    if fin and (fin.playbook or fin.role):
        target, is_role = (fin.playbook, False) if fin.playbook else (fin.role, True)
    else:
        target, is_role = (watch.playbook, False) if watch.playbook else (watch.role, True)
    assert target is not None  # watches.py guarantees a role or a playbook
    return JobPlan(
        finalizing, target, is_role, extravars, verbosity, artifacts, None if finalizing else resync
    )


BUNDLED_COLLECTIONS = Path(__file__).resolve().parents[1] / "ansible" / "collections"
DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"


def job_env(config: Config, project_dir: Path | None = None) -> dict[str, str]:
    """Environment added to the operator's own for every job (the access adds the kubeconfig);
    ``project_dir`` is the job's working directory (the playbook's)."""
    # ansible-playbook and friends come from the runner's own environment (a virtualenv or the image).
    bindir = os.path.dirname(sys.executable)
    path = config.environ.get("PATH", os.defpath)
    env = {"PATH": path if bindir in path.split(os.pathsep) else f"{bindir}{os.pathsep}{path}"}
    if config.roles_path:
        env["ANSIBLE_ROLES_PATH"] = config.roles_path
    # Our operator_sdk.util goes last: a Galaxy-installed copy, when there is one, wins.
    collections = (
        config.collections_path or config.environ.get("ANSIBLE_COLLECTIONS_PATH") or DEFAULT_COLLECTIONS_PATH
    )
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{collections}{os.pathsep}{BUNDLED_COLLECTIONS}"
    # Jobs run in their own directory: a relative ANSIBLE_CONFIG means the operator's directory's
    # file (Ansible would look for it in the job's directory and silently use its defaults).
    ansible_config = config.environ.get("ANSIBLE_CONFIG")
    if ansible_config and not os.path.isabs(os.path.expanduser(ansible_config)):
        env["ANSIBLE_CONFIG"] = os.path.abspath(ansible_config)
    if not config.roles_path:
        cwd = os.getcwd()
        cfg = job_ansible_cfg({**config.environ, **env}, str(project_dir) if project_dir else None)
        roles = default_roles_path(
            config.environ, cwd, os.path.isdir(os.path.join(cwd, "roles")), _read_text(cfg) if cfg else None
        )
        if roles:
            env["ANSIBLE_ROLES_PATH"] = roles
    return env


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None
