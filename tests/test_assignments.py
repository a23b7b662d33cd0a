"""Fakes installed by plain assignment (issue 11 item 4), on a small project run for real.

`module.func = fake` in a fixture, `session.send = fake_send` on a module-level
object the scope reads, a harness swapping functions in a wide fixture: none of
them goes through a mock library, yet each replaces what the scope code reads.
Such a fake is a double (`via: assignment`) and spoils like a patch; plain data
is a configuration change; another production object is not a double.
"""

from __future__ import annotations

import importlib
import sys
import unittest.mock
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.observe.assignments import VIA, AssignmentWatch, TestFiles
from pytest_invariants.observe.doubles import DoubleObserver
from tests.projects import doubles, evidence, links, make, run, statuses

GATEWAY = """
    class Auditor:
        def note(self, what):
            return what


    class Session:
        def send(self, payload):
            return {"sent": payload}


    session = Session()
    audit = Auditor()
    TIMEOUT = 30


    def charge(amount):
        return {"charged": amount}


    def charge_offline(amount):
        return {"charged": amount, "offline": True}
"""

BILLING = """
    import os

    from shop import gateway
    from shop.gateway import session


    def pay(amount):
        if amount <= 0:
            raise ValueError("amount")
        if gateway.audit is not None:
            gateway.audit.note(amount)
        return gateway.charge(amount) if gateway.TIMEOUT else None


    def pay_by_session(amount):
        return session.send({"amount": amount})


    def environment():
        return os.environ.get("SHOP_ENV", "prod")
"""

INVARIANTS = """
    version: 1
    defaults: {owner: billing}
    invariants:
      - {id: PAY-REAL, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-MOCK, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-FAKE, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-DATA, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-PROD, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-PATCH, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-WIDE, title: t, why: w, code: [shop.billing:pay]}
      - {id: PAY-AFTER, title: t, why: w, code: [shop.billing:pay]}
      - {id: SEND, title: t, why: w, code: [shop.billing:pay_by_session]}
      - {id: ENV, title: t, why: w, code: [shop.billing:environment]}
      - id: ENV-STRICT
        title: t
        why: w
        code: [shop.billing:environment]
        must_be_real: [os.environ]
"""

CONFTEST = """
    from unittest import mock

    import pytest

    from shop import gateway


    def fake_charge(amount):
        return {"charged": amount, "fake": True}


    @pytest.fixture
    def mocked_charge():
        original = gateway.charge
        gateway.charge = mock.Mock(return_value={"charged": 0})
        yield gateway.charge
        gateway.charge = original  # restored in teardown: it was active all the same


    @pytest.fixture
    def faked_charge():
        original = gateway.charge
        gateway.charge = fake_charge
        yield
        gateway.charge = original
"""

TESTS = """
    import os
    from unittest import mock

    import pytest

    from shop import gateway
    from shop.billing import environment, pay, pay_by_session


    @pytest.mark.invariant("PAY-REAL")
    def test_real():
        assert pay(5) == {"charged": 5}


    @pytest.mark.invariant("PAY-MOCK")
    def test_mock_assigned(mocked_charge):
        assert pay(5) == {"charged": 0}


    @pytest.mark.invariant("PAY-FAKE")
    def test_fake_assigned(faked_charge):
        assert pay(5)["fake"]


    @pytest.fixture
    def restore_gateway():
        saved = dict(vars(gateway))
        yield
        vars(gateway).update(saved)


    @pytest.mark.invariant("PAY-DATA")
    def test_plain_data_assigned(restore_gateway):
        gateway.TIMEOUT, gateway.audit = 1, None  # the fixture restores both in teardown
        assert pay(5) == {"charged": 5}


    @pytest.fixture
    def offline():
        original = gateway.charge
        gateway.charge = gateway.charge_offline
        yield
        gateway.charge = original


    @pytest.mark.invariant("PAY-PROD")
    def test_production_object_assigned(offline):
        assert pay(5)["offline"]


    @pytest.mark.invariant("PAY-PATCH")
    def test_patched_once():
        with mock.patch.object(gateway, "charge", return_value={"charged": 1}):
            assert pay(5) == {"charged": 1}


    def fake_send(payload):
        return {"sent": payload, "fake": True}


    @pytest.fixture
    def faked_session():
        gateway.session.send = fake_send
        yield
        del gateway.session.send


    @pytest.mark.invariant("SEND")
    def test_session_send_assigned(faked_session):
        assert pay_by_session(3)["fake"]


    @pytest.fixture
    def plain_environ():
        real = os.environ
        os.environ = {"SHOP_ENV": "test"}
        yield
        os.environ = real


    @pytest.mark.invariant("ENV", "ENV-STRICT")
    def test_environ_replaced_by_a_dict(plain_environ):
        assert environment() == "test"
"""

