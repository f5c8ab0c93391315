"""The one place where protobuf messages meet keystone values, both ways.

Everything the server and the client send or receive passes through here:
values, items, placeholder maps, keys, continuation keys, sort-key
conditions, and the mapping between keystone exceptions and gRPC statuses.
The functions are on the hot path of every call, so they dispatch on exact
types first and build an error's attribute path only when there is an error.

Values (``keystone.types`` decides what is valid; see SPEC section 1):

=====================  ==========================  ======================
Python                 ``Value`` field             back in Python
=====================  ==========================  ======================
``str``                ``string_value``            ``str``
``int``/``Decimal``/   ``number_value`` (decimal   ``int`` when integral,
finite ``float``       string, 38 digits)          else ``Decimal``
``bytes``-like         ``binary_value``            ``bytes``
``bool``               ``bool_value``              ``bool``
``None``               ``null_value``              ``None``
``list``/``tuple``     ``list_value``              ``list``
``dict`` (str keys)    ``map_value``               ``dict``
``keystone.Vector``    ``vector_value``            ``Vector``
aware ``datetime``     ``timestamp_value`` (ms)    aware UTC ``datetime``
set of str/num/bytes   ``string_set`` /            ``set``
                       ``number_set`` /
                       ``binary_set``
=====================  ==========================  ======================

Encoding accepts what the library accepts and raises the library's
:class:`~keystone.errors.ValidationError` for the rest. Decoding rejects a
malformed message (a ``Value`` with no field of its oneof set, a number
string that is not a finite number of at most 38 digits, an empty set, a
non-finite vector element, a timestamp out of range, nesting deeper than
:data:`keystone.types.MAX_NESTING_DEPTH`) with a ``ValidationError`` naming
the attribute path, which the server reports as INVALID_ARGUMENT.

Keys. The original fields carry keys as bytes (``Key``, ``LastKey`` and the
``partition_key``/``sort_key`` fields of requests), read by the table's
declared key type (PROTOCOL.md; :func:`key_value`): UTF-8 text for ``S``,
the number's text for ``N``, the bytes themselves for ``B`` and for the
untyped key of older files. The rule:

* the keystone clients send each key value twice: as those bytes (``str``
  as UTF-8, ``bytes`` as is, a number as its canonical text) and as a
  ``Value`` in the fields of ours ``partition_key_value``/``sort_key_value``
  (:func:`typed_key`; a Query's partition key in ``index_partition_key``).
  The ``Value`` keeps the caller's type, so the server hands the library
  exactly the key it was given and refuses what the library refuses, in
  its words (a number where the key is ``S``, a ``str`` where it is ``N``);
* a request with only the bytes (a client of the original protocol) has
  them read by the declared type; an untyped key stays bytes, which find
  the item whichever type it was written with (the engine stores a ``str``
  key as its UTF-8 bytes);
* items carry their key attributes as typed values, and continuation keys
  carry the whole typed key dict in ``LastKey.cursor`` (see
  :func:`last_key_to_proto`);
* a put whose item lacks the key attributes takes them from the request's
  key fields; if the item has them their bytes must match the request's
  (:func:`item_with_key`).

Errors (PROTOCOL.md): :func:`status_for` turns an exception into a gRPC
status, message and trailing metadata on the server; :func:`exception_for`
rebuilds the keystone exception on the client; :func:`error_details` is the
``google.rpc.ErrorInfo`` of ``grpc-status-details-bin``. Besides the status, the
trailing metadata carries ``keystone-error`` (the exception class, so that
e.g. ``DatabaseClosed`` and ``Unavailable``, both UNAVAILABLE, come back as
themselves), ``keystone-cancellation-reasons`` (JSON list, for
``TransactionCanceled``) and ``keystone-item-bin`` (the serialized ``Item``
of ``ConditionalCheckFailed.item``, when it has one of at most
:data:`MAX_ITEM_METADATA_BYTES`). UNAUTHENTICATED and PERMISSION_DENIED (a
refused ``authorization`` token, or a proxy's HTTP 401/403) come back as
:class:`keystone_net.errors.AuthenticationError`.
"""

from __future__ import annotations

from .decode import (
    item_from_bytes,
    item_from_proto,
    item_from_spans,
    items_from_proto,
    items_from_spans,
    value_from_bytes,
    value_from_proto,
    values_from_proto,
    values_from_spans,
)
from .encode import (
    item_field,
    item_to_bytes,
    item_to_proto,
    items_to_proto,
    value_to_bytes,
    value_to_proto,
    values_field,
    values_to_proto,
)
from .keys import (
    ABSENT,
    KEY_VALUE_FIELDS,
    SORT_KEY_OPS,
    item_with_key,
    key_field,
    key_from_proto,
    key_message,
    key_to_proto,
    key_value,
    key_value_bytes,
    key_value_from_bytes,
    key_value_from_proto,
    keys_from_proto,
    keys_from_spans,
    last_key_from_proto,
    last_key_to_proto,
    sort_key_condition_from_proto,
    sort_key_condition_to_proto,
    table_keys_from_spans,
    typed_key,
    wire_bytes,
)
from .status import (
    CANCELLATION_ITEMS_KEY,
    CANCELLATION_REASONS_KEY,
    ERROR_CLASS_KEY,
    ERROR_DOMAIN,
    ITEM_KEY,
    MAX_ITEM_METADATA_BYTES,
    error_details,
    exception_for,
    status_for,
)
from .tables import (
    global_index_from_proto,
    indexes_to_proto,
    local_index_from_proto,
    schema_from_proto,
    schema_to_proto,
    stream_from_proto,
    stream_to_proto,
)
from .wire import (  # noqa: F401 (_varint: tests)
    RawMessage,
    Span,
    _varint,
    check_parsed,
    len_field,
    split_fields,
)

__all__ = [
    "CANCELLATION_REASONS_KEY",
    "ERROR_CLASS_KEY",
    "ITEM_KEY",
    "MAX_ITEM_METADATA_BYTES",
    "SORT_KEY_OPS",
    "RawMessage",
    "exception_for",
    "Span",
    "check_parsed",
    "item_field",
    "item_from_bytes",
    "item_from_proto",
    "item_from_spans",
    "item_to_bytes",
    "item_to_proto",
    "item_with_key",
    "items_from_proto",
    "items_from_spans",
    "items_to_proto",
    "key_from_proto",
    "key_message",
    "key_to_proto",
    "key_field",
    "keys_from_proto",
    "keys_from_spans",
    "len_field",
    "last_key_from_proto",
    "last_key_to_proto",
    "sort_key_condition_from_proto",
    "split_fields",
    "sort_key_condition_to_proto",
    "status_for",
    "error_details",
    "ERROR_DOMAIN",
    "value_from_bytes",
    "value_from_proto",
    "value_to_bytes",
    "value_to_proto",
    "values_field",
    "values_from_proto",
    "values_from_spans",
    "values_to_proto",
    "CANCELLATION_ITEMS_KEY",
    "global_index_from_proto",
    "indexes_to_proto",
    "key_value",
    "key_value_bytes",
    "key_value_from_bytes",
    "key_value_from_proto",
    "local_index_from_proto",
    "schema_from_proto",
    "schema_to_proto",
    "stream_from_proto",
    "stream_to_proto",
    "table_keys_from_spans",
    "typed_key",
    "wire_bytes",
    "ABSENT",
    "KEY_VALUE_FIELDS",
]
