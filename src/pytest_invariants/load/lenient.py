"""Read an invalid invariants file as well as it can be read, for `invariants diff`.

A base revision whose invariants do not validate can still be compared: what
can be read is kept, and what cannot is guessed plainly (an unknown severity
reads as the lowest, a scope entry as written).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_invariants.load import yamlsafe
from pytest_invariants.model import (
    GatePolicy,
    Invariant,
    InvariantSet,
    Lifecycle,
    Location,
    Problem,
    ScopeEntry,
    ScopeKind,
    Severity,
)

__all__ = ["lenient_set"]


def _plain(node: yamlsafe.Node) -> Any:
    value = node.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(pair.value) for key, pair in value.items()}
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _guess_entry(raw: str) -> ScopeEntry:
    """Read a scope entry without resolving it: enough to compare names."""
    text = raw.strip()
    if text.endswith(".py") or "/" in text:
        return ScopeEntry(raw, ScopeKind.FILE, text, None, None)
    if ":" in text:
        module, _, qualname = text.partition(":")
        return ScopeEntry(raw, ScopeKind.QUALNAME, "", f"{module}.{qualname}", None)
    return ScopeEntry(raw, ScopeKind.MODULE, "", text, None)


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        return Severity.MEDIUM


def _lifecycle(value: Any) -> Lifecycle:
    try:
        return Lifecycle(str(value or "active"))
    except ValueError:
        return Lifecycle.ACTIVE


def _lenient_invariant(
    data: dict[str, Any], defaults: dict[str, Any], where: Location
) -> Invariant | None:
    merged = {**defaults, **data}
    iid = merged.get("id")
    if not isinstance(iid, str) or not iid:
        return None
    links = merged.get("links")
    threshold = merged.get("prove_threshold")
    return Invariant(
        id=iid,
        title=str(merged.get("title") or ""),
        why=str(merged.get("why") or ""),
        owner=str(merged.get("owner") or ""),
        severity=_severity(merged.get("severity", "medium")),
        code=tuple(_guess_entry(raw) for raw in _strings(merged.get("code"))),
        must_be_real=_strings(merged.get("must_be_real")),
        allow_doubles=_strings(merged.get("allow_doubles")),
        tests=_strings(merged.get("tests")),
        depends_on=_strings(merged.get("depends_on")),
        tags=_strings(merged.get("tags")),
        links={str(k): str(v) for k, v in links.items()} if isinstance(links, dict) else {},
        lifecycle=_lifecycle(merged.get("status")),
        reviewed=merged.get("reviewed") if isinstance(merged.get("reviewed"), str) else None,
        prove_threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
        location=where,
    )


def _lenient_file(path: Path, shown: str) -> tuple[list[Invariant], GatePolicy]:
    data = yamlsafe.read_limited(path, shown)
    if isinstance(data, Problem):
        return [], GatePolicy()
    root, _ = yamlsafe.parse_yaml(data, shown)
    if root is None or not isinstance(root.value, dict):
        return [], GatePolicy()
    items = root.value.get("invariants")
    defaults = _plain(root.value["defaults"].value) if "defaults" in root.value else {}
    found: list[Invariant] = []
    for node in items.value.value if items and isinstance(items.value.value, tuple) else ():
        if isinstance(node.value, dict):
            inv = _lenient_invariant(
                _plain(node), defaults if isinstance(defaults, dict) else {}, node.location(shown)
            )
            found += [inv] if inv else []
    return found, _lenient_gate(_plain(root.value["gate"].value) if "gate" in root.value else {})


def _lenient_gate(data: Any) -> GatePolicy:
    fail_on = data.get("fail_on") if isinstance(data, dict) else None
    if not isinstance(fail_on, dict):
        return GatePolicy()
    return GatePolicy({str(k): frozenset(_strings(v)) for k, v in fail_on.items()})


def lenient_set(paths: Sequence[Path], root: Path) -> InvariantSet:
    """Read invalid files as far as they go, so a broken BASE can still be compared."""
    invariants: dict[str, Invariant] = {}
    policy: dict[str, frozenset[str]] = {}
    for path in paths:
        full = path if path.is_absolute() else root / path
        shown = full.relative_to(root).as_posix() if root in full.parents else str(full)
        found, gate = _lenient_file(full, shown)
        invariants.update((inv.id, inv) for inv in found if inv.id not in invariants)
        policy.update(gate.fail_on)
    return InvariantSet(tuple(invariants.values()), gate=GatePolicy(policy))
