"""Detectors wait for their library to be imported: nothing is imported "just in case"."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pytest_invariants.observe.importwatch import is_installed, when_imported

from .test_detectors import (
    BILLING,
    CLOCK,
    CLOCK_INVARIANTS,
    _assert_clock_links,
    _clock_tests,
    _line_of,
    _need,
    _project,
    _run,
)


def _module(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))


def test_when_imported_runs_after_the_import_and_undoes_on_removal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _module(tmp_path, "watched_lib", "class Thing:\n    value = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[str] = []

    def install(module: object) -> list[object]:
        seen.append(module.__name__)  # type: ignore[attr-defined]
        return [lambda: seen.append("undone")]

    remove = when_imported("watched_lib", install)  # type: ignore[arg-type]
    try:
        assert "watched_lib" not in sys.modules and seen == []  # not imported by us
        import watched_lib  # type: ignore[import-not-found]

        assert seen == ["watched_lib"] and watched_lib.Thing.value == 1
        assert watched_lib.__loader__.__class__.__name__ != "_NotifyingLoader"
    finally:
        remove()
        sys.modules.pop("watched_lib", None)
    assert seen == ["watched_lib", "undone"]


def test_an_already_imported_module_is_hooked_at_once() -> None:
    seen: list[str] = []
    remove = when_imported("json", lambda module: seen.append(module.__name__) or [])
    remove()
    assert seen == ["json"]


def test_is_installed_does_not_import() -> None:
    assert is_installed("pytest") and not is_installed("no_such_package_here")


def test_a_run_imports_no_unused_double_library(pytester: pytest.Pytester) -> None:
    # (respx and time-machine ship pytest plugins of their own that import them anyway.)
    _need("moto")
    _need("fakeredis")
    _project(
        pytester,
        {"clock": CLOCK, "billing": BILLING},
        CLOCK_INVARIANTS,
        "def test_x():\n    pass\n",
    )
    (pytester.path / "conftest.py").write_text(
        "import sys\n\n\ndef pytest_sessionfinish(session):\n"
        "    print('LOADED', sorted(m for m in ('moto', 'fakeredis', 'freezegun')"
        " if m in sys.modules))\n"
    )
    result, _ = _run(pytester, "-s", "-v")
    result.stdout.fnmatch_lines(["*LOADED []*", "*detectors: *freezegun*moto*"])


def test_a_library_first_imported_inside_a_test_is_still_detected(
    pytester: pytest.Pytester,
) -> None:
    _need("freezegun")
    tests = _clock_tests(
        "import datetime, pytest",
        """
        @pytest.mark.invariant("BILL-ALLOW", "BILL-REAL")
        def test_imports_freezegun_late():
            from freezegun import freeze_time

            with freeze_time("2024-06-02"):
                assert is_overdue(DUE)
        """,
    )
    _project(pytester, {"clock": CLOCK, "billing": BILLING}, CLOCK_INVARIANTS, tests)
    result, data = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    place = _line_of(tests, 'with freeze_time("2024-06-02")')
    _assert_clock_links(data, {"test_imports_freezegun_late": place})


def _documented_detector() -> str:
    """Return the complete example detector from docs/plugins.md, as written there."""
    doc = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = doc.split("```python\n")[1:]
    (example,) = [b.split("```", 1)[0] for b in blocks if "# paysdk_invariants/detector.py" in b]
    return example


def test_the_documented_example_detector_works_as_written(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npythonpath = .\ntestpaths = tests\n")
    sdk = pytester.path / "paysdk"
    sdk.mkdir()
    (sdk / "__init__.py").write_text("")
    (sdk / "client.py").write_text("def pay(amount):\n    return 'paid'\n")
    (sdk / "testing.py").write_text(
        "class Sandbox:\n"
        "    def __init__(self, scenario='approve'):\n        self.scenario = scenario\n"
        "    def start(self):\n        pass\n    def stop(self):\n        pass\n"
        "    def __enter__(self):\n        self.start()\n        return self\n"
        "    def __exit__(self, *exc):\n        self.stop()\n"
    )
    (pytester.path / "paysdk_detector.py").write_text(_documented_detector())
    (pytester.path / "shop.py").write_text(
        "from paysdk import client\n\n\ndef checkout(amount):\n    return client.pay(amount)\n"
    )
    (pytester.path / "invariants.yaml").write_text(
        "version: 1\ninvariants:\n  - id: PAY-1\n    title: t\n    why: w\n    owner: o\n"
        "    code: [shop:checkout]\n    must_be_real: [payments]\n"
    )
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_shop.py").write_text(
        "import pytest\nfrom shop import checkout\n\n\n"
        "@pytest.mark.invariant('PAY-1')\ndef test_sandboxed():\n"
        "    from paysdk.testing import Sandbox\n\n"
        "    with Sandbox('decline'):\n        assert checkout(5) == 'paid'\n\n\n"
        "@pytest.mark.invariant('PAY-1')\ndef test_real():\n    assert checkout(5) == 'paid'\n"
    )
    result, data = _run(pytester, "-p", "paysdk_detector", "-v")
    assert result.ret == 0, result.stdout.str()
    (inv,) = data["invariants"]
    links = {t["nodeid"].rsplit("::", 1)[1]: t["link"] for t in inv["tests"]}
    assert links == {"test_sandboxed": "mock-based", "test_real": "real"}
    result.stdout.fnmatch_lines(["*detectors: *paysdk*"])
