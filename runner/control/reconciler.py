"""One reconcile of one CR: decide what to run, build the job input, run it, report the result.

CR (latest object) → finalizer bookkeeping → extra vars → Running condition → job → result →
status conditions, Kubernetes Event, finalizer removal → an ``Outcome`` for the scheduler.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runner.cluster.access import JobAccess
from runner.cluster.kube import Kube, ResourceRef
from runner.config.settings import Config
from runner.config.watches import Watch
from runner.control.scheduler import Outcome
from runner.jobs import jobdir
from runner.jobs.executor import Executor, JobSpec
from runner.jobs.extravars import dump_extravars
from runner.jobs.joblog import debug_logs_enabled, event_logger, job_stdout
from runner.jobs.plan import JobPlan, SpecError, job_env, plan_job
from runner.jobs.results import JobResult, summarize
from runner.serve import usermetrics
from runner.serve.logs import CRLogger, cr_logger
from runner.serve.metrics import JOBS_RUNNING, RECONCILE_RESULT, RECONCILES, gvk_label
from runner.status import conditions as cond
from runner.status.messages import condition_message
from runner.status.writer import Change, StatusWriter, Written

log = logging.getLogger("runner.reconcile")

# Posts a Kubernetes Event about a CR: (object, type, reason, message).
EventPoster = Callable[[Mapping[str, Any], str, str, str], None]
_job_counter = itertools.count(1)


class Reconciler:
    def __init__(
        self,
        config: Config,
        kube: Kube,
        executor: Executor,
        post_event: EventPoster,
        access: JobAccess,
        status_writer: StatusWriter | None = None,
    ) -> None:
        self.config = config
        self.kube = kube
        self.executor = executor
        self.post_event = post_event
        self.access = access
        self.status = status_writer or StatusWriter(kube)
        self.debug_logs = debug_logs_enabled(config.environ)

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
        # The Running condition is written while the job starts (nothing in the job waits for it);
        # the final conditions are written after both, starting from the object that write returned.
        running = asyncio.ensure_future(
            self._status(
                watch,
                ref,
                obj,
                lambda c, g, now: cond.mark_running(c, generation=g, now=now, finalizing=plan.finalizing),
                current=obj,
            )
        )
        what = "finalizer" if plan.finalizing else "reconciliation"
        self.post_event(obj, "Normal", "Started", f"Running {what} ({', '.join(sorted(reasons))})")
        try:
            result, jlog = await self._run_job(watch, ref, obj, plan, clog)
        finally:
            latest = (await running).obj
        RECONCILES.labels(GVK=gvk_label(watch.gvk)).observe(time.monotonic() - started)
        RECONCILE_RESULT.labels(GVK=gvk_label(watch.gvk), result="succeeded" if result.ok else "failed").inc()
        return await self._report(watch, ref, obj, plan, result, jlog, latest)

    async def _refuse(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], exc: SpecError, clog: CRLogger
    ) -> Outcome:
        """The CR cannot run as it is: say why on the CR, run nothing."""
        message = str(exc)
        stuck = stuck_finalizer_hint(watch, ref, obj)
        if stuck:
            message = f"{message} {stuck}"
        clog.warning("not running: %s", message)
        written = await self._status(
            watch,
            ref,
            obj,
            lambda c, g, now: cond.mark_failed(c, message=message, generation=g, now=now, reason=exc.reason),
            finished=True,
        )
        self.post_event(obj, "Warning", "FinalizerBlocked" if stuck else exc.reason, message)
        RECONCILE_RESULT.labels(GVK=gvk_label(watch.gvk), result="failed").inc()
        return Outcome(ok=False, retry=exc.retry or not written.landed)

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
            envvars={**job_env(self.config, playbook.parent), **access_env},
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
        if self.debug_logs:
            output = await asyncio.to_thread(job_stdout, path, ident)
            jlog.info("Ansible Debug Result\n%s", output.rstrip())
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
        latest: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Write the result on the CR (starting from ``latest``, the object as last written)."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        if result.interrupted:
            # Not a failure of the role: the operator is stopping. It runs again when it restarts.
            await self._status(
                watch,
                ref,
                obj,
                lambda c, g, now: cond.mark_interrupted(c, generation=g, now=now),
                current=latest,
            )
            clog.info("job interrupted by operator shutdown")
            return Outcome(ok=False, retry=False)
        if result.ok:
            assert result.result is not None
            res = result.result
            written = await self._status(
                watch,
                ref,
                obj,
                lambda c, g, now: cond.mark_succeeded(c, result=res, generation=g, now=now),
                finished=True,
                current=latest,
            )
            what = "Finalizer" if plan.finalizing else "Reconciliation"
            self.post_event(
                obj, "Normal", "Succeeded", f"{what} succeeded (ok={res.ok} changed={res.changed})"
            )
            clog.info("reconcile succeeded", extra={"ok": res.ok, "changed": res.changed})
            if plan.finalizing and watch.finalizer:
                await self.kube.set_finalizer(ref, ns, name, watch.finalizer.name, False)
                clog.info("finalizer %s ran and was removed", watch.finalizer.name)
            elif not written.landed:
                clog.warning("the run succeeded but its status could not be written: it runs again")
                return Outcome(ok=False)
            return Outcome(ok=True, requeue_after=result.requeue_after, resync_after=plan.resync_after)
        await self._status(
            watch,
            ref,
            obj,
            lambda c, g, now: cond.mark_failed(
                c, message=condition_message(result.message), generation=g, now=now, result=result.result
            ),
            finished=True,
            current=latest,
        )
        self.post_event(obj, "Warning", "Failed", result.message)
        clog.warning("reconcile failed: %s", result.message)
        return Outcome(ok=False)

    async def _status(
        self,
        watch: Watch,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        change: Change,
        *,
        finished: bool = False,
        current: Mapping[str, Any] | None = None,
    ) -> Written:
        """Write conditions on the CR: a finished run's until they land (or the write gives up)."""
        if not watch.manage_status:
            return Written(True)
        meta = obj["metadata"]
        clog = cr_logger(log, kind=watch.gvk.kind, namespace=meta.get("namespace"), name=meta["name"])
        return await self.status.write(
            ref, obj, change, clog, finished=finished, current=current, until_landed=finished
        )


def stuck_finalizer_hint(watch: Watch, ref: ResourceRef, obj: Mapping[str, Any]) -> str:
    """For a CR being deleted whose finalizer cannot run (its spec is refused): what to do. Pure."""
    meta = obj.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    fin = watch.finalizer
    if not meta.get("deletionTimestamp") or fin is None or fin.name not in finalizers:
        return ""
    resource = f"{ref.plural}.{ref.group}" if ref.group else ref.plural
    target = f"{resource} {meta.get('name')}" + (f" -n {meta['namespace']}" if meta.get("namespace") else "")
    remove = json.dumps([{"op": "remove", "path": f"/metadata/finalizers/{finalizers.index(fin.name)}"}])
    return (
        f"The resource is being deleted and its finalizer {fin.name} cannot run with this spec, so it "
        f"stays Terminating: fix the spec (kubectl edit {target}), or skip the clean-up by removing "
        f"the finalizer by hand (kubectl patch {target} --type=json -p '{remove}')."
    )