WIDE = """
    import pytest

    from shop import gateway
    from shop.billing import pay


    class Harness:
        def __init__(self):
            self.saved = {}

        def swap(self, name, fake):
            self.saved[name] = getattr(gateway, name)
            setattr(gateway, name, fake)

        def restore(self):
            for name, value in self.saved.items():
                setattr(gateway, name, value)


    @pytest.fixture(scope="module", autouse=True)
    def harness():
        h = Harness()
        h.swap("charge", lambda amount: {"charged": amount, "harness": True})
        yield h
        h.restore()


    @pytest.mark.invariant("PAY-WIDE")
    def test_first_under_the_harness():
        assert pay(1)["harness"]


    @pytest.mark.invariant("PAY-WIDE")
    def test_second_under_the_harness():
        assert pay(2)["harness"]
"""

AFTER = """
    import pytest

    from shop.billing import pay


    @pytest.mark.invariant("PAY-AFTER")
    def test_after_the_harness_is_gone():
        assert pay(3) == {"charged": 3}
"""

T = "tests/test_billing.py"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/gateway.py": GATEWAY,
            "src/shop/billing.py": BILLING,
            "invariants.yaml": INVARIANTS,
            "tests/conftest.py": CONFTEST,
            "tests/test_billing.py": TESTS,
            "tests/test_harness.py": WIDE,
            "tests/test_zz_after.py": AFTER,
        },
    )
    return pytester


def _assigned(data: dict[str, Any], nodeid: str) -> list[dict[str, Any]]:
    return [d for d in doubles(data, nodeid) if d["via"] == "assignment"]


@pytest.mark.invariant("DBL-001")
@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_fakes_bound_by_assignment(project: pytest.Pytester, xdist: tuple[str, ...]) -> None:
    result, data = run(project, *xdist)
    assert result.ret == 0, result.stdout.str()
    got = statuses(data)
    assert got["PAY-REAL"] == "verified"
    # A Mock and a function of the tests' own, each bound by a fixture that restores it.
    assert got["PAY-MOCK"] == "mock-only"
    assert got["PAY-FAKE"] == "mock-only"
    (fake,) = _assigned(data, f"{T}::test_fake_assigned")
    assert fake["target"] == "shop.gateway.charge"
    assert fake["kind"] == "double" and fake["replacement"] == "function fake_charge"
    assert fake["original"]["qualname"] == "charge"
    assert fake["where"].startswith(f"{T}::test_fake_assigned (bound when its setup ended")
    (mocked,) = _assigned(data, f"{T}::test_mock_assigned")
    assert mocked["replacement"] == "Mock"
    words = evidence(data, "PAY-FAKE", f"{T}::test_fake_assigned")
    assert any("assignment replaced shop.gateway.charge" in w for w in words), words
    # Plain data is configuration; plain data where an object was is still recorded.
    assert got["PAY-DATA"] == "verified"
    (config,) = _assigned(data, f"{T}::test_plain_data_assigned")
    assert config["target"] == "shop.gateway.audit" and config["kind"] == "config"
    # Another production function is not a double; a patch is reported once, as a patch.
    assert got["PAY-PROD"] == "verified"
    assert _assigned(data, f"{T}::test_production_object_assigned") == []
    assert got["PAY-PATCH"] == "mock-only"
    assert [d["via"] for d in doubles(data, f"{T}::test_patched_once")] == [
        "unittest.mock.patch.object"
    ]
    # An attribute of a module-level object the scope reads, set on the instance.
    assert got["SEND"] == "mock-only"
    (send,) = _assigned(data, f"{T}::test_session_send_assigned")
    assert send["target"] == "shop.billing.session.send"  # the chain the code reads
    # os.environ swapped for a dict: configuration, but must_be_real refuses it.
    assert got["ENV"] == "verified"
    assert got["ENV-STRICT"] == "mock-only"
    strict = evidence(data, "ENV-STRICT", f"{T}::test_environ_replaced_by_a_dict")
    assert any("os.environ" in w and "must_be_real" in w for w in strict), strict


