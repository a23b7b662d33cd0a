"""Property tests: whatever the file holds, the loader answers with a model or with problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_invariants.load.loading import INVARIANT_KEYS, load_invariants
from pytest_invariants.model import InvariantSet, Problem

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a rootdir with a small package, reused by every example."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "shop").mkdir()
    (path / "shop" / "__init__.py").write_text("")
    (path / "shop" / "billing.py").write_text("def charge(order):\n    return order\n")
    return path


def load_bytes(root: Path, data: bytes) -> tuple[InvariantSet | None, list[Problem]]:
    path = root / "invariants.yaml"
    path.write_bytes(data)
    return load_invariants([path], root, [root])


def assert_well_formed(result: InvariantSet | None, problems: list[Problem]) -> None:
    """Either a model and no problems, or no model and located problems."""
    if result is not None:
        assert problems == []
        return
    assert problems
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.location.path == "invariants.yaml"
        assert problem.location.line >= 0 and problem.location.col >= 0
        assert "\n" not in problem.render()


@pytest.mark.invariant("LOAD-001")
@FUZZ
@given(st.text())
def test_any_text_gives_a_model_or_problems(root: Path, text: str) -> None:
    assert_well_formed(*load_bytes(root, text.encode("utf-8", "surrogatepass")))


@pytest.mark.invariant("LOAD-001")
@FUZZ
@given(st.binary())
def test_any_bytes_give_a_model_or_problems(root: Path, data: bytes) -> None:
    assert_well_formed(*load_bytes(root, data))


# Near-valid documents: the right shape, with wrong keys, types and values mixed in.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["PAY-001", "PAY-002", "PAY 003", "", "critical", "high", "hihg",
                     "active", "deprecated", "shop.billing:charge", "shop.billing",
                     "shop:nope", "shop/billing.py", "failing", "mock-only"]),
    st.text(max_size=12),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from([*INVARIANT_KEYS, "titel", "severty", "code "])
invariants = st.dictionaries(keys, values, max_size=8)
documents = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1", None])},
    optional={
        "defaults": st.dictionaries(st.sampled_from(["owner", "severity", "tags", "ownr"]), values),
        "gate": st.fixed_dictionaries(
            {"fail_on": st.dictionaries(st.sampled_from(["critical", "high", "bad"]), values)}
        ),
        "invariants": st.lists(invariants, max_size=5),
        "extra": values,
    },
)


@FUZZ
@given(documents)
def test_near_valid_documents_give_a_model_or_problems(
    root: Path, document: dict[str, Any]
) -> None:
    assert_well_formed(*load_bytes(root, yaml.safe_dump(document).encode()))


ident = st.from_regex(r"[A-Z]{2,4}-[0-9]{1,3}", fullmatch=True)
valid_invariants = st.lists(
    st.fixed_dictionaries(
        {"id": ident, "title": st.just("t"), "why": st.just("w"), "owner": st.just("o")},
        optional={
            "severity": st.sampled_from(["critical", "high", "medium", "low"]),
            "code": st.sampled_from(
                [[], ["shop.billing:charge"], ["shop.billing", "shop/billing.py"]]
            ),
            "tags": st.lists(st.text(min_size=1, max_size=5).filter(str.strip), max_size=3),
        },
    ),
    max_size=6,
    unique_by=lambda item: item["id"],
)


@FUZZ
@given(valid_invariants)
def test_valid_documents_load_with_every_id(root: Path, items: list[dict[str, Any]]) -> None:
    document = {"version": 1, "invariants": items}
    result, problems = load_bytes(root, yaml.safe_dump(document, allow_unicode=True).encode())
    assert problems == []
    assert result is not None
    assert [inv.id for inv in result.invariants] == [item["id"] for item in items]
