"""The README documents what exists, and the public API is what __init__ says it is."""

from pathlib import Path

import propscope
from propscope import techniques
from propscope.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_command_is_documented() -> None:
    for name in cli.commands:
        assert f"propscope {name}" in README, name


def test_every_technique_is_documented() -> None:
    for technique in techniques.TECHNIQUES:
        assert f"`{technique.ptc_label}` | {technique.name} |" in README


def test_all_is_complete_and_sorted() -> None:
    public = {name for name in dir(propscope) if (not name.startswith("_") and name[0].isupper()) or name == "analyze"}
    assert public <= set(propscope.__all__)
    assert propscope.__all__ == sorted(propscope.__all__, key=str.casefold)
