"""Plain values that flow through the tool: load -> evidence -> classify -> report.

Everything here is a frozen dataclass or an enum. Nothing in this module
touches pytest, the file system or the user's code, so every later stage can
be tested with plain values.
"""

from __future__ import annotations

import enum
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SEVERITIES",
    "DoubleKind",
    "DoubleRecord",
    "GatePolicy",
    "Invariant",
    "InvariantResult",
    "InvariantSet",
    "LineSet",
    "Link",
    "LinkKind",
    "Location",
    "MockCall",
    "MutantOutcome",
    "MutantStatus",
    "ObjectRef",
    "RunInfo",
    "RunResults",
    "Outcome",
    "Problem",
    "Proof",
    "ScopeEntry",
    "ScopeKind",
    "Severity",
    "Status",
    "TestEvidence",
    "under",
]


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Return 0 for the most severe level, 3 for the least."""
        return list(Severity).index(self)


SEVERITIES = tuple(s.value for s in Severity)


class Lifecycle(str, enum.Enum):
    """Whether an invariant is in force: the file's `status:` key."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"


class Status(str, enum.Enum):
    """Invariant status (docs/classification.md), worst first."""

    FAILING = "failing"
    UNVERIFIED = "unverified"
    INCIDENTAL = "incidental"
    CLAIMED = "claimed"
    MOCK_ONLY = "mock-only"
    VERIFIED = "verified"
    PROVEN = "proven"

    @property
    def rank(self) -> int:
        """Return 0 for the worst status."""
        return list(Status).index(self)


class LinkKind(str, enum.Enum):
    """How one test relates to one invariant (docs/classification.md)."""

    MOCK_BASED = "mock-based"
    REAL = "real"
    CLAIMED = "claimed"
    INCIDENTAL = "incidental"


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    DESELECTED = "deselected"
    CRASHED = "crashed"  # an xdist worker died while running the test


class ScopeKind(str, enum.Enum):
    QUALNAME = "qualname"  # module:Qual.name
    MODULE = "module"  # dotted.module
    FILE = "file"  # path/relative/to/rootdir.py


class DoubleKind(str, enum.Enum):
    DOUBLE = "double"  # replaces behaviour: spoils
    CONFIG = "config"  # plain data or an environment variable: shown, never spoils
    SPY = "spy"  # calls through to the real object: shown, never spoils


@dataclass(frozen=True)
class Location:
    """A place in a file; `line` and `col` are 1-based, 0 when unknown."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.path
        if not self.col:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, with how to fix it."""

    location: Location
    what: str
    fix: str = ""
    invariant_id: str | None = None

    def render(self) -> str:
        """Return `file:line:col: [ID] what (fix)` on one line."""
        who = f" [{self.invariant_id}]" if self.invariant_id else ""
        fix = f" -- {self.fix}" if self.fix else ""
        return f"{self.location}:{who} {self.what}{fix}"


def under(name: str, prefix: str) -> bool:
    """Return True when dotted `name` equals `prefix` or is a descendant of it.

    A descendant is an attribute (`prefix.attr`) or an item (`prefix[key]`, the
    target `monkeypatch.setitem` and `patch.dict` record): an entry replaced
    inside a container the code reads changes what that read loads.
    """
    return name == prefix or name.startswith((prefix + ".", prefix + "["))


@dataclass(frozen=True)
class ScopeEntry:
    """One `code:` entry, resolved statically.

    `dotted` is the entry as a dotted name (`shop.billing.charge_order`) when it
    has one; a file outside the import path has none. `lines` is the inclusive
    (first, last) line range of the definition, or None for a whole file/module.
    `executable` lists the statement lines a test can run (import-time lines of
    a module, such as `def` and `class` headers, are not among them).
    `reads` holds what the scope code loads at run time, as whole attribute
    chains spelled from a module-level name (`shop.transport.Session`), both as
    the module spells it and through its import; `module_reads` is the subset
    that names a module (SPEC 4: a double under a module read does not spoil).
    """

    raw: str
    kind: ScopeKind
    file: str  # relative to the rootdir, POSIX separators
    dotted: str | None
    lines: tuple[int, int] | None
    executable: frozenset[int] = frozenset()
    reads: frozenset[str] = frozenset()
    location: Location = Location("")
    module_reads: frozenset[str] = frozenset()

    def contains_line(self, line: int) -> bool:
        """Return True when `line` of `file` lies inside this entry."""
        return self.lines is None or self.lines[0] <= line <= self.lines[1]


