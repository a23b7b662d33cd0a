"""Reads and configuration changes (SPEC 4, v1.1), on small projects run for real.

A double spoils through a read only when it replaces what the scope code loads
at run time: annotations, TYPE_CHECKING-only imports and other names under a
module the code reads do not count. Plain data standing in for a must_be_real
object spoils; changing items inside the real object does not.
"""

from __future__ import annotations

import pytest

from tests.projects import evidence, links, make, run, statuses

TRANSPORT = """
    class TransportError(Exception):
        pass


    class Adapter:
        def send(self, payload):
            return {"ok": True, "echo": payload}


    class Session:
        adapter = Adapter()

        def post(self, payload):
            return self.adapter.send(payload)
"""

NOTIFY = """
    from __future__ import annotations

    from typing import TYPE_CHECKING

    from shop import transport
    from shop.clock import Clock

    if TYPE_CHECKING:
        from shop.audit import Auditor


    def budget(attempts: int, clock: Clock | None = None) -> int:
        '''Attempts are never negative; Clock and Auditor are only annotations.'''
        stamp: Clock | None = None
        auditor: Auditor | None = None
        if attempts < 0:
            raise transport.TransportError("negative")
        return min(attempts, 5) if stamp is None and auditor is None else 0


    def notify(order_id):
        return transport.Session().post({"order": order_id})
"""

READS_INVARIANTS = """
    version: 1
    defaults: {owner: notify}
    invariants:
      - id: BUDGET
        title: Retry budgets stay within bounds
        why: A negative budget looped a worker.
        code: [shop.notify:budget]
      - id: BUDGET-STRICT
        title: Retry budgets stay within bounds, against the real transport
        why: The transport is what we must not fake here.
        code: [shop.notify:budget]
        must_be_real: [shop.transport]
      - id: NOTIFY
        title: A notification names its order
        why: Support cannot answer otherwise.
        code: [shop.notify:notify]
"""

READS_TESTS = """
    import pytest
    from unittest import mock

    from shop import audit, transport
    from shop.notify import budget, notify


    class FakeClock:
        pass


    @pytest.mark.invariant("BUDGET", "BUDGET-STRICT")
    def test_annotation_only_class_patched(monkeypatch):
        monkeypatch.setattr("shop.notify.Clock", FakeClock)
        monkeypatch.setattr(audit, "Auditor", FakeClock)
        assert budget(9) == 5


    @pytest.mark.invariant("BUDGET", "BUDGET-STRICT")
    def test_sibling_under_the_module_patched():
        with mock.patch("shop.transport.Adapter.send", return_value={"ok": False}):
            with pytest.raises(transport.TransportError):
                budget(-1)


    @pytest.mark.invariant("BUDGET")
    def test_the_read_itself_patched(monkeypatch):
        class Boom(Exception):
            pass
        monkeypatch.setattr(transport, "TransportError", Boom)
        with pytest.raises(Boom):
            budget(-1)


    @pytest.mark.invariant("NOTIFY")
    def test_a_method_under_a_class_read_patched(monkeypatch):
        monkeypatch.setattr(transport.Session, "post", lambda self, p: {"order": "x"})
        assert notify("o-1") == {"order": "x"}
"""


def _reads_project(pytester: pytest.Pytester) -> None:
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/transport.py": TRANSPORT,
            "src/shop/clock.py": "class Clock:\n    pass\n",
            "src/shop/audit.py": "class Auditor:\n    pass\n",
            "src/shop/notify.py": NOTIFY,
            "invariants.yaml": READS_INVARIANTS,
            "tests/test_notify.py": READS_TESTS,
        },
    )


@pytest.mark.invariant("LOAD-006", "LINK-002")
def test_only_what_the_code_loads_is_a_read(pytester: pytest.Pytester) -> None:
    _reads_project(pytester)
    result, data = run(pytester)
    result.assert_outcomes(passed=4)
    base = "tests/test_notify.py::"
    budget = links(data, "BUDGET")
    # Annotations and TYPE_CHECKING imports are not reads; a sibling under the
    # transport module is not what `transport.TransportError` loads.
    assert budget[base + "test_annotation_only_class_patched"] == "real"
    assert budget[base + "test_sibling_under_the_module_patched"] == "real"
    # Replacing the very chain the code reads spoils.
    assert budget[base + "test_the_read_itself_patched"] == "mock-based"
    assert statuses(data)["BUDGET"] == "verified"
    # must_be_real is how a whole module is declared off-limits.
    strict = links(data, "BUDGET-STRICT")
    assert strict[base + "test_annotation_only_class_patched"] == "real"
    assert strict[base + "test_sibling_under_the_module_patched"] == "mock-based"
    # A method under a class the code reads: the class is no module, so it spoils.
    patched_post = base + "test_a_method_under_a_class_read_patched"
    assert links(data, "NOTIFY") == {patched_post: "mock-based"}
    assert statuses(data)["NOTIFY"] == "mock-only"


