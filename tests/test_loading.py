"""Tests for discovery, safe YAML reading and validation of invariants files."""

from __future__ import annotations

import json
import textwrap
import time
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from pytest_invariants.load.loading import LoadError, discover, format_problems, load_invariants
from pytest_invariants.model import InvariantSet, Problem, ScopeKind, Severity

HEAD = """\
version: 1
defaults:
  owner: team
invariants:
  - id: PAY-001
    title: A card is never charged twice
    why: Chargebacks.
"""


def write(root: Path, text: str, name: str = "invariants.yaml") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(root: Path) -> tuple[InvariantSet | None, list[Problem]]:
    return load_invariants(discover(root), root, [root / "src"])


def problems_of(root: Path) -> list[str]:
    result, problems = load(root)
    assert result is None
    assert problems, "expected at least one problem"
    return [p.render() for p in problems]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """Return a rootdir with a tiny `shop` package under src/."""
    package = tmp_path / "src" / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "billing.py").write_text("def charge_order(order):\n    return order\n")
    return tmp_path


# One row per validation rule: the document, where the problem must be, and a fragment of it.
RULES = [
    ("not a mapping", "- a\n- b\n", "invariants.yaml:1:1", "must be a mapping"),
    ("missing version", "invariants: []\n", "invariants.yaml:1:1", "no `version`"),
    ("unknown version", "version: 2\ninvariants: []\n", "invariants.yaml:1:10", "version `2`"),
    ("version as text", "version: '1'\ninvariants: []\n", "invariants.yaml:1:10", "version"),
    ("unknown top key", "version: 1\ninvariant: []\n", "invariants.yaml:2:1", "`invariants`"),
    (
        "unknown defaults key",
        "version: 1\ndefaults:\n  ownr: team\ninvariants: []\n",
        "invariants.yaml:3:3",
        "did you mean `owner`",
    ),
    (
        "unknown invariant key",
        HEAD + "    titel: x\n",
        "invariants.yaml:8:5",
        "[PAY-001] unknown key `titel`",
    ),
    (
        "title not text",
        HEAD.replace("title: A card is never charged twice", "title: [a, b]"),
        "invariants.yaml:6:12",
        "`title` must be text",
    ),
    (
        "empty title",
        HEAD.replace("A card is never charged twice", "''"),
        "invariants.yaml:6:12",
        "`title` is empty",
    ),
    (
        "tags not a list",
        HEAD + "    tags: billing\n",
        "invariants.yaml:8:11",
        "`tags` must be a list",
    ),
    (
        "code entry not text",
        HEAD + "    code: [3]\n",
        "invariants.yaml:8:12",
        "`code entry` must be text",
    ),
    (
        "links not a mapping",
        HEAD + "    links: [a]\n",
        "invariants.yaml:8:12",
        "`links` must be a mapping",
    ),
    (
        "link not text",
        HEAD + "    links: {runbook: 3}\n",
        "invariants.yaml:8:22",
        "`links.runbook` must be text",
    ),
    (
        "unknown severity",
        HEAD + "    severity: hihg\n",
        "invariants.yaml:8:15",
        "did you mean `high`",
    ),
    (
        "unknown status",
        HEAD + "    status: retired\n",
        "invariants.yaml:8:13",
        "unknown status `retired`",
    ),
    (
        "id with spaces",
        HEAD.replace("PAY-001", "PAY 001"),
        "invariants.yaml:5:9",
        "`PAY 001` is not a valid id",
    ),
    ("id not text", HEAD.replace("PAY-001", "[1]"), "invariants.yaml:5:9", "`id` must be text"),
    (
        "missing id",
        HEAD.replace("- id: PAY-001\n    title", "- title"),
        "invariants.yaml:5:5",
        "no `id`",
    ),
    (
        "missing title",
        HEAD.replace("    title: A card is never charged twice\n", ""),
        "invariants.yaml:5:5",
        "[PAY-001] the invariant has no `title`",
    ),
    ("missing why", HEAD.replace("    why: Chargebacks.\n", ""), "invariants.yaml:5:5", "no `why`"),
    (
        "missing owner",
        HEAD.replace("defaults:\n  owner: team\n", ""),
        "invariants.yaml:3:5",
        "no `owner`",
    ),
    (
        "unknown depends_on",
        HEAD + "    depends_on: [PAY-01]\n",
        "invariants.yaml:8:18",
        "did you mean PAY-001",
    ),
    (
        "self cycle",
        HEAD + "    depends_on: [PAY-001]\n",
        "invariants.yaml:8:18",
        "cycle: PAY-001 -> PAY-001",
    ),
    (
        "unresolvable code",
        HEAD + "    code: [shop.billing:charge_orders]\n",
        "invariants.yaml:8:12",
        "did you mean `charge_order`",
    ),
    (
        "unknown module",
        HEAD + "    code: [shop.biling]\n",
        "invariants.yaml:8:12",
        "did you mean `shop.billing`",
    ),
    (
        "missing file",
        HEAD + "    code: [src/shop/biling.py]\n",
        "invariants.yaml:8:12",
        "no such file",
    ),
    (
        "bad code entry",
        HEAD + "    code: ['shop billing']\n",
        "invariants.yaml:8:12",
        "not a valid code entry",
    ),
    (
        "prove out of range",
        HEAD + "    prove: {threshold: 2}\n",
        "invariants.yaml:8:24",
        "from 0 to 1",
    ),
    (
        "unknown prove key",
        HEAD + "    prove: {treshold: 0.5}\n",
        "invariants.yaml:8:13",
        "did you mean `threshold`",
    ),
    ("duplicate key", HEAD + "    why: again\n", "invariants.yaml:8:5", "`why` appears twice"),
    (
        "invariants not a list",
        "version: 1\ninvariants: {a: 1}\n",
        "invariants.yaml:2:13",
        "must be a list",
    ),
    (
        "invariant not a mapping",
        "version: 1\ninvariants:\n  - PAY-001\n",
        "invariants.yaml:3:5",
        "must be a mapping",
    ),
    (
        "unknown gate key",
        "version: 1\ngate: {fail: {}}\n",
        "invariants.yaml:2:8",
        "did you mean `fail_on`",
    ),
    (
        "unknown gate severity",
        "version: 1\ngate:\n  fail_on:\n    critcal: [failing]\n",
        "invariants.yaml:4:5",
        "did you mean `critical`",
    ),
    (
        "unknown gate status",
        "version: 1\ngate:\n  fail_on:\n    high: [broken]\n",
        "invariants.yaml:4:12",
        "unknown status in `gate.fail_on` `broken`",
    ),
    (
        "not yaml",
        HEAD.replace("A card is never charged twice", "Refunds: never more"),
        "invariants.yaml:6:19",
        "not valid YAML",
    ),
    ("tabs", "version: 1\ninvariants:\n\t- id: X\n", "invariants.yaml:3:1", "never tabs"),
    ("empty file", "", "invariants.yaml:1:1", "the file is empty"),
    ("comments only", "# nothing yet\n", "invariants.yaml:1:1", "the file is empty"),
    (
        "two documents",
        "version: 1\n---\nversion: 1\n",
        "invariants.yaml:2:1",
        "more than one YAML document",
    ),
    (
        "python tag",
        "version: !!python/object:os.system 1\n",
        "invariants.yaml:1:10",
        "unsupported YAML tag",
    ),
    (
        "recursive alias",
        "version: 1\nx: &a [*a]\n",
        "invariants.yaml:2:8",
        "refers to a value that contains it",
    ),
]


