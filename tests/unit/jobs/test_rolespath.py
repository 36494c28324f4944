"""Where a job's playbook finds the roles it imports by name: the operator's roles/ directory,
as the Go image's /etc/ansible/ansible.cfg says, unless something else names a roles path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.cli.main import build_config, parser
from runner.jobs.plan import job_env
from runner.jobs.rolespath import (
    ANSIBLE_DEFAULT_ROLES_PATH,
    config_sets_roles_path,
    default_roles_path,
    job_ansible_cfg,
)

OPERATOR = "/opt/ansible"
DEFAULT = f"/opt/ansible/roles:{ANSIBLE_DEFAULT_ROLES_PATH}"


def test_the_operators_roles_come_first_then_ansibles_own_default() -> None:
    assert default_roles_path({}, OPERATOR, True, None) == DEFAULT
    assert default_roles_path({}, OPERATOR, True, "[defaults]\nfilter_plugins = plugins\n") == DEFAULT


@pytest.mark.parametrize(
    ("environ", "roles_dir", "cfg"),
    [
        ({"ANSIBLE_ROLES_PATH": "/elsewhere"}, True, None),  # the operator's environment names one
        ({}, False, None),  # the operator has no roles/ directory
        ({}, True, "[defaults]\nroles_path = ./my-roles\n"),  # the ansible.cfg jobs read names one
        ({}, True, "[defaults]\nROLES_PATH=/x ; a comment\n"),
    ],
)
def test_nothing_is_added_when_a_roles_path_is_named_elsewhere(
    environ: dict[str, str], roles_dir: bool, cfg: str | None
) -> None:
    assert default_roles_path(environ, OPERATOR, roles_dir, cfg) is None


@pytest.mark.parametrize(
    ("text", "sets"),
    [
        ("[defaults]\nroles_path = roles\n", True),
        ("[defaults]\nlibrary = lib\n[galaxy]\nroles_path = x\n", False),  # another section
        ("[defaults]\n# roles_path = roles\n", False),
        ("not an ini file [", False),  # Ansible refuses it and says why
        ("", False),
    ],
)
def test_config_sets_roles_path(text: str, sets: bool) -> None:
    assert config_sets_roles_path(text) is sets


def test_the_config_jobs_read_is_found_in_ansibles_order(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    assert job_ansible_cfg({"HOME": str(home)}, str(project)) in (None, "/etc/ansible/ansible.cfg")
    (home / ".ansible.cfg").write_text("")
    assert job_ansible_cfg({"HOME": str(home)}, str(project)) == str(home / ".ansible.cfg")
    (project / "ansible.cfg").write_text("")
    assert job_ansible_cfg({"HOME": str(home)}, str(project)) == str(project / "ansible.cfg")
    (tmp_path / "ops.cfg").write_text("")
    environ = {"HOME": str(home), "ANSIBLE_CONFIG": str(tmp_path / "ops.cfg")}
    assert job_ansible_cfg(environ, str(project)) == str(tmp_path / "ops.cfg")


def test_jobs_of_an_operator_with_roles_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    run = parser().parse_args(["run"])
    assert "ANSIBLE_ROLES_PATH" not in job_env(build_config(run, {"HOME": str(home)}))
    (tmp_path / "roles").mkdir()
    roles = job_env(build_config(run, {"HOME": str(home)})).get("ANSIBLE_ROLES_PATH", "")
    if os.path.isfile("/etc/ansible/ansible.cfg") and config_sets_roles_path(
        Path("/etc/ansible/ansible.cfg").read_text()
    ):
        pytest.skip("this machine's /etc/ansible/ansible.cfg names a roles path")
    assert roles.split(":")[0] == str(tmp_path / "roles")
    # The flag, or the operator's own ANSIBLE_ROLES_PATH, win.
    flagged = build_config(parser().parse_args(["run", "--ansible-roles-path=/r"]), {"HOME": str(home)})
    assert job_env(flagged)["ANSIBLE_ROLES_PATH"] == "/r"
    inherited = build_config(run, {"HOME": str(home), "ANSIBLE_ROLES_PATH": "/mine"})
    assert "ANSIBLE_ROLES_PATH" not in job_env(inherited)  # the job inherits /mine
    # An ansible.cfg of the operator's that names roles_path is left to do so.
    (tmp_path / "ansible.cfg").write_text("[defaults]\nroles_path = roles\n")
    configured = build_config(run, {"HOME": str(home), "ANSIBLE_CONFIG": "ansible.cfg"})
    assert "ANSIBLE_ROLES_PATH" not in job_env(configured)
