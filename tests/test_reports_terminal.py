"""The terminal report (rich): summary, what needs attention, the gate, -q and -v."""

from __future__ import annotations

import io
import re

import pytest

from pytest_invariants.gate import evaluate
from pytest_invariants.reports import terminal
from tests.gold import check_gold
from tests.report_builders import XSS, sample_results


def _colours(text: str) -> list[str]:
    """Return the SGR colour codes (foreground or background) in `text`."""
    params = [p for group in re.findall(r"\x1b\[([0-9;]*)m", text) for p in group.split(";")]
    return [p for p in params if p.isdigit() and (30 <= int(p) <= 48 or 90 <= int(p) <= 107)]


def _render(verbosity: int = 0, gated: bool = True, width: int = 120, **console: object) -> str:
    results = sample_results()
    violations = evaluate(results.invariants, results.invariant_set.gate) if gated else None
    out = io.StringIO()
    con = terminal.make_console(file=out, width=width, **console)  # type: ignore[arg-type]
    terminal.render(results, violations, con, verbosity)
    return out.getvalue()


def test_summary_attention_and_gate() -> None:
    text = _render()
    assert "mock-only" in text and "needs attention (worst first)" in text
    assert text.index("PAY-005") < text.index("PAY-002")  # failing before mock-only
    assert "invariants gate: FAILED by 3 invariant(s)" in text
    assert "PART-1 (high, owner payments-team) is partial" in text
    assert "at risk: rests on PAY-002" in text


def test_no_gate_line_without_a_policy() -> None:
    assert "invariants gate" not in _render(gated=False)


def test_quiet_prints_one_line_and_gate_failures() -> None:
    lines = _render(-1, width=200).splitlines()
    assert lines[0].startswith("invariants: 9 (1 failing, 3 unverified")
    assert lines[1] == "invariants gate: FAILED by 3 invariant(s)"
    assert len(lines) == 5


def test_verbose_lists_every_link_with_its_evidence() -> None:
    text = _render(1)
    assert "every invariant" in text
    assert "tests/test_pay.py::test_charge_once" in text
    assert "claims it; ran 5 scope line(s) with no test double in the way" in text


def test_user_strings_are_not_rich_markup() -> None:
    text = _render(1)
    assert XSS in text.replace("\n", "") or "<script>window.__xss" in text


def test_no_color_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert _colours(_render(force_terminal=True)) == []
    monkeypatch.delenv("NO_COLOR")
    assert _colours(_render(force_terminal=True))


def test_long_attention_lists_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "ATTENTION_LIMIT", 2)
    assert "... and 5 more: use -v, or the HTML report" in _render()


def test_gold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    check_gold("terminal.txt", _render(1))


NARROW_YAML = """\
version: 1
invariants:
  - id: PAY-001
    title: A refunded chargeback is never paid out twice to the same card holder
    why: Money.
    owner: payments-platform
    severity: critical
    code: ["shop.billing:charge"]
"""

NARROW_TEST = """\
import pytest

from shop import billing


class TestChargebacksAcrossCurrencies:
    @pytest.mark.invariant("PAY-001")
    @pytest.mark.parametrize("card", ["visa-eur-3ds-challenge-required"])
    def test_a_refunded_chargeback_is_never_paid_out_twice(self, card):
        assert billing.charge() == 2
"""


def _ids_unbroken(text: str, nodeid: str) -> bool:
    """True when `nodeid` shows whole, or broken only between the words of its parts."""
    pieces = [re.escape(p) for p in re.split(r"(?<=[/:\[_.\-])", nodeid) if p]
    gap = r"(?:[ ]*\n(?:[^\n]*? )?)?"  # maybe a line break, then the other columns' cells
    return re.search(gap.join(pieces), text) is not None


@pytest.mark.parametrize("columns", [80, 200])
def test_the_summary_reads_well_at_80_and_200_columns(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    pytester.makefile(".yaml", invariants=NARROW_YAML)
    pytester.mkpydir("shop")
    pytester.path.joinpath("shop", "billing.py").write_text("def charge():\n    return 1\n")
    pytester.mkdir("tests").joinpath("integration").mkdir()
    pytester.path.joinpath("tests", "integration", "test_chargebacks_and_refunds.py").write_text(
        NARROW_TEST
    )
    monkeypatch.setenv("COLUMNS", str(columns))
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    out = result.stdout.str()
    section = out[out.index("= invariants =") : out.index("short test summary info")]
    lines = [line for line in section.splitlines() if not line.startswith("invariants: wrote ")]
    assert max(len(line) for line in lines) <= columns  # a written path stays one piece
    nodeid = (
        "tests/integration/test_chargebacks_and_refunds.py::TestChargebacksAcrossCurrencies::"
        "test_a_refunded_chargeback_is_never_paid_out_twice[visa-eur-3ds-challenge-required]"
    )
    assert _ids_unbroken(section, nodeid), section
    title = "A refunded chargeback is never paid out twice to the same card holder"
    if columns == 200:
        assert title in section
    else:  # the title column gets the room: severity and owner move under status and id
        assert re.search(r"status +id / owner +title / why", section)
        assert "A refunded chargeback is never paid out twice to" in section


def test_wrap_breaks_long_ids_at_their_separators() -> None:
    lines = terminal.wrap("ran tests/a/test_b.py::TestC::test_d[x-y] then", 16)
    assert lines == ["ran tests/a/", "test_b.py::", "TestC::test_d[", "x-y] then"]
    assert all(len(line) <= 16 for line in lines)
    assert terminal.wrap("a" * 30, 10) == ["a" * 10] * 3


def test_verbose_keeps_one_line_per_link(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(1, width=80)
    assert "    real                         passed    tests/test_pay.py::test_charge_once" in text
