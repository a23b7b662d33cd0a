"""The files a team copies into CI: the GitHub Action, the pre-commit hook, the README snippets."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
REPO_URL = "https://github.com/pytest-invariants/pytest-invariants"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@v\d+\.\d+\.\d+$")


def _version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version = "([^"]+)"', text, re.M)
    assert match
    return match.group(1)


def _action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return data


def _readme_blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


# -- action.yml ---------------------------------------------------------------------------


def test_the_action_is_composite_and_pins_every_action_it_uses() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    used = [step["uses"] for step in steps if "uses" in step]
    assert used and all(PINNED.match(u) for u in used), used
    (checkout,) = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["persist-credentials"] is False
    assert checkout["with"]["fetch-depth"] == 0
    assert all(s.get("shell") == "bash" for s in steps if "run" in s)


def test_every_input_is_used_and_none_is_pasted_into_a_script() -> None:
    action = _action()
    steps_text = yaml.safe_dump(action["runs"]) + yaml.safe_dump(action.get("outputs", {}))
    for name in action["inputs"]:
        assert f"inputs.{name}" in steps_text, f"input {name} is never used"
    for step in action["runs"]["steps"]:
        # `${{ }}` inside a script is pasted before the shell runs: an injection.
        assert "${{" not in step.get("run", ""), step.get("name")


def test_the_action_runs_the_scripts_it_ships_with_the_documented_options() -> None:
    runs = "\n".join(s.get("run", "") for s in _action()["runs"]["steps"])
    for script in re.findall(r"\$ACTION_PATH/([\w./-]+)", runs):
        assert (ROOT / script).is_file(), script
    assert "--invariants-html=" in runs and "--invariants-sarif=" in runs
    assert re.search(r"--invariants-[a-z]+ [^\\]", runs) is None  # the `=` form only


def test_the_workflow_and_readme_use_the_action_at_the_released_tag() -> None:
    uses = f"pytest-invariants/pytest-invariants@v{_version()}"
    workflow = yaml.safe_load((ROOT / "docs/github-actions.yml").read_text(encoding="utf-8"))
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert [s["uses"] for s in steps if "uses" in s] == [uses]
    assert set(steps[0].get("with", {})) <= set(_action()["inputs"])
    assert any(uses in block for block in _readme_blocks("yaml"))


# -- pre-commit -----------------------------------------------------------------------------


def test_the_readme_pre_commit_snippet_names_this_repository_and_a_tag() -> None:
    (block,) = [b for b in _readme_blocks("yaml") if "repos:" in b]
    config = yaml.safe_load(block)
    (repo,) = config["repos"]
    urls = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'Repository = "{REPO_URL}"' in urls
    assert repo["repo"] == REPO_URL and repo["rev"] == f"v{_version()}"
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {h["id"] for h in repo["hooks"]} <= {h["id"] for h in hooks}


def test_the_hook_runs_on_any_change_that_can_break_a_custom_invariants_file() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["pass_filenames"] is False
    assert "files" not in hook  # a fixed pattern would miss `invariants_file = "rules/x.yaml"`
    assert {"yaml", "python", "toml"} <= set(hook["types_or"])


def test_the_hooks_command_finds_a_custom_invariants_file(tmp_path: Path) -> None:
    # What pre-commit runs: the entry, no file names, from the repository root.
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ninvariants_file = "rules/payments.yaml"\n'
    )
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/payments.yaml").write_text(
        "version: 1\ninvariants:\n  - id: PAY-001\n    title: t\n    why: w\n    owner: o\n"
        "    code: [nowhere:missing]\n"
    )
    entry = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]["entry"].split()
    script = Path(sys.executable).parent / entry[0]
    proc = subprocess.run(
        [str(script), *entry[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rules/payments.yaml:7:" in proc.stderr and "nowhere" in proc.stderr


# -- the JSON Schema's links -------------------------------------------------------------------


def test_schema_descriptions_link_to_docs_that_exist() -> None:
    text = (ROOT / "src/pytest_invariants/schemas/invariants.schema.json").read_text("utf-8")
    links = re.findall(r"https://github\.com/[^\s\")]+", text)
    assert links
    for link in links:
        assert link.startswith(f"{REPO_URL}/blob/main/"), link
        assert (ROOT / link.removeprefix(f"{REPO_URL}/blob/main/")).is_file(), link
    assert "SPEC" not in text


# -- the pull-request comment -------------------------------------------------------------------


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pr_comment", ROOT / "action/pr_comment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeGitHub:
    """Just enough of GitHub's issue-comments REST API, over real HTTP."""

    def __init__(self, comments: list[dict[str, Any]], status: int = 200) -> None:
        self.comments = comments
        self.status = status
        self.calls: list[tuple[str, str]] = []
        self.tokens: set[str] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, payload: Any, code: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self) -> None:
                fake.calls.append((self.command, self.path))
                fake.tokens.add(self.headers.get("Authorization", ""))
                if fake.status != 200:
                    return self._reply({"message": "Resource not accessible"}, fake.status)
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                if self.command == "GET":
                    page = int(re.search(r"page=(\d+)$", self.path).group(1))  # type: ignore[union-attr]
                    return self._reply(fake.comments[(page - 1) * 100 : page * 100])
                if self.command == "POST":
                    fake.comments.append({"id": 1000 + len(fake.comments), "body": data["body"]})
                    return self._reply(fake.comments[-1], 201)
                cid = int(self.path.rsplit("/", 1)[1])
                (comment,) = [c for c in fake.comments if c["id"] == cid]
                comment["body"] = data["body"]
                return self._reply(comment)

            do_GET = do_POST = do_PATCH = _serve

        return Handler


