"""The server's log: text or JSON lines, and one line per call.

:func:`configure` sets up the process's logging (``--log-level``,
``--log-format``): ``text`` is ``TIME LEVEL LOGGER: MESSAGE``, ``json`` one
JSON object per line with ``ts``, ``level``, ``logger``, ``message`` and the
record's fields. Records are written by a background thread, so a slow or
blocked stderr never stalls the event loop.

:func:`log_call` writes the request log, logger ``keystone_net.access``, one
INFO line per call::

    method=Get status=OK duration_ms=0.41 trace_id=5f0c... peer=127.0.0.1:53122

(in JSON, those are fields of the object). The trace id is the client's
``x-request-id`` metadata when it sends a usable one (:func:`request_id`),
else a new uuid4 in hex; the server returns it in the trailing metadata
``x-request-id``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import queue
import re
import sys
import uuid
from collections.abc import Mapping
from typing import IO, Any, Final

__all__ = [
    "ACCESS_LOGGER",
    "REQUEST_ID_KEY",
    "JsonFormatter",
    "LogSetup",
    "configure",
    "log_call",
    "request_id",
]

#: The metadata key of the trace id, in requests and in trailing metadata.
REQUEST_ID_KEY: Final = "x-request-id"
#: The logger of the one-line-per-call request log.
ACCESS_LOGGER: Final = "keystone_net.access"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A client's id is used as given only if it is short and plain (no spaces,
# quotes or control characters that would garble a log line).
_USABLE_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_FIELDS: Final = "fields"
_access = logging.getLogger(ACCESS_LOGGER)


def request_id(metadata: Mapping[str, Any] | None) -> str:
    """The trace id of a call: the client's ``x-request-id`` if usable, else a new uuid4 hex."""
    if metadata:
        value = metadata.get(REQUEST_ID_KEY)
        if isinstance(value, str) and _USABLE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def log_call(method: str, status: str, seconds: float, trace_id: str, peer: str) -> None:
    """One line of the request log."""
    if not _access.isEnabledFor(logging.INFO):
        return
    ms = round(seconds * 1000, 3)
    _access.info(
        "method=%s status=%s duration_ms=%.3f trace_id=%s peer=%s",
        method,
        status,
        ms,
        trace_id,
        peer,
        extra={
            _FIELDS: {
                "method": method,
                "status": status,
                "duration_ms": ms,
                "trace_id": trace_id,
                "peer": peer,
            }
        },
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, its fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class LogSetup:
    """The handlers :func:`configure` installed; :meth:`close` flushes and removes them."""

    def __init__(self, handler: logging.Handler, listener: logging.handlers.QueueListener) -> None:
        self._handler = handler
        self._listener = listener

    def close(self) -> None:
        self._listener.stop()  # writes what is still queued
        logging.getLogger().removeHandler(self._handler)


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> LogSetup:
    """Log records of ``level`` and above to ``stream`` (stderr) as ``fmt`` (text or json)."""
    # The record is formatted where it is logged (QueueHandler.prepare), and
    # only written out by the listener's thread.
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.QueueHandler(records)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    out = logging.StreamHandler(sys.stderr if stream is None else stream)
    out.setFormatter(logging.Formatter("%(message)s"))
    listener = logging.handlers.QueueListener(records, out, respect_handler_level=False)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    listener.start()
    return LogSetup(handler, listener)
