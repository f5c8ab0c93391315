"""Write steps shared by ``Database``, ``transact_write`` and ``Database.transaction()``.

This module owns how one write is prepared (values normalised, key built,
expressions parsed from the cache and bound) and applied inside an open
transaction, the ``transact_write`` parts, and the :class:`Transaction`
handle. ``Database`` composes these with the engine's commits.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .checks import OnConditionFailure, keep_old_on_failure
from .errors import (
    ConditionalCheckFailed,
    IdempotentParameterMismatch,
    KeystoneError,
    TransactionCanceled,
    ValidationError,
)
from .expressions import Placeholders, condition, projection
from .expressions import update as compile_update
from .sk import KeyValue
from .table import Filter, Project, Storage
from .types import Item, check_unicode, normalize_item, shown


@dataclass(frozen=True, slots=True)
class Put:
    """``transact_write`` (or ``batch_write``) part: put ``item`` if ``condition`` holds.

    ``table`` names the table of the file it goes to (``None``: the table
    the call is made on). Every part takes
    ``return_values_on_condition_check_failure="ALL_OLD"`` to have the item as
    it was in ``TransactionCanceled.items`` when its condition fails
    (DynamoDB's ReturnValuesOnConditionCheckFailure).
    """

    item: Mapping[str, Any]
    condition: str | None = None
    table: str | None = None
    return_values_on_condition_check_failure: OnConditionFailure = "NONE"


@dataclass(frozen=True, slots=True)
class Update:
    """``transact_write`` part: apply ``update`` to the item at ``pk``/``sk``."""

    pk: str | bytes  # (an N key takes a number: the wire's types widen with the protocol)
    sk: str | bytes | None = None
    update: str | None = ""
    condition: str | None = None
    table: str | None = None
    return_values_on_condition_check_failure: OnConditionFailure = "NONE"


@dataclass(frozen=True, slots=True)
class Delete:
    """``transact_write`` (or ``batch_write``) part: delete the item at ``pk``/``sk``."""

    pk: str | bytes
    sk: str | bytes | None = None
    condition: str | None = None
    table: str | None = None
    return_values_on_condition_check_failure: OnConditionFailure = "NONE"


@dataclass(frozen=True, slots=True)
class ConditionCheck:
    """``transact_write`` part: require ``condition`` on the item at ``pk``/``sk``."""

    pk: str | bytes
    sk: str | bytes | None = None
    condition: str = ""
    table: str | None = None
    return_values_on_condition_check_failure: OnConditionFailure = "NONE"


TransactPart = Put | Update | Delete | ConditionCheck


def bind(
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    *,
    cond: str | None = None,
    filt: str | None = None,
    proj: str | None = None,
) -> tuple[Filter | None, Filter | None, Project | None]:
    """Parse (cached) and bind the expressions of one call; check placeholders."""
    if cond is None and filt is None and proj is None and not names and not values:
        return None, None, None
    ph = Placeholders(names, values)
    c = condition(cond, ph) if cond is not None else None
    f = condition(filt, ph) if filt is not None else None
    p = projection(proj, ph) if proj is not None else None
    ph.check_all_used()
    return c, f, p


def prepare_update(
    table: Storage,
    pk: KeyValue,
    sk: KeyValue | None,
    update: str | None,
    cond_text: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    ph: Placeholders | None = None,
    keep_old: bool = False,
) -> PreparedUpdate:
    if update is not None and not isinstance(update, str):
        raise ValidationError(f"UpdateExpression must be a str, got {type(update).__name__}")
    own = ph is None
    if ph is None:
        ph = Placeholders(names, values)
    upd = compile_update(update, ph) if update is not None else None
    cond = condition(cond_text, ph) if cond_text is not None else None
    if own:
        ph.check_all_used()
    keys = {table.pk_attr, table.sk_attr} & (upd.top_level_names if upd else frozenset())
    for attr in sorted(k for k in keys if k):
        raise ValidationError(
            f"One or more parameter values were invalid: Cannot update attribute {attr}. "
            "This attribute is part of the key"
        )
    key_attrs: dict[str, Any] = {table.pk_attr: pk}
    if sk is not None and table.sk_attr is not None:
        key_attrs[table.sk_attr] = sk
    return PreparedUpdate(upd, cond, key_attrs, keep_old)  # normalised with the new item


@dataclass(slots=True)
class PreparedUpdate:
    upd: Any
    cond: Filter | None
    key_attrs: Item
    keep_old: bool = False

    def apply(self, old: Item | None) -> Item:
        """The item after the update.

        As in DynamoDB's UpdateItem, an update of a missing item creates it:
        with only REMOVE/DELETE actions, or none at all, it holds just its key.
        """
        fail_unless(self.cond, old, self.keep_old)
        new = self.upd.apply(old) if self.upd is not None else dict(old or {})
        if old is None:
            new = {**self.key_attrs, **new}
        return normalize_item(new)

    def result(self, returns: str, old: Item | None, new: Item | None) -> Item | None:
        """The image ``returns`` asks for; ``None`` when it would be empty (as on the wire)."""
        if returns == "ALL_NEW":
            return new
        if returns == "ALL_OLD":
            return old
        if returns == "UPDATED_NEW":
            image = new
        elif returns == "UPDATED_OLD":
            image = old
        else:
            return None
        if image is None or self.upd is None:
            return None
        return self.upd.updated_projection(image) or None


@dataclass(slots=True)
class Step:
    kind: Literal["put", "update", "delete", "check"]
    key: bytes
    cond: Filter | None
    new: Item | None = None
    data: bytes | None = None
    update: PreparedUpdate | None = None
    keep_old: bool = False

    def run(self, old: Item | None, table: Storage) -> tuple[Item | None, bytes | None]:
        """Check the condition and compute the new item (``None`` = delete)."""
        if self.kind == "update":
            assert self.update is not None
            new = self.update.apply(old)
            return new, table.encode(new)
        fail_unless(self.cond, old, self.keep_old)
        return self.new, self.data


class Transaction:
    """The handle of ``with db.transaction() as tx``: the same operations, in one commit.

    Use it only in the thread that opened it (an LMDB write transaction
    belongs to its thread), and only inside the ``with`` block.
    """

    def __init__(
        self, table: Storage, txn: Any, resolve: Callable[[str | None], Storage] | None = None
    ) -> None:
        self._table = table
        self._txn = txn
        self._resolve = resolve
        self._done = False
        self._thread = threading.get_ident()

    def _live(self) -> Any:
        if self._done:
            raise KeystoneError("the transaction is over")
        if threading.get_ident() != self._thread:
            raise KeystoneError("a transaction can only be used by the thread that opened it")
        return self._txn

    def _in(self, table: str | None) -> Storage:
        if table is None or self._resolve is None:
            return self._table
        return self._resolve(table)

    def get(
        self, pk: KeyValue, sk: KeyValue | None = None, *, table: str | None = None
    ) -> Item | None:
        """The item as this transaction sees it (its own writes included).

        ``table`` names another table of the file (all share the transaction).
        """
        t = self._in(table)
        return t.load(self._live(), t.key(pk, sk))

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        table: str | None = None,
    ) -> None:
        """Put inside the transaction (a failed condition raises; the block decides)."""
        t = self._in(table)
        key, new, data, cond = prepare_put(t, item, condition, names, values)
        do_put(t, self._live(), key, new, data, cond)

    def delete(
        self,
        pk: KeyValue,
        sk: KeyValue | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        table: str | None = None,
    ) -> None:
        """Delete inside the transaction."""
        t = self._in(table)
        key = t.key(pk, sk)
        cond = bind(names, values, cond=condition)[0]
        do_delete(t, self._live(), key, cond)

    def update(
        self,
        pk: KeyValue,
        sk: KeyValue | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        table: str | None = None,
    ) -> Item | None:
        """Update inside the transaction; returns the new item (``None`` if there is none)."""
        t = self._in(table)
        prepared = prepare_update(t, pk, sk, update, condition, names, values)
        return do_update(t, self._live(), t.key(pk, sk), prepared)[1]


# --------------------------------------------------------------------------
# Single-item steps shared by Database and Transaction
# --------------------------------------------------------------------------


def prepare_put(
    table: Storage,
    item: Mapping[str, Any],
    cond_text: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> tuple[bytes, Item, bytes, Filter | None]:
    new = normalize_item(item)
    key = table.key_of_item(new)
    data = table.encode(new)
    return key, new, data, bind(names, values, cond=cond_text)[0]


def fail_unless(cond: Filter | None, old: Item | None, keep_old: bool = False) -> None:
    """Raise ConditionalCheckFailed (carrying ``old`` when ``keep_old``) unless ``cond`` holds."""
    if cond is not None and not cond(old):
        raise ConditionalCheckFailed(
            "The conditional request failed", item=old if keep_old else None
        )


def do_put(
    table: Storage,
    txn: Any,
    key: bytes,
    new: Item,
    data: bytes,
    cond: Filter | None,
    keep_old: bool = False,
) -> Item | None:
    old = table.load(txn, key)
    fail_unless(cond, old, keep_old)
    table.store(txn, key, old, new, data)
    return old


def do_delete(
    table: Storage, txn: Any, key: bytes, cond: Filter | None, keep_old: bool = False
) -> Item | None:
    old = table.load(txn, key)
    fail_unless(cond, old, keep_old)
    if old is not None:
        table.remove(txn, key, old)
    return old


def do_update(
    table: Storage, txn: Any, key: bytes, prepared: PreparedUpdate
) -> tuple[Item | None, Item | None]:
    old = table.load(txn, key)
    new = prepared.apply(old)
    table.store(txn, key, old, new, table.encode(new))
    return old, new


# --------------------------------------------------------------------------
# transact_write: preparing the parts and running them in one commit
# --------------------------------------------------------------------------

#: DynamoDB's limits on one TransactWriteItems request.
MAX_TRANSACTION_PARTS: Final = 100
MAX_TRANSACTION_BYTES: Final = 4 * 1024 * 1024

_PARTS = (Put, Update, Delete, ConditionCheck)


#: One prepared part and the table it acts on.
TableStep = tuple[Storage, "Step"]


def prepare_transaction(
    table_of: Callable[[object], Storage],
    parts: Iterable[TransactPart],
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> list[TableStep]:
    """Validate and bind every part (nothing is read yet); refuse what DynamoDB refuses.

    ``table_of`` gives the table a part's ``table=`` names (``None``: the
    table the call is made on).
    """
    parts = part_list(parts)
    if len(parts) > MAX_TRANSACTION_PARTS:
        raise ValidationError(
            f"1 validation error detected: Value at 'transactItems' failed to satisfy "
            f"constraint: Member must have length less than or equal to "
            f"{MAX_TRANSACTION_PARTS} (got {len(parts)} parts)"
        )
    ph = Placeholders(names, values)
    steps: list[TableStep] = []
    seen: set[tuple[str, bytes]] = set()
    size = 0
    for i, part in enumerate(parts):
        try:
            table = table_of(getattr(part, "table", None))
            step = prepare_part(table, part, ph)
        except ValidationError as exc:
            raise ValidationError(f"transact_write part {i}: {exc}") from None
        if (table.name, step.key) in seen:
            raise ValidationError(
                "Transaction request cannot include multiple operations on one item"
                f"; part {i} repeats a key"
            )
        seen.add((table.name, step.key))
        size += request_size(step, part)
        steps.append((table, step))
    if size > MAX_TRANSACTION_BYTES:
        raise ValidationError(
            f"Transaction request size has exceeded the maximum allowed size; request size: "
            f"{size} bytes, limit: {MAX_TRANSACTION_BYTES} bytes"
        )
    ph.check_all_used()
    return steps


def part_list(parts: object) -> list[Any]:
    """``parts`` as a list, if it is a list (or other iterable) of parts rather than one."""
    if isinstance(parts, (*_PARTS, str, bytes, Mapping)):
        raise ValidationError("transact_write: parts must be a list of parts, not one part")
    if not isinstance(parts, Iterable):
        raise ValidationError(
            f"transact_write: parts must be a list of parts, got {type(parts).__name__}"
        )
    return list(parts)


def request_size(step: Step, part: object) -> int:
    """What one part adds to a transaction's size: its key, item and expression texts."""
    size = len(step.key) + (len(step.data) if step.data is not None else 0)
    for text in (getattr(part, "condition", None), getattr(part, "update", None)):
        if isinstance(text, str):
            size += len(text.encode("utf-8"))
    return size


