"""The command line: `shiftwatch run`, `export`, `digest`, `feeds`, ... (typer)."""

from shiftwatch.cli.main import app

__all__ = ["app"]
