"""Read files as they are at a git revision through the git CLI, never checking anything out.

Everything here runs `git` read-only commands (`rev-parse`, `ls-tree`, `cat-file`,
`diff`, `ls-files`) and turns their failures into a GitError whose message a
user can act on: not a repository, unknown revision, a shallow clone that lacks
the base commit, git missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pytest_invariants.load.yamlsafe import decode_text, text_encoding

__all__ = [
    "WORKTREE",
    "FileDiff",
    "GitError",
    "Repo",
    "parse_unified_diff",
]

# The pseudo-revision meaning "the files on disk, as they are now".
WORKTREE = ":worktree:"

_TIMEOUT = 120  # seconds; a hung git (credential prompt, lock) must not hang CI forever


class GitError(Exception):
    """A git command failed; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class FileDiff:
    """One file's change between two revisions: paths relative to the repo, changed lines.

    `old_lines` are lines of the old file that were removed or replaced,
    `new_lines` lines of the new file that were added or replaced; a pure
    deletion leaves an anchor line on the new side so it can still be located.
    """

    old_path: str | None  # None when the file was added
    new_path: str | None  # None when the file was deleted
    old_lines: frozenset[int] = frozenset()
    new_lines: frozenset[int] = frozenset()


@dataclass
class _Hunks:
    old_path: str | None = None
    new_path: str | None = None
    old: set[int] = field(default_factory=set)
    new: set[int] = field(default_factory=set)

    def freeze(self) -> FileDiff:
        return FileDiff(self.old_path, self.new_path, frozenset(self.old), frozenset(self.new))


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "r": "\r",
    "v": "\v",
}


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual path names (`"a\\tb"`, octal UTF-8 bytes)."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    body, out, i = path[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(char.encode())
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _side(raw: str, prefix: str) -> str | None:
    # git appends a tab to names holding a space, for GNU patch's sake.
    name = _unquote(raw.rstrip("\n").removesuffix("\t"))
    if name == "/dev/null":
        return None
    return name[len(prefix) :] if name.startswith(prefix) else name


def _add_hunk(hunks: _Hunks, match: re.Match[str]) -> None:
    old_start, old_count = int(match[1]), int(match[2] if match[2] is not None else 1)
    new_start, new_count = int(match[3]), int(match[4] if match[4] is not None else 1)
    hunks.old.update(range(old_start, old_start + old_count))
    hunks.new.update(range(new_start, new_start + new_count))
    if new_count == 0:
        # A pure deletion: `+N,0` means "after line N"; point at the next line.
        hunks.new.add(max(new_start, 0) + 1)


def parse_unified_diff(text: str) -> list[FileDiff]:
    """Parse `git diff -U0 -M` output into one FileDiff per file (binary files have no lines)."""
    files: list[FileDiff] = []
    current: _Hunks | None = None
    for line in text.splitlines():
        if line.startswith("diff --git "):
            if current is not None:
                files.append(current.freeze())
            current = _Hunks()
        elif current is None:
            continue
        elif line.startswith("rename from "):
            current.old_path = _unquote(line[len("rename from ") :])
        elif line.startswith("rename to "):
            current.new_path = _unquote(line[len("rename to ") :])
        elif line.startswith("--- "):
            current.old_path = _side(line[4:], "a/")
        elif line.startswith("+++ "):
            current.new_path = _side(line[4:], "b/")
        elif (match := _HUNK.match(line)) is not None:
            _add_hunk(current, match)
    if current is not None:
        files.append(current.freeze())
    return files


