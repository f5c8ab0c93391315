"""The server's log: text or JSON lines, and one line per call.

:func:`configure` sets up the process's logging (``--log-level``,
``--log-format``): ``text`` is ``TIME LEVEL LOGGER: MESSAGE``, ``json`` one
JSON object per line with ``ts``, ``level``, ``logger``, ``message`` and the
record's fields. Records are formatted where they are logged and written by
a background thread (:class:`BatchingHandler`), so a slow or blocked stderr
never stalls the event loop.

:func:`log_call` writes the request log, logger ``keystone_net.access``, one
INFO line per call::

    method=Get status=OK duration_ms=0.410 trace_id=5f0c... peer=127.0.0.1:53122

(in JSON, those are also fields of the object). Request-log lines go out in
batches, at least every 0.1 s; once :func:`configure` has set up the
process, they skip ``logging``'s record machinery (which would cost more
than a small call itself) and are formatted straight into the batch, exactly
as the formatter would. The trace id is the client's ``x-request-id``
metadata when it sends a usable one (:func:`request_id`), else a new uuid4 in
hex; the server returns it in the trailing metadata ``x-request-id``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any, Final

__all__ = [
    "ACCESS_LOGGER",
    "REQUEST_ID_KEY",
    "BatchingHandler",
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
_CALL_MESSAGE: Final = "method={} status={} duration_ms={:.3f} trace_id={} peer={}"

# A client's id is used as given only if it is short and plain (no spaces,
# quotes or control characters that would garble a log line).
_USABLE_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_FIELDS: Final = "fields"
_MAX_BATCH: Final = 1000  # request-log lines held before the writer is woken anyway
_access = logging.getLogger(ACCESS_LOGGER)
_direct: BatchingHandler | None = None  # where log_call writes, once configure() ran


def request_id(metadata: Mapping[str, Any] | None) -> str:
    """The trace id of a call: the client's ``x-request-id`` if usable, else a new uuid4 hex."""
    if metadata:
        value = metadata.get(REQUEST_ID_KEY)
        if isinstance(value, str) and _USABLE_ID.fullmatch(value):
            return value
    return _uuid4_hex()


def _uuid4_hex() -> str:
    """A random uuid4 in hex, as ``uuid.uuid4().hex`` gives, without a system call.

    A trace id only has to be unique, not secret: the bits come from a
    generator seeded once from ``os.urandom`` (the operating system's
    randomness costs a system call per id on the hot path).
    """
    bits = _random_bits(128) & _UUID4_CLEAR | _UUID4_SET
    return f"{bits:032x}"


_random_bits = random.Random(os.urandom(32)).getrandbits
_UUID4_CLEAR: Final = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits...
_UUID4_SET: Final = (0x4 << 76) | (0x2 << 62)  # ...as version 4, RFC 4122 variant


def log_call(method: str, status: str, seconds: float, trace_id: str, peer: str) -> None:
    """One line of the request log."""
    if not _access.isEnabledFor(logging.INFO):
        return
    ms = seconds * 1000
    direct = _direct
    if direct is not None:
        direct.call_line(method, status, ms, trace_id, peer)
        return
    ms = round(ms, 3)
    _access.info(
        "method=%s status=%s duration_ms=%.3f trace_id=%s peer=%s",
        method,
        status,
        ms,
        trace_id,
        peer,
        extra={_FIELDS: _call_fields(method, status, ms, trace_id, peer)},
    )


def _call_fields(method: str, status: str, ms: float, trace_id: str, peer: str) -> dict[str, Any]:
    return {
        "method": method,
        "status": status,
        "duration_ms": ms,
        "trace_id": trace_id,
        "peer": peer,
    }


class _Clock:
    """Timestamps as ``logging.Formatter`` and :class:`JsonFormatter` write them, cached per second."""

    def __init__(self, converter: Any) -> None:
        self._converter = converter  # the text formatter's (local time by default)
        self._second = -1
        self._local = ""
        self._utc = ""

    def _at(self, created: float) -> int:
        second = int(created)
        if second != self._second:
            self._local = time.strftime("%Y-%m-%d %H:%M:%S", self._converter(second))
            self._utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return int((created - second) * 1000)

    def text(self, created: float) -> str:
        ms = self._at(created)
        return f"{self._local},{ms:03d}"

    def iso_utc(self, created: float) -> str:
        ms = self._at(created)
        return f"{self._utc}.{ms:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, its fields, exc."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock(time.localtime)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._clock.iso_utc(record.created),
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


class BatchingHandler(logging.Handler):
    """Formats each record where it is logged; a thread writes them out, many at a time.

    Request-log lines are written at least every ``interval`` seconds (waking
    a thread for each would cost more than the call it logs); any other
    record wakes the writer at once. :meth:`close` writes what is left.
    """

    def __init__(self, stream: IO[str], interval: float = 0.1) -> None:
        super().__init__()
        self._stream = stream
        self._interval = interval
        self._lines: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._closing = False
        self._json = False
        self._clock = _Clock(time.localtime)
        self._writer = threading.Thread(target=self._run, name="keystone-log-writer", daemon=True)
        self._writer.start()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 (logging's name)
        super().setFormatter(fmt)
        self._json = isinstance(fmt, JsonFormatter)
        if fmt is not None and not self._json:
            self._clock = _Clock(fmt.converter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if record.name != ACCESS_LOGGER or len(self._lines) >= _MAX_BATCH:
            self._wake.set()

    def call_line(self, method: str, status: str, ms: float, trace_id: str, peer: str) -> None:
        """A request-log line, formatted as the formatter would format its record."""
        created = time.time()
        message = _CALL_MESSAGE.format(method, status, ms, trace_id, peer)
        if self._json:
            out = {
                "ts": self._clock.iso_utc(created),
                "level": "INFO",
                "logger": ACCESS_LOGGER,
                "message": message,
                **_call_fields(method, status, round(ms, 3), trace_id, peer),
            }
            line = json.dumps(out, ensure_ascii=False)
        else:
            line = f"{self._clock.text(created)} INFO {ACCESS_LOGGER}: {message}"
        self._lines.append(line)
        if len(self._lines) >= _MAX_BATCH:
            self._wake.set()

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._write()
        self._write()

    def _write(self) -> None:
        lines = []
        pop = self._lines.popleft
        with contextlib.suppress(IndexError):
            while True:
                lines.append(pop())
        if not lines:
            return
        try:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # stderr is gone: nothing to tell
            pass

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._writer.join(10)
        super().close()


class LogSetup:
    """The handler :func:`configure` installed; :meth:`close` writes what is left and removes it."""

    def __init__(self, handler: BatchingHandler) -> None:
        self._handler = handler

    def close(self) -> None:
        global _direct
        if _direct is self._handler:
            _direct = None
        logging.getLogger().removeHandler(self._handler)
        self._handler.close()


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> LogSetup:
    """Log records of ``level`` and above to ``stream`` (stderr) as ``fmt`` (text or json).

    The request log then writes straight to this handler, unless the
    ``keystone_net.access`` logger has handlers or filters of its own.
    """
    global _direct
    handler = BatchingHandler(sys.stderr if stream is None else stream)
    text = logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    if not _access.handlers and not _access.filters and _access.propagate:
        _direct = handler
    return LogSetup(handler)
