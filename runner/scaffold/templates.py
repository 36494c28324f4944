"""The scaffold's template files (``templates/``) and their ``%%TOKEN%%`` substitution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import __version__
from runner.scaffold.blocks import Writer
from runner.scaffold.crd import Resource

TEMPLATES = Path(__file__).resolve().parent / "templates"
PROJECT = TEMPLATES / "project"
API = TEMPLATES / "api"
DEFAULT_IMAGE = f"ansible-operator-runner:{__version__}"
# Template files stored under another name: a .gitignore would apply to this package's tree, and
# package data globs skip dot files.
_RENAMED = {"_gitignore": ".gitignore", "_placeholder": ".placeholder"}


def _target(rel: str) -> str:
    head, _, name = rel.rpartition("/")
    name = _RENAMED.get(name, name)
    return f"{head}/{name}" if head else name


@dataclass(frozen=True)
class Tokens:
    project: str = "ansible-operator"
    domain: str = "example.com"
    image: str = DEFAULT_IMAGE


def substitute(text: str, tokens: dict[str, str]) -> str:
    for key, value in tokens.items():
        text = text.replace(f"%%{key}%%", value)
    return text


def _project_tokens(t: Tokens) -> dict[str, str]:
    return {"PROJECT": t.project, "DOMAIN": t.domain, "IMAGE": t.image}


def project_files() -> list[str]:
    """Paths (relative to the project) of every file ``init`` writes."""
    out = []
    for path in sorted(PROJECT.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out.append(_target(path.relative_to(PROJECT).as_posix()))
    return out


def project_file(rel: str, tokens: Tokens) -> str:
    head, _, name = rel.rpartition("/")
    stored = {v: k for k, v in _RENAMED.items()}.get(name, name)
    path = PROJECT / (f"{head}/{stored}" if head else stored)
    return substitute(path.read_text(encoding="utf-8"), _project_tokens(tokens))


def api_tokens(res: Resource) -> dict[str, str]:
    var = f"_{res.group}_{res.singular}".replace(".", "_").replace("-", "_")
    return {
        "KIND": res.kind,
        "GROUP": res.group,
        "VERSION": res.version,
        "API_VERSION": res.api_version,
        "PLURAL": res.plural,
        "ROLE": res.role_name,
        "VAR": var,
        "SAMPLE": res.sample_file,
        "SAMPLE_NAME": f"{res.singular}-sample",
    }


def api_file(name: str, res: Resource) -> str:
    return substitute((API / name).read_text(encoding="utf-8"), api_tokens(res))


def role_files(res: Resource) -> dict[str, str]:
    """The role skeleton: path inside the role -> content."""
    base = API / "role"
    return {
        _target(p.relative_to(base).as_posix()): substitute(p.read_text(encoding="utf-8"), api_tokens(res))
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def write_role(w: Writer, res: Resource) -> None:
    """Create the files of the role skeleton that do not exist (existing ones are the user's)."""
    for rel, text in role_files(res).items():
        w.create(f"roles/{res.role_name}/{rel}", text)
