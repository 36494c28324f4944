# Documentation of the options that identify one Kubernetes object.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_version:
    description:
      - API version of the object, C(v1) for the core group or C(group/version).
    type: str
    default: v1
    aliases: [api, version]
  kind:
    description:
      - Kind of the object. Its plural, singular or short name is accepted too.
    type: str
    required: true
  name:
    description:
      - Name of the object.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the object; required for namespaced kinds, ignored for cluster-scoped ones.
    type: str
"""
