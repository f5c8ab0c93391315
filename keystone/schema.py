"""A table's schema (SPEC sections 1 and 5), and how it is kept inside the database file.

Key attributes are given as a name (the legacy, untyped key: a ``str`` or
``bytes`` value, and an optional sort key) or as a ``(name, type)`` pair
with type ``"S"``, ``"N"`` or ``"B"``, as DynamoDB's ``AttributeDefinitions``
declare them. The default table's schema is stored in the ``meta``
sub-database under ``b"schema"``; the other tables' schemas live in the
table catalog (:mod:`keystone.catalog`). Opening a file with a schema that
differs from the stored one raises :class:`ValidationError` unless the only
difference is added indexes (which are then built from the existing items);
opening without a schema uses the stored one.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from .errors import ValidationError
from .types import shown

SCHEMA_KEY = b"schema"
FORMAT_KEY = b"format"
#: 1: the first; 2: index keys may be numbers (a file of format 1 has its
#: indexes rebuilt when opened: items with number index keys were left out);
#: 3: many tables per file and typed keys (a file of format 2 opens as is:
#: it has only the default table, with untyped keys).
FORMAT_VERSION = 3

KeyType = Literal["S", "N", "B"]
KEY_TYPES: tuple[KeyType, ...] = ("S", "N", "B")
#: A key attribute as a schema takes it: a name, or ``(name, type)``.
KeySpec = str | tuple[str, KeyType]

Projection = Literal["ALL", "KEYS_ONLY"] | Sequence[str]
StreamView = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
#: DynamoDB's shortest table or index name.
MIN_NAME = 3
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


def _check_name(kind: str, name: object, minimum: int = 1) -> None:
    """Table and index names: ``[a-zA-Z0-9_.-]``, 3-255 characters as DynamoDB has them.

    ``minimum=1`` admits the shorter index names files of format 2 may hold;
    every name a caller defines now is checked with the DynamoDB minimum.
    """
    if not isinstance(name, str) or not _NAME.match(name) or len(name) < minimum:
        raise ValidationError(
            f"{kind} name {shown(name)} must be {MIN_NAME}-255 characters of letters, digits, "
            "'_', '-' and '.'"
        )


def check_table_name(name: object) -> str:
    """``name`` if it is a valid table name, else :class:`ValidationError`."""
    _check_name("table", name, MIN_NAME)
    return name  # type: ignore[return-value]


def check_new_index_names(indexes: Sequence[LocalIndex | GlobalIndex]) -> None:
    """Indexes being defined now follow DynamoDB's naming rule (3-255 characters)."""
    for idx in indexes:
        _check_name("index", idx.name, MIN_NAME)


def split_key(
    owner: str, spec: object, declared: object, optional: bool = False
) -> tuple[str | None, KeyType | None]:
    """``(name, type)`` of a key attribute given as a name or a ``(name, type)`` pair.

    ``declared`` is the type given separately (the stored form); a pair and
    a separate type must agree.
    """
    if spec is None and optional:
        if declared is not None:
            raise ValidationError(f"{owner}: a key type was given without a key attribute")
        return None, None
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValidationError(f"{owner}: a typed key is (name, type), got {spec!r}")
        name, kind = spec
        if declared is not None and declared != kind:
            raise ValidationError(f"{owner}: key type given twice ({kind!r} and {declared!r})")
    else:
        name, kind = spec, declared
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{owner}: a key attribute name must be a non-empty str")
    if len(name.encode()) > 255:
        raise ValidationError(
            f"{owner}: key attribute name {name[:20]!r}... is longer than 255 bytes"
        )
    if kind is not None and kind not in KEY_TYPES:
        raise ValidationError(
            f"{owner}: key type of {name!r} must be 'S', 'N' or 'B', got {kind!r}"
        )
    return name, kind


@dataclass(frozen=True, slots=True, init=False)
class LocalIndex:
    """An index on the table's partition key with another sort key attribute.

    ``sort_key`` is a name or a ``(name, type)`` pair; a table with typed
    keys needs typed index keys.
    """

    name: str
    sort_key: str
    projection: Projection
    sort_key_type: KeyType | None

    def __init__(
        self,
        name: str,
        sort_key: KeySpec,
        projection: Projection = "ALL",
        sort_key_type: KeyType | None = None,
    ) -> None:
        _check_name("index", name)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "projection", projection)
        owner = f"LocalIndex {name!r}"
        attr, kind = split_key(owner, sort_key, sort_key_type)
        object.__setattr__(self, "sort_key", attr)
        object.__setattr__(self, "sort_key_type", kind)
        object.__setattr__(
            self, "projection", _check_projection(f"index {self.name!r}", self.projection)
        )

    @property
    def typed(self) -> bool:
        return self.sort_key_type is not None


