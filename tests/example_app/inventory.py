"""A small inventory service: the application under test in the example project.

Products and their stock reservations live in one KeystoneDB table:

    pk = "product#<sku>"   sk = "details"              name, price, stock
    pk = "product#<sku>"   sk = "reservation#<order>"  quantity

It is written against ``keystone.Store``, so the same code runs on a local
``keystone.Database`` and on a ``keystone_net`` client.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import keystone
from keystone import sk


class OutOfStock(Exception):
    """Not enough stock left for a reservation."""


class UnknownProduct(Exception):
    """No product with that SKU."""


class Inventory:
    def __init__(self, store: keystone.Store) -> None:
        self.store = store

    def add_product(self, sku: str, name: str, price: Decimal, stock: int = 0) -> None:
        """Add a product; a SKU can be added only once."""
        self.store.put(
            {"pk": f"product#{sku}", "sk": "details", "name": name, "price": price, "stock": stock},
            condition="attribute_not_exists(pk)",
        )

    def product(self, sku: str) -> dict[str, Any]:
        item = self.store.get(f"product#{sku}", "details")
        if item is None:
            raise UnknownProduct(sku)
        return item

    def restock(self, sku: str, quantity: int) -> int:
        """Add to the stock of an existing product; returns the new stock."""
        try:
            item = self.store.update(
                f"product#{sku}",
                "details",
                "ADD stock :q",
                condition="attribute_exists(pk)",
                values={":q": quantity},
            )
        except keystone.ConditionalCheckFailed:
            raise UnknownProduct(sku) from None
        assert item is not None
        return int(item["stock"])

    def reserve(self, sku: str, order: str, quantity: int) -> None:
        """Take ``quantity`` out of stock for ``order``: both changes, or neither."""
        try:
            self.store.transact_write(
                [
                    keystone.Update(
                        f"product#{sku}",
                        "details",
                        update="SET stock = stock - :q",
                        condition="stock >= :q",
                    ),
                    keystone.Put(
                        {
                            "pk": f"product#{sku}",
                            "sk": f"reservation#{order}",
                            "quantity": quantity,
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                ],
                values={":q": quantity},
            )
        except keystone.TransactionCanceled as exc:
            if exc.reasons[0] == "ConditionalCheckFailed":
                raise OutOfStock(sku) from None
            raise

    def reservations(self, sku: str) -> dict[str, int]:
        """Order id -> reserved quantity."""
        return {
            item["sk"].removeprefix("reservation#"): int(item["quantity"])
            for item in self.store.query_all(f"product#{sku}", sk.begins_with("reservation#"))
        }

    def low_stock(self, below: int) -> list[str]:
        """SKUs whose stock is below ``below``, sorted."""
        items = self.store.scan_all(
            filter="sk = :d AND stock < :n", values={":d": "details", ":n": below}
        )
        return sorted(item["pk"].removeprefix("product#") for item in items)


class Settings:
    """Flat key/value settings in a table keyed by ``key`` alone (no sort key)."""

    def __init__(self, store: keystone.Store) -> None:
        self.store = store

    def set(self, key: str, value: Any) -> None:
        self.store.put({"key": key, "value": value})

    def get(self, key: str, default: Any = None) -> Any:
        item = self.store.get(key)
        return default if item is None else item["value"]
