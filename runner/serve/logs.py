"""Structured logs: one JSON object per line, naming the CR a message is about."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """Human-friendly: ``time level [kind ns/name] message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        cr = extras.pop("cr", None)
        head = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7}"
        where = f" [{cr}]" if cr else ""
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        text = f"{head}{where} {record.getMessage()}" + (f"  {tail}" if tail else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kopf narrates every watch event at INFO/DEBUG; the runner logs what matters itself.
    logging.getLogger("kopf").setLevel(max(level, logging.WARNING))
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # urllib3 warns of each of its own connection retries; the caller logs the failure once.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


class _Replica(logging.Filter):
    def __init__(self, replica: str) -> None:
        super().__init__()
        self.replica = replica

    def filter(self, record: logging.LogRecord) -> bool:
        record.replica = self.replica
        return True


def name_replica(replica: str) -> None:
    """Every log line from now on names this replica (``replica=...``): with ``--sharding``."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Replica(replica))


class CRLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the CR's identity (``cr``, ``kind``) and any job id to every record."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def cr_logger(
    logger: logging.Logger, *, kind: str, namespace: str | None, name: str, **more: Any
) -> CRLogger:
    cr = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    fields: Mapping[str, Any] = {"cr": cr, **more}
    return CRLogger(logger, dict(fields))