@pytest.mark.invariant("LOAD-001")
@pytest.mark.parametrize(
    ("text", "where", "fragment"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_each_rule_reports_its_place(shop: Path, text: str, where: str, fragment: str) -> None:
    write(shop, text)
    rendered = problems_of(shop)
    matching = [line for line in rendered if line.startswith(where + ":") and fragment in line]
    assert matching, "\n".join(rendered)


def test_a_valid_file_loads_with_defaults_inherited(shop: Path) -> None:
    write(
        shop,
        """\
        version: 1
        defaults:
          owner: payments-team
          severity: high
          must_be_real: [shop.db]
          tags: [billing]
        gate:
          fail_on:
            critical: [failing, mock-only, partial]
        prove: {threshold: 0.8}
        invariants:
          - id: PAY-001
            title: A card is never charged twice
            why: Chargebacks.
            severity: critical
            code: [shop.billing:charge_order]
            must_be_real: [shop.gateway]
            tags: [cards]
            links: {runbook: "https://example.com/rb"}
            tests: ["tests/test_pay.py::test_*"]
          - id: PAY-002
            title: Deprecated rule
            why: History.
            owner: other-team
            status: deprecated
            depends_on: [PAY-001]
            prove: {threshold: 1}
        """,
    )
    result, problems = load(shop)
    assert problems == []
    assert result is not None
    first, second = result.invariants
    assert first.owner == "payments-team" and first.severity is Severity.CRITICAL
    assert first.must_be_real == ("shop.db", "shop.gateway")
    assert first.tags == ("billing", "cards")
    assert first.links == {"runbook": "https://example.com/rb"}
    assert first.prove_threshold == 0.8
    assert first.location.line == 12 and first.location.path == "invariants.yaml"
    assert first.code[0].kind is ScopeKind.QUALNAME
    assert first.code[0].dotted == "shop.billing.charge_order"
    assert first.code[0].location.line == 16
    assert second.owner == "other-team" and second.severity is Severity.HIGH
    assert second.lifecycle == "deprecated" and second.depends_on == ("PAY-001",)
    assert second.prove_threshold == 1.0
    assert result.gate.fail_on == {"critical": frozenset({"failing", "mock-only", "partial"})}
    assert result.files == ("invariants.yaml",)
    assert len(result.fingerprint) == 64


@pytest.mark.invariant("LOAD-002")
def test_duplicate_id_across_files_names_both_places(shop: Path) -> None:
    write(shop, HEAD, "invariants/billing.yaml")
    write(shop, HEAD.replace("title: A card", "title: Copied"), "invariants/refunds.yaml")
    rendered = problems_of(shop)
    assert rendered == [
        "invariants/refunds.yaml:5:5: [PAY-001] duplicate id PAY-001: already used at "
        "invariants/billing.yaml:5:5 -- give every invariant its own id, across all files"
    ]


@pytest.mark.invariant("LOAD-003")
def test_a_cycle_of_three_is_printed_whole_once(shop: Path) -> None:
    rule = "  - id: {0}\n    title: t\n    why: w\n    depends_on: [{1}]\n"
    body = "".join(rule.format(a, b) for a, b in [("A-1", "B-1"), ("B-1", "C-1"), ("C-1", "A-1")])
    write(shop, "version: 1\ndefaults: {owner: o}\ninvariants:\n" + body)
    rendered = problems_of(shop)
    assert len(rendered) == 1
    assert rendered[0].startswith("invariants.yaml:7:18: [A-1] depends_on forms a cycle: ")
    assert "A-1 -> B-1 -> C-1 -> A-1" in rendered[0]


@pytest.mark.invariant("LOAD-001")
def test_all_problems_of_all_files_are_reported_sorted(shop: Path) -> None:
    write(shop, HEAD + "    severity: hihg\n    status: gone\n", "invariants/a.yaml")
    write(shop, "version: 3\ninvariants: []\n", "invariants/b.yaml")
    result, problems = load(shop)
    assert result is None
    places = [(p.location.path, p.location.line) for p in problems]
    assert places == [("invariants/a.yaml", 8), ("invariants/a.yaml", 9), ("invariants/b.yaml", 1)]
    text = format_problems(problems)
    assert text.splitlines()[-1] == "3 problems in the invariants files"


def test_gate_set_twice_is_a_problem(shop: Path) -> None:
    gate = "version: 1\ngate:\n  fail_on:\n    high: [failing]\n"
    write(shop, gate, "invariants/a.yaml")
    write(shop, gate, "invariants/b.yaml")
    assert any("already set at invariants/a.yaml:4:5" in line for line in problems_of(shop))


def test_merge_keys_and_anchors_are_plain_yaml(shop: Path) -> None:
    write(
        shop,
        """\
        version: 1
        invariants:
          - &base
            id: A-1
            title: t
            why: w
            owner: o
          - <<: *base
            id: A-2
        """,
    )
    result, problems = load(shop)
    assert problems == []
    assert result is not None
    assert [(i.id, i.owner) for i in result.invariants] == [("A-1", "o"), ("A-2", "o")]


# -- refusing absurd input ------------------------------------------------


@pytest.mark.invariant("LOAD-001")
def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    (tmp_path / "invariants.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x80")
    assert "not UTF-8 text" in problems_of(tmp_path)[0]


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "invariants.yaml").write_bytes(b"version: 1\ninvariants: [\x00]\n")
    assert problems_of(tmp_path)[0].startswith("invariants.yaml:2:14: not valid YAML")


@pytest.mark.invariant("LOAD-005")
def test_a_50_mb_file_is_refused_quickly(tmp_path: Path) -> None:
    with (tmp_path / "invariants.yaml").open("wb") as stream:
        stream.write(b"version: 1\n# " + b"x" * (50 * 1024 * 1024) + b"\n")
    started = time.perf_counter()
    rendered = problems_of(tmp_path)
    assert time.perf_counter() - started < 2
    assert rendered[0].startswith("invariants.yaml: the file is larger than 5 MB")


@pytest.mark.invariant("LOAD-005")
def test_a_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    write(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    rendered = problems_of(tmp_path)
    assert time.perf_counter() - started < 1
    assert "expands to more than 1,000,000 values" in rendered[0]


@pytest.mark.invariant("LOAD-005")
def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\nx: " + "[" * 500 + "]" * 500 + "\n")
    assert "nested more than 64 levels" in problems_of(tmp_path)[0]


def test_a_huge_number_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "version: " + "9" * 5000 + "\n")
    assert "cannot read the number" in problems_of(tmp_path)[0]


def test_ten_thousand_invariants_load(tmp_path: Path) -> None:
    rule = "  - id: R-{0}\n    title: Rule {0}\n    why: Because {0}.\n    severity: high\n"
    body = "".join(rule.format(n) for n in range(10_000))
    write(tmp_path, "version: 1\ndefaults: {owner: team}\ninvariants:\n" + body)
    started = time.perf_counter()
    result, problems = load(tmp_path)
    elapsed = time.perf_counter() - started
    print(f"10,000 invariants loaded in {elapsed:.2f}s")
    assert problems == []
    assert result is not None and len(result.invariants) == 10_000
    assert result.invariants[-1].id == "R-9999" and result.invariants[-1].location.line == 40_000


# -- discovery --------------------------------------------------------------


def test_discovery_order(tmp_path: Path) -> None:
    assert discover(tmp_path) == []
    single = write(tmp_path, HEAD)
    assert discover(tmp_path) == [single]
    b = write(tmp_path, HEAD, "invariants/b.yml")
    a = write(tmp_path, HEAD, "invariants/a.yaml")
    write(tmp_path, HEAD, "invariants/.#lock.yaml")
    write(tmp_path, HEAD, "invariants/notes.txt")
    assert discover(tmp_path) == [a, b]
    custom = write(tmp_path, HEAD, "conf/rules.yaml")
    assert discover(tmp_path, ini_value="conf/rules.yaml") == [custom]
    assert discover(tmp_path, explicit="invariants.yaml", ini_value="conf/rules.yaml") == [single]
    assert discover(tmp_path, explicit=str(tmp_path / "conf")) == [custom]


def test_discovery_of_a_missing_named_path_raises_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        discover(tmp_path, explicit="nope.yaml")
    assert "--invariants names nope.yaml, which does not exist" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError) as info:
        discover(tmp_path, ini_value="empty")
    assert info.value.problems[0].location.path == "empty"


