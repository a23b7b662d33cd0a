"""`invariants diff`: module-level names a scope reads, and the default base revision."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .test_diff import Project, diff_json, impacts, run

BILLING = '''\
"""Billing."""
from shop.config import CURRENCY

MAX_RETRIES = 3
UNUSED = "x"


def _limit(order):
    return order.total * 2


def charge_order(order):
    for _ in range(MAX_RETRIES):
        if order.total <= _limit(order):
            return CURRENCY
    return None
'''

CONFIG = 'CURRENCY = "EUR"\nOTHER = 1\n'

INVARIANTS = """\
version: 1
defaults: {owner: payments}
invariants:
  - id: PAY-001
    title: A card is never charged twice
    why: Chargebacks.
    code: [shop.billing:charge_order]
  - id: CFG-001
    title: Settings load
    why: Startup.
    code: [shop.config]
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    repo = Project(tmp_path / "repo")
    repo.write("src/shop/__init__.py", "")
    repo.write("src/shop/billing.py", BILLING)
    repo.write("src/shop/config.py", CONFIG)
    repo.write("invariants.yaml", INVARIANTS)
    repo.commit("base")
    return repo


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("MAX_RETRIES = 3", "MAX_RETRIES = 30", "shop.billing.MAX_RETRIES"),
        ("return order.total * 2", "return order.total * 3", "shop.billing._limit"),
    ],
    ids=["constant", "helper"],
)
def test_a_changed_module_level_name_the_scope_reads_is_an_impact(
    project: Project, capsys: pytest.CaptureFixture[str], old: str, new: str, shown: str
) -> None:
    project.edit("src/shop/billing.py", old, new)
    data = diff_json(capsys, project.root, "HEAD")
    assert impacts(data) == {"PAY-001": [f"{shown} (read by shop.billing:charge_order)"]}
    (entry,) = data["impacts"][0]["entries"]
    line = next(n for n, text in enumerate(BILLING.splitlines(), 1) if old in text)
    assert entry["file"] == "src/shop/billing.py" and entry["lines"] == [line]
    assert entry["how"] == "changed"


def test_an_imported_name_changed_in_its_own_module_is_an_impact(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("src/shop/config.py", '"EUR"', '"USD"')
    found = impacts(diff_json(capsys, project.root, "HEAD"))
    assert found["PAY-001"] == ["shop.config.CURRENCY (read by shop.billing:charge_order)"]
    assert found["CFG-001"] == ["shop.config"]


def test_names_the_scope_does_not_read_are_not_impacts(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("src/shop/billing.py", 'UNUSED = "x"', 'UNUSED = "y"  # reformatted')
    project.edit("src/shop/config.py", "OTHER = 1", "OTHER = 2")
    project.edit("src/shop/billing.py", "MAX_RETRIES = 3", "MAX_RETRIES = (3)  # same value")
    assert impacts(diff_json(capsys, project.root, "HEAD")) == {"CFG-001": ["shop.config"]}


# -- the default base: the merge-base with origin/HEAD ---------------------------------------


def _feature_clone(project: Project, tmp_path: Path) -> Project:
    """Clone the project, branch off, then let its main branch move on without the clone."""
    subprocess.run(["git", "clone", "-q", str(project.root), str(tmp_path / "clone")], check=True)
    clone = Project(tmp_path / "clone")
    clone.git("checkout", "-q", "-b", "feature")
    clone.edit("src/shop/billing.py", "MAX_RETRIES = 3", "MAX_RETRIES = 30")
    clone.commit("feature: more retries")
    project.edit("src/shop/config.py", '"EUR"', '"USD"')
    project.commit("main moves on")
    clone.git("fetch", "-q", "origin")
    return clone


def test_without_base_it_compares_from_the_merge_base_with_origin_head(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clone = _feature_clone(project, tmp_path)
    data = diff_json(capsys, clone.root)
    assert data["base"] == "origin/main"
    # Only the branch's own change: main's later commit is not the branch's doing.
    assert impacts(data) == {
        "PAY-001": ["shop.billing.MAX_RETRIES (read by shop.billing:charge_order)"]
    }
    # Against origin/main itself, main's newer CURRENCY would show up as a change too.
    assert "CFG-001" in impacts(diff_json(capsys, clone.root, "origin/main"))


def test_without_base_and_without_origin_head_the_error_says_what_to_do(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, project.root, "diff")
    assert code == 2
    assert "no BASE given and there is no origin/HEAD" in err
    assert "git remote set-head origin --auto" in err and "invariants diff origin/main" in err
