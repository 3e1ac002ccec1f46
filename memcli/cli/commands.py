"""The `mem` command: parse arguments, call the library, render. Errors become one line on stderr."""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from memcli.cli import front, remote, render
from memcli.cli.front import parse_meta
from memcli.cli.options import (
    AgentOpt,
    JsonOpt,
    RunOpt,
    State,
    UserOpt,
    duration,
    friendly,
    print_json,
    say,
    served,
    state_of,
)
from memcli.cli.render import new_console, one_line
from memcli.config import Settings, load_settings
from memcli.errors import InvalidInputError

# The library (memcli.memory, memcli.vault and what they bring) is not imported here: `search`,
# `get`, `list`, `context` and `add` may be answered by a running `mem watch`, and then this
# process never loads it (tests/test_layout.py). Commands reach it through state_of(ctx).memory()
# or served(), and import the few helpers they need where they use them.

app = typer.Typer(
    name="mem",
    help="Long-term memory for you and your agents, kept as markdown files you can read and edit.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    vault: str | None = typer.Option(
        None,
        "--vault",
        help="Vault folder (else $MEM_VAULT, else the nearest folder with mem.toml, else the default vault).",
    ),
) -> None:
    """Long-term memory for you and your agents, kept as markdown files you can read and edit."""
    ctx.obj = State(vault=vault)


