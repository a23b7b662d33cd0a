"""The versioned results file (docs/reliability.md): write atomically, read defensively.

The file holds everything needed to recompute every status later (`invariants
gate`, `report`, `combine`): the invariants as loaded, each test's raw
evidence, and the verdicts. Readers never trust it: a foreign or damaged file
gives a ResultsError with a message a user can act on.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Lifecycle,
    LineSet,
    Link,
    LinkKind,
    Location,
    MockCall,
    MutantOutcome,
    MutantStatus,
    ObjectRef,
    Outcome,
    Proof,
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
    "proof_from_dict",
    "proof_to_dict",
    "read_claim_index",
    "read_results",
    "to_dict",
    "WriteError",
    "write_atomically",
    "write_results",
]

# Version history of the results format:
# 1: first version (invariants with links and evidence, per-test evidence, run info).
#    Later, compatibly (a missing key reads as 0): a proof's `not_reached` and
#    `skipped` counts, a mutant's `tests`, and the mutant status `not-reached`.
# 2: adds `scope_files`: the sha256 of every scope file as the run saw it, so
#    `invariants why` can tell that a file changed since. Version 1 files are still
#    read (without hashes); SPEC.md section 7 names version 1.
SCHEMA = "pytest-invariants/results/2"
READABLE = (SCHEMA, "pytest-invariants/results/1")
DEFAULT_PATH = Path(".invariants") / "results.json"
GITIGNORE = "# Created by pytest-invariants automatically.\n*\n"
# A results file is refused above this size before it is read (docs/reliability.md):
# 10,000 tests x 1,000 invariants make about 40 MB.
MAX_RESULTS_BYTES = 256 * 1024 * 1024


class ResultsError(Exception):
    """A results file that cannot be read; the message says why and what to do."""


# -- writing ------------------------------------------------------------------


def _lines(mapping: Mapping[str, AbstractSet[int]]) -> dict[str, list[int]]:
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
        "module_reads": sorted(entry.module_reads),
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
        "lifecycle": inv.lifecycle.value,
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
        "reason": ev.reason,
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


def _result(res: InvariantResult, lazy: bool = False) -> dict[str, Any]:
    """Return the JSON form of a result; `lazy` leaves its links (last) an iterator."""
    links = map(_link, res.links)
    return {
        **_invariant(res.invariant),
        "status": res.status.value,
        "scope_coverage": res.scope_coverage,
        "at_risk": res.at_risk,
        "at_risk_because": list(res.at_risk_because),
        "partial": res.partial,
        "partial_because": list(res.partial_because),
        "skipped": [{"nodeid": nodeid, "reason": why} for nodeid, why in res.skipped],
        "suspect": res.suspect,
        "suggested_tests": list(res.suggested_tests),
        "real_lines": _lines(res.real_lines),
        "double_lines": _lines(res.double_lines),
        "proof": None if res.proof is None else proof_to_dict(res.proof),
        "tests": links if lazy else list(links),
    }


def _mutant(m: MutantOutcome) -> dict[str, Any]:
    return {
        "id": m.id,
        "operator": m.operator,
        "file": m.file,
        "line": m.line,
        "diff": m.diff,
        "status": m.status.value,
        "killed_by": m.killed_by,
        "waived": m.waived,
        "why": m.why,
        "tests": m.tests,
    }


def proof_to_dict(proof: Proof) -> dict[str, Any]:
    """Return the JSON form of a proof (the results file's `proof`, the proof cache's entry)."""
    return {
        "score": proof.score,
        "threshold": proof.threshold,
        "proven": proof.proven,
        "total": proof.total,
        "killed": proof.killed,
        "survived": proof.survived,
        "errors": proof.errors,
        "waived": proof.waived,
        "not_reached": proof.not_reached,
        "skipped": proof.skipped,
        "mutants": [_mutant(m) for m in proof.mutants],
        "cached": proof.cached,
        "note": proof.note,
    }


def _summary(results: RunResults) -> dict[str, Any]:
    counts = {status.value: 0 for status in Status}
    for res in results.invariants:
        counts[res.status.value] += 1
    return {"invariants": len(results.invariants), "tests": len(results.tests), "by_status": counts}


def _document(results: RunResults) -> dict[str, Any]:
    """Return `to_dict`, with its two long lists as iterators that make each item on demand."""
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
            "partial_reasons": list(info.partial_reasons),
            "claims_known": info.claims_known,
            "args": list(info.args),
            "warnings": list(info.warnings),
        },
        "invariant_files": list(iset.files),
        "invariants_fingerprint": iset.fingerprint,
        "scope_files": dict(sorted(iset.sources.items())),
        "gate_policy": {sev: sorted(st) for sev, st in iset.gate.fail_on.items()},
        "summary": _summary(results),
        "invariants": (_result(res, lazy=True) for res in results.invariants),
        "tests": map(evidence_to_dict, results.tests),
        "claim_index": {nodeid: list(ids) for nodeid, ids in sorted(results.claim_index.items())},
    }


_LONG = ("invariants", "tests")


def to_dict(results: RunResults) -> dict[str, Any]:
    """Return the JSON-ready form of a run's results."""
    data = _document(results)
    data["invariants"] = [_result(res) for res in results.invariants]
    data["tests"] = list(data["tests"])
    return data


