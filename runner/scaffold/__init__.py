"""Scaffolding: ``ansible-operator init`` and ``ansible-operator create api``.

``api`` adds a kind to a project (CRD with a spec schema made from the role's
``meta/argument_specs.yml``, RBAC rules, watches.yaml entry, role or playbook, sample CR,
molecule tests); ``project`` creates a project; ``blocks`` keeps user edits outside the
generated blocks; ``schema`` maps argument specs to OpenAPI.
"""

from runner.scaffold.api import ScaffoldError, create_api
from runner.scaffold.project import init_project

__all__ = ["ScaffoldError", "create_api", "init_project"]
