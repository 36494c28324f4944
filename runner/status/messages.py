"""How long a failure message may be where a user reads it. Pure.

The ``Failure`` condition (and so the ``-o wide`` MESSAGE column) gets a short message that says
where the rest is; the Event gets the full text up to Kubernetes' 1 KiB; the log gets all of it.
"""

from __future__ import annotations

CONDITION_LIMIT = 300  # characters
EVENT_LIMIT = 1024  # bytes (UTF-8): Kubernetes' limit for an Event's message
CONDITION_MORE = "… (full message in the CR's Events and the operator log)"
EVENT_MORE = "… (full message in the operator log)"


def _at_word(head: str) -> str:
    """``head`` (a cut text) ending at its last word break, if one lies in its last third."""
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= len(head) * 2 // 3:
        head = head[:space]
    return head.rstrip(" \n\t,;:")


def cap(text: str, limit: int, more: str) -> str:
    """``text`` if it has at most ``limit`` characters, else cut at a word and ending with ``more``."""
    if len(text) <= limit:
        return text
    return _at_word(text[: max(limit - len(more), 0)]) + more


def condition_message(text: str) -> str:
    """A failure message short enough for a condition (and a kubectl column)."""
    return cap(text.strip(), CONDITION_LIMIT, CONDITION_MORE)


def event_message(text: str) -> str:
    """The full message when it fits in an Event (1 KiB of UTF-8), else cut to fit."""
    text = text.strip()
    if len(text.encode()) <= EVENT_LIMIT:
        return text
    room = EVENT_LIMIT - len(EVENT_MORE.encode())
    return _at_word(text.encode()[:room].decode("utf-8", "ignore")) + EVENT_MORE
