"""The Markdown report: compact, escaped, and never over GitHub's step-summary limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_invariants.gate import evaluate
from pytest_invariants.reports import markdown
from tests.gold import check_gold
from tests.report_builders import sample_results


def _render(gated: bool = True) -> str:
    results = sample_results()
    violations = evaluate(results.invariants, results.invariant_set.gate) if gated else None
    return markdown.render(results, violations)


def test_headline_says_the_gate_verdict() -> None:
    assert _render().startswith("## pytest-invariants: ❌ gate failed by 3 invariant(s)")
    assert _render(gated=False).startswith("## pytest-invariants: no gate policy")


def test_gate_failures_and_attention_are_listed() -> None:
    text = _render()
    assert "- payments-team\n  - **PAY-002** (critical) is **mock-only**" in text
    assert "| ❌ failing | PAY-005 | high |" in text
    assert "**Partial run**" in text


@pytest.mark.invariant("OWN-002")
def test_findings_are_grouped_by_owner_and_handles_never_notified() -> None:
    results = sample_results()
    first = results.invariants[1]  # PAY-002, mock-only
    moved = replace(first, invariant=replace(first.invariant, owner="@shop/payments"))
    invariants = tuple(moved if r is first else r for r in results.invariants)
    results = replace(results, invariants=invariants)
    text = markdown.render(results, evaluate(results.invariants, results.invariant_set.gate))
    attention = text[text.index("### Needs attention") :]
    assert attention.index("#### payments-team (6)") < attention.index("#### `@shop/payments` (1)")
    mine = attention[attention.index("#### `@shop/payments`") :].splitlines()
    assert mine[4].startswith("| 🎭 mock-only | PAY-002 | critical |")
    gate = text[text.index("### Gate failures") : text.index("### Needs attention")]
    assert "- `@shop/payments`\n  - **PAY-002** (critical) is **mock-only**" in gate
    assert "@shop/payments" not in text.replace("`@shop/payments`", "")


def test_escape_neutralises_markdown_and_html() -> None:
    assert markdown.escape("a|b") == "a\\|b"
    assert markdown.escape("<script>x</script>") == "\\<script\\>x\\</script\\>"
    assert (
        markdown.escape("line\nbreak  [x](javascript:1)") == "line break \\[x\\]\\(javascript:1\\)"
    )


def test_hostile_strings_do_not_break_the_table() -> None:
    results = sample_results()
    evil = replace(
        results.invariants[5],
        invariant=replace(
            results.invariants[5].invariant, title="a | b\n<img src=x onerror=alert(1)>"
        ),
    )
    text = markdown.render(replace(results, invariants=(evil,)), None)
    row = next(line for line in text.splitlines() if "PAY-006" in line)
    assert "a \\| b" in row
    assert "<img" not in text.replace("\\<img", "")
    assert "\\<img" in text


def test_long_lists_are_cut_with_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = len(_render().encode()) - 300
    monkeypatch.setattr(markdown, "MAX_BYTES", limit)
    text = _render()
    assert len(text.encode()) <= limit
    assert "more invariants not shown" in text


def test_stays_under_the_step_summary_limit_at_scale() -> None:
    from tests.report_builders import big_results

    text = markdown.render(big_results(300, 2000), None)
    assert len(text.encode()) <= markdown.MAX_BYTES


def test_append_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    markdown.append_step_summary("## ours")
    assert summary.read_text(encoding="utf-8") == "earlier step\n## ours\n"


def test_append_step_summary_without_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    markdown.append_step_summary("## ours")  # nothing to do, nothing raised


def test_gold() -> None:
    check_gold("report.md", _render())
