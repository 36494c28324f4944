"""`molecule test` of the scenarios in molecule/, as a role author runs them; teardown on failure."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """The scenario's ephemeral directory; anything still running from it is stopped afterwards."""
    d = tmp_path / "molecule"
    d.mkdir()
    yield d
    leftovers = processes_mentioning(str(d))
    for pid in leftovers:  # only processes started with this test's own directory
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    assert not leftovers, f"molecule left processes running: {leftovers}"


def molecule(state_dir: Path, scenario: str, cwd: Path = REPO, **env: str) -> tuple[int, str]:
    full_env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MOLECULE_EPHEMERAL_DIRECTORY": str(state_dir),
        "TEST_OPERATOR_NAMESPACE": f"molecule-{uuid.uuid4().hex[:8]}",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
        "ANSIBLE_NOCOLOR": "1",
        **env,
    }
    full_env.pop("MOLECULE_PROJECT_DIRECTORY", None)
    log = state_dir.parent / f"molecule-{scenario}.log"
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(
                [str(VENV_BIN / "molecule"), "test", "-s", scenario],
                cwd=cwd,
                env=full_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=540,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1
    return rc, ANSI.sub("", log.read_text(errors="replace"))


def executed(out: str, scenario: str, step: str, result: str = "Successful") -> bool:
    """Did molecule report ``step`` with ``result`` (DETAILS lines: ``default > verify: Executed: ...``)?"""
    return re.search(rf"^{re.escape(scenario)} (?:➜|>) {step}: Executed: {result}", out, re.M) is not None


@pytest.mark.parametrize(
    ("scenario", "steps"),
    [
        ("default", ["create", "prepare", "converge", "verify", "cleanup", "destroy"]),
        ("webapp-role", ["create", "prepare", "converge", "idempotence", "verify", "destroy"]),
    ],
)
def test_molecule_test_passes(state_dir: Path, scenario: str, steps: list[str]) -> None:
    rc, out = molecule(state_dir, scenario)
    assert rc == 0, out[-15000:]
    for step in steps:
        assert executed(out, scenario, step), f"{step} did not pass:\n{out[-15000:]}"
    assert not (state_dir / "cluster").exists()


def test_a_failing_verify_still_stops_the_operator_and_the_cluster(state_dir: Path) -> None:
    # A stand-in operator that never reconciles: verify times out, then molecule must run
    # cleanup (stops the operator) and destroy (stops kube-lite).
    marker = f"{300 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    rc, out = molecule(
        state_dir, "default", OPERATOR_COMMAND=f"bash -c 'exec sleep {marker}' --", RECONCILE_TIMEOUT="2"
    )
    assert rc != 0, out[-15000:]
    assert executed(out, "default", "verify", "Failed"), out[-15000:]
    assert executed(out, "default", "cleanup") and executed(out, "default", "destroy"), out[-15000:]
    assert not processes_mentioning(f"sleep {marker}"), "the operator is still running"
    assert not (state_dir / "cluster").exists()


def test_a_scaffolded_project_passes_its_own_molecule_tests(state_dir: Path, tmp_path: Path) -> None:
    from runner.scaffold import create_api, init_project

    project = tmp_path / "memcached-operator"
    init_project(project, domain="example.com")
    create_api(project, group="cache", version="v1alpha1", kind="Memcached", generate_role=True)
    for scenario in ("default", "memcached-role"):
        rc, out = molecule(state_dir, scenario, cwd=project)
        assert rc == 0, out[-15000:]
        assert executed(out, scenario, "verify"), out[-15000:]


def test_a_sample_the_crd_refuses_fails_the_role_scenario_naming_the_field(
    state_dir: Path, tmp_path: Path
) -> None:
    import yaml

    from runner.scaffold import create_api, init_project

    project = tmp_path / "memcached-operator"
    init_project(project, domain="example.com")
    create_api(project, group="cache", version="v1alpha1", kind="Memcached", generate_role=True)
    (project / "roles/memcached/meta/argument_specs.yml").write_text(
        yaml.safe_dump({"argument_specs": {"main": {"options": {"size": {"type": "int", "required": True}}}}})
    )
    create_api(project, group="cache", version="v1alpha1", kind="Memcached", generate_role=True)
    sample = project / "config/samples/cache_v1alpha1_memcached.yaml"
    obj = yaml.safe_load(sample.read_text())
    obj["spec"]["size"] = "lots"  # not an integer: the API server refuses it
    sample.write_text(yaml.safe_dump(obj))
    rc, out = molecule(state_dir, "memcached-role", cwd=project)
    assert rc != 0, out[-15000:]
    assert executed(out, "memcached-role", "converge", "Failed"), out[-15000:]
    failure = next(line for line in out.splitlines() if "does not pass the CRD" in line)
    assert "config/samples/cache_v1alpha1_memcached.yaml" in failure and "spec.size" in failure, failure
    assert "metadata.name" not in out and "ansible-operator vars" not in out, out[-5000:]
    assert executed(out, "memcached-role", "destroy"), out[-15000:]
