"""Real ansible-playbook checks (no cluster) that mark_unsafe stops Jinja injection through a CR.

The extra vars are passed with ``-e @file``, exactly how ansible-runner passes its
``env/extravars``.  Control runs with ``mark_unsafe=False`` prove that every payload does fire, so
the tests cannot pass by accident.  The JSON tests document why :func:`dump_extravars` writes YAML:
ansible-core 2.19 honours ``{"__ansible_unsafe": ...}`` in a JSON file, but one odd object anywhere
in the CR makes it re-read the whole file as plain YAML and drop every marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.jobs.extravars import build_extravars, dump_extravars

GROUP = "cache.example.com"
KIND = "Memcached"
OBJ_VAR = "_cache_example_com_memcached"

BIN_DIR = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN_DIR / "ansible-playbook"

# Each task writes one variable to a file; every payload touches its own marker file.
PLAY = f"""\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: top-level spec value
      copy:
        content: "{{{{ name }}}}"
        dest: "{{{{ out_dir }}}}/name.txt"
    - name: string inside a list inside a dict
      copy:
        content: "{{{{ pod_config.entries[1] }}}}"
        dest: "{{{{ out_dir }}}}/nested.txt"
    - name: the whole-object variable
      copy:
        content: "{{{{ {OBJ_VAR}.metadata.annotations.note }}}}"
        dest: "{{{{ out_dir }}}}/annotation.txt"
    - name: a key that becomes a value (loop items are templated again)
      copy:
        content: "{{{{ item.key }}}}"
        dest: "{{{{ out_dir }}}}/key.txt"
      loop: "{{{{ labels_map | dict2items }}}}"
    - name: keys with a meaning in Ansible's JSON decoder
      copy:
        content: "{{{{ tricks | to_json }}}}"
        dest: "{{{{ out_dir }}}}/tricks.json"
    - name: types survive
      copy:
        content: "{{{{ [version, replicas, flag, empty, nothing, pod_config.entries[2]] | to_json }}}}"
        dest: "{{{{ out_dir }}}}/types.json"
