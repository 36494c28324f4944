"""Names of a scaffolded kind, and its CustomResourceDefinition with generated blocks (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from runner.scaffold.blocks import block

VERSION_MARKER = "# +ansible-operator:scaffold:version"
_KIND = re.compile(r"[A-Z][A-Za-z0-9]*$")
_VERSION = re.compile(r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$")
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def pluralize(word: str) -> str:
    """English plural of a lower-case kind (``backup`` -> ``backups``, ``policy`` -> ``policies``)."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @classmethod
    def make(
        cls, group: str, version: str, kind: str, plural: str | None = None, namespaced: bool = True
    ) -> Resource:
        if not _KIND.match(kind):
            raise ValueError(f"invalid kind {kind!r}: expected CamelCase starting with an upper-case letter")
        if not _VERSION.match(version):
            raise ValueError(f"invalid version {version!r}: expected v1, v1alpha1, v2beta3...")
        if not group or not _GROUP.match(group) or len(group) > 253:
            raise ValueError(f"invalid group {group!r}: expected a DNS subdomain such as cache.example.com")
        plural = plural or pluralize(kind.lower())
        if not _GROUP.match(plural) or "." in plural:
            raise ValueError(f"invalid plural {plural!r}")
        return cls(group, version, kind, plural, namespaced)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def crd_file(self) -> str:
        return f"config/crd/bases/{self.group}_{self.plural}.yaml"

    @property
    def sample_file(self) -> str:
        return f"config/samples/{self.group.split('.')[0]}_{self.version}_{self.singular}.yaml"

    @property
    def role_name(self) -> str:
        return self.singular

    @property
    def playbook_file(self) -> str:
        return f"playbooks/{self.singular}.yml"


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as kubectl and kubebuilder write manifests."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump(data: Any) -> str:
    """Block-style YAML, keys in order, list items indented, long lines kept whole."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=2**31 - 1, allow_unicode=True
    )


def printer_columns() -> list[dict[str, Any]]:
    def cond(ctype: str, field: str) -> str:
        return f'.status.conditions[?(@.type=="{ctype}")].{field}'

    return [
        {"name": "Successful", "type": "string", "jsonPath": cond("Successful", "status")},
        {"name": "Failure", "type": "string", "jsonPath": cond("Failure", "status")},
        {
            "name": "Reason",
            "type": "string",
            "description": "Reason of the Failure condition",
            "jsonPath": cond("Failure", "reason"),
            "priority": 1,
        },
        {
            "name": "Message",
            "type": "string",
            "description": "Message of the Failure condition",
            "jsonPath": cond("Failure", "message"),
            "priority": 1,
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def crd_bodies(res: Resource, spec: Mapping[str, Any]) -> dict[str, str]:
    """The generated blocks of one version of the CRD."""
    v = res.version
    root_required = "required:\n- spec\n" if spec.get("required") else ""
    return {
        f"printer-columns/{v}": dump(printer_columns()),
        f"root/{v}": root_required,
        f"spec-schema/{v}": dump(dict(spec)),
    }


def version_entry(res: Resource, source: str, storage: bool) -> str:
    """One item of ``spec.versions`` (at indentation 0), with empty generated blocks."""
    v = res.version
    return (
        f"- name: {v}\n"
        "  served: true\n"
        f"  storage: {'true' if storage else 'false'}\n"
        "  subresources:\n"
        "    status: {}\n"
        "  additionalPrinterColumns:\n"
        f"{block(f'printer-columns/{v}', '', '    ')}"
        "  schema:\n"
        "    openAPIV3Schema:\n"
        f"      description: {res.kind} is reconciled by the ansible-operator runner, which runs {source}.\n"
        "      type: object\n"
        f"{block(f'root/{v}', '', '      ')}"
        "      properties:\n"
        "        apiVersion:\n"
        "          type: string\n"
        "        kind:\n"
        "          type: string\n"
        "        metadata:\n"
        "          type: object\n"
        "        spec:\n"
        f"{block(f'spec-schema/{v}', '', '          ')}"
        "        status:\n"
        "          description: Written by the operator (conditions Running, Successful, Failure).\n"
        "          type: object\n"
        "          x-kubernetes-preserve-unknown-fields: true\n"
    )


def crd_template(res: Resource, source: str) -> str:
    """A new CRD file for ``res`` with empty generated blocks (filled by the Writer)."""
    entry = "".join(
        "    " + line if line.strip() else line for line in version_entry(res, source, True).splitlines(True)
    )
    return (
        f"# CustomResourceDefinition of {res.kind} ({res.api_version}), scaffolded by\n"
        "# `ansible-operator create api`. Running it again rewrites only the blocks between the\n"
        "# +ansible-operator:generated markers (printer columns, and the spec schema made from the\n"
        "# role's meta/argument_specs.yml); edit anything outside them, it is kept.\n"
        "---\n"
        "apiVersion: apiextensions.k8s.io/v1\n"
        "kind: CustomResourceDefinition\n"
        "metadata:\n"
        f"  name: {res.crd_name}\n"
        "spec:\n"
        f"  group: {res.group}\n"
        "  names:\n"
        f"    kind: {res.kind}\n"
        f"    listKind: {res.kind}List\n"
        f"    plural: {res.plural}\n"
        f"    singular: {res.singular}\n"
        f"  scope: {'Namespaced' if res.namespaced else 'Cluster'}\n"
        "  versions:\n"
        f"{entry}"
        f"    {VERSION_MARKER}\n"
    )


def crd_versions(text: str) -> list[str]:
    """The version names of a CRD file (empty when it does not parse)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, Mapping)]
    except yaml.YAMLError:
        return []
    for d in docs:
        if d.get("kind") == "CustomResourceDefinition":
            return [str(v.get("name")) for v in (d.get("spec") or {}).get("versions") or []]
    return []
