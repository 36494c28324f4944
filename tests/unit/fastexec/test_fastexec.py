"""The fast executor runs real jobs with the same outcome as the plain ansible-runner path.

Every scenario runs the same role (written to tmp_path, no cluster needed) through both executors
at once and compares what the reconciler uses: status, rc, the summed ``playbook_on_stats``
counts and the failure messages ``summarize`` builds. Both executors are shared by the module;
the last test shuts them down and checks that no process is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.fastexec import module, route, wire
from runner.fastexec.auto import AutoExecutor
from runner.fastexec.executor import FastExecutor, FastUnavailable
from runner.jobs import jobdir
from runner.jobs.executor import AnsibleRunnerExecutor, JobSpec
from runner.jobs.results import JobOutcome, summarize

BIN_DIR = str(Path(sys.executable).parent)

pytestmark = pytest.mark.skipif(
    not (Path(BIN_DIR) / "ansible-playbook").exists(), reason="needs ansible-playbook next to this Python"
)

ROLES = {
    "ok": """
- name: say hello
  ansible.builtin.debug:
    msg: "hello {{ ansible_operator_meta.name }}"
- name: set a fact
  ansible.builtin.set_fact:
    greeting: hi
- name: run a command
  ansible.builtin.command: /bin/echo {{ greeting }}
  register: echoed
  changed_when: echoed.stdout == "hi"
""",
    "fails": """
- name: fine
  ansible.builtin.debug:
    msg: before
- name: breaks
  ansible.builtin.command: /bin/false
- name: never
  ansible.builtin.debug:
    msg: after
""",
    "ignored": """
- name: tolerated
  ansible.builtin.fail:
    msg: this one is ignored
  ignore_errors: true
- name: then fine
  ansible.builtin.debug:
    msg: still here
""",
    "slow": """
- name: takes too long
  ansible.builtin.command: /bin/sleep 60
""",
    "parent": """
- name: which process ran the module
  ansible.builtin.shell: "awk '{print $4}' /proc/$PPID/stat"
  register: parent
- name: tell
  ansible.builtin.debug:
    msg: "module run by {{ parent.stdout }}"
""",
    "syntax": """
