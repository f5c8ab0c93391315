"""Tests of the inventory app, using only the fixtures of the installed keystone plugin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from inventory import Inventory, OutOfStock, Settings, UnknownProduct

import keystone


@pytest.fixture(params=["local", "remote"])
def inventory(request: pytest.FixtureRequest) -> Inventory:
    """The app on a fresh in-memory database, and on a real server."""
    fixture = "keystone_db" if request.param == "local" else "keystone_client"
    return Inventory(request.getfixturevalue(fixture))


def test_a_product_is_stored_with_exact_price(inventory: Inventory) -> None:
    inventory.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=3)
    product = inventory.product("kb-01")
    assert product["name"] == "Keyboard"
    assert product["price"] == Decimal("49.90")
    assert product["stock"] == 3


def test_every_test_starts_with_an_empty_table(inventory: Inventory) -> None:
    assert inventory.low_stock(below=10**9) == []


def test_a_sku_cannot_be_added_twice(inventory: Inventory) -> None:
    inventory.add_product("kb-01", "Keyboard", Decimal("49.90"))
    with pytest.raises(keystone.ConditionalCheckFailed):
        inventory.add_product("kb-01", "Another keyboard", Decimal("10"))
    assert inventory.product("kb-01")["name"] == "Keyboard"


def test_restock_adds_to_the_stock(inventory: Inventory) -> None:
    inventory.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=1)
    assert inventory.restock("kb-01", 4) == 5


def test_restocking_an_unknown_product_fails_without_creating_it(inventory: Inventory) -> None:
    with pytest.raises(UnknownProduct):
        inventory.restock("nope", 4)
    with pytest.raises(UnknownProduct):
        inventory.product("nope")


def test_a_reservation_takes_stock_and_is_recorded(inventory: Inventory) -> None:
    inventory.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=5)
    inventory.reserve("kb-01", "order-1", 2)
    inventory.reserve("kb-01", "order-2", 3)
    assert inventory.product("kb-01")["stock"] == 0
    assert inventory.reservations("kb-01") == {"order-1": 2, "order-2": 3}


def test_a_reservation_beyond_the_stock_changes_nothing(inventory: Inventory) -> None:
    inventory.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=1)
    with pytest.raises(OutOfStock):
        inventory.reserve("kb-01", "order-1", 2)
    assert inventory.product("kb-01")["stock"] == 1
    assert inventory.reservations("kb-01") == {}


def test_low_stock_lists_products_below_the_threshold(inventory: Inventory) -> None:
    inventory.add_product("a", "A", Decimal("1"), stock=0)
    inventory.add_product("b", "B", Decimal("1"), stock=10)
    inventory.add_product("c", "C", Decimal("1"), stock=2)
    inventory.reserve("b", "order-1", 9)
    assert inventory.low_stock(below=3) == ["a", "b", "c"]
    assert inventory.low_stock(below=1) == ["a"]


@pytest.mark.keystone_schema(partition_key="key", sort_key=None)
def test_settings_live_in_a_table_without_sort_key(keystone_db: keystone.Database) -> None:
    assert keystone_db.schema.sort_key is None
    settings = Settings(keystone_db)
    settings.set("theme", "dark")
    settings.set("theme", "light")
    assert settings.get("theme") == "light"
    assert settings.get("missing", "default") == "default"


def test_two_warehouses_do_not_share_stock(keystone_db_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    north = Inventory(keystone_db_factory())
    south = Inventory(keystone_db_factory(path=tmp_path / "south.keystone"))
    north.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=2)
    south.add_product("kb-01", "Keyboard", Decimal("49.90"), stock=7)
    north.reserve("kb-01", "order-1", 2)
    assert north.product("kb-01")["stock"] == 0
    assert south.product("kb-01")["stock"] == 7
    assert (tmp_path / "south.keystone").exists()


def test_the_factory_takes_schema_fields(keystone_db_factory) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(keystone_db_factory(partition_key="key", sort_key=None))
    settings.set("retries", 3)
    assert settings.get("retries") == 3


def test_the_server_fixture_says_where_it_listens(keystone_server) -> None:  # type: ignore[no-untyped-def]
    assert keystone_server.url == f"http://{keystone_server.host}:{keystone_server.port}"
    assert keystone_server.host == "127.0.0.1"
    assert keystone_server.port > 0
    assert keystone_server.path.exists()