@dataclass(frozen=True)
class GatePolicy:
    """For each severity, the statuses that fail the run."""

    fail_on: dict[str, frozenset[str]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not any(self.fail_on.values())


@dataclass(frozen=True)
class Invariant:
    id: str
    title: str
    why: str
    owner: str
    severity: Severity
    code: tuple[ScopeEntry, ...] = ()
    must_be_real: tuple[str, ...] = ()
    allow_doubles: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    reviewed: str | None = None
    prove_threshold: float | None = None
    location: Location = Location("")

    @property
    def scoped(self) -> bool:
        return bool(self.code)


@dataclass(frozen=True)
class InvariantSet:
    """Every invariant of every file, with the gate policy and the files read."""

    invariants: tuple[Invariant, ...]
    files: tuple[str, ...] = ()
    gate: GatePolicy = GatePolicy()
    fingerprint: str = ""
    # Scope file -> `sha256:<hex>` of its bytes when loaded; empty in results older
    # than schema 2. `invariants why` uses it to tell that a file changed since.
    sources: dict[str, str] = field(default_factory=dict)

    def by_id(self) -> dict[str, Invariant]:
        return {inv.id: inv for inv in self.invariants}


@dataclass(frozen=True)
class ObjectRef:
    """Where a replaced object was defined, so identity survives serialisation."""

    module: str | None
    qualname: str | None
    file: str | None  # relative to the rootdir when inside it
    line: int | None
    type: str = ""  # 'function', 'class', 'module', 'MagicMock', 'int', ...

    @property
    def dotted(self) -> str | None:
        if self.module and self.qualname:
            return f"{self.module}.{self.qualname}"
        return self.module if self.type == "module" else None


@dataclass(frozen=True)
class DoubleRecord:
    """One replacement made while a test ran."""

    target: str  # dotted name, `env:NAME`, or a boundary such as `http`
    kind: DoubleKind
    replacement: str  # what replaced it, in words: 'MagicMock', 'function fake_charge'
    via: str  # 'unittest.mock.patch', 'monkeypatch.setattr', 'responses', ...
    where: str  # 'tests/test_pay.py:31'
    original: ObjectRef | None = None
    # Other names of the same double: a detector reports a boundary (`clock`) and the
    # modules it patches (`time`, `datetime`) as one double with several names.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class MockCall:
    """A Mock called from a frame inside some scope file."""

    mock: str  # the mock's name, e.g. 'gateway.charge'
    caller_file: str  # relative to the rootdir
    caller_line: int
    target: str | None = None  # the patch target when the mock was patched in


def _packed(lines: Iterable[int]) -> array[int] | tuple[int, ...]:
    """Return `lines` as 4-byte unsigned ints; a tuple when one does not fit (a bad file)."""
    if not isinstance(lines, (list, tuple, array)):
        lines = list(lines)
    try:
        return array("I", lines)
    except OverflowError:
        return tuple(lines)


class LineSet(Set[int]):
    """An immutable set of line numbers, kept sorted at 4 bytes a line.

    What each test ran, and each link: a frozenset of a few hundred lines costs about
    16 KB (a sparse hash table, and an int object per line above 256), which made a
    run's evidence most of its peak memory (docs/performance.md). Equal to a frozenset
    of the same lines; iterates in order.
    """

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterable[int] = ()) -> None:
        self._lines = _packed(sorted(lines if isinstance(lines, (set, frozenset)) else set(lines)))

    @classmethod
    def from_sorted(cls, lines: Iterable[int]) -> LineSet:
        """Return the set of `lines`, which must be strictly increasing (not checked)."""
        new = cls.__new__(cls)
        new._lines = _packed(lines)
        return new

    def __contains__(self, line: object) -> bool:
        if not isinstance(line, int):
            return False
        lines = self._lines
        at = bisect_left(lines, line)
        return at < len(lines) and lines[at] == line

    def __iter__(self) -> Iterator[int]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __hash__(self) -> int:
        return hash(frozenset(self._lines))  # equal to a frozenset, so hashed like one

    def __repr__(self) -> str:
        return f"LineSet({list(self._lines)!r})"

    def __reduce__(self) -> tuple[type[LineSet], tuple[list[int]]]:
        return LineSet, (list(self._lines),)

    def packed(self) -> bytes | None:
        """Return bytes equal between two LineSets exactly when their lines are (None: unpacked)."""
        return self._lines.tobytes() if isinstance(self._lines, array) else None

    # The operators of a set, done by the built-in set (Set's mixins loop in Python).
    def __or__(self, other: Iterable[Any]) -> LineSet:
        return LineSet(set(self._lines).union(other))

    def __and__(self, other: Iterable[Any]) -> LineSet:
        return LineSet(set(self._lines).intersection(other))

    def __sub__(self, other: Iterable[Any]) -> LineSet:
        return LineSet(set(self._lines).difference(other))

    def __rsub__(self, other: Iterable[Any]) -> LineSet:
        return LineSet(set(other).difference(self._lines))

    __ror__ = __or__
    __rand__ = __and__

    def intersection(self, other: Iterable[int]) -> LineSet:
        """Return the lines also in `other`; a `range` of step 1 is two bisections."""
        lines = self._lines
        if isinstance(other, range) and other.step == 1:
            low = bisect_left(lines, other.start)
            return LineSet.from_sorted(lines[low : bisect_left(lines, other.stop, low)])
        return LineSet(line for line in other if line in self)


