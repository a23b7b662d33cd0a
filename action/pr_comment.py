"""Post the invariants review on a pull request, or update the one posted before.

Used by the repository's `action.yml`: one comment per pull request, found
again by a hidden marker line, so a busy pull request does not collect one
comment per push, and nobody else's comment is ever edited. Standard library
only: it runs before anything is installed.

    python pr_comment.py BODY.md      (env: GITHUB_TOKEN, GITHUB_REPOSITORY, PR_NUMBER,
                                       optional GITHUB_API_URL)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

MARKER = "<!-- pytest-invariants review -->"
LIMIT = 65_000  # GitHub refuses bodies over 65,536 characters
PER_PAGE = 100


def comment_body(review: str) -> str:
    """Return the comment text: the marker, then the review (cut to what GitHub accepts)."""
    text = review.strip() or "No invariant changes."
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n\n… (cut: the full review is in the job summary)"
    return f"{MARKER}\n{text}\n"


def ours(comments: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Return the first comment that carries our marker, or None."""
    return next((c for c in comments if MARKER in str(c.get("body") or "")), None)


class GitHub:
    """The three REST calls this needs, with the token sent only to `api`."""

    def __init__(self, api: str, token: str, repo: str) -> None:
        self._api = api.rstrip("/")
        self._token = token
        self._repo = repo

    def _call(self, method: str, path: str, data: Mapping[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self._api}{path}",
            data=None if data is None else json.dumps(data).encode("utf-8"),
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def comments(self, number: int) -> Iterable[Mapping[str, Any]]:
        page = 1
        while True:
            path = f"/repos/{self._repo}/issues/{number}/comments?per_page={PER_PAGE}&page={page}"
            batch = self._call("GET", path)
            yield from batch
            if len(batch) < PER_PAGE:
                return
            page += 1

    def create(self, number: int, body: str) -> Any:
        return self._call("POST", f"/repos/{self._repo}/issues/{number}/comments", {"body": body})

    def update(self, comment_id: int, body: str) -> Any:
        path = f"/repos/{self._repo}/issues/comments/{comment_id}"
        return self._call("PATCH", path, {"body": body})


def post_or_update(github: GitHub, number: int, review: str) -> str:
    """Update our earlier comment on pull request `number`, or post one; say which."""
    body = comment_body(review)
    found = ours(github.comments(number))
    if found is None:
        github.create(number, body)
        return "posted"
    if found.get("body") == body:
        return "unchanged"
    github.update(int(found["id"]), body)
    return "updated"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: pr_comment.py BODY.md", file=sys.stderr)
        return 2
    try:
        token, repo = os.environ["GITHUB_TOKEN"], os.environ["GITHUB_REPOSITORY"]
        number = int(os.environ["PR_NUMBER"])
        with open(argv[0], encoding="utf-8") as handle:
            review = handle.read()
    except (KeyError, ValueError, OSError) as exc:
        print(f"pr_comment: cannot start: {exc}", file=sys.stderr)
        return 2
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), token, repo)
    try:
        done = post_or_update(github, number, review)
    except urllib.error.HTTPError as exc:
        # A fork's pull request gets a read-only token (403): the review is still in the summary.
        print(f"pr_comment: GitHub answered {exc.code} {exc.reason}; no comment", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"pr_comment: cannot reach GitHub: {exc}; no comment", file=sys.stderr)
        return 1
    print(f"pr_comment: {done} the invariants review on #{number}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