SETTINGS = """
    import os

    from shop import rates


    def api_url():
        '''The service URL always comes from the real environment.'''
        return os.environ.get("SHOP_URL", "https://shop.invalid")


    def convert(cents, currency):
        rate = rates.TABLE.get(currency)
        if rate is None:
            raise KeyError(currency)
        return round(cents * rate)
"""

CONFIG_INVARIANTS = """
    version: 1
    defaults: {owner: ops}
    invariants:
      - id: URL
        title: The URL comes from the real environment
        why: A stand-in mapping hides how the service is really configured.
        code: [shop.settings:api_url]
        must_be_real: [os.environ]
      - id: FX
        title: No conversion without a live rate
        why: A default rate sold goods at a loss.
        code: [shop.settings:convert]
        must_be_real: [shop.rates.TABLE]
      - id: FX-LOOSE
        title: No conversion without a rate (any table)
        why: The rule itself does not care which table.
        code: [shop.settings:convert]
"""

CONFIG_TESTS = """
    import os
    from unittest import mock

    import pytest

    from shop import rates
    from shop.settings import api_url, convert


    @pytest.mark.invariant("URL")
    def test_environ_swapped_for_a_dict(monkeypatch):
        monkeypatch.setattr(os, "environ", {"SHOP_URL": "http://x"})
        assert api_url() == "http://x"


    @pytest.mark.invariant("URL")
    def test_setenv(monkeypatch):
        monkeypatch.setenv("SHOP_URL", "http://y")
        assert api_url() == "http://y"


    @pytest.mark.invariant("URL")
    def test_patch_dict_cleared():
        with mock.patch.dict(os.environ, {"SHOP_URL": "http://z"}, clear=True):
            assert api_url() == "http://z"


    @pytest.mark.invariant("FX", "FX-LOOSE")
    def test_table_swapped(monkeypatch):
        monkeypatch.setattr(rates, "TABLE", {"GBP": 0.5})
        assert convert(1000, "GBP") == 500


    @pytest.mark.invariant("FX", "FX-LOOSE")
    def test_one_rate_changed(monkeypatch):
        monkeypatch.setitem(rates.TABLE, "GBP", 0.5)
        assert convert(1000, "GBP") == 500
"""


@pytest.mark.invariant("LINK-002")
def test_must_be_real_replaced_by_plain_data_spoils(pytester: pytest.Pytester) -> None:
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/rates.py": 'TABLE = {"EUR": 1.0}\n',
            "src/shop/settings.py": SETTINGS,
            "invariants.yaml": CONFIG_INVARIANTS,
            "tests/test_settings.py": CONFIG_TESTS,
        },
    )
    result, data = run(pytester)
    result.assert_outcomes(passed=5)
    base = "tests/test_settings.py::"
    assert links(data, "URL") == {
        base + "test_environ_swapped_for_a_dict": "mock-based",
        base + "test_setenv": "real",
        base + "test_patch_dict_cleared": "real",
    }
    words = evidence(data, "URL", base + "test_environ_swapped_for_a_dict")
    assert any("os.environ" in w and "must_be_real" in w for w in words), words
    assert links(data, "FX") == {
        base + "test_table_swapped": "mock-based",
        base + "test_one_rate_changed": "real",
    }
    # Without must_be_real, plain data is a configuration change and never spoils.
    assert set(links(data, "FX-LOOSE").values()) == {"real"}
    assert statuses(data) == {"URL": "verified", "FX": "verified", "FX-LOOSE": "verified"}


CALENDAR = """
    import datetime

    HANDLERS = {"x": lambda: "real"}


    def today_local():
        '''The date comes from a function-local import, humanize's lazy style.'''
        import datetime as dt
        from datetime import date

        return dt.date.today(), date.min


    def today_global():
        return datetime.date.today()


    def is_repl():
        '''A builtin the code calls is looked up in builtins when it runs.'''
        main = __import__("__main__")
        return not hasattr(main, "__file__")


    def size(items):
        return len(items)


    def dispatch(name):
        return HANDLERS[name]()
"""

CALENDAR_INVARIANTS = """
    version: 1
    defaults: {owner: dates}
    invariants:
      - id: LOCAL
        title: Today comes from the real clock (local import)
        why: A frozen clock hides the midnight bug.
        code: [app.calendar:today_local]
      - id: GLOBAL
        title: Today comes from the real clock (module import)
        why: A frozen clock hides the midnight bug.
        code: [app.calendar:today_global]
      - id: REPL
        title: The REPL is recognised
        why: A script mistaken for a REPL prompted in CI.
        code: [app.calendar:is_repl]
      - id: SIZE
        title: Sizes are counted
        why: An empty basket was charged.
        code: [app.calendar:size]
      - id: DISPATCH
        title: A name runs its own handler
        why: The wrong handler refunded twice.
        code: [app.calendar:dispatch]
"""