@dataclass(frozen=True)
class TestEvidence:
    """Everything observed while one test ran (setup, call and teardown)."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    claims: tuple[str, ...] = ()  # invariant ids claimed by marker or glob
    glob_claims: tuple[str, ...] = ()  # the subset claimed only through `tests:` globs
    executed: dict[str, LineSet] = field(default_factory=dict)  # file -> lines
    doubles: tuple[DoubleRecord, ...] = ()
    mock_calls: tuple[MockCall, ...] = ()
    duration: float = 0.0
    location: Location = Location("")
    observation_warnings: tuple[str, ...] = ()
    reason: str = ""  # why a skipped or xfailed test did not count (its skip/xfail reason)


@dataclass(frozen=True)
class Link:
    """One test's relation to one invariant, with the evidence in words."""

    nodeid: str
    kind: LinkKind
    outcome: Outcome
    detail: str | None = None  # 'mocked-out' | 'against-doubles' for mock-based links
    evidence: tuple[str, ...] = ()
    unscoped: bool = False
    executed: dict[str, LineSet] = field(default_factory=dict)

    @property
    def is_evidence(self) -> bool:
        """Only plainly passed tests count towards a status."""
        return self.outcome is Outcome.PASSED


class MutantStatus(str, enum.Enum):
    """What the tests did to one mutant (docs/prove.md)."""

    KILLED = "killed"
    TIMEOUT = "timeout"  # a hang: a failure the tests noticed
    SURVIVED = "survived"
    NOT_REACHED = "not-reached"  # no linked test ran the mutated line: nothing was run
    ERROR = "error"  # the mutant could not be applied or its process died

    @property
    def killed(self) -> bool:
        return self in (MutantStatus.KILLED, MutantStatus.TIMEOUT)


@dataclass(frozen=True)
class MutantOutcome:
    """One mutant of a proof: where it changed the code, the diff, and its fate."""

    id: str
    operator: str
    file: str
    line: int
    diff: str
    status: MutantStatus
    killed_by: str | None = None  # the first failing test's node id
    waived: bool = False  # `# invariants: equivalent` on the mutated line
    why: str | None = None  # for errors and timeouts
    tests: int = 0  # how many linked tests ran it at most (those that ran the line)


@dataclass(frozen=True)
class Proof:
    """The result of proving one invariant by mutation.

    `score = killed / total`, where `total` leaves out waived mutants; a proof
    with a `note` (nothing measured, the baseline failed) is never `proven`.
    `skipped` counts mutants left out because they compile to the original code
    or to the same code as an earlier mutant.
    """

    score: float | None
    threshold: float
    proven: bool
    total: int
    killed: int
    survived: int
    errors: int
    waived: int
    mutants: tuple[MutantOutcome, ...] = ()
    cached: bool = False
    note: str | None = None
    not_reached: int = 0
    skipped: int = 0

    @property
    def survivors(self) -> tuple[MutantOutcome, ...]:
        """The counted mutants the tests did not kill, in source order."""
        return tuple(m for m in self.mutants if not m.waived and not m.status.killed)


@dataclass(frozen=True)
class InvariantResult:
    """The verdict on one invariant, with every link that led to it."""

    invariant: Invariant
    status: Status
    links: tuple[Link, ...] = ()
    scope_coverage: float | None = None  # None when the invariant has no scope
    real_lines: dict[str, frozenset[int]] = field(default_factory=dict)
    double_lines: dict[str, frozenset[int]] = field(default_factory=dict)  # only under doubles
    at_risk: bool = False
    at_risk_because: tuple[str, ...] = ()
    partial: bool = False
    partial_because: tuple[str, ...] = ()  # node ids of claiming tests that did not run
    # Claiming tests that skipped or xfailed by their own markers: (node id, reason).
    # They make nothing partial (SPEC section 5); the report names them.
    skipped: tuple[tuple[str, str], ...] = ()
    suggested_tests: tuple[str, ...] = ()
    suspect: bool = False
    proof: Proof | None = None


@dataclass(frozen=True)
class RunInfo:
    """Facts about the run that produced a set of results."""

    rootdir: str = ""
    tool_version: str = ""
    python: str = ""
    recorder: str = ""  # 'sys.monitoring' | 'probes' | '' (no scope to observe)
    started: str = ""
    finished: str = ""
    complete: bool = True  # False when the run was interrupted
    partial: bool = False  # a narrowed run (SPEC section 5): not everything ran
    partial_reasons: tuple[str, ...] = ()  # why the run is narrowed, one phrase each
    # False when a narrowed run could not know every claiming test: it did not
    # collect everything and no whole run's claim index was on record.
    claims_known: bool = True
    args: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResults:
    """Everything one `pytest --invariants` run found: the input of every report."""

    invariant_set: InvariantSet
    invariants: tuple[InvariantResult, ...]
    tests: tuple[TestEvidence, ...]
    info: RunInfo = RunInfo()
    # node id -> invariant ids it claims, as of the last whole (not narrowed) run;
    # a narrowed run carries it over unchanged (SPEC section 5).
    claim_index: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
