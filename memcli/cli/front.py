"""The `mem` command's front door: when a `mem watch` serves this vault, answer `search`, `get`,
`list`, `context` and `add` through it before typer, rich or the library are imported; anything
else, or any call no daemon answers, goes on to the typer app (memcli.cli.commands).

Why a second reader of the command line: importing typer and rich costs a new process about
0.1 s, more than the daemon takes to answer. So this module reads the few command lines it is
sure of, exactly as typer would (tests/test_daemon.py checks its grammar against the typer app's
options), and leaves every other one — `--help`, a combined `-uray`, `--`, a value that looks
like an option, a command it does not know — to typer, untouched. The daemon draws the tables
with the same render functions, on a console that measures this process's terminal
(memcli.cli.render.shown), so the output is the same bytes either way.

Imports only the standard library and mem's light modules (config, errors, wire, output guards).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memcli.cli import remote
from memcli.errors import InvalidInputError, MemError
from memcli.guard.outputs import clean, json_text

if TYPE_CHECKING:
    from memcli.config import Settings

STR, INT, FLAG, MANY = "str", "int", "flag", "many"
SCOPES = {"--user": ("user", STR), "-u": ("user", STR), "--agent": ("agent", STR), "-a": ("agent", STR)}
SCOPES |= {"--run": ("run", STR), "-r": ("run", STR)}
JSON = {"--json": ("as_json", FLAG)}

# Environment variables rich reads to decide colours, width and whether it draws for a terminal:
# sent with a request, so the daemon's console decides as this process's would.
SCREEN_ENV = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@dataclass(frozen=True)
class Command:
    """What the front door reads of one command: its positional argument (if any) and options,
    each option spelling mapped to (name, kind) — the kinds typer gives them in commands.py."""

    positional: str | None
    options: dict[str, tuple[str, str]]
    defaults: dict[str, Any] = field(default_factory=dict)

    def blank(self) -> dict[str, Any]:
        """Every option's value when the command line does not give it."""
        empty: dict[str, Callable[[], Any]] = {MANY: list, FLAG: lambda: False, STR: lambda: None, INT: lambda: None}
        return {name: empty[kind]() for name, kind in self.options.values()} | self.defaults


COMMANDS = {
    "search": Command(
        "query",
        SCOPES
        | JSON
        | {"--limit": ("limit", INT), "-k": ("limit", INT), "--all": ("include_all", FLAG)}
        | {"--as-of": ("as_of", STR), "--explain": ("explain", FLAG)},
        {"limit": 10},
    ),
    "get": Command("memory_id", JSON),
    "list": Command(
        None,
        SCOPES
        | JSON
        | {"--limit": ("limit", INT), "-k": ("limit", INT), "--all": ("include_all", FLAG), "--as-of": ("as_of", STR)},
        {"limit": 100},
    ),
    "context": Command(
        None,
        SCOPES | JSON | {"--query": ("query", STR), "-q": ("query", STR), "--budget": ("budget", INT)},
        {"budget": 1500},
    ),
    "add": Command(
        "text",
        SCOPES
        | JSON
        | {"--tag": ("tag", MANY), "--meta": ("meta", MANY), "--no-infer": ("no_infer", FLAG)}
        | {"--redact": ("redact", FLAG), "--at": ("at", STR), "--replaces": ("replaces", MANY)}
        | {"--explain": ("explain", FLAG)},
    ),
}


class _Typer(Exception):
    """This command line is typer's to read: nothing was printed."""