CALENDAR_TESTS = """
    import builtins
    import datetime

    import pytest

    from app import calendar


    class FakeDate(datetime.date):
        @classmethod
        def today(cls):
            return cls(2000, 1, 1)


    def no_main(real):
        def fake(name, *args, **kwargs):
            return real("sys" if name == "__main__" else name, *args, **kwargs)
        return fake


    @pytest.mark.invariant("LOCAL", "GLOBAL")
    def test_date_faked(monkeypatch):
        monkeypatch.setattr(datetime, "date", FakeDate)
        assert calendar.today_local()[0] == calendar.today_global() == FakeDate(2000, 1, 1)


    @pytest.mark.invariant("LOCAL", "GLOBAL")
    def test_real_date():
        assert calendar.today_local()[0] == calendar.today_global()


    @pytest.mark.invariant("REPL", "SIZE")
    def test_import_faked(monkeypatch):
        monkeypatch.setattr(builtins, "__import__", no_main(builtins.__import__))
        assert calendar.is_repl() is True
        assert calendar.size([1, 2]) == 2


    @pytest.mark.invariant("REPL", "SIZE")
    def test_len_faked(monkeypatch):
        monkeypatch.setattr(builtins, "len", lambda items: 7)
        assert calendar.size([1, 2]) == 7
        assert calendar.is_repl() is False


    @pytest.mark.invariant("DISPATCH")
    def test_handler_faked(monkeypatch):
        monkeypatch.setitem(calendar.HANDLERS, "x", lambda: "fake")
        assert calendar.dispatch("x") == "fake"


    @pytest.mark.invariant("DISPATCH")
    def test_handler_added_as_data(monkeypatch):
        monkeypatch.setitem(calendar.HANDLERS, "y", 3)
        assert calendar.dispatch("x") == "real"
"""


@pytest.mark.invariant("LOAD-006", "LINK-002")
def test_local_imports_builtins_and_items_are_reads(pytester: pytest.Pytester) -> None:
    make(
        pytester,
        {
            "src/app/__init__.py": "",
            "src/app/calendar.py": CALENDAR,
            "invariants.yaml": CALENDAR_INVARIANTS,
            "tests/test_calendar.py": CALENDAR_TESTS,
        },
    )
    result, data = run(pytester)
    result.assert_outcomes(passed=6)
    base = "tests/test_calendar.py::"
    # A function-local `import datetime as dt` reads `datetime.date` exactly as a
    # module-level import does: faking the class spoils both.
    for iid in ("LOCAL", "GLOBAL"):
        assert links(data, iid) == {
            base + "test_date_faked": "mock-based",
            base + "test_real_date": "real",
        }, iid
    # A builtin the code calls is a read of `builtins.NAME`; replacing another
    # builtin (`len` for is_repl, `__import__` for size) spoils nothing.
    assert links(data, "REPL") == {
        base + "test_import_faked": "mock-based",
        base + "test_len_faked": "real",
    }
    assert links(data, "SIZE") == {
        base + "test_import_faked": "real",
        base + "test_len_faked": "mock-based",
    }
    words = evidence(data, "REPL", base + "test_import_faked")
    assert any("builtins.__import__" in w for w in words), words
    # An item replaced inside a container the code reads lies under that read;
    # plain data put in an item is a configuration change and never spoils.
    assert links(data, "DISPATCH") == {
        base + "test_handler_faked": "mock-based",
        base + "test_handler_added_as_data": "real",
    }
    assert statuses(data) == {
        "LOCAL": "verified",
        "GLOBAL": "verified",
        "REPL": "verified",
        "SIZE": "verified",
        "DISPATCH": "verified",
    }


@pytest.mark.invariant("LOAD-006", "LINK-002")
def test_only_doubles_make_local_and_builtin_reads_mock_only(pytester: pytest.Pytester) -> None:
    tests = """
        import builtins
        import datetime

        import pytest

        from app import calendar


        class FakeDate(datetime.date):
            @classmethod
            def today(cls):
                return cls(2000, 1, 1)


        def no_main(real):
            def fake(name, *args, **kwargs):
                return real("sys" if name == "__main__" else name, *args, **kwargs)
            return fake


        @pytest.mark.invariant("LOCAL")
        def test_date_faked(monkeypatch):
            monkeypatch.setattr(datetime, "date", FakeDate)
            assert calendar.today_local()[0] == FakeDate(2000, 1, 1)


        @pytest.mark.invariant("REPL")
        def test_import_faked(monkeypatch):
            monkeypatch.setattr(builtins, "__import__", no_main(builtins.__import__))
            assert calendar.is_repl() is True


        @pytest.mark.invariant("DISPATCH")
        def test_handler_faked(monkeypatch):
            monkeypatch.setitem(calendar.HANDLERS, "x", lambda: "fake")
            assert calendar.dispatch("x") == "fake"
    """
    make(
        pytester,
        {
            "src/app/__init__.py": "",
            "src/app/calendar.py": CALENDAR,
            "invariants.yaml": CALENDAR_INVARIANTS,
            "tests/test_calendar.py": tests,
        },
    )
    result, data = run(pytester)
    result.assert_outcomes(passed=3)
    found = statuses(data)
    assert (found["LOCAL"], found["REPL"], found["DISPATCH"]) == ("mock-only",) * 3
    (local,) = [inv for inv in data["invariants"] if inv["id"] == "LOCAL"]
    (entry,) = local["code"]
    assert "datetime.date.today" in entry["reads"], entry