@pytest.fixture
def github(request: pytest.FixtureRequest) -> Iterator[tuple[FakeGitHub, str]]:
    comments, status = getattr(request, "param", ([], 200))
    fake = FakeGitHub([dict(c) for c in comments], status)
    server = HTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _post(api: str, tmp_path: Path, review: str, monkeypatch: pytest.MonkeyPatch) -> int:
    body = tmp_path / "review.md"
    body.write_text(review)
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/shop")
    monkeypatch.setenv("PR_NUMBER", "7")
    monkeypatch.setenv("GITHUB_API_URL", api)
    code: int = _script().main([str(body)])
    return code


OTHERS = [{"id": n, "body": f"comment {n}"} for n in range(1, 131)]  # two pages


@pytest.mark.parametrize("github", [(OTHERS, 200)], indirect=True)
def test_the_first_review_is_posted_then_updated_in_place(
    github: tuple[FakeGitHub, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, api = github
    assert _post(api, tmp_path, "## 1 invariant impacted", monkeypatch) == 0
    assert len(fake.comments) == 131 and "1 invariant impacted" in fake.comments[-1]["body"]
    assert _post(api, tmp_path, "## 2 invariants impacted", monkeypatch) == 0
    assert len(fake.comments) == 131  # the same comment, edited
    assert "2 invariants impacted" in fake.comments[-1]["body"]
    assert [c["body"] for c in fake.comments[:130]] == [c["body"] for c in OTHERS]
    assert ("PATCH", "/repos/team/shop/issues/comments/1130") in fake.calls
    assert ("GET", "/repos/team/shop/issues/7/comments?per_page=100&page=2") in fake.calls
    assert fake.tokens == {"Bearer t0ken"}
    calls = len(fake.calls)
    assert _post(api, tmp_path, "## 2 invariants impacted", monkeypatch) == 0
    assert [c[0] for c in fake.calls[calls:]] == ["GET", "GET"]  # unchanged: nothing written


@pytest.mark.parametrize("github", [([], 403)], indirect=True)
def test_a_read_only_token_is_reported_not_a_traceback(
    github: tuple[FakeGitHub, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, api = github
    assert _post(api, tmp_path, "review", monkeypatch) == 1
    assert "GitHub answered 403" in capsys.readouterr().err


def test_a_huge_review_is_cut_to_what_github_accepts() -> None:
    body = _script().comment_body("x" * 100_000)
    assert len(body) < 65_536 and body.startswith(_script().MARKER)
