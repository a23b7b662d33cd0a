"""Observing test doubles (SPEC 3.2 and 3.3) with real patches and real mocks.

A small project ("shop") with a suite that uses every form of patching is run
in a subprocess. A tiny conftest plugin drives `DoubleObserver` around each
test and dumps what it saw as JSON, which the tests here read. The observer
itself is never mocked.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import unittest.mock
from pathlib import Path
from typing import Any

import _pytest.monkeypatch
import pytest

from pytest_invariants.model import DoubleKind, DoubleRecord
from pytest_invariants.observe.doubles import DoubleObserver, is_plain_data

DRIVER = """
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from pytest_invariants.observe.doubles import DoubleObserver

SCOPE = ["shop/billing.py"]


def pytest_configure(config):
    root = Path(str(config.rootpath))
    config._obs = DoubleObserver(root, [str(root / f) for f in SCOPE])
    config._dump = {}
    if os.environ.get("OBSERVE", "1") == "1":
        config._obs.install()


def _record(record):
    data = asdict(record)
    data["kind"] = record.kind.value
    return data


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    obs = item.config._obs
    obs.begin_test(item.nodeid)
    yield
    doubles, calls = obs.end_test()
    item.config._dump[item.nodeid] = {
        "doubles": [_record(d) for d in doubles],
        "calls": [asdict(c) for c in calls],
        "warnings": list(obs.take_warnings()),
    }


def pytest_unconfigure(config):
    config._obs.uninstall()
    Path(str(config.rootpath), "doubles.json").write_text(json.dumps(config._dump, indent=1))
"""

SHOP = {
    "shop/__init__.py": "",
    "shop/config.py": """
        SETTINGS = {"timeout": 5}
        RETRIES = 3
    """,
    "shop/inventory.py": """
        class Stock:
            def reserve(self, sku, count):
                return True
    """,
    "shop/retry.py": """
        import time


        def retry(fn, attempts=2):
            for _ in range(attempts):
                try:
                    return fn()
                except ValueError:
                    time.sleep(0.001)
            return None
    """,
    "shop/billing.py": """
        from shop.inventory import Stock
        from shop.retry import retry

        gateway = None


        def charge_order(order_id, amount, client=None):
            client = client or gateway
            return client.charge(order_id, amount)  # @call:charge


        def charge_via_lambda(client, order_id):
            return retry(lambda: client.charge(order_id))  # @call:lambda


        class Biller:
            def __init__(self, client):
                self.client = client

            def bill(self, order_id):
                return self.client.charge(order_id)  # @call:method


        def reserve_and_charge(order_id):
            Stock().reserve("sku", 1)  # @call:reserve
            return charge_order(order_id, 1)


        def notify(callback, order_id):
            callback(order_id)  # @call:notify


        async def charge_async(order_id):
            return await gateway.charge(order_id)  # @call:async
    """,
    "shop/api.py": """
        from shop.billing import charge_order


        def checkout(order_id):
            return charge_order(order_id, 10)
    """,
}

TEST_PATCH = """
import asyncio
import os
import sys
import threading
import types
import unittest
from unittest import mock
from unittest.mock import DEFAULT, AsyncMock, MagicMock, Mock, patch

import pytest

import shop.api
import shop.billing
import shop.config
import shop.retry
from shop.billing import Biller, charge_order, charge_via_lambda, reserve_and_charge
from shop.inventory import Stock


@patch("shop.api.charge_order")  # @where:decorator
def test_decorator(charge):
    assert shop.api.checkout(7) is charge.return_value
    charge.assert_called_once_with(7, 10)


def test_context_manager():
    with patch("shop.billing.gateway") as gw:  # @where:ctx
        assert charge_order(1, 5) is gw.charge.return_value
    assert gw.charge.call_count == 1
    assert shop.billing.gateway is None


def test_start_stop():
    patcher = patch.object(Stock, "reserve", return_value=False)
    fake = patcher.start()  # @where:object
    assert Stock().reserve("a", 1) is False
    patcher.stop()
    assert fake.call_count == 1
    assert Stock().reserve("a", 1) is True


