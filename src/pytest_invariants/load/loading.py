"""Find, read and validate the invariants files (docs/loading.md).

The loader turns YAML into `model.InvariantSet` or into a list of `Problem`s:
every problem of every file at once, each at the line:col to fix, so one run
shows everything that is wrong. It never raises for bad input and never
imports the user's code (scopes are resolved statically by `scopes`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import gc
import hashlib
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pytest_invariants.load.scopecache import FactsCache
from pytest_invariants.load.scopes import ScopeResolver
from pytest_invariants.load.sources import scope_hashes
from pytest_invariants.load.yamlsafe import Node, Pair, parse_yaml, read_limited, yaml_cache
from pytest_invariants.model import (
    SEVERITIES,
    GatePolicy,
    Invariant,
    InvariantSet,
    Lifecycle,
    Location,
    Problem,
    ScopeEntry,
    Severity,
    Status,
)
from pytest_invariants.text import printable

__all__ = ["LoadError", "discover", "format_problems", "load_invariants"]

SCHEMA_VERSION: Final = 1
ID_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
LIFECYCLES: Final = tuple(life.value for life in Lifecycle)
# The gate may also fail on the two flags a status can carry (docs/classification.md, docs/diff.md).
GATE_STATUSES: Final = (*(s.value for s in Status), "partial", "suspect")

TOP_KEYS: Final = ("version", "defaults", "gate", "invariants", "prove")
DEFAULT_KEYS: Final = ("owner", "severity", "must_be_real", "allow_doubles", "tags")
GATE_KEYS: Final = ("fail_on",)
PROVE_KEYS: Final = ("threshold",)
INVARIANT_KEYS: Final = (
    "id", "title", "why", "owner", "severity", "code", "must_be_real", "allow_doubles",
    "tests", "depends_on", "tags", "links", "status", "reviewed", "prove",
)  # fmt: skip
LIST_KEYS: Final = ("code", "must_be_real", "allow_doubles", "tests", "depends_on", "tags")
INHERITED_LISTS: Final = ("must_be_real", "allow_doubles", "tags")


class LoadError(Exception):
    """The invariants files cannot even be found; carries the problems to show."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


# --------------------------------------------------------------------------
# Discovery


def discover(
    rootdir: Path, explicit: str | None = None, ini_value: str | None = None
) -> list[Path]:
    """Return the invariants files to load, first match wins (docs/loading.md).

    The order is: `explicit` (`--invariants=PATH`, a file or a folder), the
    ini setting `invariants_file`, the folder `invariants/` at the rootdir,
    then `invariants.yaml` at the rootdir. Relative paths are relative to the
    rootdir. Returns [] when nothing is found; raises `LoadError` when a path
    the user named does not exist.
    """
    for given, source in (
        (explicit, "--invariants"),
        (ini_value, "the ini setting invariants_file"),
    ):
        if given:
            return _named(rootdir, given, source)
    found = _yaml_files(rootdir / "invariants")
    if found:
        return found
    single = rootdir / "invariants.yaml"
    return [single] if single.is_file() else []


def _named(rootdir: Path, given: str, source: str) -> list[Path]:
    path = Path(given).expanduser()
    path = path if path.is_absolute() else rootdir / path
    if path.is_file():
        return [path]
    if path.is_dir():
        found = _yaml_files(path)
        if found:
            return found
        what = f"{source} names the folder {given}, which holds no *.yaml or *.yml file"
        raise LoadError([Problem(Location(given), what, "add an invariants file to it")])
    what = f"{source} names {given}, which does not exist"
    raise LoadError(
        [Problem(Location(given), what, "give a file or folder relative to the rootdir")]
    )


def _yaml_files(folder: Path) -> list[Path]:
    """List the YAML files directly in `folder`, sorted; hidden files (editor locks) are skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (".yaml", ".yml")
        and not path.name.startswith(".")
        # A dangling link is listed: reading it gives a located problem, not silence.
        and (path.is_file() or path.is_symlink())
    )


# --------------------------------------------------------------------------
# Reading one file into drafts


@dataclass
class _Defaults:
    """What a file's `defaults:` (and top-level `prove:`) give every invariant."""

    owner: str | None = None
    severity: Severity = Severity.MEDIUM
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    prove_threshold: float | None = None