def prepare_part(table: Storage, part: object, ph: Placeholders) -> Step:
    """One ``transact_write`` part, bound to the request's shared placeholders."""
    if not isinstance(part, _PARTS):
        raise ValidationError(
            "parts must be keystone.Put, Update, Delete or ConditionCheck, "
            f"got {type(part).__name__}"
        )
    keep = keep_old_on_failure(part.return_values_on_condition_check_failure)
    if isinstance(part, Put):
        item = normalize_item(part.item)
        key = table.key_of_item(item)
        data = table.encode(item)
        cond = condition(part.condition, ph) if part.condition is not None else None
        return Step("put", key, cond, new=item, data=data, keep_old=keep)
    key = table.key(part.pk, part.sk)
    if isinstance(part, Update):
        prepared = prepare_update(
            table, part.pk, part.sk, part.update, part.condition, None, None, ph, keep
        )
        return Step("update", key, prepared.cond, update=prepared, keep_old=keep)
    if isinstance(part, Delete):
        cond = condition(part.condition, ph) if part.condition is not None else None
        return Step("delete", key, cond, keep_old=keep)
    if not isinstance(part.condition, str) or not part.condition.strip():
        raise ValidationError("ConditionCheck needs a condition")
    return Step("check", key, condition(part.condition, ph), keep_old=keep)


