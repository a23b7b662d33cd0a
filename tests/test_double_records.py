"""What a double is recorded as, on small projects run for real (SPEC 3.2 and 4).

Found by the real-suite trial (docs/trials.md). A double spoils through a read
when its target equals the chain the scope code reads, so the target must be
spelled the way the code reaches the object: `mock.patch.object(
logging.getLogger("app"), "warning")` replaces the attribute of the module-level
instance `app.mod.logger`, not `logging.Logger.warning` (which every other logger
still has, real). A deletion installs nothing: it is a configuration change of
that name, which spoils only a must_be_real name.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.projects import doubles, evidence, links, make, run, statuses

MOD = """
    import logging

    logger = logging.getLogger("app")


    def lookup(key, verbose=False):
        if verbose:
            logger.warning("looking up %s", key)
        return key.upper()
"""

FACTORY = """
    import logging


    def make_logger(name):
        return logging.Logger(name)
"""

TRANSPORT = """
    class Session:
        def send(self, payload):
            return {"sent": payload}
"""

BILLING = """
    from shop.transport import Session

    session = Session()


    def pay(amount, dry_run=False):
        if dry_run:
            return None
        return session.send({"amount": amount})
"""

INVARIANTS = """
    version: 1
    defaults: {owner: app}
    invariants:
      - {id: QUIET, title: t, why: w, code: [app.mod:lookup]}
      - {id: LOUD, title: t, why: w, code: [app.mod:lookup]}
      - {id: CLASS, title: t, why: w, code: [app.factory:make_logger]}
      - {id: DRY, title: t, why: w, code: [shop.billing:pay]}
"""

TESTS = """
    import logging
    from unittest import mock

    import pytest

    from app.factory import make_logger
    from app.mod import lookup
    from shop import billing


    @pytest.mark.invariant("QUIET")
    def test_lookup_quietly():
        # The mock is never called: only the name tells that the scope reads it.
        with mock.patch.object(logging.getLogger("app"), "warning"):
            assert lookup("k") == "K"


    @pytest.mark.invariant("LOUD")
    def test_lookup_loudly():
        assert lookup("k", verbose=True) == "K"


    @pytest.mark.invariant("CLASS")
    def test_make_logger_under_an_instance_patch():
        # One logger's attribute is patched; the class the scope reads stays real.
        with mock.patch.object(logging.getLogger("app"), "warning"):
            assert make_logger("x").name == "x"


    @pytest.mark.invariant("DRY")
    def test_dry_run(monkeypatch):
        monkeypatch.setattr(billing.session, "send", lambda payload: {"fake": payload})
        assert billing.pay(5, dry_run=True) is None


    def test_logger_no_scope_reaches():
        with mock.patch.object(logging.getLogger("elsewhere"), "info"):
            pass
"""

T = "tests/test_names.py"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    make(
        pytester,
        {
            "src/app/__init__.py": "",
            "src/app/mod.py": MOD,
            "src/app/factory.py": FACTORY,
            "src/shop/__init__.py": "",
            "src/shop/transport.py": TRANSPORT,
            "src/shop/billing.py": BILLING,
            "invariants.yaml": INVARIANTS,
            "tests/test_names.py": TESTS,
        },
    )
    return pytester


def _only(data: dict[str, Any], test: str) -> dict[str, Any]:
    (double,) = doubles(data, f"{T}::{test}")
    return double


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_instance_attribute_is_named_by_the_chain_the_scope_reads(
    project: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    result, data = run(project, *xdist)
    assert result.ret == 0, result.stdout.str()
    got = statuses(data)
    # SPEC 4: a double whose target equals a read chain spoils, called or not.
    assert got["QUIET"] == "mock-only"
    quiet = _only(data, "test_lookup_quietly")
    assert quiet["target"] == "app.mod.logger.warning"
    assert quiet["original"]["qualname"] == "Logger.warning"  # still says what it stood in for
    words = evidence(data, "QUIET", f"{T}::test_lookup_quietly")
    assert any("replaced app.mod.logger.warning" in w and "reads it" in w for w in words), words
    assert got["LOUD"] == "verified"
    # The class the other scope reads is not what was replaced.
    assert got["CLASS"] == "verified"
    assert links(data, "CLASS")[f"{T}::test_make_logger_under_an_instance_patch"] == "real"
    # monkeypatch on a module-level instance of a project class, never called.
    assert got["DRY"] == "mock-only"
    assert _only(data, "test_dry_run")["target"] == "shop.billing.session.send"
    # An instance no scope module reaches keeps its class's name.
    assert _only(data, "test_logger_no_scope_reaches")["target"] == "logging.Logger.info"


SETTINGS = """
    def formatter(text):
        return text.upper()
