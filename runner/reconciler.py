"""One reconcile of one CR: decide what to run, build the job input, run it, report the result.

CR (latest object) → finalizer bookkeeping → extra vars → Running condition → job → result →
status conditions, Kubernetes Event, finalizer removal → an ``Outcome`` for the scheduler.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import conditions as cond
from runner import jobdir, usermetrics
from runner.access import JobAccess
from runner.config import Config
from runner.durations import parse_duration
from runner.executor import Executor, JobSpec
from runner.extravars import ReservedVariableError, build_extravars, check_spec_keys, dump_extravars
from runner.joblog import event_logger
from runner.kube import Kube, ResourceRef
from runner.logs import CRLogger, cr_logger
from runner.metrics import JOBS_RUNNING, RECONCILE_RESULT, RECONCILES
from runner.results import JobResult, summarize
from runner.scheduler import Outcome
from runner.watches import Watch

log = logging.getLogger("runner.reconcile")

ANNOTATION_PREFIX = "ansible.sdk.operatorframework.io/"
PERIOD_ANNOTATION = ANNOTATION_PREFIX + "reconcile-period"
ARTIFACTS_ANNOTATION = ANNOTATION_PREFIX + "max-runner-artifacts"
VERBOSITY_ANNOTATION = ANNOTATION_PREFIX + "verbosity"

# Posts a Kubernetes Event about a CR: (object, type, reason, message).
EventPoster = Callable[[Mapping[str, Any], str, str, str], None]

_job_counter = itertools.count(1)


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


BUNDLED_COLLECTIONS = Path(__file__).resolve().parent / "ansible" / "collections"
DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"


def job_env(config: Config) -> dict[str, str]:
    """Environment added to the operator's own for every job (the access adds the kubeconfig)."""
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
    return env


