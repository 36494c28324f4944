"""Where a watches.yaml role is found, as Ansible would find it: a collection role by its FQCN in
the collection roots, otherwise in ``ANSIBLE_ROLES_PATH`` and next to the watches file."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def _split_paths(value: str | None, cwd: str) -> list[str]:
    return [os.path.join(cwd, os.path.expanduser(p)) for p in (value or "").split(":") if p]


def _collection_roots(environ: Mapping[str, str], cwd: str) -> list[str]:
    """Directories that may contain ``ansible_collections/`` (env or Ansible defaults, then sys.path)."""
    env = environ.get("ANSIBLE_COLLECTIONS_PATH") or environ.get("ANSIBLE_COLLECTIONS_PATHS")
    roots = _split_paths(env, cwd)
    if not roots:
        home = environ.get("HOME") or os.path.expanduser("~")
        roots = ["/usr/share/ansible/collections", os.path.join(home, ".ansible", "collections")]
    roots = [os.path.dirname(r) if os.path.basename(r) == "ansible_collections" else r for r in roots]
    return roots + [p for p in sys.path if p and os.path.isdir(os.path.join(p, "ansible_collections"))]


def resolve_role(role: str, environ: Mapping[str, str], cwd: str) -> tuple[str | None, list[str]]:
    """Return (resolved role, places tried); resolved is an FQCN or an absolute directory path."""
    tried: list[str] = []
    parts = role.split(".")
    if len(parts) == 3 and all(parts) and "/" not in role:
        for root in _collection_roots(environ, cwd):
            candidate = os.path.join(root, "ansible_collections", parts[0], parts[1], "roles", parts[2])
            tried.append(candidate)
            if os.path.isdir(candidate):
                return role, tried
    if os.path.isabs(role):
        candidates = [role]
    else:
        candidates = []
        for base in _split_paths(environ.get("ANSIBLE_ROLES_PATH"), cwd):
            candidates += [os.path.join(base, role), os.path.join(base, "roles", role)]
        candidates += [os.path.join(cwd, "roles", role), os.path.join(cwd, role)]
    for candidate in candidates:
        candidate = os.path.normpath(candidate)
        if candidate in tried:
            continue
        tried.append(candidate)
        if os.path.isdir(candidate):
            return candidate, tried
    return None, tried