"""

RUN = """
    from app import settings


    def describe():
        try:
            format_ = settings.formatter
        except AttributeError:
            return "plain"
        return format_("x")
"""

DELETE_INVARIANTS = """
    version: 1
    defaults: {owner: app}
    invariants:
      - {id: FALLBACK, title: t, why: w, code: [app.run:describe]}
      - {id: FALLBACK-DEL, title: t, why: w, code: [app.run:describe]}
      - id: FALLBACK-STRICT
        title: t
        why: w
        code: [app.run:describe]
        must_be_real: [app.settings.formatter]
"""

DELETE_TESTS = """
    import pytest

    from app import settings
    from app.run import describe


    @pytest.fixture
    def no_formatter():
        original = settings.formatter
        del settings.formatter
        yield
        settings.formatter = original


    @pytest.mark.invariant("FALLBACK", "FALLBACK-STRICT")
    def test_fallback_when_the_formatter_is_gone(monkeypatch):
        monkeypatch.delattr(settings, "formatter")
        assert describe() == "plain"


    @pytest.mark.invariant("FALLBACK-DEL")
    def test_fallback_after_a_plain_del(no_formatter):
        assert describe() == "plain"


    def test_deleting_plain_data(monkeypatch):
        monkeypatch.setattr(settings, "LABEL", "x", raising=False)
        monkeypatch.delattr(settings, "LABEL")
"""

D = "tests/test_delete.py"


def test_a_deletion_is_a_configuration_change(pytester: pytest.Pytester) -> None:
    make(
        pytester,
        {
            "src/app/__init__.py": "",
            "src/app/settings.py": SETTINGS,
            "src/app/run.py": RUN,
            "invariants.yaml": DELETE_INVARIANTS,
            "tests/test_delete.py": DELETE_TESTS,
        },
    )
    result, data = run(pytester)
    assert result.ret == 0, result.stdout.str()
    got = statuses(data)
    # Deleting the function the code reads installs nothing: the real fallback ran.
    assert got["FALLBACK"] == "verified"
    (deleted,) = doubles(data, f"{D}::test_fallback_when_the_formatter_is_gone")
    assert (deleted["target"], deleted["kind"]) == ("app.settings.formatter", "config")
    assert (deleted["via"], deleted["replacement"]) == ("monkeypatch.delattr", "deleted")
    assert deleted["original"]["qualname"] == "formatter"
    # ... but a must_be_real name that is gone is not the real thing.
    assert got["FALLBACK-STRICT"] == "mock-only"
    words = evidence(data, "FALLBACK-STRICT", f"{D}::test_fallback_when_the_formatter_is_gone")
    assert any("app.settings.formatter" in w and "must_be_real" in w for w in words), words
    # The same for a plain `del` in a fixture, seen by the assignment watch.
    assert got["FALLBACK-DEL"] == "verified"
    (gone,) = doubles(data, f"{D}::test_fallback_after_a_plain_del")
    assert (gone["via"], gone["kind"], gone["replacement"]) == ("assignment", "config", "deleted")
    # What was taken away does not matter: plain data deleted is configuration too.
    kinds = {(d["via"], d["kind"]) for d in doubles(data, f"{D}::test_deleting_plain_data")}
    assert kinds == {("monkeypatch.setattr", "config"), ("monkeypatch.delattr", "config")}