def test_multiple():
    with patch.multiple("shop.config", RETRIES=9, SETTINGS=DEFAULT) as made:  # @where:multiple
        assert shop.config.RETRIES == 9
        assert shop.config.SETTINGS is made["SETTINGS"]
    assert shop.config.RETRIES == 3


def test_dict_forms():
    with patch.dict("shop.config.SETTINGS", {"timeout": 1}):  # @where:dict-string
        assert shop.config.SETTINGS["timeout"] == 1
    with patch.dict(shop.config.SETTINGS, {"mode": "test"}):
        assert shop.config.SETTINGS["mode"] == "test"
    assert shop.config.SETTINGS == {"timeout": 5}


@patch.dict(os.environ, {"SHOP_MODE": "test"})  # @where:dict-decorator
def test_dict_decorator():
    assert os.environ["SHOP_MODE"] == "test"


def test_dict_sys_modules():
    fake = types.ModuleType("pkg.x")
    with patch.dict(sys.modules, {"pkg.x": fake}):
        assert sys.modules["pkg.x"] is fake
    assert "pkg.x" not in sys.modules


def test_autospec_through_wrapper():
    gw = Mock(name="gw")
    with patch.object(Stock, "reserve", autospec=True) as reserve:
        with patch("shop.billing.gateway", gw):
            reserve_and_charge(3)
    reserve.assert_called_once()


def test_new_callable_async():
    with patch("shop.billing.gateway", new_callable=AsyncMock) as gw:
        gw.charge.return_value = "ok"
        assert asyncio.run(shop.billing.charge_async(4)) == "ok"
    gw.charge.assert_awaited_once_with(4)


class FakeGateway:
    def charge(self, order_id, amount=0):
        return "fake"


def fake_charge(order_id, amount):
    return "faked"


def test_new_values():
    with patch("shop.billing.gateway", new=FakeGateway()):
        assert charge_order(1, 2) == "fake"
    with patch("shop.api.charge_order", new=fake_charge):
        assert shop.api.checkout(1) == "faked"
    with patch("shop.config.RETRIES", new=0):
        assert shop.config.RETRIES == 0


def test_nested_same_target():
    with patch("shop.billing.gateway") as outer:  # @where:outer
        with patch("shop.billing.gateway") as inner:  # @where:inner
            assert shop.billing.gateway is inner
        assert shop.billing.gateway is outer


def test_mock_argument_lambda_method():
    client = Mock(name="client")
    charge_order(1, 2, client=client)
    charge_via_lambda(client, 3)
    Biller(client).bill(4)
    assert client.charge.call_count == 3


def test_thread():
    client = MagicMock(name="threaded")
    worker = threading.Thread(target=charge_order, args=(1, 2, client))
    worker.start()
    worker.join()
    client.charge.assert_called_once_with(1, 2)


def test_calls_from_test_code_not_recorded():
    client = Mock(name="direct")
    client.charge(1)


def test_wraps_spy():
    with patch.object(shop.billing, "charge_order", wraps=shop.billing.charge_order) as spy:
        client = Mock(name="c")
        assert spy(1, 2, client) is client.charge.return_value
    assert spy.call_count == 1


def test_instance_attribute():
    stock = Stock()
    with patch.object(stock, "reserve", return_value=5):
        assert stock.reserve("x", 1) == 5


def test_errors_unchanged():
    with pytest.raises(AttributeError, match="does not have the attribute 'nope'"):
        with patch("shop.billing.nope"):
            pass


@patch("shop.billing.gateway")
class TestCaseStyle(unittest.TestCase):
    def test_one(self, gw):  # @where:testcase
        charge_order(1, 1)
        gw.charge.assert_called_once_with(1, 1)

"""

TEST_MOCKER = """
import os
import sys

import pytest

import shop.billing
import shop.config
import shop.retry
from shop.billing import charge_order
from shop.inventory import Stock


