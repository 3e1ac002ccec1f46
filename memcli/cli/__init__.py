"""The `mem` command: typer commands over the library (commands.py), shown with rich (render.py)."""

from memcli.cli.commands import app, main

__all__ = ["app", "main"]
