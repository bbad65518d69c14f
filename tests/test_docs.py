"""The README and docs/ document what exists, and the public API is what __init__ says it is."""

import contextlib
import importlib.util
import io
import re
from pathlib import Path
from types import ModuleType

import click
import pytest

import propscope
from propscope import techniques
from propscope.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The pages the README must link; experiments.md is the lab notebook, linked but not required.
PAGES = sorted(page for page in DOCS.glob("*.md") if page.name != "experiments.md")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def load_cli_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_paths(group: click.Group, prefix: str = "propscope") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, f"{prefix} {name}"))
    return paths


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", read(page)), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_command_is_documented() -> None:
    reference = read(DOCS / "cli.md")
    for path in command_paths(cli):
        assert path in reference, path


def test_cli_reference_is_current() -> None:
    assert load_cli_reference().is_current(), "docs/cli.md is stale: run python docs/cli_reference.py"


def test_every_technique_is_documented() -> None:
    page = read(DOCS / "techniques.md")
    for technique in techniques.TECHNIQUES:
        assert f"`{technique.ptc_label}` | {technique.name} |" in page


def test_readme_is_short() -> None:
    # A screenful or three: install, two make targets, everyday commands, Python, the score, a
    # complete watch file, the cluster in a paragraph, and links to docs/ for everything else.
    assert len(README.splitlines()) <= 175


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_readme_links_every_docs_page(page: Path) -> None:
    assert f"](docs/{page.name})" in README or f"](docs/{page.name}#" in README, page.name


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda page: page.name)
def test_relative_links_point_to_files(page: Path) -> None:
    for target in LINK.findall(FENCE.sub("", read(page))):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: {target}"


def test_readme_python_runs_and_prints_what_the_readme_says() -> None:
    example = re.search(r"```python\n(.*?)```\n.*?```text\n(.*?)```", README, re.DOTALL)
    assert example, "README.md: a python block followed by a text block of what it prints"
    code, shown = example.groups()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert printed.getvalue() == shown


def test_all_is_complete_and_sorted() -> None:
    public = {name for name in dir(propscope) if (not name.startswith("_") and name[0].isupper()) or name == "analyze"}
    assert public <= set(propscope.__all__)
    assert propscope.__all__ == sorted(propscope.__all__, key=str.casefold)
