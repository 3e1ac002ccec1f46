"""The `mem` command: a front door that lets a running `mem watch` answer (front.py), typer
commands over the library (commands.py), shown with rich (render.py).

`main` and `app` are looked up on first use: the front door answers without importing typer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `mem` console script."""
    from memcli.cli.front import main as front_door

    front_door()


def __getattr__(name: str) -> Any:
    if name == "app":
        from memcli.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


app: Typer
