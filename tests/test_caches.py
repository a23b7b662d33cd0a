"""The start-up caches in `.invariants/` and the compiled claim globs (docs/performance.md).

What a user relies on: a cached run gives the results a cold run gives, and an
edited scope file is never served from a cache.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_invariants.model import Invariant, Location, Severity
from pytest_invariants.pytest_plugin.claims import ClaimMatcher

pytest_plugins = ["pytester"]

PRICING = """\
def price(qty, unit):
    total = qty * unit
    if total > 100:
        total = total - 10
    return total
"""

EDITED = """\
def helper():
    return 1


def price(qty, unit):
    total = qty * unit
    if total > 100:
        return total - 10
    return total
"""

INVARIANTS = """\
version: 1
defaults: {owner: shop}
invariants:
  - id: PRC-001
    title: Big orders get ten off
    why: Customers were promised it.
    severity: high
    code: [shop.pricing:price]
"""

TESTS = """\
import pytest
from shop.pricing import price


@pytest.mark.invariant("PRC-001")
def test_big_order():
    assert price(20, 6) == 110
"""


def _project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npythonpath = src\n")
    (pytester.path / "src" / "shop").mkdir(parents=True)
    (pytester.path / "src" / "shop" / "__init__.py").write_text("")
    (pytester.path / "src" / "shop" / "pricing.py").write_text(PRICING)
    (pytester.path / "invariants.yaml").write_text(INVARIANTS)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_pricing.py").write_text(TESTS)


def _run(pytester: pytest.Pytester) -> dict[str, Any]:
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    data: dict[str, Any] = json.loads((pytester.path / ".invariants/results.json").read_text())
    return data


def _lines(data: dict[str, Any]) -> tuple[list[int], list[int]]:
    (inv,) = data["invariants"]
    (scope,) = inv["code"]
    (test,) = data["tests"]
    return sorted(scope["executable"]), sorted(test["executed"]["src/shop/pricing.py"])


def test_a_warm_run_gives_what_a_cold_run_gives(pytester: pytest.Pytester) -> None:
    _project(pytester)
    cold = _run(pytester)
    assert (pytester.path / ".invariants" / "scope-cache.json").is_file()
    warm = _run(pytester)
    assert _lines(warm) == _lines(cold) == ([2, 3, 4, 5], [2, 3, 4, 5])
    assert warm["invariants"][0]["status"] == cold["invariants"][0]["status"] == "verified"


def test_an_edited_scope_file_is_read_again_not_served_from_the_cache(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    _run(pytester)
    (pytester.path / "src" / "shop" / "pricing.py").write_text(EDITED)
    executable, executed = _lines(_run(pytester))
    # The lines moved down by four and the branch returns early: both come from the new file.
    assert executable == [6, 7, 8, 9]
    assert executed == [6, 7, 8]


def test_a_corrupt_cache_is_a_miss(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester)
    (pytester.path / ".invariants" / "scope-cache.json").write_text("{not json")
    for entry in (pytester.path / ".invariants" / "probes").rglob("*"):
        if entry.is_file():  # the probes' code and (3.12+) the statement starts
            entry.write_bytes(b"\x00garbage")
    assert _lines(_run(pytester)) == ([2, 3, 4, 5], [2, 3, 4, 5])


def _invariant(iid: str, globs: tuple[str, ...]) -> Invariant:
    return Invariant(
        id=iid,
        title="t",
        why="w",
        owner="o",
        severity=Severity.HIGH,
        tests=globs,
        location=Location("invariants.yaml", 1),
    )


_GLOB = st.text(alphabet="ab:/*?[]!.", min_size=1, max_size=6)


@given(
    globs=st.lists(st.lists(_GLOB, max_size=3), min_size=1, max_size=4),
    nodeids=st.lists(st.text(alphabet="ab:/.", max_size=8), max_size=5),
)
def test_compiled_globs_match_what_fnmatchcase_matches(
    globs: list[list[str]], nodeids: list[str]
) -> None:
    invariants = [_invariant(f"I-{n}", tuple(g)) for n, g in enumerate(globs)]
    matcher = ClaimMatcher(invariants)
    for nodeid in nodeids:
        expected = [
            inv.id for inv in invariants if any(fnmatch.fnmatchcase(nodeid, g) for g in inv.tests)
        ]
        assert matcher.glob_ids(nodeid) == expected


def test_probe_cache_lives_next_to_the_results(pytester: pytest.Pytester) -> None:
    import sys

    _project(pytester)
    _run(pytester)
    probes = list((pytester.path / ".invariants" / "probes").glob("*.marshal"))
    # Probes instrument 3.10/3.11 only; sys.monitoring compiles nothing.
    assert len(probes) == (1 if sys.version_info < (3, 12) else 0)


# -- the parsed invariants files (.invariants/yaml-cache.json) -----------------

_LOAD = """
import sys
from pathlib import Path
from pytest_invariants.load.loading import load_invariants