@app.command()
@friendly
def init(
    ctx: typer.Context,
    path: str | None = typer.Argument(
        None, help="Folder for the vault (default: --vault, $MEM_VAULT or the default vault)."
    ),
    git: bool = typer.Option(False, "--git", help="Make it a git repository; every mem write becomes a commit."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a vault: memories/, mem.toml (its marker) and .mem/ for derived state."""
    result = State(vault=path if path is not None else state_of(ctx).vault).memory().init(git=git)
    if as_json:
        print_json(result)
    else:
        verb = "Initialised" if result["created"] else "Already a vault:"
        say(f"{verb} {result['vault']}{' (git repository, autocommit on)' if git else ''}")


def _perform(ctx: typer.Context, name: str, values: dict[str, Any]) -> None:
    """The call as memcli.cli.front makes it (the daemon if one answers, else in-process), with
    typer's reading of the command line; exit 1 after the one line it printed on an error."""
    code = front.perform(state_of(ctx).settings, name, values)
    if code:
        raise typer.Exit(code)


def _read_source(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"cannot read {name}: {getattr(err, 'strerror', None) or err}") from None


@app.command()
@friendly
def add(
    ctx: typer.Context,
    text: str | None = typer.Argument(None, help="What to remember; '-' reads it from stdin."),
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    tag: list[str] = typer.Option([], "--tag", help="A tag (repeatable)."),
    meta: list[str] = typer.Option([], "--meta", help="Metadata KEY=VALUE (repeatable)."),
    no_infer: bool = typer.Option(False, "--no-infer", help="Store the text verbatim as one memory."),
    messages: str | None = typer.Option(
        None, "--messages", help="A conversation: JSON list or JSONL of {role, content}; '-' for stdin."
    ),
    redact: bool = typer.Option(False, "--redact", help="Store secrets as [REDACTED:kind] instead of refusing."),
    at: str | None = typer.Option(None, "--at", help="When this was said (ISO 8601), e.g. for old conversations."),
    replaces: list[str] = typer.Option(
        [], "--replaces", metavar="ID", help="Store the text as one memory that supersedes this one (repeatable)."
    ),
    explain: bool = typer.Option(False, "--explain", help="Show the rule, features and numbers behind each decision."),
    as_json: bool = JsonOpt,
) -> None:
    """Remember something: `mem add "I moved to Ghent" -u ray`.

    Extracts the facts worth keeping and reconciles them with what is stored: a changed fact
    supersedes the old one, a retraction ("forget that…") forgets it, a repeat changes nothing."""
    if messages is not None and text is not None:
        raise InvalidInputError("give either TEXT or --messages, not both")
    if messages is None and text is not None and text != "-":
        _perform(ctx, "add", locals())
        return
    if messages is not None:
        from memcli.interop.formats import load_messages

        payload: Any = load_messages(_read_source(messages))
    elif text is None:
        raise InvalidInputError('nothing to remember: give the text, e.g. mem add "prefers pnpm over npm"')
    else:
        payload = sys.stdin.read()
    result = served(
        ctx,
        "add",
        payload,
        user_id=user,
        agent_id=agent,
        run_id=run,
        metadata=parse_meta(meta) or None,
        infer=not no_infer,
        tags=tag,
        source="cli",
        redact=True if redact else None,
        timestamp=at,
        replaces=replaces or None,
        explain=explain,
    )
    print_json(result) if as_json else render.added(new_console(), result, inferred=not no_infer)


@app.command()
@friendly
def supersede(
    ctx: typer.Context,
    new: str = typer.Argument(..., metavar="NEW", help="The memory that is true now."),
    old: str = typer.Argument(..., metavar="OLD", help="The memory it replaces (same scope)."),
    as_json: bool = JsonOpt,
) -> None:
    """Mark OLD as replaced by NEW (the history keeps OLD): `mem supersede m-new m-old`."""
    result = state_of(ctx).memory().supersede(new, old)
    if as_json:
        print_json(result)
    else:
        say(f"{new} supersedes {old} ({result['previous_memory']})")


@app.command()
@friendly
def review(
    ctx: typer.Context,
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    ask: bool | None = typer.Option(
        None, "--ask/--list", help="Ask about each pair (the default in a terminal), or only list them."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Settle possible conflicts: for each, keep the newer only (accept), keep both (reject), or skip.

    Without a terminal (or with --json) it lists them; a rejected pair is never asked again."""
    memory = state_of(ctx).memory()
    pending = memory.conflicts(user_id=user, agent_id=agent, run_id=run)
    if as_json or not (sys.stdin.isatty() if ask is None else ask):
        print_json(pending) if as_json else render.conflicts(new_console(), pending)
        return
    console = new_console()
    if not pending["results"]:
        render.conflicts(console, pending)
        return
    for pair in pending["results"]:
        render.conflict(console, pair)
        answer = typer.prompt("  [a]ccept (newer replaces older) / [r]eject (both true) / [s]kip", default="s")
        choice = answer.strip().lower()[:1]
        if choice == "a":
            memory.supersede(pair["new"]["id"], pair["old"]["id"])
            say(f"  {pair['new']['id']} supersedes {pair['old']['id']}")
        elif choice == "r":
            memory.keep_both(pair["new"]["id"], pair["old"]["id"])
            say("  both kept; not asked again")


@app.command()
@friendly
def consolidate(
    ctx: typer.Context,
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    apply: bool = typer.Option(False, "--apply", help="Carry the plan out (default: only show it)."),
    only: list[str] | None = typer.Option(
        None, "--only", help="Only these kinds (repeatable): merge, expire, conflicts, fold, promote."
    ),
    plan_file: Path | None = typer.Option(
        None, "--plan", help="Apply a plan saved with --json (each memory must be unchanged since)."
    ),
    min_links: int | None = typer.Option(None, "--min-links", help="Links that earn an entity a note (default 3)."),
    as_json: bool = JsonOpt,
) -> None:
    """Refine the vault: merge restatements, expire passed dates and plans, queue possible
    conflicts for `mem review`, fold replaced memories into memories/archive/, write entity notes.

    Shows the plan and changes nothing unless --apply. Nothing is ever deleted: each change is in
    the memory's history (and one git commit with autocommit on)."""
    import json

    from memcli.interop.plans import plan_markdown
    from memcli.memory.consolidation_apply import public_plan

    if min_links is not None and min_links < 1:
        raise InvalidInputError("--min-links must be at least 1")
    saved = None
    if plan_file is not None:
        try:
            saved = json.loads(plan_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InvalidInputError(f"cannot read the plan {plan_file}: {err}") from None
    result = (
        state_of(ctx)
        .memory()
        .consolidate(user_id=user, agent_id=agent, run_id=run, apply=apply, kinds=only, plan=saved, min_links=min_links)
    )
    if as_json:
        print_json(public_plan(result))
        return
    render.plan(new_console(), plan_markdown(result))


@app.command()
@friendly
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for, in words."),
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    limit: int = typer.Option(10, "--limit", "-k", help="How many results at most."),
    include_all: bool = typer.Option(False, "--all", help="Include superseded and deleted memories."),
    as_of: str | None = typer.Option(None, "--as-of", help="Search what was true then (a date or ISO time)."),
    explain: bool = typer.Option(False, "--explain", help="Show each ranking signal per hit."),
    as_json: bool = JsonOpt,
) -> None:
    """Find memories by meaning and words: `mem search "package manager" -u ray`."""
    _perform(ctx, "search", locals())


@app.command()
@friendly
def get(ctx: typer.Context, memory_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt) -> None:
    """Show one memory by id."""
    _perform(ctx, "get", locals())


@app.command("list")
@friendly
def list_(
    ctx: typer.Context,
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    limit: int = typer.Option(100, "--limit", "-k", help="How many at most."),
    include_all: bool = typer.Option(False, "--all", help="Include superseded and deleted memories."),
    as_of: str | None = typer.Option(None, "--as-of", help="List what was true then (a date or ISO time)."),
    as_json: bool = JsonOpt,
) -> None:
    """List current memories, newest first."""
    _perform(ctx, "list", locals())


@app.command()
@friendly
def update(
    ctx: typer.Context,
    memory_id: str = typer.Argument(..., metavar="ID"),
    text: str = typer.Argument(..., help="The new text; '-' reads it from stdin."),
    redact: bool = typer.Option(False, "--redact", help="Store secrets as [REDACTED:kind] instead of refusing."),
    as_json: bool = JsonOpt,
) -> None:
    """Replace a memory's text (the old text stays in its history)."""
    result = (
        state_of(ctx)
        .memory()
        .update(memory_id, sys.stdin.read() if text == "-" else text, redact=True if redact else None)
    )
    from memcli.memory.writing import UNCHANGED

    print_json(result) if as_json else say(
        f"{memory_id} already says that." if result["message"] == UNCHANGED else f"Updated {memory_id}."
    )


@app.command()
@friendly
def forget(
    ctx: typer.Context,
    memory_id: str = typer.Argument(..., metavar="ID"),
    purge: bool = typer.Option(False, "--purge", help="Delete the file instead of keeping a tombstone."),
    as_json: bool = JsonOpt,
) -> None:
    """Forget a memory: it leaves search but stays on disk as `status: deleted` (or --purge it)."""
    result = state_of(ctx).memory().delete(memory_id, purge=purge)
    if as_json:
        print_json(result)
    elif purge:
        say(f"Purged {memory_id}: its file is removed.")
    else:
        say(f"Forgot {memory_id}: kept on disk as deleted; `mem forget {memory_id} --purge` removes the file.")


@app.command()
@friendly
def reset(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    as_json: bool = JsonOpt,
) -> None:
    """Forget every memory mem wrote (their files under memories/ go); hand-written notes stay."""
    from memcli.memory.writing import written_by_mem

    memory = state_of(ctx).memory()
    count = sum(1 for r in memory.scan()[0] if written_by_mem(r))
    if not yes and not typer.confirm(
        f"Remove all {count} memories mem wrote in {memory.vault.root}? Hand-written notes stay.", default=False
    ):
        say("Nothing changed.")
        return
    result = memory.reset()
    print_json(result) if as_json else say(f"Reset: {result['count']} memories removed; hand-written notes kept.")


@app.command()
@friendly
def history(ctx: typer.Context, memory_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt) -> None:
    """Show how a memory changed over time."""
    memory = state_of(ctx).memory()
    result = memory.history(memory_id)
    if as_json:
        print_json(result)
        return
    render.history(new_console(), result)
    for entry in memory.file_log(memory_id):
        say(f"git {entry['commit']} {entry['date'][:19]} {entry['message']}")


@app.command()
@friendly
def index(
    ctx: typer.Context,
    rebuild: bool = typer.Option(False, "--rebuild", help="Throw the index away and build it again."),
    as_json: bool = JsonOpt,
) -> None:
    """Bring the search index (.mem/) up to date; search does this by itself, this shows progress."""
    memory = state_of(ctx).memory()
    if as_json:
        stats = memory.reindex(rebuild=rebuild)
        print_json({**dataclasses.asdict(stats), "mode": memory.search_mode()})
        return
    console = new_console()
    with render.progress(console) as update:
        stats = memory.reindex(rebuild=rebuild, progress=update)
    render.indexed(console, stats, memory.search_mode())


@app.command()
@friendly
def watch(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Bring the index up to date and exit (for scripts and git hooks)."),
    debounce_ms: int = typer.Option(150, "--debounce", help="Quiet time that ends a burst of changes, in ms."),
    rescan: float = typer.Option(
        300.0, "--rescan", help="Full rescan every this many seconds, in case events were lost."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Answer CLI search, get, list, context and add from this warm process."
    ),
    status: bool = typer.Option(False, "--status", help="Say whether a mem watch serves this vault (exit 1: none)."),
    as_json: bool = typer.Option(False, "--json", help="With --status: print it as JSON."),
    consolidate_every: str | None = typer.Option(
        None,
        "--consolidate-every",
        help="Plan a consolidation this often (24h, 30m, 7d) into .mem/consolidation.md; "
        "applies only the kinds mem.toml's [consolidate] apply names.",
    ),
) -> None:
    """Keep the index fresh while files change (editors, agents, git pull). Ctrl-C stops it.

    While it runs, `mem search`, `get`, `list`, `context` and `add` in other terminals are answered
    by it over .mem/serve.sock (same output, no model to load); without it they run in-process."""
    if status:
        _watch_status(state_of(ctx).settings(), as_json)
        return
    from memcli.watch import Watcher  # watchdog is only needed by this command

    memory = state_of(ctx).memory()
    console = new_console()
    if once:
        stats = memory.reindex()
        render.indexed(console, stats, memory.search_mode())
        return
    if debounce_ms < 0 or rescan <= 0:
        raise InvalidInputError("--debounce must be >= 0 and --rescan > 0")
    every = duration(consolidate_every, "--consolidate-every") if consolidate_every is not None else None

    def started() -> None:
        serving = "; serving CLI queries" if watcher.server is not None else ""
        console.print(Text(f"Watching {memory.vault.root}{serving} (Ctrl-C to stop)"), soft_wrap=True)

    watcher = Watcher(
        memory,
        quiet=debounce_ms / 1000,
        rescan_every=rescan,
        on_batch=lambda report: render.batch(console, report),
        on_start=started,
        serve=serve,
        consolidate_every=every,
        on_consolidated=lambda plan: render.consolidated(console, plan),
        show=render.shown,
    )
    # `kill` and service managers stop it with SIGTERM: leave as Ctrl-C does (the socket removed).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop()
        console.print("Stopped.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _watch_status(settings: Settings, as_json: bool) -> None:
    try:
        result: dict[str, Any] = {"serving": True, **remote.status(settings)}
    except remote.Declined as why:
        result = {"serving": False, "vault": str(settings.vault), "why": str(why)}
    if as_json:
        print_json(result)
    elif result["serving"]:
        say(
            f"mem watch (pid {result['pid']}) serves {result['vault']} since {result['since'][:19]}Z: "
            f"CLI search, get, list, context and add go through it ({result['served']} served)."
        )
    else:
        say(f"No mem watch serves {result['vault']} ({result['why']}); CLI commands run in-process.")
    if not result["serving"]:
        raise typer.Exit(1)


def _is_stdout(path: Path) -> bool:
    """`-` as an output file (`--write -`, `-o -`) means stdout, as it does for most tools."""
    return str(path) == "-"


@app.command()
@friendly
def context(
    ctx: typer.Context,
    user: str | None = UserOpt,
    agent: str | None = AgentOpt,
    run: str | None = RunOpt,
    query: str | None = typer.Option(None, "--query", "-q", help="Put what this finds first."),
    budget: int = typer.Option(1500, "--budget", help="Token budget of the digest."),
    write: Path | None = typer.Option(
        None, "--write", help="Keep the digest in a marked block of this file (AGENTS.md, CLAUDE.md); '-': stdout."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """A compact markdown digest of what matters, for an agent to read at session start."""
    if write is None or _is_stdout(write):  # `--write -`: the digest itself, as without --write
        _perform(ctx, "context", locals())
        return
    result = served(ctx, "context", user_id=user, agent_id=agent, run_id=run, query=query, budget=budget)
    from memcli.interop.digest import replace_block
    from memcli.vault.files import output_path, write_output

    real = output_path(write)  # before reading: reading a FIFO would hang
    try:
        # bytes, so CRLF line endings survive (read_text would turn them into LF)
        existing = real.read_bytes().decode("utf-8") if real.exists() else None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"cannot read {write}: {getattr(err, 'strerror', None) or err}") from None
    updated = replace_block(existing, result["markdown"])
    changed = updated != existing
    if changed:
        write_output(write, updated)
    result = {**result, "written": str(write), "changed": changed}
    if as_json:
        print_json(result)
    else:
        say(
            f"{'Updated' if changed else 'Unchanged:'} {write} ({len(result['ids'])} memories, ~{result['tokens']} tokens)"
        )


@app.command()
@friendly
def graph(
    ctx: typer.Context,
    entity: str | None = typer.Argument(None, help="An entity (case and kebab-case do not matter); none: a summary."),
    names: list[str] | None = typer.Argument(None, help="With `rename`: OLD NEW.", show_default=False),
    depth: int = typer.Option(1, "--depth", help="Hops from the entity."),
    fmt: str = typer.Option("tree", "--format", "-f", help="tree | json | dot | mermaid"),
    yes: bool = typer.Option(False, "--yes", "-y", help="With `rename`: apply without asking."),
) -> None:
    """Entities and their links: neighbours, backlinks and typed relations.
    `mem graph rename OLD NEW` points every link at a new name (shows the plan and asks first)."""
    if entity == "rename":
        if not names or len(names) != 2:
            raise InvalidInputError("usage: mem graph rename OLD NEW")
        memory = state_of(ctx).memory()
        plan = memory.rename_entity(names[0], names[1])
        for change in plan["changes"]:
            say(f"  {one_line(change['path'])}: {change['links']} link(s)")
        if plan["note"] and plan["note"][0] != plan["note"][1]:
            say(f"  {one_line(plan['note'][0])} -> {one_line(plan['note'][1])}")
        total = sum(c["links"] for c in plan["changes"])
        say(
            f"Rename {one_line(plan['entity'])} -> {one_line(plan['new'])}: {total} link(s) in {len(plan['changes'])} file(s)."
        )
        if not yes and not typer.confirm("Apply?", default=False):
            say("Nothing changed.")
            return
        memory.rename_entity(names[0], names[1], apply=True)
        say("Renamed.")
        return
    if names:
        raise InvalidInputError("give one entity (or `rename OLD NEW`)")
    if fmt not in ("tree", "json", "dot", "mermaid"):
        raise InvalidInputError("--format takes tree, json, dot or mermaid")
    result = state_of(ctx).memory().graph(entity, depth)
    if fmt == "json":
        print_json(result)
    else:
        say(render.graph_text(result, fmt), nl=False)


@app.command()
@friendly
def entities(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List entities: every [[link]] target and every note under entities/, most linked first."""
    result = state_of(ctx).memory().entities()
    if as_json:
        print_json(result)
        return
    for row in result["results"]:
        note = "" if row["note"] else "  (no note)"
        kind = f"  [{one_line(row['type'])}]" if row["type"] else ""
        say(f"{one_line(row['name'])}  {row['mentions']} link(s){kind}{note}")


@app.command("export")
@friendly
def export_(
    ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl | json | mem0 | markdown"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout ('-': stdout)."
    ),
) -> None:
    """Export every memory (jsonl/json keep status and history; mem0 and markdown: current ones)."""
    text = state_of(ctx).memory().export(fmt)
    if output is None or _is_stdout(output):
        say(text, nl=False)
    else:
        from memcli.vault.files import write_output

        write_output(output, text)
        say(f"Wrote {output}", err=True)


@app.command("import")
@friendly
def import_(
    ctx: typer.Context,
    source: str = typer.Argument(
        ..., metavar="FILE", help="mem JSONL/JSON, Mem0 get_all JSON, or MCP memory.json; '-' for stdin."
    ),
    redact: bool = typer.Option(False, "--redact", help="Store secrets as [REDACTED:kind] instead of refusing."),
    as_json: bool = JsonOpt,
) -> None:
    """Import memories; importing the same file twice adds nothing."""
    memory = state_of(ctx).memory()
    text = _read_source(source)
    if as_json:
        print_json(memory.import_text(text, redact=True if redact else None))
        return
    console = new_console()
    with render.progress(console) as update:
        result = memory.import_text(text, progress=update, redact=True if redact else None)
    say(
        f"Imported {result['added']} memories ({result['format']}), skipped {result['skipped']} already here; "
        f"{result['entities']} entity notes, {result['relations']} relations."
    )


@app.command()
@friendly
def commit(
    ctx: typer.Context,
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
) -> None:
    """Commit every change in a git vault, hand edits included (mem never commits those by itself)."""
    done = state_of(ctx).memory().commit(message)["committed"]
    say("Committed." if done else "Nothing to commit.")


@app.command()
@friendly
def sync(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Pull (rebase) from the vault's git remote, index what came in, push."""
    result = state_of(ctx).memory().sync()
    if as_json:
        print_json(result)
    else:
        say(
            f"Synced: {len(result['pulled_files'])} file(s) came in, {result['indexed']['changed']} re-indexed; pushed."
        )


def _this_mem() -> list[str]:
    """The command that runs this very mem: its script's absolute path, or this Python with -m."""
    script = Path(sys.argv[0])
    if script.name == "mem" and script.is_file():
        return [str(script.resolve())]
    return [sys.executable, "-m", "memcli"]


@app.command()
@friendly
def mcp(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u", envvar="MEM_USER", help="user_id when a tool call omits it."),
    agent: str | None = typer.Option(
        None, "--agent", "-a", envvar="MEM_AGENT", help="agent_id when a tool call omits it."
    ),
    transport: str = typer.Option("stdio", "--transport", help="stdio, or http (streamable HTTP)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address for --transport http."),
    port: int = typer.Option(8765, "--port", help="Port for --transport http."),
    print_config: str | None = typer.Option(
        None,
        "--print-config",
        help="Print how to register this server instead of serving: claude (a `claude mcp add` line), "
        "cursor or json (an mcpServers entry), with the absolute path of this mem.",
    ),
) -> None:
    """Serve memory to agents over MCP (stdout belongs to the protocol; logs go to stderr)."""
    if print_config is not None:
        vault = load_settings(state_of(ctx).vault).vault
        say(render.mcp_registration(print_config, _this_mem(), vault, user, agent))
        return
    from memcli.mcp_server import create_server  # the MCP SDK is only needed by this command

    if transport not in ("stdio", "http"):
        raise InvalidInputError("--transport takes stdio or http")
    memory = state_of(ctx).memory()
    # the index and model load in the background: a client's initialize is answered at once
    server = create_server(memory, default_user=user, default_agent=agent, warm_in_background=True)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


@app.command()
@friendly
def doctor(
    ctx: typer.Context,
    fix: bool = typer.Option(
        False, "--fix", help="Repair what is safe: rebuild the index, give copied files ids of their own."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check the vault: where it is, what it holds, files that cannot be read, and why."""
    memory = state_of(ctx).memory()
    if fix:
        if not as_json:
            say("Fixing: rebuilding the index from the files; giving files with a copied id an id of their own.")
        memory.reindex(rebuild=True)
        relinked = memory.relink_duplicates()
        if not as_json:
            for change in relinked:
                say(f"  {one_line(change['path'])}: id {change['old_id']} -> {change['new_id']}")
    result = memory.doctor()
    print_json(result) if as_json else render.doctor(new_console(), result)


def main() -> None:
    """Entry point of the `mem` console script (memcli.cli.front: a served call skips typer)."""
    from memcli.cli.front import main as front_door

    front_door()