def run_transaction(txn: Any, steps: list[TableStep]) -> None:
    """Run prepared parts inside ``txn``; any failure raises TransactionCanceled.

    Parts have distinct keys, so writing each part as it passes does not
    change what a later part sees; one failure aborts them all (the caller's
    write transaction is then rolled back).
    """
    reasons: list[str | None] = []
    items: list[Item | None] = []
    for table, step in steps:
        old = table.load(txn, step.key)
        kept: Item | None = None
        try:
            new, data = step.run(old, table)
            if new is not None:
                table.store(txn, step.key, old, new, data)  # type: ignore[arg-type]
            elif step.kind == "delete" and old is not None:
                table.remove(txn, step.key, old)
        except ConditionalCheckFailed as exc:
            reasons.append("ConditionalCheckFailed")
            kept = exc.item
        except ValidationError:  # a result too large, a type mismatch, an index key
            reasons.append("ValidationError")
        else:
            reasons.append(None)
        items.append(kept)
    if any(r is not None for r in reasons):
        raise TransactionCanceled(reasons, items=items)


# --------------------------------------------------------------------------
# transact_write(token=...): DynamoDB's ClientRequestToken
# --------------------------------------------------------------------------

#: How long a token is remembered (DynamoDB: 10 minutes).
TOKEN_TTL_MS: Final = 10 * 60 * 1000
#: DynamoDB's bounds on a ClientRequestToken's length.
MAX_TOKEN_LENGTH: Final = 36
_TOKEN: Final = b"txtoken:"  # + token -> fingerprint (32 bytes) + time (8 bytes, ms)
_TOKEN_AT: Final = b"txtoken@"  # + time (8 bytes) + token -> b"" (oldest first, for pruning)
_PRUNE_PER_WRITE: Final = 16


