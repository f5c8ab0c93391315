"""Whether a path can be opened as a database file, and why not: the one set of open checks.

``Database.open`` runs :func:`check` before LMDB touches a path, so that a
path that cannot work fails with a :class:`~keystone.KeystoneError` naming
the path and the cause, and leaves nothing behind (LMDB would first create
a ``-lock`` file beside it). The CLI and the server open files through
``Database.open`` only, so the rules are the same everywhere:

* a missing file is created only with ``create=True`` and only in an
  existing directory (nothing creates directories): else ``NotFound``;
* a directory, a device or a FIFO is not a database file: ``ValidationError``;
* an existing empty (0-byte) file is not a database (``Corruption``), unless
  its ``-lock`` file shows that KeystoneDB is creating it right now;
* opening for writing needs the file and its directory (for the lock file)
  to be writable: read-only media, an immutable file or missing permissions
  are ``ReadOnly``, with the advice to open with ``read_only=True``;
* what LMDB still refuses is translated by :func:`lmdb_error`: not an LMDB
  file is ``Corruption``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from .errors import Corruption, KeystoneError, NotFound, ReadOnly, ValidationError

__all__ = ["check", "lmdb_error", "lock_path", "remove_new_lock"]

_READ_ONLY_HINT = "; open it with read_only=True to read it"


def lock_path(path: str) -> str:
    """The lock file LMDB keeps beside a database file."""
    return path + "-lock"


def check(path: str, *, create: bool, read_only: bool) -> bool:
    """Raise unless ``path`` can be opened as asked; whether the file exists already."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except ValueError as exc:  # an embedded NUL byte
        raise ValidationError(f"the database path {path!r} is not usable: {exc}") from None
    except NotADirectoryError:
        raise NotFound(f"no database at {path}: a part of the path is not a directory") from None
    except OSError as exc:
        raise KeystoneError(f"cannot open {path}: {exc.strerror or exc}") from None
    parent = os.path.dirname(path) or "."
    if info is None:
        if not os.path.isdir(parent):
            doing = "no database at" if read_only or not create else "cannot create"
            raise NotFound(f"{doing} {path}: the directory {parent} does not exist")
        if read_only or not create:
            raise NotFound(f"no database at {path}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ReadOnly(f"cannot create {path}: {_not_writable(parent)}")
        return False
    if stat.S_ISDIR(info.st_mode):
        raise ValidationError(f"{path} is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(f"{path} is not a regular file, so not a database file")
    if info.st_size == 0 and not os.path.exists(lock_path(path)):
        raise Corruption(
            f"{path} is an empty file, not a KeystoneDB database "
            "(remove it to create a new database there)"
        )
    _check_access(path, parent, read_only)
    return True


def _check_access(path: str, parent: str, read_only: bool) -> None:
    try:
        fd = os.open(path, os.O_RDONLY if read_only else os.O_RDWR)
    except OSError as exc:
        if read_only:
            raise ReadOnly(f"cannot open {path} for reading: {exc.strerror or exc}") from None
        raise ReadOnly(
            f"cannot open {path} for writing: {_cause(exc, path)}{_READ_ONLY_HINT}"
        ) from None
    os.close(fd)
    if read_only:
        return  # LMDB reads without a lock file where none can be made (read-only media)
    lock = lock_path(path)
    if os.path.exists(lock):
        try:
            os.close(os.open(lock, os.O_RDWR))
        except OSError as exc:
            raise ReadOnly(
                f"cannot open {path} for writing: its lock file {lock}: "
                f"{_cause(exc, lock)}{_READ_ONLY_HINT}"
            ) from None
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise ReadOnly(
            f"cannot open {path} for writing: its lock file cannot be created, "
            f"{_not_writable(parent)}{_READ_ONLY_HINT}"
        )


def _cause(exc: OSError, path: str) -> str:
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno == errno.EPERM:
        return "the file is immutable or append-only (see lsattr)"
    return f"{exc.strerror or exc}"


def _not_writable(directory: str) -> str:
    with contextlib.suppress(OSError):
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"the directory {directory} is on a read-only file system"
    return f"the directory {directory} is not writable"


def lmdb_error(path: str, exc: Exception) -> KeystoneError:
    """The :class:`KeystoneError` for an ``lmdb`` error raised while opening ``path``."""
    import lmdb

    text = str(exc).removeprefix(f"{path}: ")
    if isinstance(exc, lmdb.InvalidError | lmdb.VersionMismatchError | lmdb.CorruptedError):
        return Corruption(f"{path} is not a KeystoneDB database ({text})")
    if isinstance(exc, lmdb.ReadonlyError):
        return ReadOnly(f"cannot open {path} for writing: {text}{_READ_ONLY_HINT}")
    return KeystoneError(f"cannot open {path}: {text}")


def remove_new_lock(path: str, existed: bool) -> None:
    """Remove the lock file a failed open created (one that was there before stays)."""
    if not existed:
        with contextlib.suppress(OSError):
            os.remove(lock_path(path))