class Repo:
    """A git work tree seen from `cwd`; every method is read-only."""

    def __init__(self, cwd: Path) -> None:
        if shutil.which("git") is None:
            raise GitError(
                "git is not installed or not on PATH -- install git to compare revisions"
            )
        self.cwd = cwd
        top = self._git(
            "rev-parse",
            "--show-toplevel",
            what=f"{cwd} is not inside a git repository -- run this from a clone of the project",
        )
        self.toplevel = Path(top.strip())
        self.prefix = self._git("rev-parse", "--show-prefix").strip()

    # -- plumbing -------------------------------------------------------------

    def _run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                ["git", "-c", "core.quotePath=false", *args],
                cwd=self.cwd,
                input=stdin,
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {args[0]} failed: {exc}") from None

    def _git(self, *args: str, what: str = "") -> str:
        proc = self._run(*args)
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitError(what or f"git {' '.join(args)} failed: {detail[-1] if detail else '?'}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    # -- revisions --------------------------------------------------------------

    def is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository").strip() == "true"

    def resolve(self, rev: str) -> str:
        """Return the commit id `rev` names, or raise a GitError saying how to get it."""
        if rev.startswith("-"):
            raise GitError(f"{rev!r} is not a revision (it looks like an option)")
        # Options were refused above, so `rev` cannot be read as one here.
        proc = self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if proc.returncode == 0:
            return proc.stdout.decode().strip()
        if self.is_shallow():
            raise GitError(
                f"unknown revision {rev!r} in this shallow clone -- fetch the history it needs "
                "(`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
            )
        raise GitError(f"unknown revision {rev!r} -- check the name, or `git fetch` it first")

    def upstream_default(self) -> str:
        """Return the upstream default branch (`origin/HEAD` points at it), e.g. 'origin/main'.

        That is the branch a pull request merges into, as diff-cover's
        `--compare-branch` assumes; a clone sets it, a fresh `git init` has none.
        """
        proc = self._run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        name = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not name:
            raise GitError(
                "no BASE given and there is no origin/HEAD to compare with -- name the base "
                "(`invariants diff origin/main`), or set origin/HEAD with "
                "`git remote set-head origin --auto`"
            )
        return name

    def merge_base(self, base: str, head: str) -> str:
        """Return the best common ancestor of two commits."""
        ref = "HEAD" if head == WORKTREE else head
        return self._git(
            "merge-base",
            base,
            ref,
            what=f"{base} and {ref} have no common "
            "ancestor -- fetch more history or drop --merge-base",
        ).strip()

    # -- files at a revision ------------------------------------------------------

    def list_files(self, commit: str) -> list[str]:
        """Return the repo-relative paths of the regular files under the current folder."""
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        if self.prefix:
            args += ["--", self.prefix]
        out = self._git(*args)
        paths: list[str] = []
        for record in filter(None, out.split("\0")):
            meta, _, path = record.partition("\t")
            mode, kind = meta.split()[:2]
            # Symlinks (120000) and submodules (commit) are not files we can parse.
            if kind == "blob" and mode in ("100644", "100755"):
                paths.append(path)
        return paths

    def read_blobs(self, commit: str, paths: Iterable[str]) -> dict[str, bytes]:
        """Return the contents of repo-relative `paths` at `commit`, one `cat-file` for all."""
        wanted = list(paths)
        if not wanted:
            return {}
        request = "".join(f"{commit}:{p}\n" for p in wanted).encode("utf-8", "surrogateescape")
        proc = self._run("cat-file", "--batch", stdin=request)
        if proc.returncode != 0:
            raise GitError(f"git cat-file failed at {commit[:12]}")
        return _split_batch(proc.stdout, wanted)

    def show(self, commit: str, path: str) -> str | None:
        """Return the text of repo-relative `path` at `commit`, or None when it is absent."""
        if commit == WORKTREE:
            try:
                return decode_text((self.toplevel / path).read_bytes())
            except OSError:
                return None
        blob = self.read_blobs(commit, [path]).get(path)
        if blob is None:
            return None
        return blob.decode(text_encoding(blob), "replace")  # UTF-16 as the loader reads it

    def export(self, commit: str, dest: Path, keep: Callable[[str], bool]) -> int:
        """Write the files of the current folder at `commit` that `keep` accepts into `dest`.

        `dest` plays the part of the current folder; nothing in the work tree is
        touched. Return how many files were written.
        """
        paths = [p for p in self.list_files(commit) if keep(p)]
        for path, blob in self.read_blobs(commit, paths).items():
            relative = PurePosixPath(path).relative_to(self.prefix) if self.prefix else path
            target = dest / str(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        return len(paths)

    # -- changes ----------------------------------------------------------------

    def diff(self, base: str, head: str) -> list[FileDiff]:
        """Return the changed files and lines from `base` to `head` (WORKTREE: files on disk)."""
        args = [
            "diff",
            "-U0",
            "-M",
            "--no-color",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            base,
        ]
        if head != WORKTREE:
            args.append(head)
        files = parse_unified_diff(self._git(*args, "--"))
        if head == WORKTREE:
            files += [self._untracked_diff(path) for path in self.untracked()]
        return files

    def _untracked_diff(self, path: str) -> FileDiff:
        """Describe a file git does not track yet as added: every line of it is new."""
        try:
            count = len((self.toplevel / path).read_bytes().splitlines())
        except OSError:
            count = 0
        return FileDiff(None, path, frozenset(), frozenset(range(1, count + 1)))

    def untracked(self) -> list[str]:
        """Return the repo-relative paths of files git does not track yet (and does not ignore)."""
        out = self._git("ls-files", "--others", "--exclude-standard", "-z", "--full-name")
        return [p for p in out.split("\0") if p]

    def to_rootdir(self, repo_path: str) -> str | None:
        """Return a repo-relative path relative to the current folder, None when outside it."""
        if not self.prefix:
            return repo_path
        return repo_path[len(self.prefix) :] if repo_path.startswith(self.prefix) else None

    def to_repo(self, rootdir_path: str) -> str:
        """Return a path relative to the current folder as a repo-relative path."""
        return f"{self.prefix}{rootdir_path}"


def _split_batch(out: bytes, wanted: list[str]) -> dict[str, bytes]:
    """Split `git cat-file --batch` output, in request order; missing objects are left out."""
    blobs: dict[str, bytes] = {}
    pos = 0
    for path in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[-1] == b"missing":
            continue
        size = int(header[2])
        blobs[path] = out[pos : pos + size]
        pos += size + 1  # the blob is followed by a newline
    return blobs
