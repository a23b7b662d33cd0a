"""The versioned results file (SPEC section 7): write atomically, read defensively.

The file holds everything needed to recompute every status later (`invariants
gate`, `report`, `combine`): the invariants as loaded, each test's raw
evidence, and the verdicts. Readers never trust it: a foreign or damaged file
gives a ResultsError with a message a user can act on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import (
    DoubleKind,
    DoubleRecord,
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Link,
    LinkKind,
    Location,
    MockCall,
    ObjectRef,
    Outcome,
    RunInfo,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Severity,
    Status,
    TestEvidence,
)

__all__ = [
    "SCHEMA",
    "ResultsError",
    "dumps",
    "evidence_from_dict",
    "evidence_to_dict",
    "from_dict",
    "read_results",
    "to_dict",
    "write_atomically",
    "write_results",
]

# Version history of the results format:
# 1: first version (invariants with links and evidence, per-test evidence, run info).
SCHEMA = "pytest-invariants/results/1"
DEFAULT_PATH = Path(".invariants") / "results.json"


class ResultsError(Exception):
    """A results file that cannot be read; the message says why and what to do."""


# -- writing ------------------------------------------------------------------


def _lines(mapping: Mapping[str, frozenset[int]]) -> dict[str, list[int]]:
    return {path: sorted(lines) for path, lines in sorted(mapping.items())}


def _location(loc: Location) -> dict[str, Any]:
    return {"path": loc.path, "line": loc.line, "col": loc.col}


def _scope(entry: ScopeEntry) -> dict[str, Any]:
    return {
        "entry": entry.raw,
        "kind": entry.kind.value,
        "file": entry.file,
        "dotted": entry.dotted,
        "lines": list(entry.lines) if entry.lines else None,
        "executable": sorted(entry.executable),
        "reads": sorted(entry.reads),
        "location": _location(entry.location),
    }


def _invariant(inv: Invariant) -> dict[str, Any]:
    return {
        "id": inv.id,
        "title": inv.title,
        "why": inv.why,
        "owner": inv.owner,
        "severity": inv.severity.value,
        "code": [_scope(entry) for entry in inv.code],
        "must_be_real": list(inv.must_be_real),
        "allow_doubles": list(inv.allow_doubles),
        "tests_globs": list(inv.tests),
        "depends_on": list(inv.depends_on),
        "tags": list(inv.tags),
        "links_out": dict(inv.links),
        "lifecycle": inv.lifecycle,
        "reviewed": inv.reviewed,
        "prove_threshold": inv.prove_threshold,
        "file": inv.location.path,
        "line": inv.location.line,
    }


def _object_ref(ref: ObjectRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "module": ref.module,
        "qualname": ref.qualname,
        "file": ref.file,
        "line": ref.line,
        "type": ref.type,
    }


def _double(d: DoubleRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": d.target,
        "kind": d.kind.value,
        "replacement": d.replacement,
        "via": d.via,
        "where": d.where,
        "original": _object_ref(d.original),
    }
    if d.aliases:
        data["aliases"] = list(d.aliases)
    return data


def _mock_call(c: MockCall) -> dict[str, Any]:
    return {"mock": c.mock, "caller": f"{c.caller_file}:{c.caller_line}", "target": c.target}


def evidence_to_dict(ev: TestEvidence) -> dict[str, Any]:
    return {
        "nodeid": ev.nodeid,
        "outcome": ev.outcome.value,
        "claims": list(ev.claims),
        "glob_claims": list(ev.glob_claims),
        "executed": _lines(ev.executed),
        "doubles": [_double(d) for d in ev.doubles],
        "mock_calls": [_mock_call(c) for c in ev.mock_calls],
        "duration": round(ev.duration, 6),
        "location": _location(ev.location),
        "observation_warnings": list(ev.observation_warnings),
    }


def _link(link: Link) -> dict[str, Any]:
    return {
        "nodeid": link.nodeid,
        "link": link.kind.value,
        "detail": link.detail,
        "outcome": link.outcome.value,
        "evidence": list(link.evidence),
        "unscoped": link.unscoped,
        "executed": _lines(link.executed),
    }


def _result(res: InvariantResult) -> dict[str, Any]:
    return {
        **_invariant(res.invariant),
        "status": res.status.value,
        "scope_coverage": res.scope_coverage,
        "at_risk": res.at_risk,
        "at_risk_because": list(res.at_risk_because),
        "partial": res.partial,
        "partial_because": list(res.partial_because),
        "suspect": res.suspect,
        "suggested_tests": list(res.suggested_tests),
        "real_lines": _lines(res.real_lines),
        "double_lines": _lines(res.double_lines),
        "proof": res.proof,
        "tests": [_link(link) for link in res.links],
    }


def _summary(results: RunResults) -> dict[str, Any]:
    counts = {status.value: 0 for status in Status}
    for res in results.invariants:
        counts[res.status.value] += 1
    return {"invariants": len(results.invariants), "tests": len(results.tests), "by_status": counts}


def to_dict(results: RunResults) -> dict[str, Any]:
    """Return the JSON-ready form of a run's results."""
    info = results.info
    iset = results.invariant_set
    return {
        "schema": SCHEMA,
        "tool_version": info.tool_version,
        "run": {
            "rootdir": info.rootdir,
            "python": info.python,
            "recorder": info.recorder,
            "started": info.started,
            "finished": info.finished,
            "complete": info.complete,
            "partial": info.partial,
            "args": list(info.args),
            "warnings": list(info.warnings),
        },
        "invariant_files": list(iset.files),
        "invariants_fingerprint": iset.fingerprint,
        "gate_policy": {sev: sorted(st) for sev, st in iset.gate.fail_on.items()},
        "summary": _summary(results),
        "invariants": [_result(res) for res in results.invariants],
        "tests": [evidence_to_dict(ev) for ev in results.tests],
    }


