"""Decide how one test relates to one invariant (docs/classification.md).

Pure functions over plain values: an Invariant and the TestEvidence of one
test go in, a Link (or None) comes out. One small function per spoiling rule,
so each rule can be read, tested and argued about on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    Invariant,
    LineSet,
    Link,
    LinkKind,
    MockCall,
    ObjectRef,
    ScopeEntry,
    TestEvidence,
    under,
)

__all__ = [
    "link_for",
    "mocked_out",
    "replaces_an_object",
    "scope_lines_run",
    "spoilers",
    "spoils_through",
]

MOCKED_OUT = "mocked-out"
AGAINST_DOUBLES = "against-doubles"


def _names_of(double: DoubleRecord) -> list[str]:
    """Return the dotted names a double stands for: its target and what it replaced.

    A method bound to one instance (`patch.object(logger, "warning")`) replaced that
    instance's attribute only; the class's function it came from stays real for the
    code that reads the class, so its name is not one of the double's.
    """
    names = [double.target, *double.aliases]
    bound = double.original is not None and double.original.type == "method"
    original = double.original.dotted if double.original and not bound else None
    if original:
        names.append(original)
    return list(dict.fromkeys(names))


def _allowed(names: Iterable[str], inv: Invariant) -> bool:
    return any(under(name, allowed) for name in names for allowed in inv.allow_doubles)


def _defined_in(ref: ObjectRef | None, entry: ScopeEntry) -> bool:
    """Return True when the replaced object is a function or class defined inside `entry`."""
    if ref is None or ref.file is None or ref.file != entry.file or ref.type == "module":
        return False
    return entry.lines is None or (ref.line is not None and entry.contains_line(ref.line))


def mocked_out(double: DoubleRecord, inv: Invariant) -> bool:
    """Rule (a): the double's target, or the object it replaced, lies inside the scope."""
    for entry in inv.code:
        if entry.dotted and under(double.target, entry.dotted):
            return True
        if _defined_in(double.original, entry):
            return True
    return False


def spoils_through(name: str, read: str, read_is_module: bool) -> bool:
    """Return True when a double of `name` changes what the read chain `read` loads.

    SPEC 4 (v1.1): the double's name equals the chain, is an ancestor of it
    (replacing `shop.gateway` replaces `shop.gateway.charge`), or lies under a
    chain that is not a module (replacing `Session.post` when the code reads
    `Session`). Reading a module does not make everything in it a read.
    """
    return under(read, name) or (not read_is_module and under(name, read))


def _replaces_a_read(double: DoubleRecord, inv: Invariant) -> bool:
    """Rule (b), second half: the double replaced something the scope code reads."""
    names = _names_of(double)
    return any(
        spoils_through(name, read, read in entry.module_reads)
        for entry in inv.code
        for read in entry.reads
        for name in names
    )


def replaces_an_object(double: DoubleRecord) -> bool:
    """Return True when a configuration change swaps a name itself for plain data.

    Changing items inside the real object (an environment variable, a key of a
    mapping, `sys.path` grown by `syspath_prepend`, the working directory) leaves
    the object the code talks to in place (SPEC 4, v1.1).
    """
    target = double.target
    if target.startswith("env:") or "[" in target or target == "cwd":
        return False
    return not double.via.endswith(("syspath_prepend", "chdir"))


def _must_be_real(double: DoubleRecord, inv: Invariant) -> bool:
    """Rule (c): the double's target is under one of the invariant's must_be_real names."""
    return any(under(name, real) for name in _names_of(double) for real in inv.must_be_real)


def _config_spoilers(inv: Invariant, ev: TestEvidence) -> Iterator[tuple[str, str]]:
    """Rule (c) for configuration changes: a must_be_real object swapped for plain data."""
    for double in ev.doubles:
        if double.kind is not DoubleKind.CONFIG or not inv.must_be_real:
            continue
        if _allowed(_names_of(double), inv) or not replaces_an_object(double):
            continue
        if _must_be_real(double, inv):
            words = _describe_double(double)
            yield AGAINST_DOUBLES, f"{words}: it is listed in must_be_real; plain data stands in"


def _call_in_scope(call: MockCall, inv: Invariant) -> bool:
    return any(
        call.caller_file == entry.file and entry.contains_line(call.caller_line)
        for entry in inv.code
    )


def _describe_double(double: DoubleRecord) -> str:
    replaced = (
        f" (the real {double.original.dotted})"
        if double.original and double.original.dotted and double.original.dotted != double.target
        else ""
    )
    also = f" (also {', '.join(double.aliases)})" if double.aliases else ""
    what = f"{double.target}{also}{replaced}"
    return f"{double.via} replaced {what} with {double.replacement} at {double.where}"


