"""Prepare a job directory exactly as the reconciler does (bench helper).

usage: python mkjob.py JOBDIR ROLE [NAME]
"""

import sys
from pathlib import Path

from runner.jobs import jobdir
from runner.jobs.extravars import dump_extravars

path, role = Path(sys.argv[1]), sys.argv[2]
name = sys.argv[3] if len(sys.argv) > 3 else "bench"
path.mkdir(parents=True, exist_ok=True)
jobdir.prepare(
    path,
    path.parent,
    extravars=dump_extravars({"ansible_operator_meta": {"name": name, "namespace": "default"}}),
    inventory_source=None,
    role_playbook=jobdir.role_playbook(role),
)
print(path / "project" / "role.yml")