@pytest.mark.invariant("DBL-001")
def test_a_wide_fixture_counts_only_while_its_fake_is_bound(project: pytest.Pytester) -> None:
    result, data = run(project, "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    got = statuses(data)
    assert got["PAY-WIDE"] == "mock-only"
    for test in ("test_first_under_the_harness", "test_second_under_the_harness"):
        assert links(data, "PAY-WIDE")[f"tests/test_harness.py::{test}"] == "mock-based"
        (fake,) = _assigned(data, f"tests/test_harness.py::{test}")
        assert fake["replacement"].startswith("function ") and "lambda" in fake["replacement"]
    # The module fixture restored the real function: later tests are real evidence.
    assert got["PAY-AFTER"] == "verified"
    assert _assigned(data, "tests/test_zz_after.py::test_after_the_harness_is_gone") == []


SCOPE = """
from types import SimpleNamespace

import watchdep

client = SimpleNamespace(timeout=3)


def dumps(value):
    return watchdep.dumps(value) + str(client.timeout)
"""


@pytest.mark.invariant("DBL-002")
def test_the_watch_in_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch itself, on a real module: judged once per new value, patches left out."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "watchdep.py").write_text("def dumps(value):\n    return repr(value)\n")
    (tmp_path / "tests" / "fakes.py").write_text("def fake_dumps(value):\n    return 'fake'\n")
    scope = tmp_path / "scopemod_watch.py"
    scope.write_text(SCOPE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "scopemod_watch", raising=False)
    monkeypatch.delitem(sys.modules, "watchdep", raising=False)
    module = importlib.import_module("scopemod_watch")
    fakes: dict[str, Any] = {}
    fake_file = tmp_path / "tests" / "fakes.py"
    exec(compile(fake_file.read_text(), str(fake_file), "exec"), fakes)
    observer = DoubleObserver(tmp_path, [str(scope)])
    observer.install()
    try:
        tests = TestFiles(str(tmp_path), observer.is_user_file, [str(scope)], ["tests"])
        chains = {"scopemod_watch": [("watchdep", "dumps"), ("client", "timeout"), ("str",)]}
        watch = AssignmentWatch(chains, tests, observer)

        def seen(change: Callable[[], object]) -> list[tuple[str, str, str]]:
            watch.begin_test()
            observer.begin_test("t")
            change()
            watch.check(["scopemod_watch"], "here")
            records, _ = observer.end_test()
            return [(r.target, r.kind.value, r.replacement) for r in records if r.via == VIA]

        dep, client = module.watchdep, module.client
        assert seen(lambda: None) == []
        assert seen(lambda: setattr(dep, "dumps", fakes["fake_dumps"])) == [
            ("watchdep.dumps", "double", "function fake_dumps")
        ]
        assert seen(lambda: setattr(dep, "dumps", unittest.mock.Mock())) == [
            ("watchdep.dumps", "double", "Mock")
        ]
        assert seen(lambda: setattr(dep, "dumps", repr)) == []  # another production object
        assert seen(lambda: setattr(client, "timeout", 0)) == []  # plain data for plain data
        assert seen(lambda: setattr(module, "client", None)) == [
            ("scopemod_watch.client", "config", "None")  # plain data for an object
        ]
        module.client = client
        with unittest.mock.patch.object(module, "watchdep"):
            assert seen(lambda: None) == []  # the patch is the observer's own record
    finally:
        observer.uninstall()