def read_argv(argv: list[str]) -> tuple[str | None, str, dict[str, Any]]:
    """(--vault, command, values) of a command line the front door is sure of; _Typer otherwise."""
    vault: str | None = None
    rest = list(argv)
    while rest and rest[0].startswith("--vault"):
        vault, rest = _value(rest, "--vault")
    if not rest or rest[0] not in COMMANDS:
        raise _Typer
    name, rest = rest[0], rest[1:]
    command = COMMANDS[name]
    values = command.blank()
    positional: list[str] = []
    while rest:
        if rest[0] == "-" or not rest[0].startswith("-"):
            positional.append(rest[0])
            rest = rest[1:]
        else:
            rest = _option(command, rest, values)
    wanted = [command.positional] if command.positional else []
    if len(positional) != len(wanted) or "-" in positional:
        raise _Typer  # missing, extra, or stdin: typer's errors and typer's reading
    values.update(zip(wanted, positional, strict=True))
    if any(_unsure(v) for v in values.values()):
        raise _Typer
    return vault, name, values


def _option(command: Command, rest: list[str], values: dict[str, Any]) -> list[str]:
    """Read the option that starts `rest` into `values`; what follows it."""
    word = rest[0]
    spelling = word.partition("=")[0] if word.startswith("--") else word
    if spelling not in command.options:
        raise _Typer  # --help, -uray, --, an unknown option: typer says what it says
    option, kind = command.options[spelling]
    if kind == FLAG:
        if "=" in word:
            raise _Typer
        values[option] = True
        return rest[1:]
    text, rest = _value(rest, spelling)
    if kind == INT:
        if not (text.isascii() and text.strip().lstrip("+-").isdigit()):
            raise _Typer  # "3.0", "1e3", "٣": typer has its own reading of those
        values[option] = int(text)
    elif kind == MANY:
        values[option].append(text)
    else:
        values[option] = text  # given twice: the last one, as click keeps it
    return rest


def _value(rest: list[str], spelling: str) -> tuple[str, list[str]]:
    """The option's value (`--opt=value` or `--opt value`) and what follows it."""
    word = rest[0]
    if word.startswith(spelling + "="):
        return word[len(spelling) + 1 :], rest[1:]
    if word != spelling or len(rest) < 2 or rest[1].startswith("-"):
        raise _Typer  # a missing value, or one click might read as an option: typer decides
    return rest[1], rest[2:]


def _unsure(value: Any) -> bool:
    """A word that was not UTF-8 on the command line (surrogate escapes): typer's to read."""
    for word in value if isinstance(value, list) else [value]:
        try:
            if isinstance(word, str):
                word.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


# -- the calls, as commands.py makes them ---------------------------------------------------------