class Reconciler:
    def __init__(
        self, config: Config, kube: Kube, executor: Executor, post_event: EventPoster, access: JobAccess
    ) -> None:
        self.config = config
        self.kube = kube
        self.executor = executor
        self.post_event = post_event
        self.access = access

    async def reconcile(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], reasons: frozenset[str]
    ) -> Outcome:
        meta = obj["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        clog = cr_logger(log, kind=watch.gvk.kind, namespace=ns, name=name)
        fin = watch.finalizer
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and not (fin and fin.name in finalizers):
            clog.info("resource is being deleted and holds no finalizer of ours: nothing to run")
            return Outcome(ok=True)
        if fin and not meta.get("deletionTimestamp") and fin.name not in finalizers:
            if not await self.kube.set_finalizer(ref, ns, name, fin.name, True):
                return Outcome(ok=True)
            clog.info("added finalizer %s", fin.name)

        try:
            plan = plan_job(obj, watch, self.config, clog)
        except SpecError as exc:
            return await self._refuse(watch, ref, obj, exc, clog)

        clog.info("reconcile started", extra={"reasons": sorted(reasons), "finalizer": plan.finalizing})
        started = time.monotonic()
        await self._status(
            watch,
            ref,
            obj,
            lambda c, g, now: cond.mark_running(c, generation=g, now=now, finalizing=plan.finalizing),
        )
        what = "finalizer" if plan.finalizing else "reconciliation"
        self.post_event(obj, "Normal", "Started", f"Running {what} ({', '.join(sorted(reasons))})")

        result, jlog = await self._run_job(watch, ref, obj, plan, clog)
        RECONCILES.labels(GVK=str(watch.gvk)).observe(time.monotonic() - started)
        RECONCILE_RESULT.labels(GVK=str(watch.gvk), result="succeeded" if result.ok else "failed").inc()
        return await self._report(watch, ref, obj, plan, result, jlog)

    async def _refuse(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], exc: SpecError, clog: CRLogger
    ) -> Outcome:
        """The CR cannot run as it is: say why on the CR, run nothing."""
        message = str(exc)
        clog.warning("not running: %s", message)
        await self._status(
            watch,
            ref,
            obj,
            lambda c, g, now: cond.mark_failed(c, message=message, generation=g, now=now, reason=exc.reason),
            finished=True,
        )
        self.post_event(obj, "Warning", exc.reason, message)
        RECONCILE_RESULT.labels(GVK=str(watch.gvk), result="failed").inc()
        return Outcome(ok=False, retry=exc.retry)

    async def _run_job(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], plan: JobPlan, clog: CRLogger
    ) -> tuple[JobResult, CRLogger]:
        meta = obj["metadata"]
        base = self.config.runner_dir
        path = jobdir.job_dir(
            base, watch.gvk.group, watch.gvk.version, watch.gvk.kind, meta.get("namespace"), meta["name"]
        )
        ident = f"{int(time.time())}-{next(_job_counter)}"
        playbook = jobdir.prepare(
            path,
            base,
            extravars=dump_extravars(plan.extravars),
            inventory_source=self.config.environ.get("ANSIBLE_INVENTORY") or None,
            role_playbook=jobdir.role_playbook(plan.target) if plan.is_role else None,
        )
        if not plan.is_role:
            playbook = Path(plan.target)
        access_env, close = self.access.open(watch, ref, obj, path)
        spec = JobSpec(
            ident=ident,
            private_data_dir=path,
            playbook=playbook,
            project_dir=playbook.parent,
            envvars={**job_env(self.config), **access_env},
            verbosity=plan.verbosity,
            cmdline=self.config.ansible_args or None,
            timeout=self.config.job_timeout,
            rotate_artifacts=plan.artifacts,
        )
        jlog = CRLogger(log, {**(clog.extra or {}), "job": ident})
        JOBS_RUNNING.inc()
        try:
            outcome = await self.executor.run(spec, self._event_callback(jlog))
        finally:
            JOBS_RUNNING.dec()
            close()
        return summarize(outcome, timeout=self.config.job_timeout), jlog

    def _event_callback(self, jlog: CRLogger) -> Callable[[Mapping[str, Any]], None]:
        log_event = event_logger(jlog, self.config.log_events)

        def on_event(event: Mapping[str, Any]) -> None:
            log_event(event)
            usermetrics.observe_event(event, jlog)

        return on_event

    async def _report(
        self,
        watch: Watch,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        plan: JobPlan,
        result: JobResult,
        clog: CRLogger,
    ) -> Outcome:
        meta = obj["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        if result.interrupted:
            # Not a failure of the role: the operator is stopping. It runs again when it restarts.
            await self._status(
                watch, ref, obj, lambda c, g, now: cond.mark_interrupted(c, generation=g, now=now)
            )
            clog.info("job interrupted by operator shutdown")
            return Outcome(ok=False, retry=False)
        if result.ok:
            assert result.result is not None
            res = result.result
            await self._status(
                watch,
                ref,
                obj,
                lambda c, g, now: cond.mark_succeeded(c, result=res, generation=g, now=now),
                finished=True,
            )
            what = "Finalizer" if plan.finalizing else "Reconciliation"
            self.post_event(
                obj, "Normal", "Succeeded", f"{what} succeeded (ok={res.ok} changed={res.changed})"
            )
            clog.info("reconcile succeeded", extra={"ok": res.ok, "changed": res.changed})
            if plan.finalizing and watch.finalizer:
                await self.kube.set_finalizer(ref, ns, name, watch.finalizer.name, False)
                clog.info("finalizer %s ran and was removed", watch.finalizer.name)
            return Outcome(ok=True, requeue_after=result.requeue_after, resync_after=plan.resync_after)
        await self._status(
            watch,
            ref,
            obj,
            lambda c, g, now: cond.mark_failed(
                c, message=result.message, generation=g, now=now, result=result.result
            ),
            finished=True,
        )
        self.post_event(obj, "Warning", "Failed", result.message)
        clog.warning("reconcile failed: %s", result.message)
        return Outcome(ok=False)

    async def _status(
        self,
        watch: Watch,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        change: Callable[[list[dict[str, Any]], int | None, str], list[dict[str, Any]]],
        *,
        finished: bool = False,
    ) -> None:
        if not watch.manage_status:
            return
        meta = obj["metadata"]
        generation = meta.get("generation")

        def keys(status: Mapping[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "conditions": change(list(status.get("conditions") or []), generation, cond.now_rfc3339())
            }
            if finished and generation is not None:
                out["observedGeneration"] = generation
            return out

        try:
            await self.kube.write_status(ref, meta.get("namespace"), meta["name"], keys)
        except Exception:
            cr_logger(log, kind=watch.gvk.kind, namespace=meta.get("namespace"), name=meta["name"]).exception(
                "could not write status"
            )
