"""Write the --help text of every propscope command into docs/cli.md, so the reference cannot drift.

    python docs/cli_reference.py            # rewrite the generated part of docs/cli.md
    python docs/cli_reference.py --check    # exit 1 if docs/cli.md is stale

The text between the two marker comments is generated; the prose above them is written by hand.
tests/test_docs.py runs the check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from propscope.cli import cli

PAGE = Path(__file__).resolve().parent / "cli.md"
BEGIN = "<!-- BEGIN GENERATED CLI REFERENCE: python docs/cli_reference.py rewrites this part -->"
END = "<!-- END GENERATED CLI REFERENCE -->"
# A fixed width, so the text does not depend on the terminal that runs the script.
WIDTH = 100


def _contexts(command: click.Command, parent: click.Context | None, name: str) -> Iterator[click.Context]:
    """The context of ``command`` and of every command under it, groups before their subcommands."""
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH)
    yield ctx
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            yield from _contexts(sub, ctx, sub_name)


def render() -> str:
    """The generated part of docs/cli.md: one section per command, with its --help text."""
    sections = []
    for ctx in _contexts(cli, None, "propscope"):
        sections.append(f"### `{ctx.command_path}`\n\n```text\n{ctx.command.get_help(ctx).rstrip()}\n```\n")
    return "\n".join(sections)


def updated(page: str) -> str:
    """``page`` with the text between the markers replaced by :func:`render`."""
    head, found, rest = page.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{PAGE}: the marker comments {BEGIN!r} and {END!r} are missing")
    return f"{head}{BEGIN}\n\n{render()}\n{END}{tail}"


def is_current(path: Path = PAGE) -> bool:
    """Whether ``path`` already holds the current reference."""
    page = path.read_text(encoding="utf-8")
    return updated(page) == page


def main(argv: list[str]) -> int:
    """Rewrite docs/cli.md, or with --check only say whether it is stale (exit 1 if it is)."""
    page = PAGE.read_text(encoding="utf-8")
    fresh = updated(page)
    if "--check" in argv:
        if fresh != page:
            print(f"{PAGE} is stale: run python docs/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    if fresh != page:
        PAGE.write_text(fresh, encoding="utf-8")
        print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
