"""A run imports only what the suite uses, and still sees every double made with it.

`unittest.mock` imports asyncio: ~40 ms and thousands of objects that every
later garbage collection walks, in a suite that may never use a mock. The double
hooks go in when the suite imports it (docs/doubles.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.projects import make, run, statuses

RULES = """
version: 1
invariants:
  - id: R-1
    title: totals are summed
    why: a rule
    owner: team
    severity: high
    code: [pkg.calc:total]
    tests: ["tests/*"]
"""

CALC = """
def total(xs):
    return sum(xs)
"""


def _project(pytester: pytest.Pytester, test: str) -> None:
    make(
        pytester,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/calc.py": CALC,
            "tests/test_calc.py": test,
            "invariants/rules.yaml": RULES,
        },
    )


def test_a_run_without_mocks_never_imports_unittest_mock(pytester: pytest.Pytester) -> None:
    _project(
        pytester, "from pkg.calc import total\n\ndef test_total():\n    assert total([1, 2]) == 3\n"
    )
    probe = textwrap.dedent(
        """
        import sys, pytest
        plugin = ["-p", "pytest_invariants.pytest_plugin.hooks"]
        code = pytest.main(["-q", "-p", "no:cacheprovider", *plugin, "--invariants"])
        print("LOADED", ",".join(m for m in ("unittest.mock", "asyncio") if m in sys.modules))
        sys.exit(int(code))
        """
    )
    # Not a child of the run this suite may itself be observed by.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_INVARIANTS_CHILD"}
    # Installed plugins of this venv (respx, pytest-mock) import unittest.mock themselves.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=pytester.path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "LOADED \n" in done.stdout, done.stdout


def test_a_mock_imported_inside_a_test_is_still_seen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No plugin imports unittest.mock first (respx and pytest-mock do): the hooks go in
    # while the test's own import runs, when `unittest` has no `mock` attribute yet.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    _project(
        pytester,
        """
        def test_total_mocked():
            from unittest import mock  # the first import of unittest.mock in the run

            with mock.patch("pkg.calc.total", return_value=3):
                from pkg import calc

                assert calc.total([1, 2]) == 3
        """,
    )
    result, data = run(pytester, "-p", "pytest_invariants.pytest_plugin.hooks")
    result.assert_outcomes(passed=1)
    assert statuses(data) == {"R-1": "mock-only"}
