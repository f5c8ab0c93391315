"""The table's schema, and how it is kept inside the database file.

The schema is stored in the ``meta`` sub-database under ``b"schema"``.
Opening a file with a schema whose key attributes differ from the stored
one raises :class:`ValidationError`; opening without a schema uses the
stored one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import ValidationError

SCHEMA_KEY = b"schema"
FORMAT_KEY = b"format"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Schema:
    """The key schema of the table.

    ``partition_key`` names the partition key attribute (default ``"pk"``);
    ``sort_key`` names the sort key attribute (default ``"sk"``; ``None``
    for a table whose items have only a partition key).
    """

    partition_key: str = "pk"
    sort_key: str | None = "sk"

    def __post_init__(self) -> None:
        if not isinstance(self.partition_key, str) or not self.partition_key:
            raise ValidationError("Schema.partition_key must be a non-empty str")
        if self.sort_key is not None and (not isinstance(self.sort_key, str) or not self.sort_key):
            raise ValidationError("Schema.sort_key must be a non-empty str or None")
        if self.sort_key == self.partition_key:
            raise ValidationError("Schema.sort_key must differ from Schema.partition_key")

    def to_dict(self) -> dict[str, Any]:
        return {"partition_key": self.partition_key, "sort_key": self.sort_key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(partition_key=data["partition_key"], sort_key=data.get("sort_key"))

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, raw: bytes) -> Schema:
        return cls.from_dict(msgpack.unpackb(raw, raw=False))

    def check_compatible(self, stored: Schema) -> None:
        """Raise unless this schema can open a file that holds ``stored``."""
        if (self.partition_key, self.sort_key) != (stored.partition_key, stored.sort_key):
            raise ValidationError(
                "the key schema differs from the one stored in the file: "
                f"stored partition_key={stored.partition_key!r}, sort_key={stored.sort_key!r}; "
                f"given partition_key={self.partition_key!r}, sort_key={self.sort_key!r}"
            )


__all__ = ["Schema"]
