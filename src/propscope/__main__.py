"""``python -m propscope``: the same command line as ``propscope``."""

from propscope.cli import cli

cli(prog_name="propscope")
