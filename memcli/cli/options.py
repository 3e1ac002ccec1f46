"""What every command shares: the scope and --json options, the State the root callback keeps
(which vault), JSON output, and the one place mem's typed errors become one line on stderr."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from memcli.errors import MemError
from memcli.memory import Memory

F = TypeVar("F", bound=Callable[..., Any])

UserOpt = typer.Option(None, "--user", "-u", help="User scope (user_id).")
AgentOpt = typer.Option(None, "--agent", "-a", help="Agent scope (agent_id).")
RunOpt = typer.Option(None, "--run", "-r", help="Run/session scope (run_id).")
JsonOpt = typer.Option(False, "--json", help="Print the library's result as JSON.")


@dataclass
class State:
    vault: str | None = None

    def memory(self) -> Memory:
        return Memory(vault=self.vault)


def new_console() -> Console:
    # Made per call so that it writes to the sys.stdout of the moment (tests swap it).
    return Console(highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def friendly(command: F) -> F:
    """Turn mem's typed errors (and anything unexpected) into one line on stderr and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MemError as err:
            raise fail(str(err)) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("MEM_DEBUG"):
                raise
            raise fail(f"unexpected {type(err).__name__}; run again with MEM_DEBUG=1 to see where") from None

    return wrapper  # type: ignore[return-value]


def state_of(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)
