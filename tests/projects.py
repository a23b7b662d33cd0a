"""Build small pytester projects from a dict of files and read their results."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

INI = "[pytest]\npythonpath = src\ntestpaths = tests\n"


def make(pytester: pytest.Pytester, files: dict[str, str], ini: str = INI) -> None:
    """Write `files` (path -> dedented text) under the pytester root, plus pytest.ini."""
    pytester.makeini(ini)
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run pytest --invariants in a subprocess; return the result and the results JSON."""
    out = pytester.path / "out.json"
    result = pytester.runpytest_subprocess(
        "--invariants", "--invariants-json", str(out), "-p", "no:cacheprovider", *args
    )
    data = json.loads(out.read_text()) if out.exists() else {}
    return result, data


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {inv["id"]: inv["status"] for inv in data["invariants"]}


def links(data: dict[str, Any], iid: str) -> dict[str, str]:
    (inv,) = [inv for inv in data["invariants"] if inv["id"] == iid]
    return {t["nodeid"]: t["link"] for t in inv["tests"]}


def evidence(data: dict[str, Any], iid: str, nodeid: str) -> list[str]:
    (inv,) = [inv for inv in data["invariants"] if inv["id"] == iid]
    (test,) = [t for t in inv["tests"] if t["nodeid"] == nodeid]
    return list(test["evidence"])


def doubles(data: dict[str, Any], nodeid: str) -> list[dict[str, Any]]:
    """Return the doubles recorded for one test."""
    for test in data.get("tests", []):
        if test["nodeid"] == nodeid:
            return list(test["doubles"])
    raise KeyError(nodeid)
