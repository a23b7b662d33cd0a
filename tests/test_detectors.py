"""The built-in detectors, each against its real library, and third-party detectors.

Every end-to-end test builds a small project with pytester and runs it in a
subprocess with `--invariants`, then reads the results JSON: the library's real
double must turn a claiming test `mock-based` when the invariant says the
boundary must be real, and a test without the double stays `real`. The unit
tests at the end call the hooks in-process with a recording reporter to check
that wrapping is invisible to the test and undone exactly.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from pytest_invariants.detectors import detector

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DETECTORS = {
    "responses": "responses_detector",
    "requests_mock": "requests_mock_detector",
    "respx": "respx_detector",
    "moto": "moto_detector",
    "freezegun": "freezegun_detector",
    "time_machine": "time_machine_detector",
    "fakeredis": "fakeredis_detector",
}


def _need(library: str) -> None:
    """Skip the calling test, saying why, when `library` cannot be imported."""
    pytest.importorskip(
        library, reason=f"{library} is not installed (pip install -e '.[detectors]')"
    )


def _project(
    pytester: pytest.Pytester, modules: dict[str, str], invariants: str, tests: str
) -> None:
    """Write a project: package `app` with `modules`, an invariants.yaml and tests/test_it.py."""
    pytester.makeini("[pytest]\npythonpath = .\ntestpaths = tests\n")
    pkg = pytester.path / "app"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, source in modules.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    (pytester.path / "invariants.yaml").write_text(textwrap.dedent(invariants))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_it.py").write_text(textwrap.dedent(tests))


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    out = pytester.path / "out.json"
    result = pytester.runpytest_subprocess(
        "--invariants", "--invariants-json", str(out), "-p", "no:cacheprovider", *args
    )
    data = json.loads(out.read_text()) if out.exists() else {}
    return result, data


def _links(data: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Return {(invariant id, test function name): link kind} for every link."""
    found: dict[tuple[str, str], str] = {}
    for inv in data["invariants"]:
        for test in inv["tests"]:
            found[(inv["id"], test["nodeid"].rpartition("::")[2])] = test["link"]
    return found


def _invariants(*entries: str) -> str:
    """Return an invariants.yaml with one invariant per `id|code|extra yaml` entry."""
    lines = ["version: 1", "defaults: {owner: team}", "invariants:"]
    for entry in entries:
        iid, code, extra = entry.split("|")
        lines += [
            f"  - id: {iid}",
            f"    title: rule {iid}",
            "    why: because",
            f"    code: [{code}]",
        ]
        if extra:
            lines.append(f"    {extra}")
    return "\n".join(lines) + "\n"


# -- HTTP: responses, requests-mock, respx --------------------------------------

PAY_REQUESTS = """
    import requests

    def validate(amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        return amount

    def charge(amount):
        body = {"amount": validate(amount)}
        response = requests.post("https://pay.example.test/charge", json=body)
        return response.json()["ok"]
"""

HTTP_INVARIANTS = _invariants(
    "PAY-HTTP|app.pay|must_be_real: [http]",
    "PAY-REQ|app.pay|must_be_real: [requests]",
)


