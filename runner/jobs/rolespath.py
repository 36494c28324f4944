"""Where a job's playbook finds the roles it imports by name.

The Go operator's image ships ``/etc/ansible/ansible.cfg`` with ``roles_path = /opt/ansible/roles``:
the ``roles/`` directory of the operator's working directory (``--ansible-roles-path``: "if unset,
roles are assumed to be in {{CWD}}/roles"). So a Go project's ``playbooks/memcached.yml`` with
``import_role: {name: memcached}`` finds ``roles/memcached``. Jobs here get the same: when nothing
else names a roles path (not ``--ansible-roles-path``, not ``ANSIBLE_ROLES_PATH``, not the
``roles_path`` of the ansible.cfg the job reads), ``ANSIBLE_ROLES_PATH`` is the operator's
``roles/`` followed by Ansible's own default path.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping

__all__ = ["ANSIBLE_DEFAULT_ROLES_PATH", "config_sets_roles_path", "default_roles_path", "job_ansible_cfg"]

ANSIBLE_DEFAULT_ROLES_PATH = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"


def config_sets_roles_path(text: str) -> bool:
    """Pure: whether an ansible.cfg's text sets ``roles_path`` in ``[defaults]``."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, inline_comment_prefixes=(";",))
    try:
        parser.read_string(text)
    except configparser.Error:
        return False  # Ansible refuses the file itself and says why
    return parser.has_option("defaults", "roles_path")


def default_roles_path(
    environ: Mapping[str, str], operator_cwd: str, roles_dir_exists: bool, cfg_text: str | None
) -> str | None:
    """Pure: the ``ANSIBLE_ROLES_PATH`` jobs get when nothing else names one, else None.

    ``cfg_text`` is the ansible.cfg the job will read (None: none); ``roles_dir_exists`` whether
    ``<operator_cwd>/roles`` is a directory."""
    if environ.get("ANSIBLE_ROLES_PATH") or not roles_dir_exists:
        return None
    if cfg_text is not None and config_sets_roles_path(cfg_text):
        return None
    return f"{os.path.join(operator_cwd, 'roles')}{os.pathsep}{ANSIBLE_DEFAULT_ROLES_PATH}"


def job_ansible_cfg(environ: Mapping[str, str], project_dir: str | None) -> str | None:
    """The ansible.cfg a job reads (ansible-core's order: ``ANSIBLE_CONFIG``, the job's working
    directory, ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``), or None."""
    candidates = []
    if environ.get("ANSIBLE_CONFIG"):
        path = os.path.abspath(os.path.expanduser(environ["ANSIBLE_CONFIG"]))
        candidates.append(os.path.join(path, "ansible.cfg") if os.path.isdir(path) else path)
    if project_dir:
        candidates.append(os.path.join(project_dir, "ansible.cfg"))
    home = environ.get("HOME") or os.path.expanduser("~")
    candidates += [os.path.join(home, ".ansible.cfg"), "/etc/ansible/ansible.cfg"]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    return None
