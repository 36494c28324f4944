"""Generated blocks in scaffolded files, and the writer that keeps user edits outside them.

A generated block is a run of lines between two comment markers::

    # +ansible-operator:generated:begin spec-schema/v1alpha1
    ...
    # +ansible-operator:generated:end spec-schema/v1alpha1

Every ``ansible-operator create api`` rewrites the lines between the markers and nothing else,
so user edits outside them survive; a file without generated blocks is written only when it
does not exist yet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "# +ansible-operator:generated:begin"
END = "# +ansible-operator:generated:end"
_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)# \+ansible-operator:generated:begin (?P<id>\S+)[ \t]*$")
_END_RE = re.compile(r"^[ \t]*# \+ansible-operator:generated:end (?P<id>\S+)[ \t]*$")


class BlockError(ValueError):
    """A file whose generated blocks are broken (a begin without its end, nested blocks)."""


def indent(text: str, prefix: str) -> str:
    """``text`` with every non-empty line prefixed."""
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


def block(block_id: str, body: str, prefix: str = "") -> str:
    """A whole generated block (markers included), every line indented by ``prefix``."""
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{prefix}{BEGIN} {block_id}\n{indent(body, prefix)}{prefix}{END} {block_id}\n"


def block_ids(text: str) -> list[str]:
    return [m.group("id") for line in text.splitlines() if (m := _BEGIN_RE.match(line))]


def replace_blocks(text: str, bodies: Mapping[str, str]) -> tuple[str, list[str]]:
    """Rewrite the blocks of ``text`` named in ``bodies``; returns the text and the ids not found.

    A body is indented like its begin marker. Blocks not named in ``bodies`` are kept as they are.
    """
    out: list[str] = []
    lines = text.splitlines(keepends=True)
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        m = _BEGIN_RE.match(lines[i].rstrip("\n"))
        if not m:
            if _END_RE.match(lines[i].rstrip("\n")):
                raise BlockError(f"line {i + 1}: end marker without a begin marker")
            out.append(lines[i])
            i += 1
            continue
        block_id, prefix = m.group("id"), m.group("indent")
        j = i + 1
        while j < len(lines):
            if _BEGIN_RE.match(lines[j].rstrip("\n")):
                raise BlockError(f"line {j + 1}: block {block_id!r} (line {i + 1}) is not closed")
            e = _END_RE.match(lines[j].rstrip("\n"))
            if e:
                if e.group("id") != block_id:
                    raise BlockError(f"line {j + 1}: end of {e.group('id')!r} inside block {block_id!r}")
                break
            j += 1
        else:
            raise BlockError(f"line {i + 1}: block {block_id!r} has no end marker")
        seen.add(block_id)
        if block_id in bodies:
            out.append(block(block_id, bodies[block_id], prefix))
        else:
            out.extend(lines[i : j + 1])
        i = j + 1
    return "".join(out), [b for b in bodies if b not in seen]


def insert_before_marker(text: str, marker: str, snippet: str) -> str | None:
    """Insert ``snippet`` (indented like the marker line) before the line holding ``marker``.

    Returns None when the marker is not in ``text``.
    """
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() == marker:
            prefix = line[: len(line) - len(line.lstrip())]
            return "".join([*lines[:i], indent(snippet, prefix), *lines[i:]])
    return None


@dataclass
class Writer:
    """Writes the files of one scaffold run under ``root`` and records what it did."""

    root: Path
    dry_run: bool = False
    actions: list[tuple[str, str]] = field(default_factory=list)  # (action, relative path)
    warnings: list[str] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def read(self, rel: str) -> str | None:
        path = self.root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def _write(self, rel: str, text: str, action: str, mode: int | None = None) -> None:
        path = self.root / rel
        self.actions.append((action, rel))
        if self.dry_run:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)

    def create(self, rel: str, text: str, mode: int | None = None) -> bool:
        """Write ``rel`` only when it does not exist; an existing file is the user's."""
        if (self.root / rel).exists():
            self.actions.append(("kept", rel))
            return False
        self._write(rel, text, "created", mode)
        return True

    def update(self, rel: str, text: str) -> None:
        """Write ``rel`` when its content differs (used after computing a merged text)."""
        old = self.read(rel)
        if old == text:
            self.actions.append(("unchanged", rel))
        else:
            self._write(rel, text, "created" if old is None else "updated")

    def generated(self, rel: str, template: str, bodies: Mapping[str, str]) -> None:
        """Create ``rel`` from ``template`` (blocks filled in), or rewrite only its blocks."""
        old = self.read(rel)
        if old is None:
            text, _ = replace_blocks(template, bodies)
            self._write(rel, text, "created")
            return
        try:
            text, missing = replace_blocks(old, bodies)
        except BlockError as exc:
            self.warnings.append(f"{rel}: {exc}; not updated")
            self.actions.append(("kept", rel))
            return
        for block_id in missing:
            self.warnings.append(
                f"{rel}: no generated block {block_id!r} (markers removed?); that part was not updated"
            )
        self.update(rel, text)

    def insert(self, rel: str, marker: str, snippet: str, present: bool, fallback: str | None = None) -> None:
        """Add ``snippet`` before ``marker`` in ``rel`` unless ``present`` (already there).

        Without the marker, ``fallback`` (the whole new content) is used when the file does not
        exist; an existing file without the marker gets the snippet appended.
        """
        old = self.read(rel)
        if present:
            self.actions.append(("unchanged", rel))
            return
        if old is None:
            if fallback is None:
                self.warnings.append(f"{rel}: missing; add {snippet.strip()!r} yourself")
                return
            old = fallback
        new = insert_before_marker(old, marker, snippet)
        if new is None:
            new = old + ("" if old.endswith("\n") or not old else "\n") + snippet
        self.update(rel, new)
