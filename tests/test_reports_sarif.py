"""The SARIF report, validated against the official SARIF 2.1.0 JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_invariants.gate import evaluate
from pytest_invariants.model import RunResults
from pytest_invariants.reports import sarif
from tests.gold import check_gold
from tests.report_builders import sample_results

# The OASIS SARIF 2.1.0 schema (draft-07), as published by oasis-tcs/sarif-spec
# (Schemata/sarif-schema-2.1.0.json) and mirrored by SchemaStore as sarif-2.1.0.json.
SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def _log(results: RunResults, gated: bool = True) -> dict[str, Any]:
    violations = evaluate(results.invariants, results.invariant_set.gate) if gated else None
    return json.loads(sarif.dumps(results, violations))


def test_the_vendored_schema_is_the_official_one() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert len(schema["definitions"]) > 40


@pytest.mark.parametrize("gated", [True, False])
def test_log_is_valid_sarif(validator: jsonschema.Draft7Validator, gated: bool) -> None:
    validator.validate(_log(sample_results(), gated))


def test_one_result_per_invariant_that_breaks_the_gate() -> None:
    results = _log(sample_results())["runs"][0]["results"]
    ids = [r["properties"]["invariant"] for r in results]
    assert ids == ["PAY-002", "PAY-005", "PART-1"]
    part = results[2]
    assert part["ruleId"] == "invariant/partial"  # partial: gated only for the flag
    assert "partial" in part["message"]["text"]


def test_without_policy_every_invariant_not_verified_is_reported() -> None:
    results = _log(sample_results(), gated=False)["runs"][0]["results"]
    assert [r["properties"]["status"] for r in results][0] == "failing"
    assert {r["properties"]["invariant"] for r in results} == {
        "PAY-005",
        "OLD-1",
        "PART-1",
        "PAY-006",
        "PAY-004",
        "PAY-003",
        "PAY-002",
    }


def test_rule_ids_levels_and_locations() -> None:
    log = _log(sample_results())
    run = log["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rules == list(sarif.RULE_IDS)
    by_id = {r["properties"]["invariant"]: r for r in run["results"]}
    mock = by_id["PAY-002"]
    assert mock["ruleId"] == "invariant/mock-only"
    assert rules[mock["ruleIndex"]] == mock["ruleId"]
    assert mock["level"] == "error"  # critical
    location = mock["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "invariants.yaml"}, "region": {"startLine": 14}}
    assert "unittest.mock.patch replaced shop.billing.charge_order" in mock["message"]["text"]


def test_deprecated_invariants_are_notes_and_medium_is_a_warning() -> None:
    by_id = {
        r["properties"]["invariant"]: r
        for r in _log(sample_results(), gated=False)["runs"][0]["results"]
    }
    assert by_id["OLD-1"]["level"] == "note"
    assert by_id["PAY-004"]["level"] == "warning"


def test_gold() -> None:
    check_gold("report.sarif.json", sarif.dumps(sample_results(), None))
