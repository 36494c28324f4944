"""What a failed task says, in words: the API server's message instead of its Status JSON. Pure.

``kubernetes.core.k8s`` reports an API error as ``msg: "Failed to create object: <Status JSON>"``
(older releases: ``b'<Status JSON>'``, or the JSON in a separate ``body`` key, with ``status`` /
``error`` holding the HTTP code and ``reason`` its phrase). The Status JSON repeats its message in
``details.causes``, so the raw text carries every message twice in about a kilobyte. A user needs
the Status ``message`` (``ConfigMap "x" is invalid: metadata.labels: Invalid value: ...``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

# A Python bytes literal, as str(bytes) writes it: b'...' (quotes inside escaped).
_BYTES_REPR = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\"""")
_DECODER = json.JSONDecoder()


def status_message(value: Any) -> str | None:
    """The ``message`` of a Kubernetes Status (a dict, or its JSON as text or bytes), else None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, Mapping) or value.get("kind") != "Status":
        return None
    message = value.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    reason = value.get("reason")
    return str(reason) if reason else None


def _decode_bytes_reprs(text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        try:
            raw = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return match.group(0)
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else match.group(0)

    return _BYTES_REPR.sub(decode, text)


def replace_status_json(text: str) -> str:
    """``text`` with each Kubernetes Status JSON in it replaced by the Status message."""
    if "{" not in text:
        return text
    text = _decode_bytes_reprs(text)
    out: list[str] = []
    pos = 0
    while (start := text.find("{", pos)) != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            out.append(text[pos : start + 1])
            pos = start + 1
            continue
        message = status_message(value)
        out.append(text[pos:start] + (message if message is not None else text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def task_error(res: Mapping[str, Any]) -> str:
    """The words of a failed task's result: its ``msg`` (else stderr, stdout, reason), with any
    Status JSON in it (or in ``body``) reduced to the Status message. Empty when it says nothing."""
    msg = res.get("msg")
    if not msg:
        msg = res.get("stderr") or res.get("stdout") or res.get("reason")
    text = replace_status_json(str(msg).strip()) if msg else ""
    body_message = status_message(res.get("body"))
    if body_message and body_message not in text:
        text = f"{text.rstrip(': ')}: {body_message}" if text else body_message
    return text.strip()
