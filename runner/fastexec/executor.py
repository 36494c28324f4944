"""The fast executor: the same jobs, results, events and artifacts as the plain path, without
paying interpreter and import start-up for every job and every module task.

``FastExecutor`` prepares each job with ansible-runner exactly as ``AnsibleRunnerExecutor`` does
(``ansible_runner.interface.init_runner``: same command, environment, working directory, artifact
directory and rotation) and runs it with ansible-runner's own ``Runner`` machinery (status and rc
files, ``OutputEventFilter`` turning the ``awx_display`` output into events, ``job_events/*.json``,
the event handler). Only the process differs: instead of exec'ing ``ansible-playbook`` under
pexpect, a warm **controller zygote** (``runner.fastexec.zygote``) forks a child that runs
``ansible-playbook`` in-process on a fresh pseudo-terminal, and module tasks that the local
connection would run as ``/bin/sh -c 'python AnsiballZ_x.py'`` are forked from a warm **module
zygote** that has already imported ``ansible.module_utils`` and the ``kubernetes`` client. The module
zygote starts when a job's first module run asks for it (``ModuleBroker``), not with the first job:
a role without module tasks never pays for it.

Also, within the warm workers: module payloads are shared between jobs when the files they carry
are byte for byte the installed ones (``runner.fastexec.payloads``); the local connection pipelines
modules when nothing configures pipelining (not with become, async, kept remote files, or at -vvv
and above, whose output would show the difference) and runs its temporary-directory commands
in-process (``runner.fastexec.shell``); a job over its timeout or cancelled is killed with its whole
process tree (ansible-core's workers call setsid, so its process group is not enough).
Measurements: ``bench/fastexec-notes/MEASUREMENTS.md``.

Modules: ``fastexec`` (the executors) → ``fastworkers`` (the worker processes) and ``fastrunner``
(ansible-runner's ``Runner`` on a worker) → ``fastwire`` (protocol) → ``fastzygote`` (the worker
server) with ``fastcontroller``, ``fastroute``, ``fastmodule``, ``fastpayloads``, ``fastshell``.

``AutoExecutor(fast, plain)`` (``auto``) picks per job: a job the fast path cannot run identically
(``FastExecutor.compatible`` gives the reason, or the zygote finds out) runs on the plain path,
and the reason is logged once per watched kind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runner.fastexec import wire
from runner.fastexec.jobrunner import ansible_runner_classes, make_fast_runner
from runner.fastexec.workers import (
    START_TIMEOUT,
    ModuleBroker,
    Zygote,
    fingerprint,
    interpreter_of,
    zygote_env,
)
from runner.jobs.executor import EventCallback, JobSpec, _stdout_tail, event_handler, runner_kwargs
from runner.jobs.results import JobOutcome

log = logging.getLogger(__name__)

MAX_CONTROLLER_ZYGOTES = 4  # distinct configurations (env + ansible.cfg) served warm at once
IDLE_TIMEOUT = 60.0  # warm workers unused this long are stopped (memory back to the operator's own)


class FastUnavailable(Exception):
    """The fast path cannot run this job identically; nothing of the job has run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FastExecutor:
    """Jobs forked from warm Ansible processes; same interface and results as the plain path."""

    name = "fast"

    def __init__(
        self,
        max_workers: int,
        *,
        warm_modules: bool = True,
        pipelining: bool = True,
        start_timeout: float = START_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fastjob")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._zygotes: OrderedDict[str, Zygote] = OrderedDict()
        self._module_zygote: Zygote | None = None
        self._pipelining = pipelining
        self._start_timeout = start_timeout
        self._dir = tempfile.mkdtemp(prefix="aor-fx-")
        os.chmod(self._dir, 0o700)
        # Module payloads shared by every controller worker, also across their idle stops: entries
        # are keyed by module source and search roots, and checked against the installed files.
        self._payloads = os.path.join(self._dir, "payloads")
        os.mkdir(self._payloads, 0o700)
        self._counter = 0
        self._active: dict[int, int | None] = {}  # running jobs: pid -> pidfd
        self._playbook_paths: dict[str, tuple[str | None, str | None]] = {}
        self._runner_class: Any = None
        if idle_timeout <= 0:
            raise ValueError("the idle timeout of warm workers must be positive")
        self._idle_timeout = idle_timeout
        self._refusals: set[str] = set()
        self._broker: ModuleBroker | None = None  # the module worker starts when a module run asks
        if warm_modules:
            self._broker = ModuleBroker(os.path.join(self._dir, "modules.sock"), self._module_worker)
        threading.Thread(target=self._reaper, name="fastexec-reaper", daemon=True).start()

    # -- compatibility -----------------------------------------------------------------------------

    def compatible(self, spec: JobSpec) -> str | None:
        """Why this job must run on the plain path, or None when the fast path runs it identically."""
        if self._stopping.is_set():
            return "the executor is shutting down"
        env_dir = spec.private_data_dir / "env"
        for name, why in (
            ("passwords", "answers password prompts (env/passwords)"),
            ("ssh_key", "uses an SSH key through ssh-agent (env/ssh_key)"),
            ("settings", "has ansible-runner settings (env/settings)"),
        ):
            if (env_dir / name).exists():
                return f"the job {why}, which only the plain path honours"
        if spec.verbosity >= 4:
            return "verbosity 4 and above would show the warm worker's own start-up"
        if (spec.private_data_dir / "args").exists():
            return "the job runs a raw command (args file)"
        if spec.cmdline:
            try:
                shlex.split(spec.cmdline)
            except ValueError as exc:
                return f"--ansible-args cannot be parsed: {exc}"
        path = spec.envvars.get("PATH") or os.environ.get("PATH", os.defpath)
        _playbook, problem = self._ansible_playbook(path)
        if problem:
            return problem
        return None

    def _ansible_playbook(self, path: str) -> tuple[str | None, str | None]:
        cached = self._playbook_paths.get(path)
        if cached:
            return cached
        found = shutil.which("ansible-playbook", path=path)
        if not found:
            result: tuple[str | None, str | None] = (None, "ansible-playbook is not on the job's PATH")
        else:
            found = os.path.abspath(found)
            interp = interpreter_of(found)
            # The warm workers run with the interpreter of ansible-playbook's own #! line, so that
            # ansible_playbook_python (and the packages) are those of the plain path.
            result = (
                (found, None)
                if interp and os.path.isabs(interp) and os.access(interp, os.X_OK)
                else (None, f"{found} does not start with the #! line of a Python interpreter")
            )
        if result[0]:  # a missing or foreign ansible-playbook may be fixed by an install: look again
            self._playbook_paths[path] = result
        return result

    # -- running -----------------------------------------------------------------------------------

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_blocking, spec, on_event)

    def _run_blocking(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        reason = self.compatible(spec)
        if reason:
            raise FastUnavailable(reason)
        interface, base = ansible_runner_classes()
        if self._runner_class is None:
            self._runner_class = make_fast_runner(base)
        kept: list[Mapping[str, Any]] = []

        handle = event_handler(kept, on_event)
        try:
            prepared = interface.init_runner(**runner_kwargs(spec, handle, self._stopping.is_set))
        except Exception as exc:
            log.exception("ansible-runner failed to prepare the job")
            return JobOutcome(status="error", rc=None, events=(), error=f"{type(exc).__name__}: {exc}")
        cfg = prepared.config
        if not cfg.command or cfg.command[0] != "ansible-playbook":
            raise FastUnavailable("ansible-runner prepared a command other than ansible-playbook")
        if getattr(cfg, "containerized", False) or getattr(cfg, "sandboxed", False):
            raise FastUnavailable("the job uses process isolation")
        playbook_path, problem = self._ansible_playbook(cfg.env.get("PATH", os.defpath))
        python = interpreter_of(playbook_path) if playbook_path else None
        if problem or not playbook_path or not python:
            raise FastUnavailable(problem or "ansible-playbook not found")

        zygote = self._controller_for(cfg.env, cfg.cwd, python)
        runner = self._runner_class(cfg, event_handler=handle, cancel_callback=self._stopping.is_set)
        try:
            runner.zygote = zygote
            runner.module_zygote, runner.module_broker = self._module_route(python)
            runner.playbook_path = playbook_path
            runner.payload_store = zygote.payload_store
            runner.pipelining = self._pipelining
            runner.on_pgid = self._track
            status, rc = runner.run()
        except Exception as exc:
            log.exception("the fast path failed to run the job")
            if not runner.started:
                raise FastUnavailable(f"the fast path failed before the job started: {exc}") from exc
            return JobOutcome(
                status="error", rc=None, events=tuple(kept), error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            with self._lock:
                zygote.users -= 1
        if runner.fallback_reason:
            # Nothing of the job ran: its artifacts are ansible-runner's bookkeeping only.
            shutil.rmtree(cfg.artifact_dir, ignore_errors=True)
            raise FastUnavailable(runner.fallback_reason)
        return JobOutcome(status=status, rc=rc, events=tuple(kept), stdout_tail=_stdout_tail(spec))

    def _track(self, pid: int, pidfd: int | None) -> None:
        with self._lock:
            if pidfd is None:
                self._active.pop(pid, None)
            else:
                self._active[pid] = pidfd

    def _sock_path(self, kind: str) -> str:
        self._counter += 1
        return os.path.join(self._dir, f"{kind}{self._counter}.sock")

    def _controller_for(self, env: Mapping[str, str], cwd: str, python: str) -> Zygote:
        key = fingerprint(env, cwd, python)
        with self._lock:
            if self._stopping.is_set():
                raise FastUnavailable("the executor is shutting down")
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.proc is not None and not zygote.alive() and not zygote.failure:
                log.warning(
                    "the warm Ansible worker exited (code %s); starting a new one", zygote.proc.returncode
                )
                del self._zygotes[key]
                zygote = None
            if zygote is None:
                zygote = Zygote("controller", self._sock_path("c"), zygote_env(env), cwd, python)
                zygote.payload_store = self._payloads
                self._zygotes[key] = zygote
                self._evict_idle()
            self._zygotes.move_to_end(key)
            zygote.users += 1
            zygote.last_used = time.monotonic()
        try:
            zygote.ensure_started(self._start_timeout)
        except BaseException:
            with self._lock:
                zygote.users -= 1
            raise
        if zygote.failure:
            with self._lock:
                zygote.users -= 1
            raise FastUnavailable(zygote.failure)
        return zygote

    def _reaper(self) -> None:
        """Stop warm workers nobody used for IDLE_TIMEOUT; the next job starts them again (~0.7 s)."""
        while not self._stopping.wait(min(10.0, self._idle_timeout / 2)):
            self.reap_idle()

    def reap_idle(self) -> int:
        now = time.monotonic()
        idle: list[Zygote] = []
        with self._lock:
            for key, zygote in list(self._zygotes.items()):
                if zygote.users == 0 and now - zygote.last_used > self._idle_timeout:
                    idle.append(self._zygotes.pop(key))
            module = self._module_zygote
            if (
                module is not None
                and not self._zygotes
                and not self._active
                and now - module.last_used > self._idle_timeout
            ):
                idle.append(module)
                self._module_zygote = None
        for zygote in idle:
            zygote.stop()
        if idle:
            log.info("stopped %d idle warm Ansible worker(s)", len(idle))
        return len(idle)

    def _evict_idle(self) -> None:
        while len(self._zygotes) > MAX_CONTROLLER_ZYGOTES:
            for key, zygote in self._zygotes.items():
                if zygote.users == 0:
                    del self._zygotes[key]
                    threading.Thread(target=zygote.stop, daemon=True).start()
                    break
            else:
                return

    def _module_route(self, python: str) -> tuple[Zygote | None, str | None]:
        """For a job of ``python``: the module worker if it is up, and where to ask for it (started
        or restarted) when the job's module runs need it; nothing when they run the plain way."""
        if self._broker is None:
            return None, None
        with self._lock:
            zygote = self._module_zygote
            if zygote is not None and (zygote.python != python or zygote.failure):
                return None, None
            if zygote is not None:
                zygote.last_used = time.monotonic()
                if not zygote.alive():
                    zygote = None
        return zygote, self._broker.path

    def _module_worker(self, python: str) -> tuple[str | None, str]:
        """The broker's answer: the module worker's socket (started now if need be), or why the
        module runs the plain way (logged once per reason)."""
        with self._lock:  # only the Python of a running job's controller worker is started
            known = any(z.python == python and z.users for z in self._zygotes.values())
        zygote, reason = self._modules(python) if known else (None, f"no running job uses {python}")
        if zygote is not None:
            return zygote.sock_path, ""
        with self._lock:
            report = reason not in self._refusals
            self._refusals.add(reason)
        if report:
            log.warning("module tasks run the plain way: %s", reason)
        return None, reason

    def _modules(self, python: str) -> tuple[Zygote | None, str]:
        """The warm module worker for ``python`` (one interpreter: the first asker's), started once
        (concurrent askers wait for the same start); or None and why not."""
        with self._lock:
            if self._stopping.is_set():
                return None, "the executor is shutting down"
            zygote = self._module_zygote
            if zygote is not None and zygote.python != python:
                return None, f"the warm module worker runs {zygote.python}, not {python}"
            if zygote is not None and zygote.proc is not None and not zygote.alive() and not zygote.failure:
                log.warning("the warm module worker exited; starting a new one")
                zygote = None
            if zygote is None:
                env = zygote_env(os.environ)
                zygote = self._module_zygote = Zygote("module", self._sock_path("m"), env, "/", python)
            zygote.last_used = time.monotonic()
        zygote.ensure_started(self._start_timeout)
        return (None, zygote.failure) if zygote.failure else (zygote, "")

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._broker is not None:
            self._broker.close()
        # Running jobs notice the flag within POLL seconds and stop as "canceled"; give them that.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self._active:
                    break
            time.sleep(0.05)
        with self._lock:
            active = list(self._active.items())
            zygotes = list(self._zygotes.values())
            self._zygotes.clear()
            if self._module_zygote is not None:
                zygotes.append(self._module_zygote)
                self._module_zygote = None
        for pid, pidfd in active:
            wire.kill_tree(pid, pidfd)
        for zygote in zygotes:
            zygote.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
