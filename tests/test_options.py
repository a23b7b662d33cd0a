"""Configuring the plugin like pytest-cov: on, off, ini keys; the command line wins."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_invariants.pytest_plugin.options import out_path, prove_on
from pytest_invariants.results import GITIGNORE

pytest_plugins = ["pytester"]

CODE = """\
def total(lines):
    return sum(q * p for q, p in lines)


def discount(amount, off):
    return max(amount - off, 0)
"""
INVARIANTS = """\
version: 1
defaults: {owner: shop, severity: high}
invariants:
  - id: SHOP-001
    title: The total is the sum of the lines
    why: Customers pay what the basket shows.
    code: [shop:total]
  - id: SHOP-002
    title: A discount never makes a total negative
    why: We would pay customers to shop.
    severity: low
    code: [shop:discount]
"""
TESTS = """\
import pytest
from shop import total

@pytest.mark.invariant("SHOP-001")
def test_total():
    assert total([(2, 3)]) == 6
"""


def project(pytester: pytest.Pytester, ini: str = "") -> Path:
    pytester.makepyprojecttoml(f'[tool.pytest.ini_options]\npythonpath = ["."]\n{ini}')
    (pytester.path / "shop.py").write_text(CODE)
    (pytester.path / "invariants.yaml").write_text(INVARIANTS)
    (pytester.path / "test_shop.py").write_text(TESTS)
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_no_invariants_beats_addopts(pytester: pytest.Pytester) -> None:
    root = project(pytester, 'addopts = "--invariants --invariants-md=report.md"\n')
    result = run(pytester, "--no-invariants")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "invariants: off (--no-invariants)" in result.stdout.str()
    assert not (root / ".invariants").exists() and not (root / "report.md").exists()
    # ...and the same project without the switch is observed, so the test above means something.
    assert run(pytester).ret == 0 and (root / "report.md").exists()


def test_every_output_has_an_ini_key_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    root = project(
        pytester,
        'invariants_html = "out/r.html"\ninvariants_md = "out/r.md"\n'
        'invariants_sarif = "out/r.sarif"\ninvariants_json = "out/r.json"\n'
        'invariants_gate = "low:unverified"\n',
    )
    result = run(pytester, "--invariants", "--invariants-md=mine.md")
    assert result.ret == 7, result.stdout.str()  # the ini's gate applies: SHOP-002 fails it
    assert {p.name for p in (root / "out").iterdir()} == {"r.html", "r.sarif", "r.json"}
    assert (root / "mine.md").exists()
    result = run(pytester, "--invariants", "--invariants-gate=low:failing")
    assert result.ret == 0, result.stdout.str()  # the command line's gate replaces the ini's


def test_ini_paths_are_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    root = project(pytester, 'invariants_html = "out/r.html"\ninvariants_prove = true\n')
    sub = root / "sub"
    sub.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        config = pytester.parseconfig("--invariants-md=mine.md")
    assert out_path(config, "invariants_html") == root / "out" / "r.html"
    assert out_path(config, "invariants_md") == sub / "mine.md"
    assert out_path(config, "invariants_sarif") is None
    assert prove_on(config)


@pytest.mark.parametrize("option", ["--invariants-html=r.html", "--invariants-md=r.html"])
def test_a_report_option_turns_the_plugin_on_and_says_so(
    pytester: pytest.Pytester, option: str
) -> None:
    root = project(pytester)
    result = run(pytester, option)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    flag = option.split("=")[0]
    result.stdout.fnmatch_lines([f"invariants: on ({flag} implies --invariants)"])
    assert (root / "r.html").exists() and (root / ".invariants" / "results.json").exists()


def test_a_plain_run_says_nothing(pytester: pytest.Pytester) -> None:
    root = project(pytester, 'invariants_html = "r.html"\n')
    result = run(pytester)
    assert result.ret == 0
    assert "invariants:" not in result.stdout.str()  # ini keys configure; they never switch on
    assert not (root / "r.html").exists()


def test_the_state_folder_ignores_itself(pytester: pytest.Pytester) -> None:
    root = project(pytester)
    assert run(pytester, "--invariants").ret == 0
    assert (root / ".invariants" / ".gitignore").read_text() == GITIGNORE
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the .gitignore was written, git's view is untested")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "shop.py" in status and ".invariants" not in status


def test_space_form_of_invariants_gets_a_hint(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = run(pytester, "--invariants", "invariants.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "write --invariants=invariants.yaml" in result.stderr.str()
    # A test path after the bare flag is still a test path.
    assert run(pytester, "--invariants", "test_shop.py").ret == 0


def test_the_readme_ini_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", readme, re.S)
    root = project(pytester)
    text = block.replace(
        "[tool.pytest.ini_options]\n", '[tool.pytest.ini_options]\npythonpath = ["."]\n'
    )
    (root / "pyproject.toml").write_text(text)
    (root / "rules").mkdir()
    (root / "invariants.yaml").rename(root / "rules" / "shop.yaml")
    result = run(pytester, "--strict-config")  # an unknown ini key would be an error
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    built = {p.name for p in (root / "build").iterdir()}
    assert built == {"invariants.html", "invariants.md", "invariants.sarif", "results.json"}
