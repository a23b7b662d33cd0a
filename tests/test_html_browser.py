"""The HTML report in a real browser: headless Chromium (Debian) driven by Playwright.

Filters, search and sorting change the visible rows; the XSS probe never runs;
no request leaves the page. Skipped, with the reason, when chromium or the
playwright package is missing (`apt-get install chromium`, `pip install playwright`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.gate import evaluate
from pytest_invariants.reports import html
from tests.report_builders import big_results, sample_results, write_sources

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A loaded report with every request, dialog and page error recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.foreign: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page()
        self.page.route("**/*", self._route)
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(path.as_uri())

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visible_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#inv-table tbody tr:not([hidden]) td:nth-child(2)",
            "cells => cells.map(c => c.textContent)",
        )
        return ids

    def close(self) -> None:
        assert self.foreign == [], f"requests left the page: {self.foreign}"
        assert self.errors == [], f"script errors: {self.errors}"
        self.page.close()


@pytest.fixture
def report(browser: Any, tmp_path: Path) -> Iterator[Page]:
    write_sources(tmp_path)
    results = sample_results(tmp_path)
    target = tmp_path / "report.html"
    html.render_to(target, results, evaluate(results.invariants, results.invariant_set.gate))
    page = Page(browser, target)
    yield page
    page.close()


def test_all_rows_show_first(report: Page) -> None:
    assert len(report.visible_ids()) == 9
    assert report.page.text_content("#shown") == "9 of 9 invariants"


def test_status_filter(report: Page) -> None:
    report.page.select_option("#f-status", "unverified")
    assert sorted(report.visible_ids()) == ["OLD-1", "PART-1", "PAY-006"]
    assert report.page.text_content("#shown") == "3 of 9 invariants"


def test_severity_owner_and_flag_filters(report: Page) -> None:
    report.page.select_option("#f-severity", "critical")
    assert sorted(report.visible_ids()) == ["OLD-1", "PAY-001", "PAY-002"]
    report.page.select_option("#f-flag", "deprecated")
    assert report.visible_ids() == ["OLD-1"]
    report.page.select_option("#f-severity", "")
    report.page.select_option("#f-flag", "")
    report.page.select_option("#f-owner", "<b>owner</b>")
    assert report.visible_ids() == ["XSS-1"]


def test_search(report: Page) -> None:
    report.page.fill("#q", "charged twice")
    assert report.visible_ids() == ["PAY-001"]
    report.page.fill("#q", "PART")
    assert report.visible_ids() == ["PART-1"]
    report.page.fill("#q", "")
    assert len(report.visible_ids()) == 9


def test_status_card_filters(report: Page) -> None:
    report.page.click(".card[data-status='mock-only']")
    assert report.visible_ids() == ["PAY-002"]


def test_the_table_opens_worst_status_first(report: Page) -> None:
    order = ["failing", "unverified", "incidental", "claimed", "mock-only", "verified", "proven"]
    statuses = report.page.eval_on_selector_all(
        "#inv-table tbody tr td:first-child", "cells => cells.map(c => c.textContent.trim())"
    )
    assert statuses[0] == "failing"
    assert statuses == sorted(statuses, key=order.index)


def test_sorting(report: Page) -> None:
    report.page.click("#inv-table th[data-key='id']")
    ids = report.visible_ids()
    assert ids == sorted(ids, key=str.lower)
    report.page.click("#inv-table th[data-key='id']")
    assert report.visible_ids() == ids[::-1]
    report.page.click("#inv-table th[data-key='severity']")
    first = report.page.text_content("#inv-table tbody tr:first-child td:nth-child(3)")
    assert first == "critical"


def test_detail_opens_with_graph_and_code(report: Page) -> None:
    report.page.click("#inv-table tbody tr[data-i='1'] td:nth-child(5)")
    report.page.wait_for_selector("#detail article.inv")
    text = report.page.text_content("#detail")
    assert text is not None and "unittest.mock.patch replaced shop.billing.charge_order" in text
    assert report.page.locator("#detail svg.graph").count() == 1
    # No claiming test ran its lines for real, but an unclaimed test did: its own colour.
    assert report.page.locator("#detail .code .m-unclaimed").count() == 5
    assert report.page.locator("#detail .code .m-never").count() == 0


def test_xss_probe_never_runs(report: Page) -> None:
    report.page.goto(report.page.url.split("#")[0] + "#i6")  # the XSS invariant's detail
    report.page.wait_for_selector("#detail article.inv")
    report.page.fill("#q", "script")
    report.page.wait_for_timeout(200)
    assert report.page.evaluate("window.__xss") is None
    assert report.dialogs == []
    title = report.page.text_content("#detail h2")
    assert title is not None and "<script>window.__xss = 1</script>" in title
    assert report.page.locator("#detail img").count() == 0


def test_scale_filters_without_freezing(browser: Any, tmp_path: Path) -> None:
    target = tmp_path / "big.html"
    html.render_to(target, big_results(), None)
    start = time.perf_counter()
    page = Page(browser, target)
    load = time.perf_counter() - start
    elapsed = page.page.evaluate("""() => {
        const q = document.getElementById('q');
        const t0 = performance.now();
        q.value = 'INV-09'; q.dispatchEvent(new Event('input'));
        const t1 = performance.now();
        document.querySelector("#inv-table th[data-key='owner']").click();
        return [t1 - t0, performance.now() - t1];
    }""")
    assert len(page.visible_ids()) == 100
    assert load < 30 and elapsed[0] < 1000 and elapsed[1] < 2000, (load, elapsed)
    page.page.goto(target.as_uri() + "#i999")
    page.page.wait_for_selector("#detail article.inv")
    page.close()


# -- layout at a desktop and a phone width -------------------------------------------

SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"  # CI keeps them

LAYOUT = """() => {
    const table = document.querySelector('#inv-table');
    const ids = [...document.querySelectorAll('#inv-table .c-id a, #detail h2 .id')];
    return {
        scroll: document.documentElement.scrollWidth, width: window.innerWidth,
        tableTop: table.getBoundingClientRect().top + window.scrollY,
        wrappedIds: ids.filter(a => a.getClientRects().length > 1).map(a => a.textContent),
    };
}"""


def _open(browser: Any, path: Path, width: int, height: int, hash_: str = "") -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(path.as_uri() + hash_)
    if hash_:
        page.wait_for_selector("#detail article.inv")
    return page


@pytest.fixture
def gated_report(tmp_path: Path) -> Path:
    write_sources(tmp_path)
    results = sample_results(tmp_path)
    target = tmp_path / "report.html"
    html.render_to(target, results, evaluate(results.invariants, results.invariant_set.gate))
    return target


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (400, 800)])
def test_layout_has_no_sideways_overflow(
    browser: Any, gated_report: Path, width: int, height: int
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for hash_ in ("", "#i1"):  # the overview, then a detail with tests, graph and code
        page = _open(browser, gated_report, width, height, hash_)
        name = f"report-{width}{'-detail' if hash_ else ''}.png"
        page.screenshot(path=str(SHOTS / name), full_page=True)
        layout = page.evaluate(LAYOUT)
        assert layout["scroll"] <= layout["width"], (name, layout)
        assert layout["wrappedIds"] == [], name
        if width == 1400 and not hash_:
            assert layout["tableTop"] < height, "the table starts below the fold"
        page.close()


def test_a_failed_gate_shows_its_findings_first(browser: Any, gated_report: Path) -> None:
    results = sample_results(gated_report.parent)
    violations = evaluate(results.invariants, results.invariant_set.gate)
    page = _open(browser, gated_report, 1400, 900)
    links = page.locator("#gate li a")
    assert violations and links.count() == min(len(violations), html.GATE_SHOWN)
    box = page.locator("#gate").bounding_box()
    assert box is not None and box["y"] + box["height"] < 900
    links.first.click()
    page.wait_for_selector("#detail article.inv")
    assert "PAY-002" in (page.text_content("#detail h2") or "")
    page.close()


def test_the_tests_table_stacks_on_a_phone(browser: Any, gated_report: Path) -> None:
    page = _open(browser, gated_report, 400, 800, "#i1")
    cells = page.evaluate("""() => [...document.querySelectorAll('#detail table.tests td')]
        .map(td => { const r = td.getBoundingClientRect();
                     return [getComputedStyle(td).display, td.dataset.label || 'test',
                             r.left >= 0 && r.right <= window.innerWidth && r.width > 0]; })""")
    assert cells and all(display == "block" for display, _, _ in cells)
    labels = {label for _, label, _ in cells}
    assert {"test", "link", "outcome", "evidence"} <= labels
    assert all(inside for _, _, inside in cells)
    page.close()


def test_status_colours_tell_close_statuses_apart(browser: Any, gated_report: Path) -> None:
    page = _open(browser, gated_report, 1400, 900)
    script = """s => { const e = document.createElement('span'); e.className = 'badge s-' + s;
        document.body.appendChild(e); return getComputedStyle(e).backgroundColor; }"""
    colour = {s: page.evaluate(script, s) for s in ("verified", "proven", "failing", "unverified")}
    assert colour["verified"] != colour["proven"] and colour["failing"] != colour["unverified"]
    page.close()
