"""Shared helpers of the reports, the results JSON Schema, and gold-file checks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pytest_invariants import results as results_module
from pytest_invariants.gate import evaluate
from pytest_invariants.model import Status
from pytest_invariants.reports import by_status, needs_attention, reason, worst_first
from pytest_invariants.reports.view import RunView
from tests.report_builders import sample_results

SCHEMA = Path(results_module.__file__).parent / "schemas" / "results.schema.json"


def test_worst_first_orders_by_status_then_severity() -> None:
    ordered = worst_first(sample_results().invariants)
    ranks = [(r.status.rank, r.invariant.severity.rank) for r in ordered]
    assert ranks == sorted(ranks)


def test_needs_attention_keeps_flagged_good_invariants_out_only_when_clean() -> None:
    ids = [r.invariant.id for r in needs_attention(sample_results())]
    assert "PAY-001" not in ids  # verified, no flag
    assert ids[0] == "PAY-005"  # failing comes first
    assert "PAY-004" in ids  # incidental and suspect


def test_counts_cover_every_status() -> None:
    counts = by_status(sample_results().invariants)
    assert list(counts) == [s.value for s in Status]
    assert sum(counts.values()) == 9


@pytest.mark.parametrize(
    ("iid", "words"),
    [
        ("PAY-005", "tests/test_ledger.py::test_post (failed)"),
        ("PAY-002", "unittest.mock.patch replaced shop.billing.charge_order"),
        ("PAY-003", "which ran none of its code"),
        ("PAY-004", "no test claims it"),
        ("PART-1", "did not run"),
        ("PAY-001", "real test(s): tests/test_pay.py::test_charge_once"),
    ],
)
def test_reason_quotes_the_evidence(iid: str, words: str) -> None:
    res = {r.invariant.id: r for r in sample_results().invariants}[iid]
    assert words in reason(res)


def test_the_run_view_holds_what_every_report_says() -> None:
    results = sample_results()
    violations = evaluate(results.invariants, results.invariant_set.gate)
    view = RunView.of(results, violations)
    expected = [r.invariant.id for r in needs_attention(results)]
    assert [item.id for item in view.attention] == expected
    assert dict(view.counts) == by_status(results.invariants)
    # A partial invariant is gated only for failing and the flag (SPEC v1.1 section 5).
    assert view.gate_count == 3 and view.gate["PART-1"][0].reason == "partial"
    part = view.get("PART-1")
    assert part is not None and part.gate_reasons == ("partial",)
    assert part.flags == ("partial",) and part.flag_words[0].startswith("partial:")
    assert RunView.of(results, None).gated is False


def test_results_file_matches_its_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    data = json.loads(results_module.dumps(sample_results("/tmp/x")))
    jsonschema.Draft7Validator(schema).validate(data)


def test_results_schema_rejects_a_foreign_status() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    data = results_module.to_dict(sample_results())
    data["invariants"][0]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_results_schema_ships_with_the_package() -> None:
    assert SCHEMA.is_file()
