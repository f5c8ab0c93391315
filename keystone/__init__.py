"""KeystoneDB: a single-file, embedded, DynamoDB-style database on LMDB.

>>> import keystone
>>> from keystone import sk
>>> with keystone.Database.memory() as db:
...     db.put({"pk": "user#1", "sk": "order#1", "total": 12})
...     [i["total"] for i in db.query("user#1", sk.begins_with("order#"))]
[12]
"""

from __future__ import annotations

from . import sk
from .database import ConditionCheck, Database, Delete, Put, Table, Transaction, Update
from .errors import (
    ConditionalCheckFailed,
    Corruption,
    DatabaseClosed,
    IdempotentParameterMismatch,
    KeystoneError,
    NotFound,
    ReadOnly,
    ResourceExhausted,
    Timeout,
    TransactionCanceled,
    Unavailable,
    ValidationError,
)
from .schema import GlobalIndex, LocalIndex, Schema, StreamConfig
from .sk import SortKeyCondition
from .store import Store
from .streams import StreamRecord
from .table import MAX_ITEM_BYTES, MAX_PAGE_BYTES, Page
from .types import MAX_NESTING_DEPTH, Item, Vector

__version__ = "0.1.0"

__all__ = [
    "MAX_ITEM_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_PAGE_BYTES",
    "ConditionCheck",
    "ConditionalCheckFailed",
    "Corruption",
    "Database",
    "DatabaseClosed",
    "IdempotentParameterMismatch",
    "Delete",
    "Item",
    "KeystoneError",
    "NotFound",
    "Page",
    "Put",
    "ReadOnly",
    "ResourceExhausted",
    "GlobalIndex",
    "LocalIndex",
    "Schema",
    "StreamConfig",
    "StreamRecord",
    "SortKeyCondition",
    "Store",
    "Table",
    "Timeout",
    "Transaction",
    "TransactionCanceled",
    "Unavailable",
    "Update",
    "ValidationError",
    "Vector",
    "__version__",
    "sk",
]
