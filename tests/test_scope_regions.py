"""Only the code that invariants name is observed, not the rest of its file.

A scope file is often a big module with one scope function in it (a parser
class beside the helpers every test runs). Observing the whole file cost every
test the recording of code no invariant names; now only functions that overlap
a scope entry's lines are instrumented, and a whole-module entry still observes
the whole file.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.projects import make, run

MODULE = """
def helper(x):
    y = x + 1
    return y * 2


def scoped(x):
    if x > 0:
        return helper(x)
    return 0


class Box:
    def __init__(self, n):
        self.n = n

    def size(self):
        return self.n


def untouched_tail(x):
    z = x
    return z
"""

TESTS = """
from pkg.big import Box, helper, scoped, untouched_tail


def test_scoped():
    assert scoped(2) == 6


def test_helper_only():
    assert helper(1) == 4


def test_box():
    assert Box(3).size() == 3


def test_tail():
    assert untouched_tail(5) == 5
"""


def _project(pytester: pytest.Pytester, code: str) -> None:
    make(
        pytester,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/big.py": MODULE,
            "tests/test_big.py": TESTS,
            "invariants/rules.yaml": f"""
                version: 1
                invariants:
                  - id: R-1
                    title: scoped code
                    why: a rule
                    owner: team
                    severity: high
                    code: {code}
            """,
        },
    )


def _executed(data: dict[str, Any], test: str) -> set[int]:
    (found,) = [t for t in data["tests"] if t["nodeid"] == f"tests/test_big.py::{test}"]
    return set(found["executed"].get("src/pkg/big.py", []))


def _lines(*needles: str) -> set[int]:
    text = MODULE.lstrip("\n").splitlines()
    return {n for n, line in enumerate(text, 1) if any(line.strip() == x for x in needles)}


HELPER = _lines("y = x + 1", "return y * 2")
SCOPED = _lines("if x > 0:", "return helper(x)")
BOX = _lines("self.n = n", "return self.n")
TAIL = _lines("z = x", "return z")


def test_a_function_entry_observes_that_function_only(pytester: pytest.Pytester) -> None:
    _project(pytester, "[pkg.big:scoped]")
    result, data = run(pytester)
    result.assert_outcomes(passed=4)
    # scoped() calls helper(): the helper's lines ran but are outside every entry.
    assert _executed(data, "test_scoped") == SCOPED
    assert _executed(data, "test_helper_only") == set()
    assert _executed(data, "test_box") == set()
    assert data["invariants"][0]["status"] == "incidental"


def test_a_class_entry_observes_its_methods(pytester: pytest.Pytester) -> None:
    _project(pytester, "[pkg.big:Box, pkg.big:untouched_tail]")
    result, data = run(pytester)
    result.assert_outcomes(passed=4)
    assert _executed(data, "test_box") == BOX
    assert _executed(data, "test_tail") == TAIL
    assert _executed(data, "test_scoped") == set()


def test_a_module_entry_observes_the_whole_file(pytester: pytest.Pytester) -> None:
    _project(pytester, "[pkg.big]")
    result, data = run(pytester)
    result.assert_outcomes(passed=4)
    assert _executed(data, "test_scoped") == SCOPED | HELPER
    assert _executed(data, "test_helper_only") == HELPER
    assert _executed(data, "test_tail") == TAIL


def test_a_child_process_observes_the_same_regions(pytester: pytest.Pytester) -> None:
    _project(pytester, "[pkg.big:scoped]")
    (pytester.path / "tests/test_child.py").write_text(
        "import os, subprocess, sys\n"
        "def test_in_child():\n"
        "    env = dict(os.environ, PYTHONPATH='src')\n"
        "    code = 'from pkg.big import scoped; assert scoped(2) == 6'\n"
        "    subprocess.run([sys.executable, '-c', code], check=True, env=env)\n"
    )
    result, data = run(pytester)
    result.assert_outcomes(passed=5)
    (found,) = [t for t in data["tests"] if t["nodeid"].endswith("test_in_child")]
    assert set(found["executed"]["src/pkg/big.py"]) == SCOPED