def test_responses_is_an_http_double(pytester: pytest.Pytester) -> None:
    _need("responses")
    tests = """
        import pytest, responses
        from app.pay import charge, validate

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        @responses.activate
        def test_charge_with_responses():
            responses.post("https://pay.example.test/charge", json={"ok": True})
            assert charge(5) is True

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        def test_charge_with_context_manager():
            with responses.RequestsMock() as rsps:
                rsps.post("https://pay.example.test/charge", json={"ok": False})
                assert charge(5) is False

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        def test_validate_without_http():
            assert validate(3) == 3
    """
    _project(pytester, {"pay": PAY_REQUESTS}, HTTP_INVARIANTS, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    for iid in ("PAY-HTTP", "PAY-REQ"):
        assert links[(iid, "test_charge_with_responses")] == "mock-based"
        assert links[(iid, "test_charge_with_context_manager")] == "mock-based"
        assert links[(iid, "test_validate_without_http")] == "real"


def test_responses_is_reported_once_at_the_tests_line(pytester: pytest.Pytester) -> None:
    """One activation, one double: not also a unittest.mock.patch made in site-packages."""
    _need("responses")
    tests = """
        import pytest, responses
        from app.pay import charge

        @pytest.fixture(scope="module")
        def wide():
            with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
                rsps.post("https://pay.example.test/charge", json={"ok": True})
                yield rsps

        @pytest.mark.invariant("PAY-HTTP")
        @responses.activate
        def test_decorated():
            responses.post("https://pay.example.test/charge", json={"ok": True})
            assert charge(5) is True

        @pytest.mark.invariant("PAY-HTTP")
        def test_started_by_hand():
            responses.start()
            try:
                responses.post("https://pay.example.test/charge", json={"ok": True})
                assert charge(5) is True
            finally:
                responses.stop()
                responses.reset()

        @pytest.mark.invariant("PAY-REQ")
        def test_first_under_a_module_fixture(wide):
            assert charge(1) is True

        @pytest.mark.invariant("PAY-REQ")
        def test_second_under_a_module_fixture(wide):
            assert charge(2) is True
    """
    after = """
        import pytest
        from app.pay import validate

        @pytest.mark.invariant("PAY-REQ")
        def test_after_the_module_fixture_ended():
            assert validate(3) == 3
    """
    _project(pytester, {"pay": PAY_REQUESTS}, HTTP_INVARIANTS, tests)
    (pytester.path / "tests" / "test_later.py").write_text(textwrap.dedent(after))
    result, data = _run(pytester, "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    where = {
        "test_decorated": "tests/test_it.py:11",  # its first decorator, as for @patch
        "test_started_by_hand": "tests/test_it.py:19",  # the responses.start() line
        "test_first_under_a_module_fixture": "tests/test_it.py:7",  # the fixture's `with`
        "test_second_under_a_module_fixture": "tests/test_it.py:7",
    }
    doubles = {t["nodeid"].rpartition("::")[2]: t["doubles"] for t in data["tests"]}
    for test, place in where.items():
        assert {(d["via"], d["where"]) for d in doubles[test]} == {("responses", place)}, test
    # One activation is one record: its first name, the others as aliases.
    for test in ("test_decorated", "test_first_under_a_module_fixture"):
        names = [(d["target"], tuple(d.get("aliases", ()))) for d in doubles[test]]
        assert names == [("http", ("requests.adapters.HTTPAdapter.send",))]
    # responses.start() is a bound method taken before the detector hooked the class:
    # the patch it starts is still seen, as responses', at the test's line.
    (by_hand,) = doubles["test_started_by_hand"]
    assert by_hand["target"] == "requests.adapters.HTTPAdapter.send"
    assert doubles["test_after_the_module_fixture_ended"] == []
    links = _links(data)
    assert links[("PAY-HTTP", "test_decorated")] == "mock-based"
    assert links[("PAY-REQ", "test_first_under_a_module_fixture")] == "mock-based"
    assert links[("PAY-REQ", "test_second_under_a_module_fixture")] == "mock-based"
    assert links[("PAY-REQ", "test_after_the_module_fixture_ended")] == "real"
    (inv,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-HTTP"]
    (decorated,) = [t for t in inv["tests"] if t["nodeid"].endswith("::test_decorated")]
    told = [line for line in decorated["evidence"] if "replaced" in line]
    assert told == [
        "responses replaced http (also requests.adapters.HTTPAdapter.send) with "
        "responses.RequestsMock at tests/test_it.py:11: it is listed in must_be_real"
    ]


def test_requests_mock_is_an_http_double(pytester: pytest.Pytester) -> None:
    _need("requests_mock")
    tests = """
        import pytest, requests_mock as rm
        from app.pay import charge, validate

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        def test_charge_with_fixture(requests_mock):
            requests_mock.post("https://pay.example.test/charge", json={"ok": True})
            assert charge(5) is True

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        def test_charge_with_mocker():
            with rm.Mocker() as m:
                m.post("https://pay.example.test/charge", json={"ok": False})
                assert charge(5) is False

        @pytest.mark.invariant("PAY-HTTP", "PAY-REQ")
        def test_validate_without_http():
            assert validate(3) == 3
    """
    _project(pytester, {"pay": PAY_REQUESTS}, HTTP_INVARIANTS, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    for iid in ("PAY-HTTP", "PAY-REQ"):
        assert links[(iid, "test_charge_with_fixture")] == "mock-based"
        assert links[(iid, "test_charge_with_mocker")] == "mock-based"
        assert links[(iid, "test_validate_without_http")] == "real"
    evidence = json.dumps(data)
    assert "requests-mock replaced http" in evidence


def test_respx_is_an_http_double(pytester: pytest.Pytester) -> None:
    _need("respx")
    pay = """
        import httpx

        def validate(amount):
            if amount <= 0:
                raise ValueError("amount must be positive")
            return amount

        def charge(amount):
            body = {"amount": validate(amount)}
            response = httpx.post("https://pay.example.test/charge", json=body)
            return response.json()["ok"]
    """
    invariants = _invariants(
        "PAY-HTTP|app.pay|must_be_real: [http]",
        "PAY-HTTPX|app.pay|must_be_real: [httpx]",
    )
    tests = """
        import httpx, pytest, respx
        from app.pay import charge, validate

        @pytest.mark.invariant("PAY-HTTP", "PAY-HTTPX")
        @respx.mock
        def test_charge_with_respx():
            respx.post("https://pay.example.test/charge").mock(
                return_value=httpx.Response(200, json={"ok": True})
            )
            assert charge(5) is True

        @pytest.mark.invariant("PAY-HTTP", "PAY-HTTPX")
        def test_charge_with_fixture(respx_mock):
            respx_mock.post("https://pay.example.test/charge").mock(
                return_value=httpx.Response(200, json={"ok": False})
            )
            assert charge(5) is False

        @pytest.mark.invariant("PAY-HTTP", "PAY-HTTPX")
        def test_validate_without_http():
            assert validate(3) == 3
    """
    _project(pytester, {"pay": pay}, invariants, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    for iid in ("PAY-HTTP", "PAY-HTTPX"):
        assert links[(iid, "test_charge_with_respx")] == "mock-based"
        assert links[(iid, "test_charge_with_fixture")] == "mock-based"
        assert links[(iid, "test_validate_without_http")] == "real"


# -- AWS: moto --------------------------------------------------------------------


def test_moto_is_an_aws_double(pytester: pytest.Pytester) -> None:
    _need("moto")
    _need("boto3")
    store = """
        import boto3

        def receipt_key(order_id):
            return f"receipts/{order_id}.txt"

        def store_receipt(bucket, order_id, text):
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.put_object(Bucket=bucket, Key=receipt_key(order_id), Body=text.encode())
            return receipt_key(order_id)
    """
    invariants = _invariants(
        "RCPT-AWS|app.store|must_be_real: [aws]",
        "RCPT-BOTO|app.store|must_be_real: [botocore]",
    )
    tests = """
        import boto3, pytest
        from moto import mock_aws
        from app.store import receipt_key, store_receipt

        @pytest.mark.invariant("RCPT-AWS", "RCPT-BOTO")
        @mock_aws
        def test_store_with_decorator():
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="receipts")
            assert store_receipt("receipts", 7, "paid") == "receipts/7.txt"

        @pytest.mark.invariant("RCPT-AWS", "RCPT-BOTO")
        def test_store_with_context_manager():
            with mock_aws():
                boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="receipts")
                assert store_receipt("receipts", 8, "paid") == "receipts/8.txt"

        @pytest.mark.invariant("RCPT-AWS", "RCPT-BOTO")
        def test_key_without_aws():
            assert receipt_key(9) == "receipts/9.txt"
    """
    _project(pytester, {"store": store}, invariants, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    for iid in ("RCPT-AWS", "RCPT-BOTO"):
        assert links[(iid, "test_store_with_decorator")] == "mock-based"
        assert links[(iid, "test_store_with_context_manager")] == "mock-based"
        assert links[(iid, "test_key_without_aws")] == "real"
    # moto's private responses mock passes other traffic through: it is not reported as `http`.
    assert "responses replaced http" not in json.dumps(data)
    # Nor are the patches moto starts itself (responses' HTTPAdapter.send, its config dict):
    # moto's doubles are moto's, reported once per activation at the test's own line.
    for test in data["tests"]:
        assert {d["via"] for d in test["doubles"]} <= {"moto"}, test["doubles"]
        assert all(d["where"].startswith("tests/test_it.py:") for d in test["doubles"])


# -- the clock: freezegun, time-machine -------------------------------------------

CLOCK = """
    import datetime

    def now():
        return datetime.datetime.now(datetime.timezone.utc)
"""

BILLING = """
    import datetime
    from app import clock

    def is_overdue(due):
        return clock.now() > due
"""

CLOCK_INVARIANTS = _invariants(
    "BILL-ALLOW|app.billing:is_overdue|allow_doubles: [clock]",
    "BILL-REAL|app.billing:is_overdue|must_be_real: [clock]",
)


def _clock_tests(imports: str, *frozen: str) -> str:
    """Return a test module: each `frozen` body runs under the library; one control test."""
    parts = [
        imports,
        "from app.billing import is_overdue",
        "DUE = datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone.utc)",
    ]
    parts += list(frozen)
    parts.append(
        '@pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")\n'
        "def test_control_on_the_real_clock():\n"
        "    assert is_overdue(DUE)\n"
    )
    return "\n\n".join(textwrap.dedent(part) for part in parts)


def _line_of(tests: str, text: str, above: int = 0) -> str:
    """Return `tests/test_it.py:N` for the line `above` lines over the one with `text`."""
    (line,) = [n for n, found in enumerate(tests.splitlines(), 1) if text in found]
    return f"tests/test_it.py:{line - above}"


def _assert_clock_links(data: dict[str, Any], frozen: dict[str, str]) -> None:
    """Check the links, and that each test in `frozen` has one clock double at its place."""
    links = _links(data)
    doubles = {t["nodeid"].rpartition("::")[2]: t["doubles"] for t in data["tests"]}
    for name, place in frozen.items():
        # One activation, one record (its other names as aliases), at the test's line.
        (double,) = doubles[name]
        assert (double["target"], double["aliases"]) == ("clock", ["time", "datetime"]), name
        assert double["where"] == place, name
    for name in frozen:
        assert links[("BILL-ALLOW", name)] == "real", name
        assert links[("BILL-REAL", name)] == "mock-based", name
    assert links[("BILL-ALLOW", "test_control_on_the_real_clock")] == "real"
    assert links[("BILL-REAL", "test_control_on_the_real_clock")] == "real"


def test_freezegun_is_a_clock_double(pytester: pytest.Pytester) -> None:
    _need("freezegun")
    tests = _clock_tests(
        "import datetime, pytest\nfrom freezegun import freeze_time",
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        @freeze_time("2024-05-31")
        def test_decorator():
            assert not is_overdue(DUE)
        """,
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        def test_context_manager():
            with freeze_time("2024-06-02"):
                assert is_overdue(DUE)
        """,
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        def test_start_stop():
            freezer = freeze_time("2024-05-01")
            freezer.start()
            try:
                assert not is_overdue(DUE)
            finally:
                freezer.stop()
        """,
    )
    _project(pytester, {"clock": CLOCK, "billing": BILLING}, CLOCK_INVARIANTS, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    _assert_clock_links(
        data,
        {
            # The decorator form: the test's first decorator, as for @patch.
            "test_decorator": _line_of(tests, "def test_decorator", above=2),
            "test_context_manager": _line_of(tests, 'with freeze_time("2024-06-02")'),
            "test_start_stop": _line_of(tests, "freezer.start()"),
        },
    )


def test_time_machine_is_a_clock_double(pytester: pytest.Pytester) -> None:
    _need("time_machine")
    tests = _clock_tests(
        "import datetime, pytest, time_machine",
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        @time_machine.travel(datetime.datetime(2024, 5, 31, tzinfo=datetime.timezone.utc))
        def test_decorator():
            assert not is_overdue(DUE)
        """,
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        def test_fixture(time_machine):
            time_machine.move_to(datetime.datetime(2024, 6, 2, tzinfo=datetime.timezone.utc))
            assert is_overdue(DUE)
        """,
    )
    _project(pytester, {"clock": CLOCK, "billing": BILLING}, CLOCK_INVARIANTS, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    _assert_clock_links(
        data,
        {
            "test_decorator": _line_of(tests, "def test_decorator", above=2),
            "test_fixture": _line_of(tests, "time_machine.move_to("),
        },
    )


# -- Redis: fakeredis ---------------------------------------------------------------


def test_a_fakeredis_client_is_a_redis_double(pytester: pytest.Pytester) -> None:
    _need("fakeredis")
    cache = """
        def cache_key(user_id):
            return f"cart:{user_id}"

        def remember_cart(client, user_id, total):
            client.set(cache_key(user_id), total)
            return int(client.get(cache_key(user_id)))
    """
    invariants = _invariants("CART-REDIS|app.cache|must_be_real: [redis]")
    tests = """
        import fakeredis, pytest
        from app.cache import cache_key, remember_cart

        @pytest.fixture
        def client():
            return fakeredis.FakeStrictRedis()

        @pytest.mark.invariant("CART-REDIS")
        def test_remember_in_test():
            assert remember_cart(fakeredis.FakeRedis(), 1, 30) == 30

        @pytest.mark.invariant("CART-REDIS")
        def test_remember_with_fixture(client):
            assert remember_cart(client, 2, 40) == 40

        @pytest.mark.invariant("CART-REDIS")
        def test_key_without_redis():
            assert cache_key(3) == "cart:3"
    """
    _project(pytester, {"cache": cache}, invariants, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    assert links[("CART-REDIS", "test_remember_in_test")] == "mock-based"
    assert links[("CART-REDIS", "test_remember_with_fixture")] == "mock-based"
    # The clients of earlier tests were collected: they are not doubles of this test.
    assert links[("CART-REDIS", "test_key_without_redis")] == "real"


# -- third-party detectors -------------------------------------------------------------

SANDBOX = """
    class Sandbox:
        '''A made-up payment SDK's test sandbox: start() fakes the gateway.'''

        active = False

        def start(self):
            Sandbox.active = True

        def stop(self):
            Sandbox.active = False
"""

SANDBOX_DETECTOR = """
    import pytest

    _undo = []

    @pytest.hookimpl
    def pytest_invariants_install_detector(config, reporter):
        try:
            import paysdk
        except ImportError:
            return None
        original_start, original_stop = paysdk.Sandbox.start, paysdk.Sandbox.stop

        def start(self):
            original_start(self)
            reporter.activated("paysdk.gateway", "paysdk.Sandbox", "paysdk", key=id(self))

        def stop(self):
            original_stop(self)
            reporter.deactivated(id(self))

        paysdk.Sandbox.start, paysdk.Sandbox.stop = start, stop
        _undo.append(lambda: setattr(paysdk.Sandbox, "start", original_start))
        _undo.append(lambda: setattr(paysdk.Sandbox, "stop", original_stop))
        return "paysdk-sandbox"

    @pytest.hookimpl
    def pytest_invariants_uninstall_detector(config):
        while _undo:
            _undo.pop()()
"""

SANDBOX_TESTS = """
    import pytest, paysdk
    from app.orders import place

    @pytest.mark.invariant("ORD-1")
    def test_place_in_sandbox():
        box = paysdk.Sandbox()
        box.start()
        try:
            assert place(3) == 3
        finally:
            box.stop()

    @pytest.mark.invariant("ORD-1")
    def test_place_for_real():
        assert place(4) == 4
"""


def _sandbox_project(pytester: pytest.Pytester) -> None:
    orders = "def place(quantity):\n    return quantity\n"
    invariants = _invariants("ORD-1|app.orders|must_be_real: [paysdk]")
    _project(pytester, {"orders": orders}, invariants, SANDBOX_TESTS)
    (pytester.path / "paysdk.py").write_text(textwrap.dedent(SANDBOX))
    (pytester.path / "paysdk_detector.py").write_text(textwrap.dedent(SANDBOX_DETECTOR))


def _assert_sandbox(result: pytest.RunResult, data: dict[str, Any]) -> None:
    assert result.ret == 0, result.stdout.str()
    links = _links(data)
    assert links[("ORD-1", "test_place_in_sandbox")] == "mock-based"
    assert links[("ORD-1", "test_place_for_real")] == "real"
    result.stdout.fnmatch_lines(["invariants:*detectors:*paysdk-sandbox*"])


def test_a_detector_registered_with_dash_p(pytester: pytest.Pytester) -> None:
    _sandbox_project(pytester)
    result, data = _run(pytester, "-p", "paysdk_detector", "-v")
    _assert_sandbox(result, data)


def test_a_detector_shipped_through_an_entry_point(pytester: pytest.Pytester) -> None:
    _sandbox_project(pytester)
    # A minimal installed distribution: importlib.metadata finds a *.dist-info folder on
    # sys.path, and `python -m pytest` puts the project folder first on sys.path.
    dist = pytester.path / "paysdk_detector-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: paysdk-detector\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest_invariants.detectors]\npaysdk = paysdk_detector\n"
    )
    result, data = _run(pytester, "-v")
    _assert_sandbox(result, data)


def test_verbose_output_lists_the_active_detectors(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        {"orders": "def place(quantity):\n    return quantity\n"},
        _invariants("ORD-1|app.orders|"),
        "def test_nothing():\n    pass\n",
    )
    result, _ = _run(pytester, "-v")
    expected = [
        name
        for library, name in [
            ("freezegun", "freezegun"),
            ("moto", "moto"),
            ("responses", "responses"),
            ("time_machine", "time-machine"),
        ]
        if importlib.util.find_spec(library) is not None
    ]
    result.stdout.fnmatch_lines(["invariants:*detectors:*" + "*".join(expected) + "*"])


# -- in-process: the wrappers are invisible and undone exactly ----------------------------


class RecordingReporter:
    """A DoubleReporter that remembers what it was told, for in-process checks."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, object]] = []
        self.words: list[tuple[str, str]] = []  # (replacement, via) of each activation
        self.owned: list[str] = []  # the packages whose own patches are the detector's
        self.fail = fail

    def activated(
        self,
        target: str,
        replacement: str,
        via: str,
        *,
        where: str | None = None,
        key: object = None,
    ) -> None:
        if self.fail:
            raise RuntimeError("reporter bug")
        self.events.append((f"+{target}", key))
        self.words.append((replacement, via))

    def deactivated(self, key: object) -> None:
        self.events.append(("-", key))

    def owns(self, package: str, via: str) -> None:
        self.owned.append(package)

    def targets(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture
def installed(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Install one detector (named by the test's parameter) with a recording reporter."""
    library, reporter = request.param
    _need(library)
    module = importlib.import_module(f"invariants_detectors.{DETECTORS[library]}")
    config = cast(pytest.Config, object())  # the detectors only use the config as a key
    assert module.pytest_invariants_install_detector(config=config, reporter=reporter)
    try:
        yield reporter
    finally:
        module.pytest_invariants_uninstall_detector(config=config)


def _owners() -> list[tuple[str, type, str]]:
    """Return (library, class, method) for every method a built-in detector wraps."""
    found: list[tuple[str, type, str]] = []
    specs = [
        ("responses", "responses", "RequestsMock", ["start", "stop"]),
        ("requests_mock", "requests_mock.mocker", "MockerCore", ["start", "stop"]),
        ("respx", "respx.router", "MockRouter", ["start", "stop"]),
        ("moto", "moto.core.models", "MockAWS", ["start", "stop"]),
        ("freezegun", "freezegun.api", "_freeze_time", ["start", "stop"]),
        ("time_machine", "time_machine", "travel", ["start", "stop"]),
        ("fakeredis", "fakeredis._clients._sync", "FakeRedisMixin", ["__init__"]),
    ]
    for library, module, cls, methods in specs:
        try:
            owner = getattr(importlib.import_module(module), cls)
        except ImportError:
            continue
        found += [(library, owner, method) for method in methods]
    return found


@pytest.mark.parametrize(("library", "owner", "method"), _owners())
def test_uninstall_restores_exactly_what_was_there(library: str, owner: type, method: str) -> None:
    module = importlib.import_module(f"invariants_detectors.{DETECTORS[library]}")
    config = cast(pytest.Config, object())
    before = dict(owner.__dict__)
    assert module.pytest_invariants_install_detector(config=config, reporter=RecordingReporter())
    assert owner.__dict__[method] is not before.get(method)
    module.pytest_invariants_uninstall_detector(config=config)
    assert dict(owner.__dict__) == before


@pytest.mark.parametrize("installed", [("freezegun", RecordingReporter())], indirect=True)
def test_freezegun_reports_one_double_per_activation(installed: RecordingReporter) -> None:
    import datetime

    from freezegun import freeze_time

    with freeze_time("2024-01-02") as frozen:
        # The test still gets freezegun's own factory and frozen clock.
        assert datetime.date.today() == datetime.date(2024, 1, 2)
        frozen.tick()
    assert installed.targets() == ["+clock", "+time", "+datetime", "-"]
    keys = {key for _, key in installed.events}
    assert len(keys) == 1  # one key: the three names are one double


@pytest.mark.parametrize("installed", [("freezegun", RecordingReporter(fail=True))], indirect=True)
def test_a_failing_reporter_never_reaches_the_test(installed: RecordingReporter) -> None:
    import datetime

    from freezegun import freeze_time

    with freeze_time("2024-01-02"):
        assert datetime.date.today() == datetime.date(2024, 1, 2)


@pytest.mark.parametrize("installed", [("requests_mock", RecordingReporter())], indirect=True)
def test_the_library_errors_still_reach_the_test(installed: RecordingReporter) -> None:
    import requests_mock

    mocker = requests_mock.Mocker()
    mocker.start()
    try:
        with pytest.raises(RuntimeError, match="already been started"):
            mocker.start()
    finally:
        mocker.stop()
    assert installed.targets() == ["+http", "+requests.Session.send", "-"]


@pytest.mark.parametrize("installed", [("time_machine", RecordingReporter())], indirect=True)
def test_nested_activations_pair_up(installed: RecordingReporter) -> None:
    import time_machine

    with time_machine.travel(0), time_machine.travel(86400):
        pass
    (first, second) = dict.fromkeys(key for _, key in installed.events)
    assert installed.events[-2:] == [("-", second), ("-", first)]


@pytest.mark.parametrize("installed", [("fakeredis", RecordingReporter())], indirect=True)
def test_a_fakeredis_client_ends_when_collected(installed: RecordingReporter) -> None:
    import gc

    import fakeredis

    client = fakeredis.FakeRedis()
    assert installed.targets() == ["+redis"]
    del client
    gc.collect()
    assert installed.targets() == ["+redis", "-"]


# -- the public API for detector authors: pytest_invariants.detectors -------------------------

FAKESDK = """
    class Sandbox:
        def __init__(self, scenario="approve"):
            self.scenario = scenario

        def start(self):
            return "started"

        def stop(self):
            if self.scenario == "fail-on-stop":
                raise AssertionError("not all requests were made")
"""


def _library(monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> ModuleType:
    """Put a made-up library module `name` in sys.modules for this test."""
    module = ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def _config() -> pytest.Config:
    return cast(pytest.Config, object())  # detectors only use the config as a key


def test_a_declared_detector_reports_start_and_stop_and_undoes_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = _library(monkeypatch, "fakesdk", FAKESDK)
    before = dict(sdk.Sandbox.__dict__)
    install, uninstall = detector(
        name="fakesdk",
        cls="fakesdk:Sandbox",
        targets=["payments", "fakesdk.client"],
        replacement=lambda box: f"Sandbox({box.scenario})",
    )
    reporter, config = RecordingReporter(), _config()
    assert install(config, reporter) == "fakesdk"
    box = sdk.Sandbox("decline")
    assert box.start() == "started"  # the library's own result
    box.stop()
    ((_, key), *_) = reporter.events
    assert reporter.events == [("+payments", key), ("+fakesdk.client", key), ("-", key)]
    assert reporter.words == [("Sandbox(decline)", "fakesdk")] * 2
    failing = sdk.Sandbox("fail-on-stop")
    failing.start()
    with pytest.raises(AssertionError, match="not all requests"):  # the library's own error
        failing.stop()
    assert reporter.targets()[-1] == "-"  # a stop that raised has still stopped the double
    uninstall(config)
    assert dict(sdk.Sandbox.__dict__) == before


def test_targets_can_skip_a_start_and_once_ignores_a_repeated_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = _library(monkeypatch, "fakesdk", FAKESDK)
    install, uninstall = detector(
        name="fakesdk",
        cls=["fakesdk:NotInThisVersion", "fakesdk:Sandbox"],  # a missing class is skipped
        targets=lambda box: None if box.scenario == "passthrough" else "payments",
        replacement="Sandbox",
        once=True,
    )
    reporter, config = RecordingReporter(), _config()
    assert install(config, reporter) == "fakesdk"
    try:
        sdk.Sandbox("passthrough").start()
        box = sdk.Sandbox()
        box.start()
        box.start()
        box.stop()
        box.stop()
    finally:
        uninstall(config)
    assert reporter.targets() == ["+payments", "-"]


def test_without_a_stop_the_double_ends_when_collected(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    sdk = _library(monkeypatch, "fakesdk", "class Client:\n    pass\n")
    install, uninstall = detector(
        name="fakesdk",
        cls="fakesdk:Client",
        targets="redis",  # one name, not its letters
        replacement="fakesdk.Client",
        start="__init__",
        stop=None,
    )
    reporter, config = RecordingReporter(), _config()
    install(config, reporter)
    try:
        client = sdk.Client()
        assert reporter.targets() == ["+redis"]
        del client
        gc.collect()
        assert reporter.targets() == ["+redis", "-"]
    finally:
        uninstall(config)
    assert "__init__" not in sdk.Client.__dict__


def test_a_detector_waits_for_the_suite_to_import_its_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazysdk.py").write_text(textwrap.dedent(FAKESDK))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazysdk", raising=False)
    install, uninstall = detector(
        name="lazysdk", cls="lazysdk:Sandbox", targets="payments", replacement="Sandbox"
    )
    reporter, config = RecordingReporter(), _config()
    assert install(config, reporter) == "lazysdk"
    try:
        assert "lazysdk" not in sys.modules  # installed, but not imported by the detector
        import lazysdk  # type: ignore[import-not-found]

        wrapper = lazysdk.Sandbox.__dict__["start"]
        lazysdk.Sandbox().start()
        assert reporter.targets() == ["+payments"]
    finally:
        uninstall(config)
        sys.modules.pop("lazysdk", None)
    assert lazysdk.Sandbox.__dict__["start"] is wrapper.__wrapped__  # the library's own again


def test_a_detector_for_a_missing_library_is_inactive() -> None:
    install, uninstall = detector(
        name="nosuch", cls="no_such_library_here.api:Mock", targets="x", replacement="y"
    )
    config = _config()
    assert install(config, RecordingReporter()) is None
    uninstall(config)


def test_a_nested_run_leaves_the_outer_runs_hooks_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = _library(monkeypatch, "fakesdk", FAKESDK)
    install, uninstall = detector(
        name="fakesdk", cls="fakesdk:Sandbox", targets="payments", replacement="Sandbox"
    )
    outer, inner = RecordingReporter(), RecordingReporter()
    outer_config, inner_config = _config(), _config()
    install(outer_config, outer)
    try:
        install(inner_config, inner)  # a pytester run inside the outer run
        uninstall(inner_config)
        box = sdk.Sandbox()
        box.start()
        box.stop()
    finally:
        uninstall(outer_config)
    assert outer.targets() == ["+payments", "-"] and inner.targets() == []


def test_a_class_must_be_named_with_its_module() -> None:
    with pytest.raises(ValueError, match="module:Class"):
        detector(name="x", cls="Sandbox", targets="x", replacement="y")


def _documented(marker: str) -> str:
    """Return the docs/plugins.md code block that starts with the comment `marker`."""
    doc = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```python\n")[1:]]
    (block,) = [b for b in blocks if b.startswith(marker)]
    return block


def test_the_documented_custom_detector_works_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    _library(monkeypatch, "paysdk", "")
    testing = _library(
        monkeypatch,
        "paysdk.testing",
        """
        class Session:
            def close(self):
                pass

        class Sandbox:
            def __init__(self, scenario="approve"):
                self.scenario = scenario

            def open(self):
                return Session()
        """,
    )
    before = dict(testing.Sandbox.__dict__), dict(testing.Session.__dict__)
    namespace: dict[str, Any] = {"__name__": "session_detector"}
    exec(_documented("# paysdk_invariants/session_detector.py"), namespace)
    reporter, config = RecordingReporter(), _config()
    assert namespace["pytest_invariants_install_detector"](config, reporter) == "paysdk"
    session = testing.Sandbox("decline").open()
    session.close()
    namespace["pytest_invariants_uninstall_detector"](config)
    assert reporter.targets() == ["+payments", "-"]
    assert reporter.words == [("paysdk Session(decline)", "paysdk")]
    assert (dict(testing.Sandbox.__dict__), dict(testing.Session.__dict__)) == before


def test_the_public_api_is_never_imported_by_the_tool_itself() -> None:
    """pytest_invariants.detectors is for detector authors: the core never imports it back."""
    import ast

    package = Path(__file__).parents[1] / "src" / "pytest_invariants"
    importers = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if "pytest_invariants.detectors" in names:
                importers.append(path.name)
    assert importers == []
