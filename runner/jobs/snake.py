"""snake_case conversion of CR spec keys, ported from the Go ansible-operator.

This is a line-by-line port of ``internal/ansible/paramconv/paramconv.go`` (``ToSnake`` and
``MapToSnake``) from operator-framework/ansible-operator-plugins, itself based on
iancoleman/strcase.  The quirks are kept on purpose so that roles written for the Go operator
receive the same variable names, e.g.:

* only ``letter digits letter digits`` runs get word boundaries (``a1b2`` -> ``a_1_b2``), so
  ``sizeK8sBuckets`` -> ``size_k8s_buckets`` and ``pg1_repo_path`` stays as it is;
* a leading capital letter gives a leading underscore (``ThisIs`` -> ``_this_is``), except when
  the first word is exactly one of the special words (``URLegress`` -> ``url_egress``, but
  ``URLsegress`` -> ``_urls_egress``);
* the special words ``HTTP``, ``URL`` and ``IP`` (and their plurals with a trailing ``s``) are
  treated as acronyms, but only their *first* occurrence, and only when the key is not already
  all upper case.

Deliberate, documented deviations (all in cases where Go panics or is non-deterministic):

* the empty string (or one made only of spaces) converts to ``""`` (Go panics);
* Go iterates its special-word map in random order; we use the fixed order HTTP, URL, IP
  (the order of the Go map literal).  Fuzzing all six orders found no key whose result
  depends on the order;
* when two keys of one mapping convert to the same name, the later key's value wins (Go: random)
  and keeps the position of the first one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["snake_case_keys", "to_snake_case"]

# Go: regexp.MustCompile(`([a-zA-Z])(\d+)([a-zA-Z](\d+))`) -- Go's \d is ASCII-only.
_NUMBER_SEQUENCE = re.compile(r"([a-zA-Z])([0-9]+)([a-zA-Z]([0-9]+))")

# Go's wordMapping: lower-case word -> acronym.  ToSnake looks for the *values* (upper case)
# and compares the first word of the result against the *keys* (lower case).
_WORD_MAPPING: dict[str, str] = {"http": "HTTP", "url": "URL", "ip": "IP"}


def _add_word_boundaries_to_numbers(s: str) -> str:
    return _NUMBER_SEQUENCE.sub(r"\1 \2 \3", s)


def _go_lower(s: str) -> str:
    """strings.ToLower: per-rune simple case mapping (no final sigma, U+0130 -> 'i')."""
    if s.isascii():
        return s.lower()
    return "".join(ch.lower()[0] for ch in s)


def _go_upper(s: str) -> str:
    """strings.ToUpper approximation: per-rune, characters without a one-rune upper form kept."""
    if s.isascii():
        return s.upper()
    out: list[str] = []
    for ch in s:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def _is_upper_ascii(c: str) -> bool:
    return "A" <= c <= "Z"


def _is_lower_ascii(c: str) -> bool:
    return "a" <= c <= "z"


def _preprocess_word_mapping(value: str) -> str:
    """Isolate the first occurrence of each special word (or its plural) with underscores."""
    for word in _WORD_MAPPING.values():
        idx = value.find(word)
        if idx < 0:
            continue
        end = idx + len(word)
        if end - 1 == len(value) - 1:
            # The special non-plural word appears at the end of the string.
            value = value[:idx] + "_" + value[idx:]
        elif value[end] == "s":
            # The plural occurs at the end, the start or somewhere in the middle.
            if end == len(value) - 1:
                value = value[:idx] + "_" + value[idx:end] + "S"
            elif idx == 0:
                value = value[:end] + "S" + "_" + value[end + 1 :]
            else:
                value = value[:idx] + "_" + value[idx:end] + "S" + "_" + value[end + 1 :]
        elif idx == 0:
            # The non-plural word occurs at the start ...
            value = value[:end] + "_" + value[end:]
        else:
            # ... or somewhere in the middle.
            value = value[:idx] + "_" + value[idx:end] + "_" + value[end:]
    return value


def to_snake_case(name: str) -> str:
    """Convert a CR spec key to snake_case exactly like the Go operator's ``paramconv.ToSnake``."""
    s = _add_word_boundaries_to_numbers(name).strip(" ")
    if not s:
        return ""  # Go panics here ([]rune(s)[0] on an empty string).
    prefix = "_" if _is_upper_ascii(s[0]) else ""

    # Skip special-word handling when the whole string is already upper case.
    if _go_upper(s) != s:
        s = _preprocess_word_mapping(s)

    bits: list[str] = []
    n = ""
    i_real = -1
    for i, v in enumerate(s):
        i_real += 1
        # Treat acronyms as words, e.g. JSONData -> JSON is a whole word.
        next_case_is_changed = False
        if i + 1 < len(s):
            nxt = s[i + 1]
            if (_is_upper_ascii(v) and _is_lower_ascii(nxt)) or (_is_lower_ascii(v) and _is_upper_ascii(nxt)):
                next_case_is_changed = True

        if i_real > 0 and n[-1] != "_" and next_case_is_changed:
            # Add an underscore if the case of the next letter changes.
            if _is_upper_ascii(v):
                bits.append(_go_lower(n))
                n = v
                i_real = 0
            elif _is_lower_ascii(v):
                bits.append(_go_lower(n + v))
                n = ""
                i_real = -1
        elif v in (" ", "_", "-"):
            # Replace spaces, underscores and dashes with delimiters.
            bits.append(_go_lower(n))
            n = ""
            i_real = -1
        else:
            n += v
    bits.append(_go_lower(n))
    joined = "_".join(bits)

    # Prepend an underscore if the name began with a capital, unless the first word is special.
    if bits[0] not in _WORD_MAPPING:
        return prefix + joined
    return joined


def snake_case_keys(value: Any) -> Any:
    """Return a copy of ``value`` with the keys of every mapping (also inside lists) snake_cased.

    Values are not changed; non-string keys are kept as they are.  Like Go's ``MapToSnake``.
    """
    if isinstance(value, Mapping):
        return {(to_snake_case(k) if isinstance(k, str) else k): snake_case_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [snake_case_keys(v) for v in value]
    return value
