"""The table's schema (SPEC section 5), and how it is kept inside the database file.

The schema is stored in the ``meta`` sub-database under ``b"schema"``.
Opening a file with a schema that differs from the stored one raises
:class:`ValidationError` unless the only difference is added indexes (which
are then built from the existing items); opening without a schema uses the
stored one.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgpack

from .errors import ValidationError
from .types import shown

SCHEMA_KEY = b"schema"
FORMAT_KEY = b"format"
#: 1: the first; 2: index keys may be numbers (a file of format 1 has its
#: indexes rebuilt when opened: items with number index keys were left out).
FORMAT_VERSION = 2

Projection = Literal["ALL", "KEYS_ONLY"] | Sequence[str]
StreamView = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_VIEWS = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def _check_projection(owner: str, projection: object) -> tuple[str, ...] | str:
    if projection in ("ALL", "KEYS_ONLY"):
        return str(projection)
    if isinstance(projection, str) or not isinstance(projection, Sequence):
        raise ValidationError(
            f"{owner}: projection must be 'ALL', 'KEYS_ONLY' or a list of attribute names"
        )
    names = tuple(projection)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValidationError(f"{owner}: a projection list holds one or more attribute names")
    return names


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"{kind} name {shown(name)} must be 1-255 characters of letters, digits, '_', '-' "
            "and '.'"
        )


@dataclass(frozen=True, slots=True)
class LocalIndex:
    """An index on the table's partition key with another sort key attribute."""

    name: str
    sort_key: str
    projection: Projection = "ALL"

    def __post_init__(self) -> None:
        _check_name("index", self.name)
        if not isinstance(self.sort_key, str) or not self.sort_key:
            raise ValidationError(f"LocalIndex {self.name!r}: sort_key must be an attribute name")
        object.__setattr__(
            self, "projection", _check_projection(f"index {self.name!r}", self.projection)
        )


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    """An index with its own partition key (and optional sort key) attributes."""

    name: str
    partition_key: str
    sort_key: str | None = None
    projection: Projection = "ALL"

    def __post_init__(self) -> None:
        _check_name("index", self.name)
        if not isinstance(self.partition_key, str) or not self.partition_key:
            raise ValidationError(
                f"GlobalIndex {self.name!r}: partition_key must be an attribute name"
            )
        if self.sort_key is not None and (not isinstance(self.sort_key, str) or not self.sort_key):
            raise ValidationError(f"GlobalIndex {self.name!r}: sort_key must be an attribute name")
        object.__setattr__(
            self, "projection", _check_projection(f"index {self.name!r}", self.projection)
        )


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Change stream settings.

    ``view`` picks the images each record carries. ``retention`` bounds how
    many records are kept: an ``int`` keeps the newest that many, a
    ``timedelta`` keeps those younger than it, ``None`` keeps everything.
    """

    view: StreamView = "NEW_AND_OLD_IMAGES"
    retention: int | _dt.timedelta | None = None

    def __post_init__(self) -> None:
        if self.view not in _VIEWS:
            raise ValidationError(f"StreamConfig.view must be one of {', '.join(_VIEWS)}")
        r = self.retention
        if r is not None and not (
            (isinstance(r, int) and not isinstance(r, bool) and r > 0)
            or (isinstance(r, _dt.timedelta) and r.total_seconds() > 0)
        ):
            raise ValidationError(
                "StreamConfig.retention must be a positive int (records) or timedelta (age)"
            )


@dataclass(frozen=True, slots=True)
class Schema:
    """The key schema, indexes, TTL attribute and stream of the table."""

    partition_key: str = "pk"
    sort_key: str | None = "sk"
    local_indexes: Sequence[LocalIndex] = field(default=())
    global_indexes: Sequence[GlobalIndex] = field(default=())
    ttl_attribute: str | None = None
    stream: StreamConfig | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.partition_key, str) or not self.partition_key:
            raise ValidationError("Schema.partition_key must be a non-empty str")
        if self.sort_key is not None and (not isinstance(self.sort_key, str) or not self.sort_key):
            raise ValidationError("Schema.sort_key must be a non-empty str or None")
        if self.sort_key == self.partition_key:
            raise ValidationError("Schema.sort_key must differ from Schema.partition_key")
        object.__setattr__(self, "local_indexes", tuple(self.local_indexes))
        object.__setattr__(self, "global_indexes", tuple(self.global_indexes))
        for idx in self.local_indexes:
            if not isinstance(idx, LocalIndex):
                raise ValidationError("Schema.local_indexes holds keystone.LocalIndex objects")
            if self.sort_key is None:
                raise ValidationError("local indexes need a table with a sort key")
        for gidx in self.global_indexes:
            if not isinstance(gidx, GlobalIndex):
                raise ValidationError("Schema.global_indexes holds keystone.GlobalIndex objects")
        names = [i.name for i in self.indexes]
        if len(set(names)) != len(names):
            raise ValidationError(f"index names must be unique, got {names}")
        if self.ttl_attribute is not None and (
            not isinstance(self.ttl_attribute, str) or not self.ttl_attribute
        ):
            raise ValidationError("Schema.ttl_attribute must be an attribute name or None")
        if self.stream is not None and not isinstance(self.stream, StreamConfig):
            raise ValidationError("Schema.stream must be a keystone.StreamConfig or None")

    @property
    def indexes(self) -> tuple[LocalIndex | GlobalIndex, ...]:
        return (*self.local_indexes, *self.global_indexes)

    # -- storage -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        stream = None
        if self.stream is not None:
            r = self.stream.retention
            stream = {
                "view": self.stream.view,
                "retention_count": r if isinstance(r, int) else None,
                "retention_seconds": r.total_seconds() if isinstance(r, _dt.timedelta) else None,
            }
        return {
            "partition_key": self.partition_key,
            "sort_key": self.sort_key,
            "local_indexes": [
                {"name": i.name, "sort_key": i.sort_key, "projection": _proj_out(i.projection)}
                for i in self.local_indexes
            ],
            "global_indexes": [
                {
                    "name": i.name,
                    "partition_key": i.partition_key,
                    "sort_key": i.sort_key,
                    "projection": _proj_out(i.projection),
                }
                for i in self.global_indexes
            ],
            "ttl_attribute": self.ttl_attribute,
            "stream": stream,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        stream = None
        if data.get("stream"):
            s = data["stream"]
            retention: int | _dt.timedelta | None = s.get("retention_count")
            if s.get("retention_seconds") is not None:
                retention = _dt.timedelta(seconds=s["retention_seconds"])
            stream = StreamConfig(view=s["view"], retention=retention)
        return cls(
            partition_key=data["partition_key"],
            sort_key=data.get("sort_key"),
            local_indexes=[
                LocalIndex(i["name"], i["sort_key"], _proj_in(i["projection"]))
                for i in data.get("local_indexes", ())
            ],
            global_indexes=[
                GlobalIndex(
                    i["name"], i["partition_key"], i.get("sort_key"), _proj_in(i["projection"])
                )
                for i in data.get("global_indexes", ())
            ],
            ttl_attribute=data.get("ttl_attribute"),
            stream=stream,
        )

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, raw: bytes) -> Schema:
        return cls.from_dict(msgpack.unpackb(raw, raw=False))

    def check_compatible(self, stored: Schema) -> list[LocalIndex | GlobalIndex]:
        """Raise unless this schema can open a file that holds ``stored``.

        Returns the indexes this schema adds (to be built from the items).
        """
        if (self.partition_key, self.sort_key) != (stored.partition_key, stored.sort_key):
            raise ValidationError(
                "the key schema differs from the one stored in the file: "
                f"stored partition_key={stored.partition_key!r}, sort_key={stored.sort_key!r}; "
                f"given partition_key={self.partition_key!r}, sort_key={self.sort_key!r}"
            )
        if self.ttl_attribute != stored.ttl_attribute:
            raise ValidationError(
                f"ttl_attribute differs from the stored one ({stored.ttl_attribute!r}); "
                "it cannot be changed once the file exists"
            )
        if self.stream != stored.stream:
            raise ValidationError(
                f"the stream settings differ from the stored ones ({stored.stream!r}); "
                "they cannot be changed once the file exists"
            )
        mine = {i.name: i for i in self.indexes}
        for old in stored.indexes:
            new = mine.get(old.name)
            if new is None:
                raise ValidationError(
                    f"index {old.name!r} is in the file but not in the given schema; "
                    "indexes can be added, not removed"
                )
            if new != old:
                raise ValidationError(
                    f"index {old.name!r} is defined differently in the file ({old!r}); "
                    "an index definition cannot change"
                )
        known = {i.name for i in stored.indexes}
        return [i for i in self.indexes if i.name not in known]


def _proj_out(p: object) -> object:
    return p if isinstance(p, str) else list(p)  # type: ignore[call-overload]


def _proj_in(p: Any) -> Any:
    return p if isinstance(p, str) else tuple(p)


__all__ = ["GlobalIndex", "LocalIndex", "Schema", "StreamConfig"]


#: DynamoDB's bounds on a new index's name (characters) and on a key attribute's name (bytes).
MIN_INDEX_NAME: Final = 3
MAX_KEY_NAME_BYTES: Final = 255


def check_new_names(
    schema: Schema, added: Sequence[LocalIndex | GlobalIndex], *, new_table: bool
) -> None:
    """DynamoDB's naming rules for what is being created: index names of 3-255
    characters, key and index key attribute names of 1-255 bytes.

    Only what is created now is checked, so a file whose indexes were named
    under the older 1-255 rule keeps opening with its schema.
    """
    keys = [schema.partition_key, schema.sort_key] if new_table else []
    for index in added:
        if len(index.name) < MIN_INDEX_NAME:
            raise ValidationError(
                f"index name {index.name!r}: Member must have length greater than or equal to "
                f"{MIN_INDEX_NAME}"
            )
        keys += [getattr(index, "partition_key", None), index.sort_key]
    for name in keys:
        if name is not None and len(name.encode("utf-8", "surrogatepass")) > MAX_KEY_NAME_BYTES:
            raise ValidationError(
                f"key attribute name {shown(name, 40)}: Member must have length less than or "
                f"equal to {MAX_KEY_NAME_BYTES} bytes"
            )
