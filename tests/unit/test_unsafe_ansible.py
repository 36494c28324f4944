"""Real ansible-playbook check (no cluster) that mark_unsafe stops Jinja injection through the spec.

The extra vars are written as JSON and passed with ``-e @file``, exactly how ansible-runner passes
its ``env/extravars``.  The control runs with ``mark_unsafe=False`` prove the payload does fire, so
the test cannot pass by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.extravars import build_extravars

GROUP = "cache.example.com"
KIND = "Memcached"
OBJ_VAR = "_cache_example_com_memcached"

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

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
"""

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not installed")


def payload(marker: Path) -> str:
    return f"{{{{ lookup('pipe', 'touch {marker}') }}}}"


def make_cr(tmp_path: Path) -> dict[str, Any]:
    return {
        "apiVersion": "cache.example.com/v1alpha1",
        "kind": KIND,
        "metadata": {
            "name": "mc",
            "namespace": "ns1",
            "annotations": {"note": payload(tmp_path / "PWNED_ANNOTATION")},
        },
        "spec": {
            "name": payload(tmp_path / "PWNED"),
            "podConfig": {"entries": ["harmless", payload(tmp_path / "PWNED_NESTED"), 3]},
        },
    }


def run_playbook(tmp_path: Path, mark_unsafe: bool) -> Path:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    extravars = build_extravars(
        make_cr(tmp_path),
        group=GROUP,
        kind=KIND,
        snake_case=True,
        mark_unsafe=mark_unsafe,
        watch_vars={"out_dir": str(out_dir)},
    )
    vars_file = tmp_path / "extravars.json"
    vars_file.write_text(json.dumps(extravars))
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    ansible_tmp = tmp_path / "ansible-tmp"
    env = {
        **os.environ,
        "ANSIBLE_LOCAL_TEMP": str(ansible_tmp),
        "ANSIBLE_REMOTE_TEMP": str(ansible_tmp),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_CONFIG": str(tmp_path / "no-ansible.cfg"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"@{vars_file}", str(play)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out_dir


def test_mark_unsafe_blocks_injection(tmp_path: Path) -> None:
    out_dir = run_playbook(tmp_path, mark_unsafe=True)
    for marker in ("PWNED", "PWNED_NESTED", "PWNED_ANNOTATION"):
        assert not (tmp_path / marker).exists(), f"{marker} was created: the lookup ran"
    assert (out_dir / "name.txt").read_text() == payload(tmp_path / "PWNED")
    assert (out_dir / "nested.txt").read_text() == payload(tmp_path / "PWNED_NESTED")
    assert (out_dir / "annotation.txt").read_text() == payload(tmp_path / "PWNED_ANNOTATION")


def test_without_mark_unsafe_injection_happens(tmp_path: Path) -> None:
    # Control: proves the payload works and the test above can fail.
    out_dir = run_playbook(tmp_path, mark_unsafe=False)
    for marker in ("PWNED", "PWNED_NESTED", "PWNED_ANNOTATION"):
        assert (tmp_path / marker).exists(), f"{marker} was not created: the payload did not run"
    assert (out_dir / "name.txt").read_text() == ""  # `touch` prints nothing
