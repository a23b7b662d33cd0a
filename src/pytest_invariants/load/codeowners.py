"""CODEOWNERS: who the code host says owns a file, to compare with an invariant's owner.

Read with GitHub's own semantics (docs: "About code owners"), not gitignore's:

- one rule per line: a pattern, then owners (`@user`, `@org/team`, an e-mail);
  blank lines and lines starting with `#` are skipped, and so is the rest of a
  line from a `#` that starts a word; `\\#` starts a pattern with a literal `#`;
- `*` matches within one path segment, `**` across segments, `?` one character;
- a pattern with a `/` at its start or in its middle is anchored at the
  repository root; one without (`*.js`, `apps/`) matches at any depth;
- a pattern names a file or a directory, and a directory owns everything under
  it (`/build/logs/`, `/apps/github`), except that a last segment of `*`
  matches direct children only (`docs/*` owns `docs/a.md`, not `docs/b/c.md`);
- a trailing `/` matches directories only;
- the **last** matching rule wins, and a rule without owners leaves the file unowned;
- paths are case sensitive; `!` (negation) and `[ ]` (ranges) are not supported:
  GitHub skips such lines, and so do we, saying so.

Pure: text in, rules out; `find_codeowners` is the one function that looks at disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_invariants.model import Invariant, Location, Problem

__all__ = [
    "LOCATIONS",
    "CodeOwners",
    "Rule",
    "find_codeowners",
    "is_handle",
    "ownership_drift",
    "parse_codeowners",
    "pattern_regex",
    "read_codeowners",
]

# Where GitHub looks, in its order: the first one found is the only one used.
LOCATIONS: Final = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")

_HANDLE: Final = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9][\w.-]*)?")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SPLIT: Final = re.compile(r"(?<!\\)\s+")


def is_handle(owner: str) -> bool:
    """Return True for a code-host handle: `@user` or `@org/team`."""
    return _HANDLE.fullmatch(owner) is not None


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str]


@dataclass(frozen=True)
class CodeOwners:
    """The rules of one CODEOWNERS file, and the lines it skipped."""

    display: str  # the file, as shown in messages (`.github/CODEOWNERS`)
    rules: tuple[Rule, ...]
    skipped: tuple[Problem, ...] = ()

    def rule_for(self, path: str) -> Rule | None:
        """Return the rule that decides `path` (relative to the repository root): the last match."""
        for rule in reversed(self.rules):
            if rule.regex.fullmatch(path):
                return rule
        return None

    def owners_of(self, path: str) -> tuple[str, ...]:
        rule = self.rule_for(path)
        return rule.owners if rule is not None else ()


def _translate(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(body[i]))
            i += 1
    return "".join(out)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Return the regex a path (relative to the repository root, `/`-separated) must fully match."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    dir_only = pattern.endswith("/")
    body = pattern.strip("/") or "**"
    prefix = "" if anchored or body.startswith("**") else "(?:.*/)?"
    if body.split("/")[-1] == "*" and "/" in body:
        suffix = ""  # `docs/*`: direct children only
    elif dir_only:
        suffix = "/.*"
    else:
        suffix = "(?:/.*)?"
    return re.compile(prefix + _translate(body) + suffix)


def _tokens(line: str) -> list[str]:
    words = [w for w in _SPLIT.split(line.strip()) if w]
    for index, word in enumerate(words):
        if index and word.startswith("#"):
            return words[:index]  # a comment after the rule
    return words


def _unsupported(pattern: str) -> str | None:
    if pattern.startswith("!"):
        return "negation (`!`) is not supported in CODEOWNERS"
    if "[" in pattern.replace("\\[", ""):
        return "character ranges (`[ ]`) are not supported in CODEOWNERS"
    return None


def parse_codeowners(text: str, display: str = "CODEOWNERS") -> CodeOwners:
    """Parse CODEOWNERS text into rules, in file order; skipped lines become Problems."""
    rules: list[Rule] = []
    skipped: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *owners = _tokens(line)
        where = Location(display, number)
        why = _unsupported(pattern)
        if why:
            skipped.append(Problem(where, f"{why}: the code host skips this line", "remove it"))
            continue
        bad = [o for o in owners if not (is_handle(o) or _EMAIL.fullmatch(o))]
        if bad:
            skipped.append(
                Problem(
                    where,
                    f"{', '.join(bad)}: not an owner (`@user`, `@org/team` or an e-mail)",
                    "fix the owner; the code host rejects this line",
                )
            )
            continue
        rules.append(Rule(pattern, tuple(owners), number, pattern_regex(pattern)))
    return CodeOwners(display, tuple(rules), tuple(skipped))


# -- on disk -------------------------------------------------------------------------------


def _repository_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def find_codeowners(rootdir: Path) -> tuple[Path, Path] | None:
    """Return (CODEOWNERS file, the folder its patterns are relative to), or None.

    The rootdir is tried first (a project that is its own repository, or the
    example), then the git repository that contains it.
    """
    root = rootdir.resolve()
    repository = _repository_root(root)
    for base in dict.fromkeys(b for b in (root, repository) if b is not None):
        for name in LOCATIONS:
            if (base / name).is_file():
                return base / name, base
    return None


@dataclass(frozen=True)
class OnDisk:
    owners: CodeOwners
    base: Path  # patterns are relative to this folder


def read_codeowners(rootdir: Path) -> OnDisk | None:
    """Read the CODEOWNERS file that applies to `rootdir`, or return None when there is none."""
    found = find_codeowners(rootdir)
    if found is None:
        return None
    path, base = found
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return OnDisk(parse_codeowners(text, _display(path, rootdir)), base)


def _display(path: Path, rootdir: Path) -> str:
    try:
        return path.relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)


# -- ownership drift -----------------------------------------------------------------------


def _relative(file: str, rootdir: Path, base: Path) -> str | None:
    path = Path(file) if Path(file).is_absolute() else rootdir / file
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


def _owned_by(owner: str, owners: Sequence[str]) -> bool:
    return owner.casefold() in {o.casefold() for o in owners}  # handles ignore case


def _said(file: str, rule: Rule | None, display: str) -> str:
    if rule is None:
        return f"{file} has no owner there"
    if not rule.owners:
        return f"{file} has no owner ({display}:{rule.line})"
    return f"{file} is owned by {' '.join(rule.owners)} ({display}:{rule.line})"


def ownership_drift(invariants: Iterable[Invariant], found: OnDisk, rootdir: Path) -> list[Problem]:
    """Return one warning per invariant whose handle owner owns none of its scope files."""
    warnings: list[Problem] = []
    for inv in invariants:
        if not is_handle(inv.owner) or not inv.code:
            continue
        files = list(dict.fromkeys(entry.file for entry in inv.code))
        rules = {f: found.owners.rule_for(_relative(f, rootdir, found.base) or "") for f in files}
        if any(rule is not None and _owned_by(inv.owner, rule.owners) for rule in rules.values()):
            continue
        said = "; ".join(_said(file, rule, found.owners.display) for file, rule in rules.items())
        warnings.append(
            Problem(
                inv.location,
                f"owner {inv.owner} owns none of its scope files per "
                f"{found.owners.display}: {said}",
                f"add {inv.owner} to those files in {found.owners.display}, "
                "or make the invariant's owner one of theirs",
                inv.id,
            )
        )
    return warnings
