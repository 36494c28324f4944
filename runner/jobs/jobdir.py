"""Per-CR private job directories: layout, job inputs on disk, and clean-up.

Each CR gets ``<base>/<group>/<version>/<kind>/<namespace>/<name>`` (mode 0700, files 0600): the
extra vars may carry secrets from the CR, so nothing there is readable by other users. ansible-runner
rotates ``artifacts/`` to the watch's ``maxRunnerArtifacts``, and the whole directory is removed
when the CR is gone, so disk use is bounded by (number of CRs) x (artifacts kept per CR).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# localhost, run with the controller's own Python (quoted: the ini parser splits values at spaces)
GENERATED_INVENTORY = (
    'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
)


def _safe(part: str) -> str:
    """A path component that cannot escape its parent (names are DNS-1123 anyway, but be strict)."""
    cleaned = part.replace("/", "_").replace("\x00", "_")
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}_"


def job_dir(base: Path, group: str, version: str, kind: str, namespace: str | None, name: str) -> Path:
    parts = [group or "core", version, kind, namespace or "_cluster", name]
    return base.joinpath(*(_safe(p) for p in parts))


def _mkdir_private(path: Path, stop_at: Path) -> None:
    """Create ``path`` and any missing parents below ``stop_at`` with mode 0700."""
    missing = []
    p = path
    while not p.exists() and p != stop_at and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)


def ensure_base(base: Path) -> None:
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)


def _write_private(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)


def prepare(
    path: Path,
    base: Path,
    *,
    extravars: Mapping[str, Any] | str,
    inventory_source: str | None,
    role_playbook: str | None,
) -> Path:
    """Write the job's inputs; returns the playbook to run for a role (``project/role.yml``) or ``path``."""
    _mkdir_private(path, base)
    for sub in ("env", "inventory", "project"):
        (path / sub).mkdir(mode=0o700, exist_ok=True)
    content = extravars if isinstance(extravars, str) else json.dumps(extravars)
    _write_private(path / "env" / "extravars", content)
    _write_inventory(path / "inventory", inventory_source)
    if role_playbook is not None:
        _write_private(path / "project" / "role.yml", role_playbook)
    return path / "project" / "role.yml"


def _write_inventory(target: Path, source: str | None) -> None:
    if not source:
        for child in target.iterdir():
            if child.name != "hosts":
                _remove(child)
        _write_private(target / "hosts", GENERATED_INVENTORY)
        return
    src = Path(source)
    for child in target.iterdir():
        _remove(child)
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True)
        os.chmod(target, 0o700)
    else:
        shutil.copy2(src, target / src.name)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def role_playbook(role: str) -> str:
    """A one-play playbook that runs ``role`` on localhost without gathering facts."""
    return json.dumps(
        [{"name": f"run role {role}", "hosts": "localhost", "gather_facts": False, "roles": [{"role": role}]}]
    )


TRASH = ".removing"  # below the runner dir; no API group starts with a dot


def remove(path: Path, base: Path) -> None:
    """Remove a CR's job directory and the empty parents it leaves below ``base``."""
    shutil.rmtree(path, ignore_errors=True)
    _remove_empty_parents(path, base)


def discard(path: Path, base: Path) -> Path | None:
    """Move a CR's job directory out of the way (one rename: cheap enough for the event loop) and
    remove the empty parents it leaves; returns where it went, to be deleted off the event loop
    (``shutil.rmtree``, or ``empty_trash``), or None when there was nothing. A new job of a CR of
    the same name can start at once."""
    target = None
    if os.path.lexists(path):
        trash = base / TRASH
        trash.mkdir(mode=0o700, exist_ok=True)
        target = trash / uuid.uuid4().hex
        os.rename(path, target)
    _remove_empty_parents(path, base)
    return target


def _remove_empty_parents(path: Path, base: Path) -> None:
    parent = path.parent
    while parent != base and base in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def empty_trash(base: Path) -> None:
    """Delete what ``discard`` moved aside (also what a stopped operator left there)."""
    shutil.rmtree(base / TRASH, ignore_errors=True)


def orphans(
    base: Path, kinds: list[tuple[str, str, str]], live: set[tuple[str, str, str, str | None, str]]
) -> list[Path]:
    """Job directories of ``kinds`` (group, version, kind) whose CR is not in ``live``
    ((group, version, kind, namespace, name)): left behind by CRs deleted while the operator was down."""
    out: list[Path] = []
    for group, version, kind in kinds:
        root = job_dir(base, group, version, kind, "x", "x").parent.parent
        if not root.is_dir():
            continue
        for ns_dir in root.iterdir():
            for cr_dir in ns_dir.iterdir() if ns_dir.is_dir() else ():
                namespace = None if ns_dir.name == "_cluster" else ns_dir.name
                if (group, version, kind, namespace, cr_dir.name) not in live:
                    out.append(cr_dir)
    return out


def disk_usage(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f))[stat.ST_SIZE]
    return total