def _one_double(double: DoubleRecord) -> tuple[object, ...]:
    """Identify one double across the records of its names (a detector's `http` and the
    `requests.adapters.HTTPAdapter.send` it patches are one activation, told once)."""
    names = frozenset((double.target, *double.aliases))
    return (names, double.via, double.replacement, double.where)


def _double_spoilers(inv: Invariant, ev: TestEvidence) -> Iterator[tuple[str, str]]:
    told: set[tuple[object, ...]] = set()
    for double in ev.doubles:
        if double.kind is not DoubleKind.DOUBLE or _allowed(_names_of(double), inv):
            continue
        found = _double_spoils(double, inv)
        if found is None:
            continue
        if double.aliases:
            one = _one_double(double)
            if one in told:
                continue
            told.add(one)
        yield found


def _double_spoils(double: DoubleRecord, inv: Invariant) -> tuple[str, str] | None:
    words = _describe_double(double)
    if not inv.scoped:
        return AGAINST_DOUBLES, words
    if mocked_out(double, inv):
        return MOCKED_OUT, f"{words}: that is the invariant's own code"
    if _must_be_real(double, inv):
        return AGAINST_DOUBLES, f"{words}: it is listed in must_be_real"
    if _replaces_a_read(double, inv):
        return AGAINST_DOUBLES, f"{words}: the scope code reads it"
    return None


def _call_spoilers(inv: Invariant, ev: TestEvidence) -> Iterator[tuple[str, str]]:
    for call in ev.mock_calls:
        if call.target and _allowed([call.target], inv):
            continue
        if _call_in_scope(call, inv):
            how = f"patched in as {call.target}" if call.target else "passed in by the test"
            yield (
                AGAINST_DOUBLES,
                (f"mock {call.mock} ({how}) was called from {call.caller_file}:{call.caller_line}"),
            )


def spoilers(inv: Invariant, ev: TestEvidence) -> list[tuple[str, str]]:
    """Return (detail, evidence) for every double that spoils `ev` as evidence for `inv`."""
    found = [*_double_spoilers(inv, ev), *_config_spoilers(inv, ev)]
    if inv.scoped:
        found.extend(_call_spoilers(inv, ev))
    return list(dict.fromkeys(found))


def scope_lines_run(inv: Invariant, ev: TestEvidence) -> dict[str, LineSet]:
    """Return, per scope file, the lines of the invariant's scope that ran during the test."""
    ran: dict[str, list[LineSet]] = {}
    for entry in inv.code:
        lines = ev.executed.get(entry.file)
        if not lines:
            continue
        if entry.lines is not None:
            # Bisect the scope's span, not every line run in the file: this is the
            # inner loop of classification (benchmarks/scale.py).
            first, last = entry.lines
            lines = lines.intersection(range(first, last + 1))
        hit = lines if isinstance(lines, LineSet) else LineSet(lines)  # a frozenset from a test
        if hit:
            ran.setdefault(entry.file, []).append(hit)
    return {
        path: hits[0] if len(hits) == 1 else LineSet(set().union(*hits))
        for path, hits in ran.items()
    }


def _count(lines: dict[str, LineSet]) -> int:
    return sum(len(v) for v in lines.values())


def link_for(inv: Invariant, ev: TestEvidence) -> Link | None:
    """Return the link between one test and one invariant, or None when there is none."""
    claims = inv.id in ev.claims
    ran = scope_lines_run(inv, ev)
    if not claims and not ran:
        return None
    spoiled = spoilers(inv, ev)
    how = "claims it through a `tests:` glob" if inv.id in ev.glob_claims else "claims it"
    ran_words = f"ran {_count(ran)} scope line(s)" if ran else "ran none of its scope"
    evidence = tuple(words for _, words in spoiled)
    if not claims:
        kind = LinkKind.INCIDENTAL
        detail = spoiled[0][0] if spoiled else None
        evidence = (f"does not claim it but {ran_words}", *evidence)
    elif spoiled:
        kind, detail = LinkKind.MOCK_BASED, spoiled[0][0]
        evidence = (f"{how}; {ran_words}", *evidence)
    elif inv.scoped and not ran:
        kind, detail = LinkKind.CLAIMED, None
        evidence = (f"{how} but {ran_words}",)
    else:
        kind, detail = LinkKind.REAL, None
        evidence = (f"{how}; {ran_words} with no test double in the way",)
        if not inv.scoped:
            evidence = (f"{how}; no scope, so execution was not checked; no test double active",)
    return Link(
        nodeid=ev.nodeid,
        kind=kind,
        outcome=ev.outcome,
        detail=detail,
        evidence=evidence,
        unscoped=not inv.scoped,
        executed=ran,
    )