def dumps(results: RunResults) -> str:
    """Return the results as JSON text, one line per invariant and per test."""
    return "".join(_chunks(results))


def _item(item: Any) -> Iterator[str]:
    """Yield `json.dumps(item)`; an invariant's links (its last key) one at a time.

    One invariant linked to 12,000 tests is megabytes of JSON and several times that
    as dicts and lists; its links are made and encoded one by one, spliced into
    the text that `json.dumps` gives for the rest (same separators, same order).
    """
    links = item.get("tests") if isinstance(item, dict) else None
    if not isinstance(links, Iterator) or next(reversed(item)) != "tests":
        yield json.dumps(item)
        return
    head = json.dumps({key: value for key, value in item.items() if key != "tests"})
    yield f'{head[:-1]}{", " if len(item) > 1 else ""}"tests": ['
    for number, link in enumerate(links):
        yield f", {json.dumps(link)}" if number else json.dumps(link)
    yield "]}"


def _chunks(results: RunResults) -> Iterator[str]:
    """Yield the text of `dumps`, a line at a time.

    `indent=` would make json fall back to its pure-Python encoder, which took
    3.5 s for 10,000 tests x 1,000 invariants (benchmarks/scale.py); encoding
    each item with the C encoder keeps the file line-diffable and ~10x faster.
    Each invariant and test is made into a dict and encoded only when its line is
    due, so a written run never exists whole as dicts and lists of line numbers,
    nor as one string (they were most of a run's peak memory, docs/performance.md).
    """
    data = _document(results)
    last = len(data) - 1
    yield "{\n"
    for number, (key, value) in enumerate(data.items()):
        comma = "," if number < last else ""
        if key in _LONG or isinstance(value, list):
            items = iter(value)
            first = next(items, _ABSENT)
            if first is not _ABSENT:
                yield f" {json.dumps(key)}: [\n  "
                yield from _item(first)
                for item in items:
                    yield ",\n  "
                    yield from _item(item)
                yield f"\n ]{comma}\n"
                continue
            value = []
        yield f" {json.dumps(key)}: {json.dumps(value)}{comma}\n"
    yield "}\n"


class WriteError(OSError):
    """A file we cannot write; str() is the one line `cannot write PATH: reason`."""


def _target(path: Path) -> Path:
    """Return the file to replace: a symlink is written through (the link stays).

    Raises WriteError for anything that is not a regular file or a new one: a
    directory, FIFO, device or socket is never replaced by a regular file.
    """
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a special file (FIFO, device or socket)"
        raise WriteError(f"cannot write {path}: it is {kind}, not a regular file")
    return target


