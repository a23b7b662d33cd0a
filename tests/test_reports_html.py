"""The HTML report: self-contained, escaped, readable, and fast at scale."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_invariants.gate import evaluate
from pytest_invariants.reports import html, svg
from pytest_invariants.results import to_dict
from tests.report_builders import XSS, big_results, sample_results, write_sources


@pytest.fixture
def page(tmp_path: Path) -> str:
    write_sources(tmp_path)
    results = sample_results(tmp_path)
    return html.render(results, evaluate(results.invariants, results.invariant_set.gate))


class _Scripts(HTMLParser):
    """Collect every element name, script body and URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]
        if tag == "script":
            self._in_script = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self.scripts.append((self._in_script, data))
            self._in_script = None


def _parse(text: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(text)
    return parser


def test_title_with_script_is_escaped_everywhere(page: str) -> None:
    assert XSS not in page
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    parsed = _parse(page)
    assert parsed.tags.count("script") == 2  # our data block and our code, nothing else
    assert "img" not in parsed.tags


def test_embedded_json_cannot_close_its_script(page: str) -> None:
    parsed = _parse(page)
    data = next(body for attrs, body in parsed.scripts if attrs.get("type") == "application/json")
    assert "</" not in data and "<" not in data
    rows = json.loads(data)
    assert any(row[1] == XSS for row in rows)  # the exact title, decoded by JSON.parse


def test_no_external_resource(page: str) -> None:
    urls = _parse(page).urls
    assert urls, "the page has links"
    for url in urls:
        assert url.startswith(("#", "https://example.org")) or "://" not in url, url
    assert "javascript:" not in " ".join(urls)
    inline = page.replace("url(#arrow)", "").replace("url(#arrow-dep)", "")
    assert "@import" not in page and "@font-face" not in page and "url(" not in inline


def test_csp_allows_only_our_script(page: str) -> None:
    match = re.search(r"script-src '(sha256-[^']+)'", page)
    assert match
    code = next(body for attrs, body in _parse(page).scripts if not attrs)
    assert html._csp_hash(code) == match.group(1)
    assert "default-src 'none'" in page


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("https://x.org/a", True),
        ("http://x.org", True),
        ("docs/adr/7.md", True),
        ("../a.md#x", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("//evil.org/x", False),
        ("file:///etc/passwd", False),
        ("java\nscript:x", False),
        ("vbscript:x", False),
        ("https:evil", False),
    ],
)
def test_safe_href(target: str, allowed: bool) -> None:
    assert (html.safe_href(target) is not None) is allowed


def test_overview_and_table(page: str) -> None:
    assert "Gate FAILED: 3 invariant(s) break the policy." in page
    assert page.count('<tr data-i="') == 9
    # One count view: a card per status present, with its severities in words.
    assert page.count('class="card s-') == 6
    assert re.search(r'data-status="unverified".*?1 critical · 1 high · 1 low', page, re.S)
    assert 'class="matrix"' not in page and 'class="chart"' not in page
    for control in ('id="q"', 'id="f-status"', 'id="f-severity"', 'id="f-owner"'):
        assert control in page


def test_detail_sections_hold_the_evidence(page: str) -> None:
    pay2 = page[page.index('<template id="tpl-1">') : page.index('<template id="tpl-2">')]
    assert "unittest.mock.patch replaced shop.billing.charge_order with MagicMock" in pay2
    assert 'class="graph"' in pay2 and "shop.billing.charge_order" in pay2
    pay1 = page[page.index('<template id="tpl-0">') : page.index('<template id="tpl-1">')]
    assert '<a href="https://example.org/rb"' in pay1
    assert 'href="javascript' not in pay1 and "javascript:alert(1)" in pay1
    assert "Surviving mutants" in pay1 and "m2 (survived)" in pay1
    assert "m3-equivalent" not in pay1  # waived as equivalent: not a finding
    assert "&lt;script&gt;x&lt;/script&gt;" in pay1  # the mutant's diff is escaped


def test_source_lines_are_marked(page: str) -> None:
    pay1 = page[page.index('<template id="tpl-0">') : page.index('<template id="tpl-1">')]
    assert re.search(r'class="l m-real"><span class="n">4</span>\s*receipt = gateway', pay1)
    assert 'class="l m-none"><span class="n">1</span>def charge_order' in pay1
    pay6 = page[page.index('<template id="tpl-5">') : page.index('<template id="tpl-6">')]
    assert re.search(r'class="l m-never"><span class="n">11</span>', pay6)


def test_source_missing_is_said(tmp_path: Path) -> None:
    text = html.render(sample_results(tmp_path / "nowhere"), None)
    assert "source not available" in text
    assert "the results do not name the rootdir" in html.render(sample_results(""), None)


def test_source_outside_the_rootdir_is_not_read(tmp_path: Path) -> None:
    reader = html.SourceReader(str(tmp_path))
    assert "outside the rootdir" in str(reader.lines("../../etc/passwd"))


def test_render_to_writes_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    html.render_to(target, sample_results(), None)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_renders_results_read_back_from_json(tmp_path: Path) -> None:
    from pytest_invariants.results import from_dict

    again = from_dict(json.loads(json.dumps(to_dict(sample_results()))))
    assert "PAY-002" in html.render(again, None)


def test_graph_caps_columns_and_escapes() -> None:
    nodes = [svg.Node(f"t{i}", f"<t{i}>", 1, "#000") for i in range(20)]
    drawing = svg.draw_graph(svg._capped(nodes, 1), [], "g")
    assert "+13 more" in drawing and "&lt;t0&gt;" in drawing and "<t0>" not in drawing


def test_scale_1000_invariants_10000_tests() -> None:
    results = big_results()
    # How long it takes is measured by benchmarks/scale.py, not asserted here.
    text = html.render(results, None)
    assert text.count('<tr data-i="') == 1000
    assert len(text) < 40_000_000


@pytest.mark.invariant("WHY-003")
def test_code_to_rules_names_the_guards_of_each_line(page: str) -> None:
    section = page[page.index('<section id="code-rules">') : page.index('<section id="run">')]
    billing = section[section.index("<code>src/shop/billing.py</code>") :]
    billing = billing[: billing.index("</details>")]
    lines = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r'<span class="n">(\d+)</span>(.*?)</span>\n', billing)
    }
    # line 4 is inside charge_order (PAY-001, PAY-002); line 11 inside refund (PAY-006's scope)
    assert re.findall(r'href="#i(\d+)">([\w-]+)</a>', lines[4])[:1] == [("0", "PAY-001")]
    assert "PAY-006" not in lines[4] and "PAY-006" in lines[11]
    assert 'class="g s-verified"' in lines[4]
