"""``ansible-operator init``: a new operator project with the layout of this repository."""

from __future__ import annotations

import re
from pathlib import Path

from runner.scaffold import templates
from runner.scaffold.api import ScaffoldError
from runner.scaffold.blocks import Writer

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


def init_project(
    root: Path, *, domain: str = "example.com", name: str | None = None, image: str | None = None
) -> Writer:
    """Write every project file that does not exist yet (running it again changes nothing)."""
    root = root.resolve()
    name = name or re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-")
    if not _NAME.match(name) or len(name) > 40:
        raise ScaffoldError(
            f"invalid project name {name!r}: lower-case letters, digits and '-' (set --project-name)"
        )
    if not _DOMAIN.match(domain):
        raise ScaffoldError(f"invalid domain {domain!r}: expected a DNS name such as example.com")
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} is not a directory")
    tokens = templates.Tokens(project=name, domain=domain, image=image or templates.DEFAULT_IMAGE)
    w = Writer(root)
    for rel in templates.project_files():
        w.create(rel, templates.project_file(rel, tokens))
    return w