def write_atomically(path: Path, text: str | Iterable[str], encoding: str = "utf-8") -> None:
    """Write `text` (or its pieces) to `path`: readers see the old file or the new, never half.

    The one writer of every file we produce (results, reports, graph, combine,
    review). Raises WriteError, whose message is `cannot write PATH: reason`.
    """
    target = _target(Path(path))
    try:
        _make_folder(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        # mkstemp makes a private file (0600); give it the mode the file had, or the
        # mode a plain open() would have given it, so CI artifacts stay readable.
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "w", encoding=encoding, newline="") as out:
            if isinstance(text, str):
                out.write(text)
            else:
                out.writelines(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_folder(folder: Path) -> None:
    """Create `folder`; our own state folder gets a `.gitignore` so git never offers it.

    `.invariants/` ignores itself as `.pytest_cache` does. Whatever wrote into it
    first (the scope cache, the probes, the proof cache), every complete run
    writes its results here, so the file is there after the first one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if folder.name == DEFAULT_PATH.parent.name:
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text(GITIGNORE, encoding="utf-8")


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_results(results: RunResults, *paths: Path) -> None:
    # One file (the usual run) is written as it is encoded; more share one text.
    text: str | Iterable[str] = _chunks(results) if len(paths) == 1 else dumps(results)
    for path in paths:
        write_atomically(path, text)


# -- reading ------------------------------------------------------------------
#
# Every value is type-checked as it is read: a results file that parses but holds
# a list where a name belongs would otherwise pass here and break a report later
# (tests/test_results_fuzz.py). A wrong value raises ValueError naming its key;
# from_dict turns it into a ResultsError.

_ABSENT: Any = object()


def _get(data: Mapping[str, Any], key: str, kinds: tuple[type, ...], default: Any) -> Any:
    """Return data[key] if it has one of `kinds` (a bool is no number), else raise ValueError."""
    if key not in data:
        if default is _ABSENT:
            raise ValueError(f"'{key}' is missing")
        return default
    value = data[key]
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return value
    raise ValueError(f"'{key}' has the wrong type ({type(value).__name__})")


def _text(data: Mapping[str, Any], key: str, default: Any = _ABSENT) -> str:
    return str(_get(data, key, (str,), default))


def _maybe_text(data: Mapping[str, Any], key: str) -> str | None:
    value = _get(data, key, (str, type(None)), None)
    return None if value is None else str(value)


def _int(data: Mapping[str, Any], key: str) -> int:
    return int(_get(data, key, (int, type(None)), 0) or 0)


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value: float | None = _get(data, key, (int, float, type(None)), None)
    return value


def _flag(data: Mapping[str, Any], key: str, default: bool) -> bool:
    return bool(_get(data, key, (bool,), default))


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _get(data, key, (list,), [])
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"'{key}' should hold only text")
    return tuple(values)


def _objects(data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    values = _get(data, key, (list,), [])
    if not all(isinstance(v, dict) for v in values):
        raise ValueError(f"'{key}' should hold only objects")
    return list(values)


def _line_set(values: Any, key: str) -> frozenset[int]:
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"'{key}' should hold line numbers")
    return frozenset(values)


def _frozen_lines(data: Mapping[str, Any], key: str) -> dict[str, frozenset[int]]:
    files = _get(data, key, (dict,), {})
    return {str(path): _line_set(lines, key) for path, lines in files.items()}


def _executed(data: Mapping[str, Any]) -> dict[str, LineSet]:
    files = _get(data, "executed", (dict,), {})
    return {str(path): LineSet(_line_set(lines, "executed")) for path, lines in files.items()}


def _read_location(data: Any) -> Location:
    if not isinstance(data, dict):
        return Location("")
    return Location(_text(data, "path", ""), _int(data, "line"), _int(data, "col"))


def _read_span(data: Mapping[str, Any]) -> tuple[int, int] | None:
    lines = _get(data, "lines", (list, type(None)), None)
    if not lines:
        return None
    span = sorted(_line_set(lines, "lines"))
    return span[0], span[-1]


def _read_scope(data: dict[str, Any]) -> ScopeEntry:
    return ScopeEntry(
        raw=_text(data, "entry"),
        kind=ScopeKind(_text(data, "kind")),
        file=_text(data, "file"),
        dotted=_maybe_text(data, "dotted"),
        lines=_read_span(data),
        executable=_line_set(_get(data, "executable", (list,), []), "executable"),
        reads=frozenset(_texts(data, "reads")),
        location=_read_location(data.get("location")),
        module_reads=frozenset(_texts(data, "module_reads")),
    )


def _read_links_out(data: Mapping[str, Any]) -> dict[str, str]:
    links = _get(data, "links_out", (dict,), {})
    if not all(isinstance(v, str) for v in links.values()):
        raise ValueError("'links_out' should map names to addresses")
    return dict(links)


def _read_invariant(data: dict[str, Any]) -> Invariant:
    return Invariant(
        id=_text(data, "id"),
        title=_text(data, "title", ""),
        why=_text(data, "why", ""),
        owner=_text(data, "owner", ""),
        severity=Severity(_text(data, "severity", "medium")),
        code=tuple(_read_scope(e) for e in _objects(data, "code")),
        must_be_real=_texts(data, "must_be_real"),
        allow_doubles=_texts(data, "allow_doubles"),
        tests=_texts(data, "tests_globs"),
        depends_on=_texts(data, "depends_on"),
        tags=_texts(data, "tags"),
        links=_read_links_out(data),
        lifecycle=Lifecycle(_text(data, "lifecycle", "active")),
        reviewed=_maybe_text(data, "reviewed"),
        prove_threshold=_number(data, "prove_threshold"),
        location=Location(_text(data, "file", ""), _int(data, "line")),
    )


def _read_ref(data: Any) -> ObjectRef | None:
    if not isinstance(data, dict):
        return None
    return ObjectRef(
        _maybe_text(data, "module"),
        _maybe_text(data, "qualname"),
        _maybe_text(data, "file"),
        _get(data, "line", (int, type(None)), None),
        _text(data, "type", ""),
    )


def _read_call(data: dict[str, Any]) -> MockCall:
    path, _, line = _text(data, "caller").rpartition(":")
    return MockCall(_text(data, "mock"), path, int(line or 0), _maybe_text(data, "target"))


def _read_double(data: dict[str, Any]) -> DoubleRecord:
    return DoubleRecord(
        _text(data, "target"),
        DoubleKind(_text(data, "kind")),
        _text(data, "replacement", ""),
        _text(data, "via", ""),
        _text(data, "where", ""),
        _read_ref(data.get("original")),
        _texts(data, "aliases"),
    )


def evidence_from_dict(data: dict[str, Any]) -> TestEvidence:
    """Rebuild one test's evidence; raise ValueError naming the first bad key."""
    return TestEvidence(
        nodeid=_text(data, "nodeid"),
        outcome=Outcome(_text(data, "outcome")),
        claims=_texts(data, "claims"),
        glob_claims=_texts(data, "glob_claims"),
        executed=_executed(data),
        doubles=tuple(_read_double(d) for d in _objects(data, "doubles")),
        mock_calls=tuple(_read_call(c) for c in _objects(data, "mock_calls")),
        duration=float(_number(data, "duration") or 0.0),
        location=_read_location(data.get("location")),
        observation_warnings=_texts(data, "observation_warnings"),
        reason=_text(data, "reason", ""),
    )


def _read_link(data: dict[str, Any]) -> Link:
    return Link(
        nodeid=_text(data, "nodeid"),
        kind=LinkKind(_text(data, "link")),
        outcome=Outcome(_text(data, "outcome")),
        detail=_maybe_text(data, "detail"),
        evidence=_texts(data, "evidence"),
        unscoped=_flag(data, "unscoped", False),
        executed=_executed(data),
    )


def _read_result(data: dict[str, Any]) -> InvariantResult:
    return InvariantResult(
        invariant=_read_invariant(data),
        status=Status(_text(data, "status")),
        links=tuple(_read_link(t) for t in _objects(data, "tests")),
        scope_coverage=_number(data, "scope_coverage"),
        real_lines=_frozen_lines(data, "real_lines"),
        double_lines=_frozen_lines(data, "double_lines"),
        at_risk=_flag(data, "at_risk", False),
        at_risk_because=_texts(data, "at_risk_because"),
        partial=_flag(data, "partial", False),
        partial_because=_texts(data, "partial_because"),
        skipped=tuple(
            (_text(s, "nodeid"), _text(s, "reason", "")) for s in _objects(data, "skipped")
        ),
        suggested_tests=_texts(data, "suggested_tests"),
        suspect=_flag(data, "suspect", False),
        proof=_read_proof(_get(data, "proof", (dict, type(None)), None)),
    )


def _read_mutant(data: dict[str, Any]) -> MutantOutcome:
    killed_by = _get(data, "killed_by", (str, list, type(None)), None)
    if isinstance(killed_by, list):  # early files listed the killers
        killed_by = str(killed_by[0]) if killed_by else None
    return MutantOutcome(
        id=_text(data, "id"),
        operator=_text(data, "operator", ""),
        file=_text(data, "file", ""),
        line=_int(data, "line"),
        diff=_text(data, "diff", ""),
        status=MutantStatus(_text(data, "status")),
        killed_by=killed_by,
        waived=_flag(data, "waived", False),
        why=_maybe_text(data, "why"),
        tests=_int(data, "tests"),
    )


def _read_proof(data: dict[str, Any] | None) -> Proof | None:
    return None if data is None else proof_from_dict(data)


def proof_from_dict(data: Mapping[str, Any]) -> Proof:
    """Return the proof of its JSON form; raise ValueError naming a wrong key."""
    mutants = tuple(_read_mutant(m) for m in _objects(data, "mutants"))
    return Proof(
        score=_number(data, "score"),
        threshold=1.0 if (threshold := _number(data, "threshold")) is None else float(threshold),
        proven=_flag(data, "proven", False),
        total=_int(data, "total"),
        killed=_int(data, "killed"),
        survived=_int(data, "survived"),
        errors=_int(data, "errors"),
        waived=_int(data, "waived"),
        mutants=mutants,
        cached=_flag(data, "cached", False),
        note=_maybe_text(data, "note"),
        not_reached=_int(data, "not_reached"),
        skipped=_int(data, "skipped"),
    )


def _hashes(data: Mapping[str, Any]) -> dict[str, str]:
    files = _get(data, "scope_files", (dict,), {})
    if not all(isinstance(v, str) for v in files.values()):
        raise ValueError("'scope_files' should map files to hashes")
    return {str(k): v for k, v in files.items()}


def _read_policy(data: Mapping[str, Any]) -> GatePolicy:
    policy = _get(data, "gate_policy", (dict, type(None)), None) or {}
    return GatePolicy({str(sev): frozenset(_texts(policy, sev)) for sev in policy})


def _read_info(data: Mapping[str, Any]) -> RunInfo:
    run = _get(data, "run", (dict,), {})
    return RunInfo(
        rootdir=_text(run, "rootdir", ""),
        tool_version=_text(data, "tool_version", ""),
        python=_text(run, "python", ""),
        recorder=_text(run, "recorder", ""),
        started=_text(run, "started", ""),
        finished=_text(run, "finished", ""),
        complete=_flag(run, "complete", True),
        partial=_flag(run, "partial", False),
        partial_reasons=_texts(run, "partial_reasons"),
        claims_known=_flag(run, "claims_known", True),
        args=_texts(run, "args"),
        warnings=_texts(run, "warnings"),
    )


def from_dict(data: Any, where: str = "results") -> RunResults:
    """Rebuild RunResults from the JSON form; raise ResultsError on anything foreign."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: not a pytest-invariants results file (expected an object)")
    schema = data.get("schema")
    if schema not in READABLE:
        raise ResultsError(
            f"{where}: schema is {schema!r}, expected {SCHEMA!r} -- "
            "produce it with `pytest --invariants` of a matching pytest-invariants version"
        )
    if not isinstance(data.get("invariants"), list):
        raise ResultsError(f"{where}: 'invariants' is missing or has the wrong type")
    try:
        results = tuple(_read_result(r) for r in _objects(data, "invariants"))
        tests = tuple(evidence_from_dict(t) for t in _objects(data, "tests"))
        iset = InvariantSet(
            invariants=tuple(r.invariant for r in results),
            files=_texts(data, "invariant_files"),
            gate=_read_policy(data),
            fingerprint=_text(data, "invariants_fingerprint", ""),
            sources=_hashes(data),
        )
        info = _read_info(data)
        index = _read_claim_index(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{where}: damaged results file ({type(exc).__name__}: {exc})") from None
    return RunResults(iset, results, tests, info, index)


def _read_claim_index(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    index = _get(data, "claim_index", (dict,), {})
    return {str(nodeid): _texts(index, nodeid) for nodeid in index}


def _read_json(path: Path) -> Any:
    """Return the parsed JSON of a results file; ResultsError for every kind of damage."""
    try:
        info = path.stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):
            raise ResultsError(f"{path}: not a regular file -- name a results JSON file")
        if size > MAX_RESULTS_BYTES:
            # Refused before reading: a 1 GB file would take twice that in memory.
            raise ResultsError(
                f"{path}: {size:,} bytes, more than the {MAX_RESULTS_BYTES:,} a results file "
                "may have -- is this the right file?"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: no such results file -- run `pytest --invariants` first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    except RecursionError:  # json nests by recursion: [[[[...]]]] a million deep
        raise ResultsError(f"{path}: not a results file (JSON nested too deeply)") from None


def read_results(path: Path) -> RunResults:
    """Read a results file; raise ResultsError with the path for every kind of damage."""
    return from_dict(_read_json(path), str(path))


def read_claim_index(path: Path) -> dict[str, tuple[str, ...]]:
    """Return the claim index a results file keeps, or {} when there is none to trust."""
    try:
        data = _claim_index_line(path)
        if data is None:
            data = _read_json(path)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return {}
        return _read_claim_index(data)
    except (ResultsError, ValueError):
        return {}


def _claim_index_line(path: Path) -> dict[str, Any] | None:
    """Return {schema, claim_index} from a results file laid out as `dumps` writes it.

    Every run narrowed by -k, -m or a deselecting addopts reads the last whole run's
    claim index: parsing all of an 18 MB results file for it took 0.25 s and 90 MB. The
    file is written whole or not at all (`write_atomically`), so only its second line
    and its last key's line are read, from its two ends; any other layout is parsed
    whole (None).
    """
    head = f'{{\n "schema": {json.dumps(SCHEMA)},\n'.encode()
    key = b'\n "claim_index": '
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_RESULTS_BYTES or fh.read(len(head)) != head:
                return None
            block = 1 << 16
            while True:  # from the end, a growing block until the last key's line is in it
                start = max(len(head), size - block)
                fh.seek(start)
                tail = fh.read(size - start)
                at = tail.rfind(key)
                if at >= 0 or start == len(head):
                    break
                block *= 4
    except OSError:
        return None
    if at < 0 or not tail.endswith(b"\n}\n"):
        return None
    line = tail[at + len(key) : -3]
    if b"\n" in line:
        return None
    try:
        index = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return {"schema": SCHEMA, "claim_index": index}
