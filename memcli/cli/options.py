"""What every command shares: the scope and --json options, the State the root callback keeps
(which vault), JSON output, and the one place mem's typed errors become one line on stderr."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from memcli.cli import remote
from memcli.cli.front import error_line
from memcli.config import Settings, load_settings
from memcli.errors import InvalidInputError, MemError
from memcli.guard.outputs import clean, json_text

if TYPE_CHECKING:
    from memcli.memory import Memory

F = TypeVar("F", bound=Callable[..., Any])

UserOpt = typer.Option(None, "--user", "-u", help="User scope (user_id).")
AgentOpt = typer.Option(None, "--agent", "-a", help="Agent scope (agent_id).")
RunOpt = typer.Option(None, "--run", "-r", help="Run/session scope (run_id).")
JsonOpt = typer.Option(False, "--json", help="Print the library's result as JSON.")


@dataclass
class State:
    vault: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """The settings of the vault this call works on, resolved once."""
        if self._settings is None:
            self._settings = load_settings(self.vault)
        return self._settings

    def memory(self) -> Memory:
        # The library is loaded on first use: a call that `mem watch` answers never loads it.
        from memcli.memory import Memory

        return Memory(settings=self.settings())


def served(ctx: typer.Context, op: str, *args: Any, **kwargs: Any) -> Any:
    """What Memory.<op>(*args, **kwargs) returns, from the `mem watch` serving this vault when one
    answers in time (memcli.cli.remote), else from this process: the same result either way."""
    state = state_of(ctx)
    answer = remote.ask(state.settings(), op, list(args), kwargs)
    if answer is remote.UNSERVED:
        return getattr(state.memory(), op)(*args, **kwargs)
    return answer


def say(text: str, *, nl: bool = True, err: bool = False) -> None:
    """Print plain text (what does not go through render's console), cleaned of control,
    zero-width and bidi characters: commands print through this, never typer.echo itself."""
    typer.echo(clean(text), nl=nl, err=err)


def print_json(data: Any) -> None:
    """The library's dict as JSON (memcli.guard.outputs.json_text)."""
    typer.echo(json_text(data))


def fail(message: str) -> typer.Exit:
    say(f"error: {message}", err=True)
    return typer.Exit(1)


def friendly(command: F) -> F:
    """Turn mem's typed errors (and anything unexpected) into one line on stderr and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
            if not isinstance(err, MemError) and os.environ.get("MEM_DEBUG"):
                raise
            say(error_line(err), err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def state_of(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, option: str) -> float:
    """ "24h", "30m", "7d", "90s" (or plain seconds) as seconds; a clear error otherwise."""
    value = text.strip().lower()
    unit = _DURATION.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise InvalidInputError(f"{option} takes a duration like 24h, 30m, 7d or 90s; not {text!r}") from None
    if not 60 <= seconds <= 366 * 86400:
        raise InvalidInputError(f"{option} must be between 1 minute and a year; not {text!r}")
    return seconds