def dumps(results: RunResults) -> str:
    return json.dumps(to_dict(results), indent=1, sort_keys=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half.

    Raises OSError with the path in its message when the folder cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes a private file (0600); give it the mode the file had, or the
        # mode a plain open() would have given it, so CI artifacts stay readable.
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_results(results: RunResults, *paths: Path) -> None:
    text = dumps(results)
    for path in paths:
        write_atomically(path, text)


# -- reading ------------------------------------------------------------------


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ResultsError(f"{where}: '{key}' is missing or has the wrong type")
    return value


def _frozen_lines(data: Any) -> dict[str, frozenset[int]]:
    if not isinstance(data, dict):
        return {}
    return {str(k): frozenset(int(x) for x in v) for k, v in data.items() if isinstance(v, list)}


def _read_location(data: Any) -> Location:
    if not isinstance(data, dict):
        return Location("")
    return Location(
        str(data.get("path", "")), int(data.get("line") or 0), int(data.get("col") or 0)
    )


def _read_scope(data: dict[str, Any]) -> ScopeEntry:
    lines = data.get("lines")
    return ScopeEntry(
        raw=data["entry"],
        kind=ScopeKind(data["kind"]),
        file=data["file"],
        dotted=data.get("dotted"),
        lines=(int(lines[0]), int(lines[1])) if lines else None,
        executable=frozenset(data.get("executable", [])),
        reads=frozenset(data.get("reads", [])),
        location=_read_location(data.get("location")),
    )


def _read_invariant(data: dict[str, Any]) -> Invariant:
    return Invariant(
        id=data["id"],
        title=data.get("title", ""),
        why=data.get("why", ""),
        owner=data.get("owner", ""),
        severity=Severity(data.get("severity", "medium")),
        code=tuple(_read_scope(e) for e in data.get("code", [])),
        must_be_real=tuple(data.get("must_be_real", [])),
        allow_doubles=tuple(data.get("allow_doubles", [])),
        tests=tuple(data.get("tests_globs", [])),
        depends_on=tuple(data.get("depends_on", [])),
        tags=tuple(data.get("tags", [])),
        links=dict(data.get("links_out", {})),
        lifecycle=data.get("lifecycle", "active"),
        reviewed=data.get("reviewed"),
        prove_threshold=data.get("prove_threshold"),
        location=Location(data.get("file", ""), int(data.get("line") or 0)),
    )


def _read_ref(data: Any) -> ObjectRef | None:
    if not isinstance(data, dict):
        return None
    return ObjectRef(
        data.get("module"),
        data.get("qualname"),
        data.get("file"),
        data.get("line"),
        data.get("type", ""),
    )


def _read_call(data: dict[str, Any]) -> MockCall:
    path, _, line = str(data["caller"]).rpartition(":")
    return MockCall(data["mock"], path, int(line or 0), data.get("target"))


def evidence_from_dict(data: dict[str, Any]) -> TestEvidence:
    return TestEvidence(
        nodeid=data["nodeid"],
        outcome=Outcome(data["outcome"]),
        claims=tuple(data.get("claims", [])),
        glob_claims=tuple(data.get("glob_claims", [])),
        executed=_frozen_lines(data.get("executed")),
        doubles=tuple(
            DoubleRecord(
                d["target"],
                DoubleKind(d["kind"]),
                d.get("replacement", ""),
                d.get("via", ""),
                d.get("where", ""),
                _read_ref(d.get("original")),
                tuple(d.get("aliases", ())),
            )
            for d in data.get("doubles", [])
        ),
        mock_calls=tuple(_read_call(c) for c in data.get("mock_calls", [])),
        duration=float(data.get("duration", 0.0)),
        location=_read_location(data.get("location")),
        observation_warnings=tuple(data.get("observation_warnings", [])),
    )


def _read_link(data: dict[str, Any]) -> Link:
    return Link(
        nodeid=data["nodeid"],
        kind=LinkKind(data["link"]),
        outcome=Outcome(data["outcome"]),
        detail=data.get("detail"),
        evidence=tuple(data.get("evidence", [])),
        unscoped=bool(data.get("unscoped", False)),
        executed=_frozen_lines(data.get("executed")),
    )


def _read_result(data: dict[str, Any]) -> InvariantResult:
    return InvariantResult(
        invariant=_read_invariant(data),
        status=Status(data["status"]),
        links=tuple(_read_link(t) for t in data.get("tests", [])),
        scope_coverage=data.get("scope_coverage"),
        real_lines=_frozen_lines(data.get("real_lines")),
        double_lines=_frozen_lines(data.get("double_lines")),
        at_risk=bool(data.get("at_risk", False)),
        at_risk_because=tuple(data.get("at_risk_because", [])),
        partial=bool(data.get("partial", False)),
        partial_because=tuple(data.get("partial_because", [])),
        suggested_tests=tuple(data.get("suggested_tests", [])),
        suspect=bool(data.get("suspect", False)),
        proof=data.get("proof"),
    )


def from_dict(data: Any, where: str = "results") -> RunResults:
    """Rebuild RunResults from the JSON form; raise ResultsError on anything foreign."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: not a pytest-invariants results file (expected an object)")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise ResultsError(
            f"{where}: schema is {schema!r}, expected {SCHEMA!r} -- "
            "produce it with `pytest --invariants` of a matching pytest-invariants version"
        )
    run: dict[str, Any] = data["run"] if isinstance(data.get("run"), dict) else {}
    try:
        results = tuple(_read_result(r) for r in _need(data, "invariants", list, where))
        tests = tuple(evidence_from_dict(t) for t in data.get("tests", []))
        policy = {sev: frozenset(st) for sev, st in (data.get("gate_policy") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{where}: damaged results file ({type(exc).__name__}: {exc})") from None
    iset = InvariantSet(
        invariants=tuple(r.invariant for r in results),
        files=tuple(data.get("invariant_files", [])),
        gate=GatePolicy(policy),
        fingerprint=str(data.get("invariants_fingerprint", "")),
    )
    info = RunInfo(
        rootdir=str(run.get("rootdir", "")),
        tool_version=str(data.get("tool_version", "")),
        python=str(run.get("python", "")),
        recorder=str(run.get("recorder", "")),
        started=str(run.get("started", "")),
        finished=str(run.get("finished", "")),
        complete=bool(run.get("complete", True)),
        partial=bool(run.get("partial", False)),
        args=tuple(run.get("args", [])),
        warnings=tuple(run.get("warnings", [])),
    )
    return RunResults(iset, results, tests, info)


def read_results(path: Path) -> RunResults:
    """Read a results file; raise ResultsError with the path for every kind of damage."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: no such results file -- run `pytest --invariants` first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    return from_dict(data, str(path))