found, problems = load_invariants([Path("invariants.yaml")], Path.cwd(), ["src"])
print("YAML", "yaml" in sys.modules)
print("TITLES", [inv.title for inv in found.invariants] if found else None)
print("PROBLEMS", [f"{p.location.line}:{p.what}" for p in problems])
"""


@pytest.fixture(autouse=True)
def _not_our_child(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under this suite's own --invariants run a Python started here would be observed
    # as our child, and the child's observer imports modules of its own.
    monkeypatch.delenv("PYTEST_INVARIANTS_CHILD", raising=False)


def _load(pytester: pytest.Pytester) -> dict[str, str]:
    result = pytester.runpython_c(_LOAD)
    return {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in result.stdout.lines
        if line.split(" ", 1)[0] in ("YAML", "TITLES", "PROBLEMS")
    }


def test_a_second_load_reads_the_parsed_file_without_pyyaml(pytester: pytest.Pytester) -> None:
    _project(pytester)
    cold = _load(pytester)
    assert (pytester.path / ".invariants" / "yaml-cache.json").is_file()
    warm = _load(pytester)
    assert cold["YAML"] == "True" and warm["YAML"] == "False"
    assert warm["TITLES"] == cold["TITLES"] == "['Big orders get ten off']"


def test_an_edited_invariants_file_is_parsed_again(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _load(pytester)
    path = pytester.path / "invariants.yaml"
    path.write_text(INVARIANTS.replace("Big orders get ten off", "Ten off big orders"))
    assert _load(pytester)["TITLES"] == "['Ten off big orders']"


def test_a_file_with_problems_is_never_cached(pytester: pytest.Pytester) -> None:
    _project(pytester)
    path = pytester.path / "invariants.yaml"
    path.write_text(
        INVARIANTS.replace("    severity: high\n", "    severity: high\n    why: again\n")
    )
    for _ in range(2):  # the second load reports the same duplicate key: it parsed again
        found = _load(pytester)
        assert found["YAML"] == "True"
        assert "appears twice" in found["PROBLEMS"] and found["TITLES"] == "None"


def test_a_corrupt_yaml_cache_is_a_miss(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _load(pytester)
    cache = pytester.path / ".invariants" / "yaml-cache.json"
    stored = json.loads(cache.read_text())
    for key in stored["files"]:  # valid JSON, the right analysis, nonsense nodes
        stored["files"][key] = [1, 2, "tag", "text", 1, "map", [["x", [], []]]]
    cache.write_text(json.dumps(stored))
    found = _load(pytester)
    assert found["YAML"] == "True" and found["TITLES"] == "['Big orders get ten off']"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_cache_file_that_is_a_fifo_or_a_folder_is_a_miss(
    pytester: pytest.Pytester, kind: str
) -> None:
    import os
    import shutil

    _project(pytester)
    cold = _run(pytester)
    caches = [
        path
        for path in (pytester.path / ".invariants").rglob("*")
        if path.is_file() and path.name not in ("results.json", ".gitignore")
    ]
    assert {"scope-cache.json", "yaml-cache.json"} <= {path.name for path in caches}
    for path in caches:
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)  # a plain read would block for ever
        else:
            path.mkdir()
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", timeout=120)
    assert result.ret == 0, result.stdout.str()
    warm = json.loads((pytester.path / ".invariants/results.json").read_text())
    assert _lines(warm) == _lines(cold)
    for path in caches:
        if path.is_dir():
            shutil.rmtree(path)
