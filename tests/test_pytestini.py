"""The `invariants` command finds pytest's settings where pytest itself would."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_invariants.load.pytestini import ini_setting, pytest_settings


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\ninvariants_file = rules/\n"),
        ("tox.ini", "[pytest]\ninvariants_file = rules/\n"),
        ("setup.cfg", "[tool:pytest]\ninvariants_file = rules/\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\ninvariants_file = "rules/"\n'),
        ("pyproject.toml", '[tool.pytest]\ninvariants_file = "rules/"\n'),
        ("pytest.toml", '[pytest]\ninvariants_file = "rules/"\n'),
    ],
)
def test_each_config_file_kind_is_read(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert ini_setting(tmp_path, "invariants_file") == "rules/"


def test_the_first_file_with_a_pytest_section_wins(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[tox]\nenvlist = py311\n")  # no pytest section: skipped
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\ninvariants_file = from-setup-cfg\n")
    assert ini_setting(tmp_path, "invariants_file") == "from-setup-cfg"
    # An empty pytest.ini is still pytest's file: it wins, and sets nothing.
    (tmp_path / "pytest.ini").write_text("")
    assert pytest_settings(tmp_path) == {}
    assert ini_setting(tmp_path, "invariants_file") is None


def test_unreadable_files_are_skipped_not_raised(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("this is = = not toml")
    (tmp_path / "setup.cfg").write_bytes(b"\xff\xfe[tool:pytest]")
    assert pytest_settings(tmp_path) == {}