@dataclass(frozen=True, slots=True, init=False)
class GlobalIndex:
    """An index with its own partition key (and optional sort key) attributes.

    Key attributes are names or ``(name, type)`` pairs: both typed or neither.
    """

    name: str
    partition_key: str
    sort_key: str | None
    projection: Projection
    partition_key_type: KeyType | None
    sort_key_type: KeyType | None

    def __init__(
        self,
        name: str,
        partition_key: KeySpec,
        sort_key: KeySpec | None = None,
        projection: Projection = "ALL",
        partition_key_type: KeyType | None = None,
        sort_key_type: KeyType | None = None,
    ) -> None:
        _check_name("index", name)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "projection", projection)
        owner = f"GlobalIndex {name!r}"
        pk, pk_type = split_key(owner, partition_key, partition_key_type)
        sk, sk_type = split_key(owner, sort_key, sort_key_type, optional=True)
        if sk is not None and (pk_type is None) != (sk_type is None):
            raise ValidationError(
                f"{owner}: type both key attributes or neither, e.g. "
                f"partition_key=({pk!r}, 'S'), sort_key=({sk!r}, 'N')"
            )
        object.__setattr__(self, "partition_key", pk)
        object.__setattr__(self, "partition_key_type", pk_type)
        object.__setattr__(self, "sort_key", sk)
        object.__setattr__(self, "sort_key_type", sk_type)
        object.__setattr__(
            self, "projection", _check_projection(f"index {self.name!r}", self.projection)
        )

    @property
    def typed(self) -> bool:
        return self.partition_key_type is not None


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