"""

VALUE_MARKERS = ("PWNED", "PWNED_NESTED", "PWNED_ANNOTATION", "PWNED_TRICK", "PWNED_VAULT")

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not installed")


def payload(marker: Path) -> str:
    return f"{{{{ lookup('pipe', 'touch {marker}') }}}}"


# No spaces, dashes, underscores or capitals: survives snake_case conversion of keys.
KEY_PAYLOAD = "{{lookup('pipe',keycmd)}}"


def make_cr(tmp_path: Path, with_tricks: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": payload(tmp_path / "PWNED"),
        "podConfig": {"entries": ["harmless", payload(tmp_path / "PWNED_NESTED"), 3]},
        "labelsMap": {KEY_PAYLOAD: "v"},
        "version": "1.10",
        "replicas": 3,
        "flag": "true",
        "empty": "",
        "nothing": None,
        "tricks": {},
    }
    if with_tricks:
        spec["tricks"] = {
            "__ansible_unsafe": [payload(tmp_path / "PWNED_TRICK")],
            "vaulted": {"__ansible_vault": payload(tmp_path / "PWNED_VAULT")},
        }
    return {
        "apiVersion": "cache.example.com/v1alpha1",
        "kind": KIND,
        "metadata": {
            "name": "mc",
            "namespace": "ns1",
            "annotations": {"note": payload(tmp_path / "PWNED_ANNOTATION")},
        },
        "spec": spec,
    }


def make_extravars(tmp_path: Path, *, mark_unsafe: bool, with_tricks: bool = True) -> dict[str, Any]:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    return build_extravars(
        make_cr(tmp_path, with_tricks),
        group=GROUP,
        kind=KIND,
        snake_case=True,
        mark_unsafe=mark_unsafe,
        watch_vars={"out_dir": str(out_dir), "keycmd": f"touch {tmp_path / 'PWNED_KEY'}"},
    )


def ansible_env(tmp_path: Path) -> dict[str, str]:
    ansible_tmp = tmp_path / "ansible-tmp"
    return {
        **os.environ,
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_LOCAL_TEMP": str(ansible_tmp),
        "ANSIBLE_REMOTE_TEMP": str(ansible_tmp),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_CONFIG": str(tmp_path / "no-ansible.cfg"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
    }


def run_playbook(tmp_path: Path, vars_text: str) -> Path:
    vars_file = tmp_path / "extravars"
    vars_file.write_text(vars_text)
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"@{vars_file}", str(play)],
        cwd=tmp_path,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "out"


def created(tmp_path: Path, markers: tuple[str, ...]) -> set[str]:
    return {m for m in markers if (tmp_path / m).exists()}


def assert_untemplated(tmp_path: Path, out_dir: Path) -> None:
    assert created(tmp_path, (*VALUE_MARKERS, "PWNED_KEY")) == set(), "a lookup ran"
    assert (out_dir / "name.txt").read_text() == payload(tmp_path / "PWNED")
    assert (out_dir / "nested.txt").read_text() == payload(tmp_path / "PWNED_NESTED")
    assert (out_dir / "annotation.txt").read_text() == payload(tmp_path / "PWNED_ANNOTATION")
    assert (out_dir / "key.txt").read_text() == KEY_PAYLOAD


def test_dumped_unsafe_blocks_injection(tmp_path: Path) -> None:
    out_dir = run_playbook(tmp_path, dump_extravars(make_extravars(tmp_path, mark_unsafe=True)))
    assert_untemplated(tmp_path, out_dir)
    assert json.loads((out_dir / "tricks.json").read_text()) == {
        "__ansible_unsafe": [payload(tmp_path / "PWNED_TRICK")],
        "vaulted": {"__ansible_vault": payload(tmp_path / "PWNED_VAULT")},
    }
    assert json.loads((out_dir / "types.json").read_text()) == ["1.10", 3, "true", "", None, 3]


def test_dumped_without_mark_unsafe_injection_happens(tmp_path: Path) -> None:
    # Control: proves every payload works, so the test above can fail.
    out_dir = run_playbook(tmp_path, dump_extravars(make_extravars(tmp_path, mark_unsafe=False)))
    assert created(tmp_path, (*VALUE_MARKERS, "PWNED_KEY")) == {*VALUE_MARKERS, "PWNED_KEY"}
    assert (out_dir / "name.txt").read_text() == ""  # `touch` prints nothing
    assert json.loads((out_dir / "types.json").read_text()) == ["1.10", 3, "true", "", None, 3]


def _ansible_core() -> tuple[int, int]:
    release = pytest.importorskip("ansible.release")
    major, minor = release.__version__.split(".")[:2]
    return int(major), int(minor)


def test_json_marker_bypass_is_why_we_write_yaml(tmp_path: Path) -> None:
    if _ansible_core() < (2, 19):
        pytest.skip("ansible-core 2.18's JSON decoder wraps any __ansible_unsafe value: the bypass is 2.19's")
    # `{"__ansible_unsafe": [...]}` in the spec makes ansible-core's JSON decoder raise; Ansible then
    # re-reads the file as YAML, where no marker means anything: every payload runs.
    extravars = make_extravars(tmp_path, mark_unsafe=True, with_tricks=True)
    run_playbook(tmp_path, json.dumps(extravars))
    assert {"PWNED", "PWNED_NESTED", "PWNED_ANNOTATION"} <= created(tmp_path, VALUE_MARKERS)


def test_ansible_runner_env_extravars(tmp_path: Path) -> None:
    ansible_runner = pytest.importorskip("ansible_runner")
    private = tmp_path / "private"
    (private / "env").mkdir(parents=True)
    (private / "project").mkdir()
    (private / "project" / "play.yml").write_text(PLAY)
    (private / "env" / "extravars").write_text(dump_extravars(make_extravars(tmp_path, mark_unsafe=True)))
    result = ansible_runner.run(
        private_data_dir=str(private),
        playbook="play.yml",
        inventory="localhost ansible_connection=local",
        envvars={k: v for k, v in ansible_env(tmp_path).items() if k.startswith("ANSIBLE_") or k == "PATH"},
        quiet=True,
    )
    assert result.rc == 0, result.stdout.read()
    assert_untemplated(tmp_path, tmp_path / "out")
