"""The pytest plugin (``keystone.testing``), exercised in pytester's throwaway projects.

Each test writes a small test file, runs pytest on it and checks the
outcomes; the plugin comes from the installed ``pytest11`` entry point, as
it would in any user's project.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from keystone.testing import _server_available

pytest_plugins = ["pytester"]

needs_server = pytest.mark.skipif(_server_available() is not None, reason=f"{_server_available()}")


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.name == "keystone" and ep.value == "keystone.testing" for ep in entry_points)


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.keystone_schema(partition_key="id")
        def test_marked(keystone_db):
            assert keystone_db.schema.partition_key == "id"
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    help_text = pytester.runpytest("--markers")
    help_text.stdout.fnmatch_lines(["@pytest.mark.keystone_schema(**fields)*"])


def test_keystone_db_is_fresh_and_closed_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        seen = []

        def test_first(keystone_db):
            assert keystone_db.stats()["items"] == 0
            keystone_db.put({"pk": "a", "sk": "b"})
            seen.append(keystone_db)

        def test_second(keystone_db):
            assert keystone_db.scan().count == 0
            assert keystone_db is not seen[0]
            assert seen[0].closed
            assert not os.path.exists(seen[0].path)

        def test_default_schema(keystone_db):
            assert (keystone_db.schema.partition_key, keystone_db.schema.sort_key) == ("pk", "sk")
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_the_marker_configures_keystone_db_from_test_class_or_module(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import keystone

        pytestmark = pytest.mark.keystone_schema(partition_key="module_pk")

        def test_module_level(keystone_db):
            assert keystone_db.schema.partition_key == "module_pk"

        @pytest.mark.keystone_schema(keystone.Schema("given", sort_key=None))
        def test_a_schema_instance(keystone_db):
            assert (keystone_db.schema.partition_key, keystone_db.schema.sort_key) == ("given", None)
            keystone_db.put({"given": "x"})
            assert keystone_db.get("x") == {"given": "x"}

        @pytest.mark.keystone_schema(partition_key="cls_pk", sort_key="cls_sk")
        class TestClass:
            def test_class_level(self, keystone_db):
                assert keystone_db.schema.sort_key == "cls_sk"

            @pytest.mark.keystone_schema(partition_key="closest")
            def test_the_closest_marker_wins(self, keystone_db):
                assert keystone_db.schema.partition_key == "closest"
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_a_bad_marker_is_reported_as_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.keystone_schema(partition_key="same", sort_key="same")
        def test_invalid_schema(keystone_db):
            pass

        @pytest.mark.keystone_schema(no_such_field=1)
        def test_unknown_field(keystone_db):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*ValidationError: Schema.sort_key must differ*"])
    result.stdout.fnmatch_lines(["*unexpected keyword argument 'no_such_field'*"])


def test_the_factory_makes_databases_and_closes_them_all(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import keystone

        made = []

        def test_make(keystone_db_factory, tmp_path):
            plain = keystone_db_factory()
            by_fields = keystone_db_factory(partition_key="id", sort_key=None)
            by_schema = keystone_db_factory(keystone.Schema("k", "s"))
            on_disk = keystone_db_factory(path=tmp_path / "f.keystone")
            made.extend([plain, by_fields, by_schema, on_disk])
            assert by_fields.schema.sort_key is None
            assert by_schema.schema.partition_key == "k"
            assert on_disk.path == str(tmp_path / "f.keystone")
            plain.put({"pk": "only-here"})
            assert by_schema.scan().count == 0
            with pytest.raises(TypeError, match="not both"):
                keystone_db_factory(keystone.Schema(), partition_key="x")

        def test_all_closed_after(tmp_path):
            assert len(made) == 4
            assert all(db.closed for db in made)

        def test_the_file_survives_its_database(keystone_db_factory, tmp_path):
            first = keystone_db_factory(path=tmp_path / "f.keystone")
            first.put({"pk": "kept"})
            first.close()
            again = keystone_db_factory(path=tmp_path / "f.keystone")
            assert again.get("kept") == {"pk": "kept"}
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_it(keystone_db):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:keystone")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'keystone_db' not found*"])


@needs_server
def test_one_server_per_session_and_a_client_emptied_between_tests(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import socket
        servers = []

        def test_server(keystone_server):
            servers.append(keystone_server)
            assert keystone_server.url == f"http://127.0.0.1:{keystone_server.port}"
            with socket.create_connection(("127.0.0.1", keystone_server.port), timeout=5):
                pass
            assert keystone_server.path.name == "server.keystone"

        def test_client_writes(keystone_client, keystone_server):
            assert keystone_server is servers[0]
            keystone_client.put({"pk": "a", "sk": "1", "n": 1})
            keystone_client.put({"pk": "b"})
            assert keystone_client.get("a", "1") == {"pk": "a", "sk": "1", "n": 1}

        def test_client_starts_empty(keystone_client):
            assert list(keystone_client.scan_all()) == []

        def test_server_is_still_the_same(keystone_server):
            assert keystone_server is servers[0]
            assert keystone_server.process.poll() is None
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)


def test_server_fixtures_skip_cleanly_without_keystone_net(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import keystone.testing

        keystone.testing._server_available = lambda: "keystone_net is not installed (simulated)"
        """
    )
    pytester.makepyfile(
        """
        def test_server(keystone_server):
            raise AssertionError("never runs")

        def test_client(keystone_client):
            raise AssertionError("never runs")
        """
    )
    result = pytester.runpytest_subprocess("-rs")  # the patch must not leak into this process
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*keystone_net is not installed (simulated)*"])


