"""What to do when the API server refused a value of the wrong type that templating made. Pure.

ansible-core 2.19 templates natively: ``"{{ (count | int) + 1 }}"`` is the number 6, where 2.18
(the Go operator's image) made it the string "6". A role written for 2.18 that puts such a value
in a string field (a ConfigMap's ``data``, a label, a CRD field typed ``string``) is refused by
the API server on 2.19. The other way round, 2.18 renders any filtered or computed value as a
string (``"{{ replicas | int }}"`` is "2"), refused where the API wants a number. The API
server's message speaks of Go types and does not say what to change. The runner does not
rewrite what a role sends (it could not know every field's type, and a string made from a
boolean would differ from 2.18's ``True`` anyway); it adds the fix to the message.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The API server's words: a built-in kind's JSON decoding, and a CRD's structural schema.
_NOT_A_STRING = re.compile(
    r"cannot unmarshal (?:number|bool) into Go struct field \S+ of type string"
    r'|Invalid value: "(?:integer|number|boolean)": \S+ in body must be of type string'
)
_A_STRING = re.compile(
    r"cannot unmarshal string into Go struct field \S+ of type (?:u?int\d*|float\d*|bool)\b"
    r'|Invalid value: "string": \S+ in body must be of type (?:integer|number|boolean)'
)

# Short: the Failure condition keeps 300 characters, and the API server's message comes first.
NOT_A_STRING_219 = '(ansible-core 2.19 makes "{{ n + 1 }}" a number, not a string: add "| string")'
NOT_A_STRING_218 = '(a number or boolean where a string is wanted: add "| string" or quote it)'
A_STRING_218 = '(ansible-core 2.18 makes "{{ n | int }}" a string: write "{{ n }}" for a number variable)'
A_STRING_219 = '(a string where a number or boolean is wanted: add "| int" or "| bool")'


def with_hint(message: str, ansible_core: tuple[int, int]) -> str:
    """``message`` with the fix added when it is the API server refusing a value of the wrong type."""
    native = ansible_core >= (2, 19)
    if _NOT_A_STRING.search(message):
        return f"{message} {NOT_A_STRING_219 if native else NOT_A_STRING_218}"
    if _A_STRING.search(message):
        return f"{message} {A_STRING_219 if native else A_STRING_218}"
    return message


@lru_cache(maxsize=1)
def installed_ansible_core() -> tuple[int, int]:
    """The ansible-core the jobs run with (the one installed next to the runner); (0, 0) if none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = version("ansible-core").split(".")[:2]
        return int(major), int(minor)
    except (PackageNotFoundError, ValueError):
        return 0, 0