def test_mocker_patch(mocker):
    gw = mocker.patch("shop.billing.gateway")  # @where:mocker
    charge_order(1, 1)
    gw.charge.assert_called_once_with(1, 1)


def test_mocker_object_and_dict(mocker):
    reserve = mocker.patch.object(Stock, "reserve", return_value=0)
    mocker.patch.dict(shop.config.SETTINGS, {"timeout": 0})
    assert Stock().reserve("s", 1) == 0
    assert reserve.call_count == 1


def test_mocker_spy(mocker):
    spy = mocker.spy(shop.billing, "charge_order")  # @where:spy
    client = mocker.Mock(name="spied")
    shop.billing.charge_order(1, 2, client)
    assert spy.call_count == 1
    assert spy.spy_return is client.charge.return_value


def test_mocker_stub(mocker):
    stub = mocker.stub(name="stubbed")
    shop.billing.notify(stub, 5)
    stub.assert_called_once_with(5)


def test_monkeypatch_forms(monkeypatch, tmp_path):
    monkeypatch.setattr("shop.billing.gateway", object())  # @where:mp-string
    monkeypatch.setattr(shop.retry.time, "sleep", lambda s: None)
    monkeypatch.setitem(shop.config.SETTINGS, "timeout", 0)
    monkeypatch.delattr(Stock, "reserve")
    monkeypatch.setenv("SHOP_TOKEN", "t")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setitem(sys.modules, "pkg.fake", object())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shop.config, "RETRIES", None)
    assert not hasattr(Stock, "reserve")
    assert os.environ["SHOP_TOKEN"] == "t"


def test_monkeypatch_errors_unchanged(monkeypatch):
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        monkeypatch.setattr(Stock, "nope", 1)
    with pytest.raises(KeyError):
        monkeypatch.delenv("SHOP_NEVER_SET_ANYWHERE")


def test_monkeypatch_context():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shop.config, "SETTINGS", {"timeout": 0})
        assert shop.config.SETTINGS == {"timeout": 0}
    assert shop.config.SETTINGS == {"timeout": 5}


def test_monkeypatch_was_undone():
    assert hasattr(Stock, "reserve")
    assert "SHOP_TOKEN" not in os.environ
    assert shop.config.SETTINGS == {"timeout": 5}
    assert shop.billing.gateway is None

"""

TEST_LIFETIME = """
import pytest
from unittest.mock import patch

import shop.billing
import shop.config

_LEAK = []


@pytest.fixture
def fn_double():
    with patch("shop.billing.gateway") as gw:  # @where:fn-fixture
        yield gw


@pytest.fixture(scope="module")
def module_double():
    with patch("shop.config.SETTINGS") as settings:  # @where:module-fixture
        yield settings


def test_uses_function_fixture(fn_double):
    assert shop.billing.gateway is fn_double


def test_module_one(module_double):
    pass


def test_module_two(module_double):
    pass


def test_leak_start():
    _LEAK.append(patch("shop.config.RETRIES", new=lambda: 0))
    _LEAK[0].start()  # @where:leak


def test_leak_still_active():
    assert callable(shop.config.RETRIES)


def test_leak_stop():
    _LEAK[0].stop()


def test_leak_gone():
    assert shop.config.RETRIES == 3
"""

TEST_LATER = """
def test_in_another_module():
    pass