- name: broken yaml
  ansible.builtin.debug:
    msg: [unclosed
""",
}


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _descendants(pid: int) -> set[int]:
    todo, seen = [pid], set()
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


class Jobs:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.roles = base / "roles"
        for name, tasks in ROLES.items():
            (self.roles / name / "tasks").mkdir(parents=True)
            (self.roles / name / "tasks" / "main.yml").write_text(tasks)
        self.count = 0

    def spec(self, role: str, *, timeout: float | None = None) -> JobSpec:
        self.count += 1
        path = self.base / "runner" / "g" / "v1" / "Kind" / "ns" / f"{role}-{self.count:04d}"
        playbook = jobdir.prepare(
            path,
            self.base / "runner",
            extravars="ansible_operator_meta: {name: cr, namespace: ns}\n",
            inventory_source=None,
            role_playbook=jobdir.role_playbook(role),
        )
        return JobSpec(
            ident=f"{int(time.time())}-{self.count}",
            private_data_dir=path,
            playbook=playbook,
            project_dir=playbook.parent,
            envvars={
                "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                "ANSIBLE_ROLES_PATH": str(self.roles),
            },
            timeout=timeout,
            rotate_artifacts=3,
        )


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Jobs:
    base = tmp_path_factory.mktemp("fastexec")
    (base / "runner").mkdir(mode=0o700)
    return Jobs(base)


@pytest.fixture(scope="module")
def executors() -> Any:
    before = _descendants(os.getpid())
    plain = AnsibleRunnerExecutor(max_workers=2)
    fast = FastExecutor(max_workers=2)
    yield plain, fast
    fast.shutdown()
    plain.shutdown()
    # the warm workers and everything they started are gone
    deadline = time.monotonic() + 5
    while (_descendants(os.getpid()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _descendants(os.getpid()) - before
    assert not left, {pid: _cmdline(pid) for pid in left}


def run_both(executors: Any, make_spec: Any) -> tuple[JobOutcome, JobOutcome, list[Any], list[Any]]:
    plain, fast = executors
    plain_events: list[Any] = []
    fast_events: list[Any] = []

    async def main() -> tuple[JobOutcome, JobOutcome]:
        return await asyncio.gather(
            plain.run(make_spec(), plain_events.append), fast.run(make_spec(), fast_events.append)
        )

    a, b = asyncio.run(asyncio.wait_for(main(), timeout=45))
    return a, b, plain_events, fast_events


def assert_same(plain: JobOutcome, fast: JobOutcome, timeout: float | None = None) -> None:
    p, f = summarize(plain, timeout=timeout), summarize(fast, timeout=timeout)
    assert (fast.status, fast.rc) == (plain.status, plain.rc)
    assert f.ok == p.ok
    counts = [(r.ok, r.changed, r.skipped, r.failures) if r else None for r in (p.result, f.result)]
    assert counts[0] == counts[1]
    assert _same_job(f.message) == _same_job(p.message)
    assert f.failed_tasks == p.failed_tasks


def _same_job(text: str) -> str:
    """Both executors ran the role in their own job directory (same name length)."""
    return re.sub(r"/ns/[a-z]+-\d{4}/", "/ns/JOB/", text)


def _kinds(events: list[Any]) -> list[str]:
    return [e["event"] for e in events if e.get("event") not in ("verbose", None)]


def test_successful_role(jobs: Jobs, executors: Any) -> None:
    plain, fast, plain_events, fast_events = run_both(executors, lambda: jobs.spec("ok"))
    assert plain.status == "successful" and plain.rc == 0
    assert_same(plain, fast)
    result = summarize(fast).result
    assert result is not None and (result.ok, result.changed, result.failures) == (3, 1, 0)
    # every event reached the callback, in the same order, and the stdout is there
    assert _kinds(fast_events) == _kinds(plain_events)
    assert "hello cr" in fast.stdout_tail


def test_failing_task(jobs: Jobs, executors: Any) -> None:
    plain, fast, plain_events, fast_events = run_both(executors, lambda: jobs.spec("fails"))
    assert plain.status == "failed" and plain.rc == 2
    assert_same(plain, fast)
    assert summarize(fast).failed_tasks == ("breaks: non-zero return code",)
    assert _kinds(fast_events) == _kinds(plain_events)


def test_ignored_error(jobs: Jobs, executors: Any) -> None:
    plain, fast, _, _ = run_both(executors, lambda: jobs.spec("ignored"))
    assert plain.status == "successful"
    assert_same(plain, fast)
    assert summarize(fast).ok


def test_job_over_its_timeout(jobs: Jobs, executors: Any) -> None:
    started = time.monotonic()
    plain, fast, _, _ = run_both(executors, lambda: jobs.spec("slow", timeout=2))
    assert plain.status == "timeout" and plain.rc == 254
    assert_same(plain, fast, timeout=2)
    assert time.monotonic() - started < 30
    assert not any("sleep" in _cmdline(pid) for pid in _descendants(os.getpid()))


def test_syntax_error(jobs: Jobs, executors: Any) -> None:
    plain, fast, _, _ = run_both(executors, lambda: jobs.spec("syntax"))
    assert plain.status == "failed" and plain.rc not in (0, None)
    assert_same(plain, fast)
    assert "before running" in summarize(fast).message


def test_same_artifacts_layout(jobs: Jobs, executors: Any) -> None:
    _plain, fast = executors
    spec = jobs.spec("ok")
    # four runs in one directory with rotate_artifacts=3: the oldest is rotated away
    for ident in ("1-a", "1-b", "1-c", "1-d"):
        s = JobSpec(
            ident=ident,
            private_data_dir=spec.private_data_dir,
            playbook=spec.playbook,
            project_dir=spec.project_dir,
            envvars=spec.envvars,
            rotate_artifacts=3,
        )
        asyncio.run(fast.run(s, lambda e: None))
    artifacts = spec.private_data_dir / "artifacts"
    assert sorted(p.name for p in artifacts.iterdir()) == ["1-b", "1-c", "1-d"]
    last = artifacts / "1-d"
    for name in ("stdout", "rc", "status", "command"):
        assert (last / name).is_file()
    assert (last / "rc").read_text() == "0" and (last / "status").read_text() == "successful"
    assert len(list((last / "job_events").glob("*.json"))) > 5
    assert not list((last / "job_events").glob("*partial*"))


def test_incompatible_job_runs_on_the_plain_path(
    jobs: Jobs, executors: Any, caplog: pytest.LogCaptureFixture
) -> None:
    plain, fast = executors
    auto = AutoExecutor(fast, plain)
    spec = jobs.spec("ok")
    (spec.private_data_dir / "env" / "passwords").write_text("{}")
    assert "passwords" in (fast.compatible(spec) or "")
    with pytest.raises(FastUnavailable):
        asyncio.run(fast.run(spec, lambda e: None))
    with caplog.at_level(logging.WARNING, logger="runner.fastexec.executor"):
        outcome = asyncio.run(auto.run(spec, lambda e: None))
        again = asyncio.run(auto.run(spec, lambda e: None))
    assert outcome.status == again.status == "successful"
    assert len([r for r in caplog.records if "plain path" in r.getMessage()]) == 1


HELLO_MODULE = """
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.acme.tools.plugins.module_utils.greet import greeting

AnsibleModule(argument_spec={}).exit_json(changed=False, greeting=greeting())
"""


def test_module_payloads_follow_the_installed_collection(jobs: Jobs, executors: Any, tmp_path: Path) -> None:
    """Jobs share module payloads, but never a stale one: edited module_utils are picked up."""
    collection = tmp_path / "collections" / "ansible_collections" / "acme" / "tools"
    (collection / "plugins" / "modules").mkdir(parents=True)
    (collection / "plugins" / "module_utils").mkdir(parents=True)
    (collection / "galaxy.yml").write_text("namespace: acme\nname: tools\nversion: 1.0.0\n")
    (collection / "plugins" / "modules" / "hello.py").write_text(HELLO_MODULE)
    greet = collection / "plugins" / "module_utils" / "greet.py"
    role = jobs.roles / "greets" / "tasks"
    role.mkdir(parents=True, exist_ok=True)
    (role / "main.yml").write_text(
        "- acme.tools.hello: {}\n  register: said\n"
        "- ansible.builtin.debug:\n    msg: 'said {{ said.greeting }}'\n"
    )

    def spec() -> JobSpec:
        made = jobs.spec("greets")
        env = {**made.envvars, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}
        return dataclasses.replace(made, envvars=env)

    seen = []
    for version in ("one", "one", "two"):
        greet.write_text(f"def greeting():\n    return 'version {version}'\n")
        plain, fast, _, _ = run_both(executors, spec)
        assert_same(plain, fast)
        seen.append((_said(plain.stdout_tail), _said(fast.stdout_tail)))
    assert seen == [("version one", "version one")] * 2 + [("version two", "version two")]


WHERE_MODULE = """
import os
import sys

from ansible.module_utils.basic import AnsibleModule

m = AnsibleModule(argument_spec={"remote_tmp": {"type": "str"}})
# without pipelining, the payload would be in an ansible-tmp-* directory there while it runs
m.exit_json(changed=False, ppid=os.getppid(), tmp=sorted(os.listdir(m.params["remote_tmp"])))
"""


def test_module_tasks_take_the_warm_path(jobs: Jobs, executors: Any, tmp_path: Path) -> None:
    """On the installed ansible-core (2.18 or 2.19), a module task runs in a child of the warm
    module worker, fed on stdin (pipelined: no AnsiballZ file), from a payload the jobs share."""
    collection = tmp_path / "collections" / "ansible_collections" / "acme" / "where"
    (collection / "plugins" / "modules").mkdir(parents=True)
    (collection / "galaxy.yml").write_text("namespace: acme\nname: where\nversion: 1.0.0\n")
    (collection / "plugins" / "modules" / "where.py").write_text(WHERE_MODULE)
    remote = tmp_path / "remote-tmp"
    remote.mkdir()
    role = jobs.roles / "where" / "tasks"
    role.mkdir(parents=True, exist_ok=True)
    (role / "main.yml").write_text(
        f"- acme.where.where: {{remote_tmp: {remote}}}\n  register: here\n"
        "- ansible.builtin.debug:\n    msg: 'ran in {{ here.ppid }} next to {{ here.tmp }}'\n"
    )
    _, fast = executors

    def spec() -> JobSpec:
        made = jobs.spec("where")
        env = {
            **made.envvars,
            "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
            "ANSIBLE_REMOTE_TEMP": str(remote),
        }
        return dataclasses.replace(made, envvars=env)

    outcome = asyncio.run(asyncio.wait_for(fast.run(spec(), lambda _event: None), timeout=45))
    assert outcome.status == "successful", outcome.stdout_tail
    found = re.findall(r"ran in (\d+) next to (\[.*?\])", outcome.stdout_tail)
    assert found, outcome.stdout_tail
    ppid, tmp = found[-1]
    zygote = fast._module_zygote
    assert zygote is not None and zygote.proc is not None
    assert int(ppid) == zygote.proc.pid
    assert tmp == "[]"  # fed on stdin: pipelined
    assert any(os.scandir(fast._payloads))  # the payload (and its scan) kept for the next job


def _said(stdout: str) -> str:
    found = re.findall(r"said (version \w+)", stdout)
    assert found, stdout
    return found[-1]


def test_a_setting_relative_to_the_job_directory_is_not_taken_from_the_warm_worker(
    jobs: Jobs, executors: Any
) -> None:
    """ANSIBLE_LIBRARY=modules means each job's own modules/: a job must not run the module of the
    job whose directory the warm worker started in."""
    plain, fast = executors
    auto = AutoExecutor(fast, plain)
    said = []
    for word in ("first", "second"):
        made = jobs.spec("ok")
        (made.project_dir / "modules").mkdir()
        (made.project_dir / "modules" / "whoami.py").write_text(
            "from ansible.module_utils.basic import AnsibleModule\n"
            f"AnsibleModule(argument_spec={{}}).exit_json(changed=False, word='{word}')\n"
        )
        tasks = made.project_dir / "roles" / "relative" / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text(
            "- whoami: {}\n  register: me\n- ansible.builtin.debug:\n    msg: 'said {{ me.word }}'\n"
        )
        made.playbook.write_text(made.playbook.read_text().replace('"role": "ok"', '"role": "relative"'))
        spec = dataclasses.replace(made, envvars={**made.envvars, "ANSIBLE_LIBRARY": "modules"})
        outcome = asyncio.run(auto.run(spec, lambda e: None))
        assert outcome.status == "successful", outcome.stdout_tail
        said.append(re.findall(r"said (\w+)", outcome.stdout_tail))
    assert said == [["first"], ["second"]]


def test_module_command_parsing() -> None:
    py = "/venv/bin/python"
    parse = route.parse_module_command
    assert parse(f"/bin/sh -c '{py} /root/.ansible/tmp/x/AnsiballZ_k8s.py && sleep 0'", py) == (
        {},
        ["/root/.ansible/tmp/x/AnsiballZ_k8s.py"],
    )
    assert parse(f"/bin/sh -c 'FOO=bar {py} && sleep 0'", py) == ({"FOO": "bar"}, [])
    # anything else (another interpreter, become, shell syntax, other scripts) runs the plain way
    assert parse("/bin/sh -c '/usr/bin/python3 /t/AnsiballZ_k8s.py && sleep 0'", py) is None
    assert parse(f"/bin/sh -c 'sudo -u x {py} /t/AnsiballZ_k8s.py && sleep 0'", py) is None
    assert parse(f"/bin/sh -c '{py} /t/AnsiballZ_k8s.py; rm -rf / && sleep 0'", py) is None
    assert parse(f"/bin/sh -c 'X=$(id) {py} /t/AnsiballZ_k8s.py && sleep 0'", py) is None
    assert parse(f"/bin/sh -c '{py} /t/async_wrapper.py 1 2 && sleep 0'", py) is None
    assert parse("/bin/sh -c 'echo ~root && sleep 0'", py) is None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_shutdown_cancels_jobs_and_leaves_no_process(jobs: Jobs) -> None:
    fast = FastExecutor(max_workers=2)
    before = _descendants(os.getpid())

    async def main() -> JobOutcome:
        task = asyncio.ensure_future(fast.run(jobs.spec("slow", timeout=60), lambda e: None))
        deadline = time.monotonic() + 20
        while not any("sleep 60" in _cmdline(p) for p in _descendants(os.getpid())):
            assert time.monotonic() < deadline, "the job never started"
            await asyncio.sleep(0.1)
        await asyncio.get_running_loop().run_in_executor(None, fast.shutdown)
        return await task

    outcome = asyncio.run(asyncio.wait_for(main(), timeout=40))
    assert outcome.status == "canceled" and outcome.rc == 254
    assert summarize(outcome).interrupted
    deadline = time.monotonic() + 5
    while (_descendants(os.getpid()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _descendants(os.getpid()) - before
    assert not left, {pid: _cmdline(pid) for pid in left}


def test_a_crashed_worker_is_replaced(jobs: Jobs, executors: Any) -> None:
    _plain, fast = executors
    assert asyncio.run(fast.run(jobs.spec("ok"), lambda e: None)).status == "successful"
    for zygote in list(fast._zygotes.values()):
        assert zygote.proc is not None
        os.kill(zygote.proc.pid, signal.SIGKILL)
        zygote.proc.wait(5)
    assert asyncio.run(fast.run(jobs.spec("ok"), lambda e: None)).status == "successful"


def _unused_for_an_hour(ex: FastExecutor) -> None:
    """As if the idle timeout had passed (the reaper thread may stop them first)."""
    with ex._lock:
        for zygote in [*ex._zygotes.values(), ex._module_zygote]:
            if zygote is not None:
                zygote.last_used -= 3600


def test_idle_warm_workers_are_stopped_and_come_back(jobs: Jobs) -> None:
    """Idle memory goes back to the operator's own; the next job starts the workers again."""
    ex = FastExecutor(max_workers=1)
    try:
        first = asyncio.run(ex.run(jobs.spec("ok"), lambda e: None))
        assert first.status == "successful"
        assert ex.reap_idle() == 0  # just used: kept
        _unused_for_an_hour(ex)
        ex.reap_idle()
        assert not ex._zygotes and ex._module_zygote is None
        left = sorted(os.listdir(ex._dir))
        again = asyncio.run(ex.run(jobs.spec("ok"), lambda e: None))
        assert again.status == "successful"
        # each stop leaves nothing behind: what the executor keeps on disk does not grow
        _unused_for_an_hour(ex)
        ex.reap_idle()
        assert not ex._zygotes and ex._module_zygote is None
        assert sorted(os.listdir(ex._dir)) == left == ["modules.sock", "payloads"]
    finally:
        ex.shutdown()


def test_warm_module_imports_are_kept_only_for_the_same_files(tmp_path: Path) -> None:
    """The module worker keeps its imported ``ansible`` modules for a payload only when the payload
    carries the very files it imported (or the installed ones)."""
    import io
    import zipfile

    import ansible.module_utils.common.text.converters as converters

    module._record_imported_sources()
    name = "ansible/module_utils/common/text/converters.py"
    assert name in module._IMPORTED
    source = Path(converters.__file__).read_bytes()
    warnings = "ansible/module_utils/common/warnings.py"  # installed, maybe not imported
    installed = (Path(converters.__file__).parents[2] / "common" / "warnings.py").read_bytes()

    def archive(files: dict[str, bytes]) -> zipfile.ZipFile:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path, data in files.items():
                zf.writestr(path, data)
        return zipfile.ZipFile(io.BytesIO(buf.getvalue()))

    assert module._tree_matches(archive({name: source, warnings: installed}), "ansible")
    assert not module._tree_matches(archive({name: source + b"\n# edited\n"}), "ansible")
    assert not module._tree_matches(archive({name: source, warnings: installed + b"#"}), "ansible")
    assert not module._tree_matches(archive({"ansible/module_utils/not_installed.py": b"x = 1\n"}), "ansible")


def test_warm_module_exit_codes(tmp_path: Path) -> None:
    """A module run by the module worker reports its exit code as ``python AnsiballZ_x.py`` would:
    from the child itself when it ends normally, from the worker when it is killed, and a script
    that is not a module payload runs in a plain interpreter."""
    ex = FastExecutor(max_workers=1)
    try:
        zygote, _reason = ex._modules(sys.executable)
        assert zygote is not None

        def run(source: str) -> tuple[int | None, bytes]:
            script = tmp_path / "AnsiballZ_probe.py"
            script.write_text(source)
            proc = route.WarmModuleProcess(
                zygote.sock_path, [sys.executable, str(script)], dict(os.environ), str(tmp_path)
            )
            out, _err = proc.communicate()
            return proc.returncode, out

        payload = f"# {wire.ANSIBALLZ_MARK.decode()}\n"
        assert run(payload + "import sys\nprint('hi')\nsys.exit(3)\n") == (3, b"hi\n")
        assert run(payload + "print('fine')\n") == (0, b"fine\n")
        assert run(payload + "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n") == (137, b"")
        assert run("import sys\nprint('plain')\nsys.exit(5)\n") == (5, b"plain\n")
    finally:
        ex.shutdown()


def _warm_workers(ex: FastExecutor, mode: str) -> list[int]:
    return [p for p in _descendants(os.getpid()) if f"main() {mode} {ex._dir}/" in _cmdline(p)]


def test_the_module_worker_starts_with_the_first_module_task(jobs: Jobs) -> None:
    """A role without module tasks runs with the controller worker alone; the first module task
    starts the module worker, which stays warm for the next jobs and stops when idle."""
    ex = FastExecutor(max_workers=1)
    try:
        first = asyncio.run(ex.run(jobs.spec("ignored"), lambda e: None))  # fail + debug: no module
        assert first.status == "successful"
        assert ex._module_zygote is None and not _warm_workers(ex, "module")
        assert len(_warm_workers(ex, "controller")) == 1
        second = asyncio.run(ex.run(jobs.spec("parent"), lambda e: None))
        assert second.status == "successful"
        module_workers = _warm_workers(ex, "module")
        assert len(module_workers) == 1
        zygote = ex._module_zygote
        assert zygote is not None and zygote.proc is not None and zygote.proc.pid == module_workers[0]
        assert f"module run by {zygote.proc.pid}" in second.stdout_tail  # started for it, and ran it
        assert asyncio.run(ex.run(jobs.spec("ok"), lambda e: None)).status == "successful"
        assert _warm_workers(ex, "module") == module_workers  # kept warm, not started again
        _unused_for_an_hour(ex)
        ex.reap_idle()
        assert not ex._zygotes and ex._module_zygote is None
        zygote.proc.wait(5)
    finally:
        ex.shutdown()


def test_concurrent_first_module_runs_start_one_module_worker(jobs: Jobs) -> None:
    ex = FastExecutor(max_workers=3)
    before = _descendants(os.getpid())
    try:

        async def main() -> list[JobOutcome]:
            runs = [ex.run(jobs.spec("parent"), lambda e: None) for _ in range(3)]
            return list(await asyncio.gather(*runs))

        outcomes = asyncio.run(asyncio.wait_for(main(), timeout=90))
        zygote = ex._module_zygote
        assert zygote is not None and zygote.proc is not None
        assert _warm_workers(ex, "module") == [zygote.proc.pid]
        for outcome in outcomes:
            assert outcome.status == "successful"
            assert f"module run by {zygote.proc.pid}" in outcome.stdout_tail
        # the broker starts only the Python of a running job
        assert ex._broker is not None
        assert wire.ask_module_worker(ex._broker.path, sys.executable) is None
    finally:
        ex.shutdown()
    deadline = time.monotonic() + 5
    while (_descendants(os.getpid()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _descendants(os.getpid()) - before


def test_module_tasks_run_the_plain_way_when_the_module_worker_cannot_start(
    jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    ex = FastExecutor(max_workers=1)
    try:
        assert asyncio.run(ex.run(jobs.spec("ignored"), lambda e: None)).status == "successful"
        ex._start_timeout = 0.0  # the controller worker is up; the module worker will not be in time
        with caplog.at_level(logging.WARNING, logger="runner.fastexec.executor"):
            outcome = asyncio.run(ex.run(jobs.spec("ok"), lambda e: None))
            again = asyncio.run(ex.run(jobs.spec("ok"), lambda e: None))
        for run in (outcome, again):
            assert run.status == "successful"
            result = summarize(run).result
            assert result is not None and result.changed == 1
        said = [r.getMessage() for r in caplog.records if "module tasks run the plain way" in r.getMessage()]
        assert said == ["module tasks run the plain way: the warm module worker did not start"]
        assert not _warm_workers(ex, "module")
    finally:
        ex.shutdown()