def _scopes(v: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": v["user"], "agent_id": v["agent"], "run_id": v["run"]}


def _search(v: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    kwargs = {"limit": v["limit"], "include_all": v["include_all"], "explain": v["explain"], "as_of": v["as_of"]}
    return [v["query"]], _scopes(v) | kwargs


def _list(v: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [], _scopes(v) | {"limit": v["limit"], "include_all": v["include_all"], "as_of": v["as_of"]}


def _context(v: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [], _scopes(v) | {"query": v["query"], "budget": v["budget"]}


def _add(v: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    kwargs = {
        "metadata": parse_meta(v["meta"]) or None,
        "infer": not v["no_infer"],
        "tags": v["tag"],
        "source": "cli",
        "redact": True if v["redact"] else None,
        "timestamp": v["at"],
        "replaces": v["replaces"] or None,
        "explain": v["explain"],
    }
    return [v["text"]], _scopes(v) | kwargs


def parse_meta(pairs: list[str]) -> dict[str, str]:
    """--meta KEY=VALUE pairs as a dict; InvalidInputError for one without a key or an "="."""
    meta = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--meta takes KEY=VALUE, got {pair!r}")
        meta[key.strip()] = value
    return meta


CALLS: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[list[Any], dict[str, Any]]]]] = {
    "search": ("search", _search),
    "get": ("get", lambda v: ([v["memory_id"]], {"include_deleted": True})),
    "list": ("get_all", _list),
    "context": ("context", _context),
    "add": ("add", _add),
}


def screen(view: str, **extra: Any) -> dict[str, Any]:
    """What rich would measure of this process's stdout, for the daemon to draw `view` on."""
    size = None
    for fd in (0, 1, 2):  # the streams rich asks, in its order
        try:
            size = list(os.get_terminal_size(fd))
            break
        except (OSError, ValueError):
            continue
    out = sys.stdout
    try:
        isatty = bool(out.isatty())
    except (AttributeError, ValueError):
        isatty = False
    env = {name: os.environ[name] for name in SCREEN_ENV if name in os.environ}
    encoding = getattr(out, "encoding", None) or "utf-8"
    return {"view": view, "isatty": isatty, "encoding": encoding, "tty": size, "env": env, **extra}


def _view(name: str, v: dict[str, Any]) -> dict[str, Any] | None:
    """The human view of this call's result the daemon draws; None where the text is the result."""
    if v.get("as_json") or name == "context":
        return None
    if name == "search":
        return screen("search", query=v["query"])
    if name == "add":
        return screen("added", inferred=not v["no_infer"])
    return screen({"get": "record", "list": "listing"}[name])


def _show(name: str, v: dict[str, Any], view: dict[str, Any] | None, result: Any, shown: str | None) -> int:
    if name == "get" and result is None:
        _say(f"error: no memory with id {v['memory_id']}; see `mem list` or `mem search` for ids", err=True)
        return 1
    if v.get("as_json"):
        _say(json_text(result))
    elif name == "context":
        _say(result["markdown"], nl=False)
    elif shown is not None:
        sys.stdout.write(shown)
        sys.stdout.flush()
    else:  # run in-process, or by a daemon that does not draw (a library's own Watcher)
        from memcli.cli import render

        render.draw(render.new_console(), view or {}, result)
    return 0


def _say(text: str, *, nl: bool = True, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(clean(text) + ("\n" if nl else ""))
    stream.flush()


def answer(argv: list[str]) -> int | None:
    """The exit code of a command line this module is sure of, run and printed as the typer app
    prints it (perform); None when it is typer's to read (nothing printed, nothing written)."""
    try:
        vault, name, values = read_argv(argv)
    except _Typer:
        return None
    from memcli.config import load_settings

    return perform(lambda: load_settings(vault), name, values)


def perform(settings_of: Callable[[], Settings], name: str, values: dict[str, Any]) -> int:
    """Run `mem NAME` with these values (the typer parameters' names) and print what it prints:
    through the `mem watch` serving the vault when one answers, else in-process. The typer app's
    search, get, list, context and add run through here too: one way to make each call.
    Errors are one line on stderr, exit code 1."""
    try:
        op, call = CALLS[name]
        args, kwargs = call(values)
        settings = settings_of()
        view = _view(name, values)
        reply = remote.ask_shown(settings, op, args, kwargs, view)
        if reply is remote.UNSERVED:
            from memcli.memory import Memory  # the library: only when no daemon answered

            reply = getattr(Memory(settings=settings), op)(*args, **kwargs), None
        result, shown = reply
        return _show(name, values, view, result, shown)
    except Exception as err:  # noqa: BLE001 - as commands.friendly: one line, not a traceback
        if not isinstance(err, MemError) and os.environ.get("MEM_DEBUG"):
            raise
        _say(error_line(err), err=True)
    return 1


def error_line(err: Exception) -> str:
    """The one line on stderr for an error a command met: a MemError says what it is; anything
    else is a bug, named by its type (MEM_DEBUG=1 shows the traceback instead)."""
    if isinstance(err, MemError):
        return f"error: {err}"
    return f"error: unexpected {type(err).__name__}; run again with MEM_DEBUG=1 to see where"


class CleanFormatter(logging.Formatter):
    """Log lines on stderr are cleaned too: a warning may quote a file name or an error."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record))


def main() -> None:
    """Entry point of the `mem` console script."""
    # Library warnings (e.g. "no embedding model") go to stderr as one plain line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CleanFormatter("%(message)s"))
    logger = logging.getLogger("memcli")
    logger.addHandler(handler)
    logger.propagate = False
    code = answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from memcli.cli.commands import app

    app()