def test_a_server_that_fails_to_start_reports_its_stderr(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from keystone.testing import start_server

    if _server_available() is not None:
        pytest.skip(str(_server_available()))
    blocker = tmp_path_factory.mktemp("blocked") / "dir-not-file"
    blocker.mkdir()
    with pytest.raises(RuntimeError, match="did not print 'listening on HOST:PORT'") as info:
        start_server(blocker, timeout=30)
    assert "its stderr" in str(info.value)


def test_keystone_tables_creates_tables_in_keystone_db(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import keystone

        @pytest.mark.keystone_tables(
            orders=keystone.Schema(partition_key=("customer", "S"), sort_key=("placed", "N")),
            stock={"partition_key": ("sku", "S"), "sort_key": None},
        )
        def test_marked(keystone_db):
            assert keystone_db.tables() == ["default", "orders", "stock"]
            keystone_db.table("orders").put({"customer": "c", "placed": 1})
            assert keystone_db.table("orders").get("c", 1) == {"customer": "c", "placed": 1}

        def test_unmarked(keystone_db):
            assert keystone_db.tables() == ["default"]

        def test_factory(keystone_db_factory):
            db = keystone_db_factory(tables={"extra": {"partition_key": ("id", "N"), "sort_key": None}})
            db.table("extra").put({"id": 5})
            assert db.table("extra").get(5) == {"id": 5}
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=3)


def test_keystone_tables_creates_tables_on_keystone_clients_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from decimal import Decimal

        import pytest
        import keystone

        ORDERS = keystone.Schema(partition_key=("customer", "S"), sort_key=("placed", "N"))

        @pytest.mark.keystone_tables(orders=ORDERS, blobs={"partition_key": ("id", "B"), "sort_key": None})
        def test_marked(keystone_client):
            assert keystone_client.tables() == ["blobs", "default", "orders"]
            orders = keystone_client.table("orders")
            orders.put({"customer": "c", "placed": Decimal("1.5")})
            assert orders.get("c", Decimal("1.50")) == {"customer": "c", "placed": Decimal("1.5")}
            with pytest.raises(keystone.ValidationError, match="expected: N actual: S"):
                orders.get("c", "1.5")
            keystone_client.table("blobs").put({"id": b"\\x00"})

        def test_unmarked_sees_no_tables_of_others(keystone_client):
            assert keystone_client.tables() == ["default"]

        @pytest.mark.keystone_tables(orders=ORDERS)
        def test_marked_again_starts_empty(keystone_client):
            assert keystone_client.tables() == ["default", "orders"]
            assert keystone_client.table("orders").scan().items == []

        @pytest.mark.keystone_tables(orders=ORDERS)
        def test_both_fixtures_hold_the_same_tables(keystone_db, keystone_client):
            assert keystone_db.tables() == keystone_client.tables()
            for store in (keystone_db, keystone_client):
                store.table("orders").put({"customer": "c", "placed": 2})
                assert store.table("orders").query("c").items == [{"customer": "c", "placed": 2}]
        """
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