@dataclass(frozen=True, slots=True, init=False)
class Schema:
    """The key schema, indexes, TTL attribute and stream of a table.

    ``partition_key``/``sort_key`` take a name (the legacy untyped key,
    ``str`` or ``bytes`` values, the sort key optional in items) or a
    ``(name, type)`` pair with type ``"S"``, ``"N"`` or ``"B"`` (DynamoDB's
    typed keys: every item must have both, of the declared type). Typed or
    not, the pair is kept as the name plus ``partition_key_type`` /
    ``sort_key_type``.
    """

    partition_key: str
    sort_key: str | None
    local_indexes: Sequence[LocalIndex]
    global_indexes: Sequence[GlobalIndex]
    ttl_attribute: str | None
    stream: StreamConfig | None
    partition_key_type: KeyType | None
    sort_key_type: KeyType | None

    def __init__(
        self,
        partition_key: KeySpec = "pk",
        sort_key: KeySpec | None = "sk",
        local_indexes: Sequence[LocalIndex] = (),
        global_indexes: Sequence[GlobalIndex] = (),
        ttl_attribute: str | None = None,
        stream: StreamConfig | None = None,
        partition_key_type: KeyType | None = None,
        sort_key_type: KeyType | None = None,
    ) -> None:
        for attr, value in (
            ("local_indexes", local_indexes),
            ("global_indexes", global_indexes),
            ("ttl_attribute", ttl_attribute),
            ("stream", stream),
        ):
            object.__setattr__(self, attr, value)
        pk, pk_type = split_key("Schema.partition_key", partition_key, partition_key_type)
        sk, sk_type = split_key("Schema.sort_key", sort_key, sort_key_type, optional=True)
        if sk is not None and (pk_type is None) != (sk_type is None):
            raise ValidationError(
                "Schema: type both key attributes or neither, e.g. "
                f"partition_key=({pk!r}, 'S'), sort_key=({sk!r}, 'N') or sort_key=None"
            )
        object.__setattr__(self, "partition_key", pk)
        object.__setattr__(self, "partition_key_type", pk_type)
        object.__setattr__(self, "sort_key", sk)
        object.__setattr__(self, "sort_key_type", sk_type)
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
        self._check_attribute_types()
        if self.ttl_attribute is not None and (
            not isinstance(self.ttl_attribute, str) or not self.ttl_attribute
        ):
            raise ValidationError("Schema.ttl_attribute must be an attribute name or None")
        if self.stream is not None and not isinstance(self.stream, StreamConfig):
            raise ValidationError("Schema.stream must be a keystone.StreamConfig or None")

    def _check_attribute_types(self) -> None:
        """A typed table has typed indexes, and each attribute one type (DynamoDB's rule)."""
        if not self.typed:
            for idx in self.indexes:
                if idx.typed:
                    raise ValidationError(
                        f"index {idx.name!r} has typed keys but the table's are untyped; "
                        "type the table's keys too, e.g. partition_key=('pk', 'S')"
                    )
            return
        types = self.attribute_definitions()  # raises on a conflict
        del types
        for idx in self.indexes:
            if not idx.typed:
                raise ValidationError(
                    f"index {idx.name!r}: a table with typed keys needs typed index keys, "
                    "e.g. sort_key=('date', 'S')"
                )

    @property
    def typed(self) -> bool:
        """Whether the keys are declared ``S``/``N``/``B`` (else the legacy untyped key)."""
        return self.partition_key_type is not None

    def attribute_definitions(self) -> dict[str, KeyType]:
        """Every key attribute of the table and its indexes with its type (typed schemas)."""
        out: dict[str, KeyType] = {}
        pairs: list[tuple[str | None, KeyType | None]] = [
            (self.partition_key, self.partition_key_type),
            (self.sort_key, self.sort_key_type),
        ]
        for idx in self.indexes:
            if isinstance(idx, GlobalIndex):
                pairs.append((idx.partition_key, idx.partition_key_type))
            pairs.append((idx.sort_key, idx.sort_key_type))
        for name, kind in pairs:
            if name is None or kind is None:
                continue
            if out.setdefault(name, kind) != kind:
                raise ValidationError(
                    f"attribute {name!r} is declared both {out[name]!r} and {kind!r}; "
                    "a key attribute has one type in a table and its indexes"
                )
        return out

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
            "partition_key_type": self.partition_key_type,
            "sort_key_type": self.sort_key_type,
            "local_indexes": [
                {
                    "name": i.name,
                    "sort_key": i.sort_key,
                    "sort_key_type": i.sort_key_type,
                    "projection": _proj_out(i.projection),
                }
                for i in self.local_indexes
            ],
            "global_indexes": [
                {
                    "name": i.name,
                    "partition_key": i.partition_key,
                    "sort_key": i.sort_key,
                    "partition_key_type": i.partition_key_type,
                    "sort_key_type": i.sort_key_type,
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
                LocalIndex(
                    i["name"],
                    i["sort_key"],
                    _proj_in(i["projection"]),
                    sort_key_type=i.get("sort_key_type"),
                )
                for i in data.get("local_indexes", ())
            ],
            global_indexes=[
                GlobalIndex(
                    i["name"],
                    i["partition_key"],
                    i.get("sort_key"),
                    _proj_in(i["projection"]),
                    partition_key_type=i.get("partition_key_type"),
                    sort_key_type=i.get("sort_key_type"),
                )
                for i in data.get("global_indexes", ())
            ],
            ttl_attribute=data.get("ttl_attribute"),
            stream=stream,
            partition_key_type=data.get("partition_key_type"),
            sort_key_type=data.get("sort_key_type"),
        )

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, raw: bytes) -> Schema:
        return cls.from_dict(msgpack.unpackb(raw, raw=False))

    def key_schema(self) -> str:
        """The table's keys as text: ``partition_key='pk', sort_key=('placed', 'N')``."""

        def one(name: object, kind: object) -> str:
            return repr(name) if kind is None else repr((name, kind))

        return (
            f"partition_key={one(self.partition_key, self.partition_key_type)}, "
            f"sort_key={one(self.sort_key, self.sort_key_type)}"
        )

    def replace_indexes(self, indexes: Sequence[LocalIndex | GlobalIndex]) -> Schema:
        """This schema with ``indexes`` instead of its own (validated like a new schema)."""
        return Schema(
            partition_key=self.partition_key,
            sort_key=self.sort_key,
            local_indexes=[i for i in indexes if isinstance(i, LocalIndex)],
            global_indexes=[i for i in indexes if isinstance(i, GlobalIndex)],
            ttl_attribute=self.ttl_attribute,
            stream=self.stream,
            partition_key_type=self.partition_key_type,
            sort_key_type=self.sort_key_type,
        )

    def replace_ttl(self, ttl_attribute: str | None) -> Schema:
        """This schema with another TTL attribute (``None``: no TTL)."""
        return Schema(
            partition_key=self.partition_key,
            sort_key=self.sort_key,
            local_indexes=self.local_indexes,
            global_indexes=self.global_indexes,
            ttl_attribute=ttl_attribute,
            stream=self.stream,
            partition_key_type=self.partition_key_type,
            sort_key_type=self.sort_key_type,
        )

    def replace_stream(self, stream: StreamConfig | None) -> Schema:
        """This schema with another stream setting."""
        return Schema(
            partition_key=self.partition_key,
            sort_key=self.sort_key,
            local_indexes=self.local_indexes,
            global_indexes=self.global_indexes,
            ttl_attribute=self.ttl_attribute,
            stream=stream,
            partition_key_type=self.partition_key_type,
            sort_key_type=self.sort_key_type,
        )

    def check_compatible(self, stored: Schema) -> list[LocalIndex | GlobalIndex]:
        """Raise unless this schema can open a file that holds ``stored``.

        Returns the indexes this schema adds (to be built from the items).
        """
        if self.key_schema() != stored.key_schema():
            raise ValidationError(
                "the key schema differs from the one stored in the file: "
                f"stored {stored.key_schema()}; given {self.key_schema()}"
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


__all__ = [
    "KEY_TYPES",
    "GlobalIndex",
    "KeySpec",
    "KeyType",
    "LocalIndex",
    "Schema",
    "StreamConfig",
    "check_new_index_names",
    "check_table_name",
    "split_key",
]