@dataclass
class _Draft:
    """One invariant as written, before the checks across files and scope resolution."""

    id: str | None
    location: Location
    title: str | None = None
    why: str | None = None
    owner: str | None = None
    severity: Severity = Severity.MEDIUM
    lists: dict[str, list[tuple[str, Location]]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    reviewed: str | None = None
    prove_threshold: float | None = None

    def names(self, key: str) -> tuple[str, ...]:
        return tuple(text for text, _ in self.lists.get(key, []))


@dataclass
class _File:
    """One invariants file: its bytes, where it is shown from, and what it holds."""

    display: str
    data: bytes = b""
    drafts: list[_Draft] = field(default_factory=list)
    gate: dict[str, tuple[frozenset[str], Location]] = field(default_factory=dict)


class _Checker:
    """Check the values of one file, collecting every problem with its place."""

    def __init__(self, display: str, problems: list[Problem]) -> None:
        self.display = display
        self.problems = problems

    def add(self, node: Node, what: str, fix: str = "", ident: str | None = None) -> None:
        self.problems.append(Problem(node.location(self.display), what, fix, ident))

    def keys(
        self, mapping: dict[str, Pair], allowed: Sequence[str], where: str, ident: str | None = None
    ) -> None:
        """Report every key of `mapping` that is not in `allowed`, with a suggestion."""
        for key, pair in mapping.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                fix = f"did you mean `{close[0]}`?" if close else "allowed: " + ", ".join(allowed)
                self.add(pair.key, f"unknown key `{key}` {where}", fix, ident)

    def text(self, node: Node, name: str, ident: str | None = None) -> str | None:
        """Return the non-empty text of `node`, or report what it is instead."""
        if not isinstance(node.value, str):
            self.add(
                node,
                f"`{name}` must be text, not {_kind(node)}",
                "write it as text, in quotes if needed",
                ident,
            )
            return None
        if not node.value.strip():
            self.add(node, f"`{name}` is empty", f"write the {name}, or remove the key", ident)
            return None
        return node.value

    def texts(self, node: Node, name: str, ident: str | None = None) -> list[tuple[str, Location]]:
        """Return a list of non-empty texts with their places, reporting any other item."""
        if not isinstance(node.value, tuple):
            self.add(
                node,
                f"`{name}` must be a list of text, not {_kind(node)}",
                f"write it as a list: {name}: [...]",
                ident,
            )
            return []
        found = []
        for item in node.value:
            text = self.text(item, f"{name} entry", ident)
            if text is not None:
                found.append((text, item.location(self.display)))
        return found

    def mapping(self, node: Node, name: str, ident: str | None = None) -> dict[str, Pair] | None:
        if isinstance(node.value, dict):
            return node.value
        self.add(
            node,
            f"`{name}` must be a mapping (key: value lines), not {_kind(node)}",
            f"indent `key: value` lines under `{name}:`",
            ident,
        )
        return None

    def choice(
        self, node: Node, name: str, allowed: Sequence[str], ident: str | None = None
    ) -> str | None:
        """Return the value of `node` when it is one of `allowed`, else report it."""
        value = node.value if isinstance(node.value, str) else node.text
        if isinstance(node.value, str | int | float) and value in allowed:
            return value
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        fix = f"did you mean `{close[0]}`?" if close else "use one of: " + ", ".join(allowed)
        self.add(node, f"unknown {name} `{value}`", fix, ident)
        return None

    def threshold(self, node: Node, ident: str | None = None) -> float | None:
        """Return `prove: {threshold: x}` as a float in 0..1, else report it."""
        prove = self.mapping(node, "prove", ident)
        if prove is None:
            return None
        self.keys(prove, PROVE_KEYS, "in `prove`", ident)
        pair = prove.get("threshold")
        if pair is None:
            return None
        value = pair.value.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            self.add(
                pair.value,
                "`prove.threshold` must be a number from 0 to 1",
                "write the share of mutants that must be killed, e.g. 0.9",
                ident,
            )
            return None
        return float(value)


def _kind(node: Node) -> str:
    """Name the type of a YAML value in plain words."""
    value = node.value
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({node.text})"
    if isinstance(value, int | float):
        return f"a number ({node.text})"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "text"


def _read_file(
    path: Path, display: str, problems: list[Problem], cache: FactsCache | None = None
) -> _File:
    """Read and check one file, adding its problems to `problems`."""
    result = _File(display)
    if path.is_symlink() and not path.exists():
        problems.append(
            Problem(
                Location(display),
                f"a symbolic link to {os.readlink(path)}, which does not exist",
                "point the link at an invariants file, or remove it",
            )
        )
        return result
    data = read_limited(path, display)
    if isinstance(data, Problem):
        problems.append(data)
        return result
    result.data = data
    root, yaml_problems = parse_yaml(data, display, cache)
    problems.extend(yaml_problems)
    if root is None:
        return result
    check = _Checker(display, problems)
    if not isinstance(root.value, dict):
        check.add(
            root,
            f"the file must be a mapping with `version` and `invariants`, not {_kind(root)}",
            "start it with `version: 1`, then `invariants:`",
        )
        return result
    top = root.value
    check.keys(top, TOP_KEYS, "at the top level")
    _check_version(check, root, top)
    defaults = _defaults(check, top)
    if "gate" in top:
        result.gate = _gate(check, top["gate"].value)
    if "invariants" in top:
        result.drafts = _drafts(check, top["invariants"].value, defaults)
    return result


def _check_version(check: _Checker, root: Node, top: dict[str, Pair]) -> None:
    pair = top.get("version")
    if pair is None:
        check.add(root, "the file has no `version`", f"add `version: {SCHEMA_VERSION}` first")
        return
    value = pair.value.value
    if isinstance(value, str) and value.strip() == str(SCHEMA_VERSION):
        check.add(
            pair.value,
            f"`version` is the text {value!r}, not the number {SCHEMA_VERSION}",
            f"write `version: {SCHEMA_VERSION}` without quotes",
        )
        return
    if isinstance(value, bool) or value != SCHEMA_VERSION:
        check.add(
            pair.value,
            f"unsupported version `{pair.value.text or _kind(pair.value)}`",
            f"this pytest-invariants reads `version: {SCHEMA_VERSION}` (a number)",
        )


def _defaults(check: _Checker, top: dict[str, Pair]) -> _Defaults:
    defaults = _Defaults()
    if "prove" in top:
        defaults.prove_threshold = check.threshold(top["prove"].value)
    pair = top.get("defaults")
    block = check.mapping(pair.value, "defaults") if pair else None
    if block is None:
        return defaults
    check.keys(block, DEFAULT_KEYS, "in `defaults`")
    if "owner" in block:
        defaults.owner = check.text(block["owner"].value, "owner")
    if "severity" in block:
        severity = check.choice(block["severity"].value, "severity", SEVERITIES)
        defaults.severity = Severity(severity) if severity else defaults.severity
    for key in INHERITED_LISTS:
        if key in block:
            defaults.lists[key] = tuple(t for t, _ in check.texts(block[key].value, key))
    return defaults


def _gate(check: _Checker, node: Node) -> dict[str, tuple[frozenset[str], Location]]:
    """Read `gate: {fail_on: {severity: [status, ...]}}`."""
    gate = check.mapping(node, "gate")
    if gate is None:
        return {}
    check.keys(gate, GATE_KEYS, "in `gate`")
    fail_on = check.mapping(gate["fail_on"].value, "fail_on") if "fail_on" in gate else None
    policy: dict[str, tuple[frozenset[str], Location]] = {}
    for severity, pair in (fail_on or {}).items():
        if check.choice(pair.key, "severity in `gate.fail_on`", SEVERITIES) is None:
            continue
        statuses = {
            check.choice(item, "status in `gate.fail_on`", GATE_STATUSES)
            for item in _items(check, pair.value, f"fail_on.{severity}")
        }
        where = pair.key.location(check.display)
        policy[severity] = (frozenset(s for s in statuses if s is not None), where)
    return policy


def _items(check: _Checker, node: Node, name: str) -> tuple[Node, ...]:
    if isinstance(node.value, tuple):
        return node.value
    check.add(node, f"`{name}` must be a list, not {_kind(node)}", f"write {name}: [...]")
    return ()


def _drafts(check: _Checker, node: Node, defaults: _Defaults) -> list[_Draft]:
    items = _items(check, node, "invariants")
    drafts = []
    for item in items:
        if not isinstance(item.value, dict):
            check.add(
                item,
                f"each invariant must be a mapping, not {_kind(item)}",
                "start it with `- id: ...` and indent its keys",
            )
            continue
        drafts.append(_draft(check, item, item.value, defaults))
    return drafts


def _draft(check: _Checker, item: Node, keys: dict[str, Pair], defaults: _Defaults) -> _Draft:
    """Check one invariant mapping; missing keys are reported at its first line."""
    ident = _ident(check, item, keys)
    id_pair = keys.get("id")
    where = (id_pair.key if id_pair else item).location(check.display)
    draft = _Draft(
        ident,
        where,
        owner=defaults.owner,
        severity=defaults.severity,
        prove_threshold=defaults.prove_threshold,
    )
    check.keys(keys, INVARIANT_KEYS, "in an invariant", ident)
    for name in ("title", "why", "owner", "reviewed"):
        if name in keys:
            setattr(draft, name, check.text(keys[name].value, name, ident))
    for name in LIST_KEYS:
        if name in keys:
            draft.lists[name] = check.texts(keys[name].value, name, ident)
    _draft_choices(check, draft, keys, ident)
    for name, fix in (
        ("title", "say in one line what must never break"),
        ("why", "say why it matters: what breaks for whom"),
        ("owner", "name who answers when it breaks, or set `defaults: {owner: ...}`"),
    ):
        if name not in keys and getattr(draft, name) is None:
            check.problems.append(Problem(where, f"the invariant has no `{name}`", fix, ident))
    for name in INHERITED_LISTS:
        inherited = [(text, where) for text in defaults.lists.get(name, ())]
        own = draft.lists.get(name, [])
        draft.lists[name] = inherited + [
            entry for entry in own if entry[0] not in defaults.lists.get(name, ())
        ]
    return draft


def _draft_choices(
    check: _Checker, draft: _Draft, keys: dict[str, Pair], ident: str | None
) -> None:
    """Check the enum, mapping and number keys of one invariant."""
    if "severity" in keys:
        severity = check.choice(keys["severity"].value, "severity", SEVERITIES, ident)
        draft.severity = Severity(severity) if severity else draft.severity
    if "status" in keys:
        draft.lifecycle = Lifecycle(
            check.choice(keys["status"].value, "status", LIFECYCLES, ident) or "active"
        )
    if "links" in keys:
        links = check.mapping(keys["links"].value, "links", ident) or {}
        for name, pair in links.items():
            url = check.text(pair.value, f"links.{name}", ident)
            if url is not None:
                draft.links[name] = url
    if "prove" in keys:
        draft.prove_threshold = check.threshold(keys["prove"].value, ident)


def _ident(check: _Checker, item: Node, keys: dict[str, Pair]) -> str | None:
    """Return the invariant's id when it is valid, reporting it otherwise."""
    pair = keys.get("id")
    if pair is None:
        check.add(item, "the invariant has no `id`", "add `- id: AREA-123` as its first line")
        return None
    ident = check.text(pair.value, "id")
    if ident is not None and not ID_PATTERN.match(ident):
        check.add(
            pair.value,
            f"`{ident}` is not a valid id",
            "start with a letter; use only letters, digits, `_`, `.` and `-` (e.g. PAY-001)",
            ident,
        )
        return None
    return ident


# --------------------------------------------------------------------------
# Checks across files


def _check_ids(drafts: Sequence[_Draft]) -> list[Problem]:
    """Report duplicate ids (at the second place, naming the first) and unknown depends_on."""
    problems: list[Problem] = []
    first: dict[str, _Draft] = {}
    for draft in drafts:
        if draft.id is None:
            continue
        if draft.id in first:
            earlier = first[draft.id].location
            problems.append(
                Problem(
                    draft.location,
                    f"duplicate id {draft.id}: already used at {earlier}",
                    "give every invariant its own id, across all files",
                    draft.id,
                )
            )
            continue
        first[draft.id] = draft
    for draft in drafts:
        for target, where in draft.lists.get("depends_on", []):
            if target not in first:
                fix = _nearest_ids(target, list(first))
                what = f"depends_on names {target}, which is not an invariant id"
                problems.append(Problem(where, what, fix, draft.id))
    return problems


def _nearest_ids(target: str, known: list[str]) -> str:
    """Suggest the ids closest to `target`, or a few known ones when none is close."""
    close = difflib.get_close_matches(target, known, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(close) + "?"
    if not known:
        return "there are no invariants to depend on: remove the entry"
    shown = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
    return f"name an existing id ({shown}), or remove the entry"


def _check_cycles(drafts: Sequence[_Draft]) -> list[Problem]:
    """Report each `depends_on` cycle once, printed whole, at its first member's entry."""
    order: dict[str, _Draft] = {}
    for draft in drafts:
        if draft.id is not None:
            order.setdefault(draft.id, draft)
    graph = {ident: [t for t in d.names("depends_on") if t in order] for ident, d in order.items()}
    rank = {ident: index for index, ident in enumerate(order)}
    problems = []
    for component in _strongly_connected(graph):
        members = set(component)
        start = min(component, key=rank.__getitem__)
        if len(members) == 1 and start not in graph[start]:
            continue
        cycle = _cycle_from(start, graph, members)
        where = next(loc for text, loc in order[start].lists["depends_on"] if text == cycle[1])
        problems.append(
            Problem(
                where,
                "depends_on forms a cycle: " + " -> ".join(cycle),
                "an invariant cannot rest on itself: remove one of these depends_on entries",
                start,
            )
        )
    return problems


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Return the strongly connected components of `graph` (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in graph:
        if root in index:
            continue
        enter(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            child = next((c for c in children if c not in index or c in on_stack), None)
            if child is not None:
                if child in index:
                    low[node] = min(low[node], index[child])
                else:
                    enter(child)
                    work.append((child, iter(graph[child])))
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while not component or component[-1] != node:
                    component.append(stack.pop())
                    on_stack.discard(component[-1])
                components.append(component)
    return components


def _cycle_from(start: str, graph: dict[str, list[str]], members: set[str]) -> list[str]:
    """Return a shortest cycle start -> ... -> start inside one component."""
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in graph[node]:
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if child in members and child not in parents:
                parents[child] = node
                queue.append(child)
    return [start, start]  # unreachable for a true component; keeps the type simple


def _merge_gates(files: Sequence[_File]) -> tuple[GatePolicy, list[Problem]]:
    """Combine the `gate:` sections of all files; one severity may be set only once."""
    fail_on: dict[str, frozenset[str]] = {}
    first: dict[str, Location] = {}
    problems = []
    for file in files:
        for severity, (statuses, where) in file.gate.items():
            if severity in first:
                what = f"the gate for `{severity}` is already set at {first[severity]}"
                problems.append(Problem(where, what, "set each severity in one file only"))
                continue
            first[severity] = where
            fail_on[severity] = statuses
    return GatePolicy(fail_on), problems


# --------------------------------------------------------------------------
# The whole load


def load_invariants(
    paths: Sequence[Path], rootdir: Path, search_path: Sequence[str | Path]
) -> tuple[InvariantSet | None, list[Problem]]:
    """Read, validate and resolve every file into one `InvariantSet`.

    Returns `(set, [])`, or `(None, problems)` with every problem of every
    file, sorted by file and line. Never raises for bad input.
    """
    with _collector_paused():
        return _load(paths, rootdir, search_path)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large, acyclic tree.

    Hundreds of thousands of new nodes trigger collection after collection of
    a growing heap, which doubles the time to load a large file; reference
    counting frees everything here anyway, since no node refers back to another.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    paths: Sequence[Path], rootdir: Path, search_path: Sequence[str | Path]
) -> tuple[InvariantSet | None, list[Problem]]:
    problems: list[Problem] = []
    parsed = yaml_cache(rootdir.resolve())
    files = [
        _read_file(path, _display(path, rootdir), problems, parsed)
        for path in _unique(paths, rootdir)
    ]
    parsed.save()
    drafts = [draft for file in files for draft in file.drafts]
    problems += _check_ids(drafts)
    problems += _check_cycles(drafts)
    gate, gate_problems = _merge_gates(files)
    problems += gate_problems
    resolver = ScopeResolver(rootdir, search_path)
    scopes = {id(draft): _resolve_all(resolver, draft, problems) for draft in drafts}
    resolver.save_cache()
    if problems:
        ordered = sorted(problems, key=lambda p: (p.location.path, p.location.line, p.location.col))
        return None, [_one_line(problem) for problem in ordered]
    invariants = tuple(_build(draft, scopes[id(draft)]) for draft in drafts)
    return InvariantSet(
        invariants=invariants,
        files=tuple(file.display for file in files),
        gate=gate,
        fingerprint=_fingerprint(files),
        sources=scope_hashes(rootdir, (e.file for inv in invariants for e in inv.code)),
    ), []


def _one_line(problem: Problem) -> Problem:
    """Escape line breaks that user text brought into a message: one problem, one line."""
    if not any(char in problem.what + problem.fix for char in "\r\n"):
        return problem
    what, fix = (_escape_breaks(text) for text in (problem.what, problem.fix))
    return dataclasses.replace(problem, what=what, fix=fix)


def _escape_breaks(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _unique(paths: Iterable[Path], rootdir: Path) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        full = path if path.is_absolute() else rootdir / path
        # A dangling link keeps its own name, so its problem names the link.
        seen.setdefault(full.resolve() if full.exists() else Path(os.path.abspath(full)), None)
    return list(seen)


def _display(path: Path, rootdir: Path) -> str:
    """Show `path` relative to the rootdir with POSIX separators when inside it."""
    try:
        shown = path.resolve() if path.exists() else Path(os.path.abspath(path))
        return shown.relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _resolve_all(
    resolver: ScopeResolver, draft: _Draft, problems: list[Problem]
) -> tuple[ScopeEntry, ...]:
    entries = []
    for raw, where in draft.lists.get("code", []):
        entry = resolver.resolve(raw, where)
        if isinstance(entry, Problem):
            problems.append(dataclasses.replace(entry, invariant_id=draft.id))
        else:
            entries.append(entry)
    return tuple(entries)


def _build(draft: _Draft, code: tuple[ScopeEntry, ...]) -> Invariant:
    """Turn a checked draft into the model; only called when there were no problems."""
    assert draft.id and draft.title and draft.why and draft.owner  # checked before
    return Invariant(
        id=draft.id,
        title=draft.title,
        why=draft.why,
        owner=draft.owner,
        severity=draft.severity,
        code=code,
        must_be_real=draft.names("must_be_real"),
        allow_doubles=draft.names("allow_doubles"),
        tests=draft.names("tests"),
        depends_on=draft.names("depends_on"),
        tags=draft.names("tags"),
        links=dict(draft.links),
        lifecycle=draft.lifecycle,
        reviewed=draft.reviewed,
        prove_threshold=draft.prove_threshold,
        location=draft.location,
    )


def _fingerprint(files: Sequence[_File]) -> str:
    """Hash every file's path and bytes, in path order, so any edit changes it."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.display):
        digest.update(file.display.encode() + b"\0" + file.data + b"\0")
    return digest.hexdigest()


def format_problems(problems: Sequence[Problem], where: str = "the invariants files") -> str:
    """Render one line per problem, then a line that counts them and says where they are."""
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    lines = [printable(p.render()) for p in problems]  # user text: no raw control character
    return "\n".join([*lines, f"{count} {noun} in {where}"])