"""


def _dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dedent(text))


def line_of(text: str, marker: str) -> int:
    """Return the 1-based line of `text` carrying `# <marker>`."""
    for number, line in enumerate(_dedent(text).splitlines(), 1):
        if line.rstrip().endswith(f"# {marker}") or f"# {marker} " in line:
            return number
    raise AssertionError(f"marker {marker} not found")


class Run:
    """One subprocess pytest run of the shop project, with what the observer saw."""

    def __init__(self, root: Path, proc: subprocess.CompletedProcess[str]) -> None:
        self.root = root
        self.proc = proc
        self.data: dict[str, Any] = json.loads((root / "doubles.json").read_text())

    def doubles(self, nodeid: str, **match: object) -> list[dict[str, Any]]:
        found = self.data[nodeid]["doubles"]
        return [d for d in found if all(d.get(k) == v for k, v in match.items())]

    def one(self, nodeid: str, **match: object) -> dict[str, Any]:
        found = self.doubles(nodeid, **match)
        assert len(found) == 1, (match, self.data[nodeid]["doubles"])
        return found[0]

    def calls(self, nodeid: str) -> list[dict[str, Any]]:
        return list(self.data[nodeid]["calls"])


def run_shop(root: Path, observe: bool = True, extra: dict[str, str] | None = None) -> Run:
    files = {
        **SHOP,
        "conftest.py": DRIVER,
        "test_patch.py": TEST_PATCH,
        "test_mocker.py": TEST_MOCKER,
        "test_lifetime.py": TEST_LIFETIME,
        "test_later.py": TEST_LATER,
        **(extra or {}),
    }
    _write(root, files)
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OBSERVE": "1" if observe else "0", "PYTHONPATH": path}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "pytest_mock"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(root, proc)


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_shop(tmp_path_factory.mktemp("observed"))
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    return run


P = "test_patch.py::"
M = "test_mocker.py::"
L = "test_lifetime.py::"


def where(test_file: str, marker: str) -> str:
    sources = {"test_patch.py": TEST_PATCH, "test_mocker.py": TEST_MOCKER}
    sources["test_lifetime.py"] = TEST_LIFETIME
    return f"{test_file}:{line_of(sources[test_file], marker)}"


def call_line(marker: str) -> int:
    return line_of(SHOP["shop/billing.py"], marker)


# -- unittest.mock.patch in every form ------------------------------------


def test_decorator_patch_sees_through_the_reexport(shop_run: Run) -> None:
    record = shop_run.one(P + "test_decorator", target="shop.api.charge_order")
    assert record["kind"] == "double"
    assert record["via"] == "unittest.mock.patch"
    assert record["replacement"] == "MagicMock"
    assert record["where"] == where("test_patch.py", "@where:decorator")
    original = record["original"]
    assert original["module"] == "shop.billing"
    assert original["qualname"] == "charge_order"
    assert original["file"] == "shop/billing.py"
    assert original["type"] == "function"
    assert original["line"] == line_of(SHOP["shop/billing.py"], "@call:charge") - 2


def test_context_manager_patch_and_scope_call(shop_run: Run) -> None:
    record = shop_run.one(P + "test_context_manager", target="shop.billing.gateway")
    assert record["where"] == where("test_patch.py", "@where:ctx")
    assert record["original"]["type"] == "NoneType"
    assert shop_run.calls(P + "test_context_manager") == [
        {
            "mock": "gateway.charge",
            "caller_file": "shop/billing.py",
            "caller_line": call_line("@call:charge"),
            "target": "shop.billing.gateway",
        }
    ]


def test_patch_object_start_stop(shop_run: Run) -> None:
    record = shop_run.one(P + "test_start_stop")
    assert record["target"] == "shop.inventory.Stock.reserve"
    assert record["via"] == "unittest.mock.patch.object"
    assert record["where"] == where("test_patch.py", "@where:object")
    assert record["original"]["qualname"] == "Stock.reserve"
    assert record["original"]["file"] == "shop/inventory.py"


def test_patch_multiple(shop_run: Run) -> None:
    retries = shop_run.one(P + "test_multiple", target="shop.config.RETRIES")
    settings = shop_run.one(P + "test_multiple", target="shop.config.SETTINGS")
    assert (retries["kind"], retries["replacement"]) == ("config", "9")
    assert (settings["kind"], settings["replacement"]) == ("double", "MagicMock")
    for record in (retries, settings):
        assert record["via"] == "unittest.mock.patch.multiple"
        assert record["where"] == where("test_patch.py", "@where:multiple")


def test_patch_dict_string_and_object(shop_run: Run) -> None:
    string = shop_run.one(P + "test_dict_forms", target="shop.config.SETTINGS[timeout]")
    assert string["where"] == where("test_patch.py", "@where:dict-string")
    obj = shop_run.one(P + "test_dict_forms", target="shop.config.SETTINGS[mode]")
    for record in (string, obj):
        assert record["kind"] == "config"
        assert record["via"] == "unittest.mock.patch.dict"
    assert obj["replacement"] == "'test'"
    assert obj["original"] is None  # the key did not exist


def test_patch_dict_decorator_form_bypassing_enter(shop_run: Run) -> None:
    record = shop_run.one(P + "test_dict_decorator")
    assert record["target"] == "env:SHOP_MODE"
    assert record["kind"] == "config"
    assert record["where"] == where("test_patch.py", "@where:dict-decorator")


def test_patch_dict_of_sys_modules_replaces_the_module(shop_run: Run) -> None:
    record = shop_run.one(P + "test_dict_sys_modules")
    assert record["target"] == "pkg.x"
    assert (record["kind"], record["replacement"]) == ("double", "module pkg.x")


def test_autospec_and_calls_through_its_wrapper(shop_run: Run) -> None:
    record = shop_run.one(
        P + "test_autospec_through_wrapper", target="shop.inventory.Stock.reserve"
    )
    assert record["replacement"] == "autospec'd function"
    assert record["kind"] == "double"
    calls = {c["mock"]: c for c in shop_run.calls(P + "test_autospec_through_wrapper")}
    assert calls["reserve"]["caller_line"] == call_line("@call:reserve")
    assert calls["reserve"]["target"] == "shop.inventory.Stock.reserve"
    assert calls["gw.charge"]["target"] == "shop.billing.gateway"


def test_new_callable_and_async_calls(shop_run: Run) -> None:
    record = shop_run.one(P + "test_new_callable_async")
    assert record["replacement"] == "AsyncMock"
    [call] = shop_run.calls(P + "test_new_callable_async")
    assert call["caller_line"] == call_line("@call:async")
    assert call["target"] == "shop.billing.gateway"


def test_new_values_in_words_and_kinds(shop_run: Run) -> None:
    test = P + "test_new_values"
    gateway = shop_run.one(test, target="shop.billing.gateway")
    assert (gateway["replacement"], gateway["kind"]) == ("FakeGateway instance", "double")
    fake = shop_run.one(test, target="shop.api.charge_order")
    assert fake["replacement"] == "function fake_charge"
    retries = shop_run.one(test, target="shop.config.RETRIES")
    assert (retries["replacement"], retries["kind"]) == ("0", "config")
    assert shop_run.calls(test) == []  # a hand-written fake is no Mock


def test_nested_patches_of_one_target_are_both_kept(shop_run: Run) -> None:
    records = shop_run.doubles(P + "test_nested_same_target", target="shop.billing.gateway")
    assert sorted(r["where"] for r in records) == sorted(
        [where("test_patch.py", "@where:outer"), where("test_patch.py", "@where:inner")]
    )
    inner = next(r for r in records if r["where"] == where("test_patch.py", "@where:inner"))
    assert inner["original"]["type"] == "MagicMock"  # it replaced the outer mock


def test_instance_attribute_names_the_class(shop_run: Run) -> None:
    record = shop_run.one(P + "test_instance_attribute")
    assert record["target"] == "shop.inventory.Stock.reserve"


def test_unittest_testcase_with_class_decorator(shop_run: Run) -> None:
    test = P + "TestCaseStyle::test_one"
    record = shop_run.one(test, target="shop.billing.gateway")
    # The decorator wraps the method: `where` is the method's own first line.
    assert record["where"] == where("test_patch.py", "@where:testcase")
    assert [c["mock"] for c in shop_run.calls(test)] == ["gateway.charge"]


def test_a_failing_patch_records_nothing(shop_run: Run) -> None:
    assert shop_run.doubles(P + "test_errors_unchanged") == []


# -- mock calls from scope code -------------------------------------------


def test_mock_argument_through_lambda_and_method(shop_run: Run) -> None:
    calls = shop_run.calls(P + "test_mock_argument_lambda_method")
    assert sorted((c["mock"], c["caller_line"], c["target"]) for c in calls) == sorted(
        [
            ("client.charge", call_line("@call:charge"), None),
            ("client.charge", call_line("@call:lambda"), None),
            ("client.charge", call_line("@call:method"), None),
        ]
    )
    assert shop_run.doubles(P + "test_mock_argument_lambda_method") == []


def test_calls_from_other_threads_count(shop_run: Run) -> None:
    calls = {(c["mock"], c["caller_line"]) for c in shop_run.calls(P + "test_thread")}
    assert ("threaded.charge", call_line("@call:charge")) in calls
    # `client or gateway` asks a MagicMock for its truth: that is a call too.
    assert ("threaded.__bool__", call_line("@call:charge") - 1) in calls


def test_calls_outside_scope_are_not_recorded(shop_run: Run) -> None:
    assert shop_run.calls(P + "test_calls_from_test_code_not_recorded") == []


# -- spies, pytest-mock, monkeypatch --------------------------------------


def test_wraps_is_a_spy_and_its_calls_are_not_doubles(shop_run: Run) -> None:
    record = shop_run.one(P + "test_wraps_spy", target="shop.billing.charge_order")
    assert record["kind"] == "spy"
    calls = shop_run.calls(P + "test_wraps_spy")
    assert [c["mock"] for c in calls] == ["c.charge"]  # the real code called a real mock


def test_mocker_patch(shop_run: Run) -> None:
    record = shop_run.one(M + "test_mocker_patch")
    assert record["via"] == "pytest-mock mocker.patch"
    assert record["where"] == where("test_mocker.py", "@where:mocker")
    assert [c["target"] for c in shop_run.calls(M + "test_mocker_patch")] == [
        "shop.billing.gateway"
    ]


def test_mocker_object_and_dict(shop_run: Run) -> None:
    test = M + "test_mocker_object_and_dict"
    obj = shop_run.one(test, target="shop.inventory.Stock.reserve")
    assert obj["via"] == "pytest-mock mocker.patch.object"
    item = shop_run.one(test, target="shop.config.SETTINGS[timeout]")
    assert (item["via"], item["kind"]) == ("pytest-mock mocker.patch.dict", "config")


def test_mocker_spy_is_a_spy(shop_run: Run) -> None:
    record = shop_run.one(M + "test_mocker_spy")
    assert record["target"] == "shop.billing.charge_order"
    assert (record["kind"], record["via"]) == ("spy", "pytest-mock mocker.spy")
    assert record["where"] == where("test_mocker.py", "@where:spy")
    assert [c["mock"] for c in shop_run.calls(M + "test_mocker_spy")] == ["spied.charge"]


def test_mocker_stub_passed_as_an_argument(shop_run: Run) -> None:
    assert shop_run.doubles(M + "test_mocker_stub") == []
    [call] = shop_run.calls(M + "test_mocker_stub")
    assert (call["mock"], call["caller_line"]) == ("stubbed", call_line("@call:notify"))


def test_monkeypatch_forms(shop_run: Run) -> None:
    test = M + "test_monkeypatch_forms"
    expected = {
        "shop.billing.gateway": ("double", "monkeypatch.setattr"),
        "time.sleep": ("double", "monkeypatch.setattr"),
        "shop.config.SETTINGS[timeout]": ("config", "monkeypatch.setitem"),
        "shop.inventory.Stock.reserve": ("config", "monkeypatch.delattr"),  # installs nothing
        "env:SHOP_TOKEN": ("config", "monkeypatch.setenv"),
        "pkg.fake": ("double", "monkeypatch.setitem"),
        "sys.path": ("config", "monkeypatch.syspath_prepend"),
        "cwd": ("config", "monkeypatch.chdir"),
        "shop.config.RETRIES": ("config", "monkeypatch.setattr"),
    }
    found = {d["target"]: (d["kind"], d["via"]) for d in shop_run.doubles(test)}
    for target, kind_via in expected.items():
        assert found.get(target) == kind_via, (target, found)
    string = shop_run.one(test, target="shop.billing.gateway")
    assert string["where"] == where("test_mocker.py", "@where:mp-string")
    sleep = shop_run.one(test, target="time.sleep")
    assert sleep["original"]["module"] == "time"
    assert sleep["original"]["qualname"] == "sleep"
    assert sleep["replacement"] == "function test_monkeypatch_forms.<locals>.<lambda>"
    deleted = shop_run.one(test, target="shop.inventory.Stock.reserve")
    assert deleted["replacement"] == "deleted"
    # setenv goes through setitem(os.environ): reported once, as setenv.
    assert len(shop_run.doubles(test, target="env:SHOP_TOKEN")) == 1


def test_monkeypatch_errors_record_nothing(shop_run: Run) -> None:
    assert shop_run.doubles(M + "test_monkeypatch_errors_unchanged") == []


def test_monkeypatch_undo_ends_its_doubles(shop_run: Run) -> None:
    record = shop_run.one(M + "test_monkeypatch_context")
    assert (record["target"], record["kind"]) == ("shop.config.SETTINGS", "config")
    assert shop_run.doubles(M + "test_monkeypatch_was_undone") == []


# -- lifetimes --------------------------------------------------------------


def test_function_fixture_double(shop_run: Run) -> None:
    record = shop_run.one(L + "test_uses_function_fixture")
    assert record["where"] == where("test_lifetime.py", "@where:fn-fixture")


def test_module_fixture_double_counts_for_each_test_it_covers(shop_run: Run) -> None:
    for name in ("test_module_one", "test_module_two"):
        record = shop_run.one(L + name, target="shop.config.SETTINGS")
        assert record["where"] == where("test_lifetime.py", "@where:module-fixture")
    assert shop_run.doubles("test_later.py::test_in_another_module") == []


def test_patch_started_and_never_stopped_outlives_its_test(shop_run: Run) -> None:
    leak = where("test_lifetime.py", "@where:leak")
    for name in ("test_leak_start", "test_leak_still_active", "test_leak_stop"):
        assert shop_run.one(L + name, target="shop.config.RETRIES")["where"] == leak
    assert shop_run.doubles(L + "test_leak_gone", target="shop.config.RETRIES") == []
    # The module fixture's patch is still in place until the module's last teardown.
    assert shop_run.doubles(L + "test_leak_gone", target="shop.config.SETTINGS")


def test_configure_time_patches_are_not_recorded(shop_run: Run) -> None:
    # pytest-mock patches unittest.mock's assert methods at configure time.
    for data in shop_run.data.values():
        assert not [d for d in data["doubles"] if d["target"].startswith("unittest.mock")]
        assert data["warnings"] == []


# -- nothing observable changes ---------------------------------------------


def test_the_suite_behaves_the_same_unobserved(
    shop_run: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = run_shop(tmp_path_factory.mktemp("plain"), observe=False)
    assert plain.proc.returncode == 0, plain.proc.stdout
    assert set(plain.data) == set(shop_run.data)
    assert all(not d["doubles"] and not d["calls"] for d in plain.data.values())


def _hook_points() -> list[tuple[type, str]]:
    mp = _pytest.monkeypatch.MonkeyPatch
    points: list[tuple[type, str]] = [
        (unittest.mock._patch, "__enter__"),
        (unittest.mock._patch, "__exit__"),
        (unittest.mock._patch_dict, "_patch_dict"),
        (unittest.mock._patch_dict, "_unpatch_dict"),
        (unittest.mock.CallableMixin, "_increment_mock_call"),
    ]
    names = ["setattr", "delattr", "setitem", "delitem", "setenv", "delenv"]
    return points + [(mp, name) for name in [*names, "syspath_prepend", "chdir", "undo"]]


@pytest.mark.invariant("DBL-001")
def test_uninstall_restores_every_original(tmp_path: Path) -> None:
    before = {(cls, name): cls.__dict__[name] for cls, name in _hook_points()}
    signatures = {key: inspect.signature(value) for key, value in before.items()}
    observer = DoubleObserver(tmp_path, [])
    observer.install()
    try:
        for (cls, name), original in before.items():
            assert cls.__dict__[name] is not original, name
            # Public signatures are unchanged while hooked (functools.wraps).
            assert inspect.signature(getattr(cls, name)) == signatures[(cls, name)]
    finally:
        observer.uninstall()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original, name


class _Thing:
    def ping(self) -> int:
        return 1


@pytest.mark.invariant("DBL-001")
def test_mock_behaviour_unchanged_in_process(tmp_path: Path) -> None:
    observer = DoubleObserver(tmp_path, [__file__])
    observer.install()
    try:
        observer.begin_test("t")
        with unittest.mock.patch.object(_Thing, "ping", return_value=7) as fake:
            assert _Thing().ping() == 7
        fake.assert_called_once_with()
        target = unittest.mock.Mock(side_effect=KeyError("k"))
        with pytest.raises(KeyError):
            target(1)  # a call from this file: a "scope" file here
        assert target.call_args_list == [unittest.mock.call(1)]
        records, calls = observer.end_test()
    finally:
        observer.uninstall()
    assert [r.target for r in records] == [f"{__name__}._Thing.ping"]
    # Both calls came from this file, a scope file here.
    assert sorted(c.mock for c in calls) == ["mock", "ping"]


def test_nothing_recorded_between_tests(tmp_path: Path) -> None:
    observer = DoubleObserver(tmp_path / "elsewhere", [])
    observer.install()
    try:
        with unittest.mock.patch("os.getcwd"):
            pass
        observer.begin_test("t")
        records, calls = observer.end_test()
    finally:
        observer.uninstall()
    assert records == () and calls == ()


def test_user_patch_made_before_any_test_is_carried_in() -> None:
    # Like a conftest or a test module starting a patch at import time.
    observer = DoubleObserver(Path(__file__).parent, [])
    observer.install()
    try:
        patcher = unittest.mock.patch.object(_Thing, "ping")
        patcher.start()
        observer.begin_test("t")
        records, _ = observer.end_test()
        patcher.stop()
        observer.begin_test("u")
        later, _ = observer.end_test()
    finally:
        observer.uninstall()
    assert [r.where for r in records] == [f"{Path(__file__).name}:{patcher_line()}"]
    assert later == ()


def patcher_line() -> int:
    source = inspect.getsource(test_user_patch_made_before_any_test_is_carried_in)
    first = test_user_patch_made_before_any_test_is_carried_in.__code__.co_firstlineno
    offset = next(i for i, line in enumerate(source.splitlines()) if "patcher.start()" in line)
    return first + offset


def test_external_doubles_follow_their_lifetime(tmp_path: Path) -> None:
    observer = DoubleObserver(tmp_path, [])
    record = DoubleRecord("http", DoubleKind.DOUBLE, "responses", "responses", "t.py:1")
    observer.add_external(record)  # before the test: carried in
    observer.begin_test("a")
    assert observer.end_test()[0] == (record,)
    observer.add_external(record, active=False)
    observer.begin_test("b")
    assert observer.end_test()[0] == ()


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (None, True),
        (3.5, True),
        (b"x", True),
        ({"a": [1, (2, frozenset({3}))]}, True),
        ([object()], False),
        (print, False),
        ({"f": len}, False),
    ],
)
def test_plain_data(value: object, plain: bool) -> None:
    assert is_plain_data(value) is plain


@pytest.mark.skipif(sys.version_info < (3, 13), reason="ThreadingMock is new in 3.13")
def test_threading_mock_calls_are_seen(tmp_path: Path) -> None:
    observer = DoubleObserver(tmp_path, [__file__])
    observer.install()
    try:
        observer.begin_test("t")
        waiting = unittest.mock.ThreadingMock(name="waiting")  # type: ignore[attr-defined]
        waiting(1)
        waiting.wait_until_called(timeout=1)
        _, calls = observer.end_test()
    finally:
        observer.uninstall()
    assert [c.mock for c in calls] == ["waiting"]