def check_token(token: object) -> bytes:
    """The token's bytes, if it is a str of 1..36 characters DynamoDB would take."""
    if type(token) is not str or not 1 <= len(token) <= MAX_TOKEN_LENGTH:
        what = shown(token) if type(token) is not str else f"{len(token)} characters"
        raise ValidationError(
            f"transact_write: token (ClientRequestToken) must be a str of 1 to "
            f"{MAX_TOKEN_LENGTH} characters, got {what}"
        )
    check_unicode(token, "transact_write token")
    return token.encode("utf-8")


def fingerprint(
    parts: Iterable[object], names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> bytes:
    """A digest of a request that is equal exactly for equal requests (set order aside)."""
    canonical = repr((_canonical(list(parts)), _canonical(names), _canonical(values)))
    return hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).digest()


def _canonical(value: object, depth: int = 0) -> object:
    if depth > 64:  # values nest at most 32 deep; anything deeper is refused elsewhere
        return "..."
    if isinstance(value, Mapping):
        return ("M", sorted((repr(k), _canonical(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return ("SET", sorted(repr(_canonical(v, depth + 1)) for v in value))
    if isinstance(value, (list, tuple)):
        return ("L", [_canonical(v, depth + 1) for v in value])
    if isinstance(value, _PARTS):
        return (
            type(value).__name__,
            [_canonical(getattr(value, f), depth + 1) for f in value.__slots__],
        )
    return (type(value).__name__, repr(value))


def run_with_token(
    txn: Any, meta: Any, steps: list[TableStep], token: bytes, digest: bytes, now: int
) -> bool:
    """Run the transaction once per token: False if an identical one already ran.

    The token is recorded in the same commit as the writes, so a transaction
    and its token are durable together; a token reused with other parts
    within 10 minutes raises :class:`IdempotentParameterMismatch`.
    """
    seen = txn.get(_TOKEN + token, db=meta)
    if seen is not None:
        at = int.from_bytes(seen[32:40], "big")
        if now - at < TOKEN_TTL_MS:
            if seen[:32] == digest:
                return False
            raise IdempotentParameterMismatch(
                "DynamoDB rejected the request because you retried a request with a different "
                "payload but with an idempotent token that was already used"
            )
        txn.delete(_TOKEN_AT + seen[32:40] + token, db=meta)
    run_transaction(txn, steps)
    stamp = now.to_bytes(8, "big")
    txn.put(_TOKEN + token, digest + stamp, db=meta)
    txn.put(_TOKEN_AT + stamp + token, b"", db=meta)
    _prune_tokens(txn, meta, now)
    return True


def _prune_tokens(txn: Any, meta: Any, now: int) -> None:
    """Forget a few tokens older than 10 minutes (each write prunes some, oldest first)."""
    cursor = txn.cursor(db=meta)
    stale: list[bytes] = []
    if cursor.set_range(_TOKEN_AT):
        for key, _ in cursor:
            if not key.startswith(_TOKEN_AT) or len(stale) >= _PRUNE_PER_WRITE:
                break
            if now - int.from_bytes(key[len(_TOKEN_AT) : len(_TOKEN_AT) + 8], "big") < TOKEN_TTL_MS:
                break
            stale.append(key)
    cursor.close()
    for key in stale:
        txn.delete(key, db=meta)
        txn.delete(_TOKEN + key[len(_TOKEN_AT) + 8 :], db=meta)