def test_a_missing_file_given_to_the_loader_is_a_problem(tmp_path: Path) -> None:
    result, problems = load_invariants([tmp_path / "gone.yaml"], tmp_path, [])
    assert result is None and "cannot read the file" in problems[0].what


def test_fingerprint_changes_with_the_bytes(tmp_path: Path) -> None:
    write(tmp_path, HEAD)
    first, _ = load(tmp_path)
    write(tmp_path, HEAD + "    tags: [x]\n")
    second, _ = load(tmp_path)
    assert first is not None and second is not None
    assert first.fingerprint != second.fingerprint


# -- JSON Schema --------------------------------------------------------------


def schema() -> dict[str, object]:
    text = resources.files("pytest_invariants").joinpath("schemas/invariants.schema.json")
    loaded: dict[str, object] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


GOOD = """\
version: 1
defaults: {owner: team, severity: high, must_be_real: [shop.db], allow_doubles: [], tags: [a]}
gate: {fail_on: {critical: [failing, mock-only, suspect], high: [unverified]}}
prove: {threshold: 0.9}
invariants:
  - id: PAY-001
    title: A card is never charged twice
    why: Chargebacks.
    owner: payments
    severity: critical
    code: [shop.billing:charge_order, shop.billing, src/shop/billing.py]
    must_be_real: [shop.db]
    allow_doubles: [shop.clock]
    tests: ["tests/test_x.py::test_*"]
    depends_on: []
    tags: [billing]
    links: {runbook: "https://example.com", adr: docs/adr/0007.md}
    status: active
    reviewed: "sha256:abc"
    prove: {threshold: 1}
"""


def test_schema_accepts_a_good_file_that_the_loader_accepts(shop: Path) -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    jsonschema.validate(yaml.safe_load(GOOD), schema())
    write(shop, GOOD)
    assert load(shop)[1] == []


@pytest.mark.parametrize(
    "bad",
    [
        GOOD.replace("    status: active", "    colour: red"),
        GOOD.replace("version: 1", "version: 2"),
        GOOD.replace("id: PAY-001", "id: PAY 001"),
        GOOD.replace("severity: critical", "severity: severe"),
        GOOD.replace("[failing, mock-only, suspect]", "[broken]"),
        GOOD.replace("prove: {threshold: 0.9}", "prove: {threshold: 1.5}"),
    ],
)
def test_schema_and_loader_both_reject_a_bad_file(shop: Path, bad: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(bad), schema())
    write(shop, bad)
    assert load(shop)[0] is None
