"""Human output: rich tables and lines. The only place besides cli.py that imports rich.

Everything it prints comes through `new_console()`, whose console cleans what it draws: text
from the vault (memories, ids, scopes, tags, file names) cannot move the cursor, set the window
title, open a hyperlink, reorder a line or style itself with rich markup."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from memcli.errors import InvalidInputError
from memcli.guard.outputs import clean


class _Cleaned:
    """A renderable drawn with the control, zero-width and bidi characters of its text removed.
    Rich's own escapes (colours, cursor moves) are styles and control segments, so they pass;
    the dropped characters are zero cells wide, so the layout rich chose still holds."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.inner, options):
            yield segment if segment.control else Segment(clean(segment.text), segment.style)


class _CleanEverything(RenderHook):
    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Cleaned(renderable) for renderable in renderables]


def new_console(file: IO[str] | None = None, environ: dict[str, str] | None = None) -> Console:
    """The console every command prints through: one choke point for terminal safety.

    Markup and emoji codes are off, so `[link=…]` or `:warning:` in a memory prints as written;
    a render hook cleans every segment, whatever the renderable (Text, table cell, progress bar).
    Made per call so that it writes to the sys.stdout of the moment (tests swap it); `file` and
    `environ` stand for another process's stdout and environment (shown)."""
    console = Console(file=file, highlight=False, markup=False, emoji=False, soft_wrap=False, _environ=environ)
    console.push_render_hook(_CleanEverything())
    return console


class _Screen(io.StringIO):
    """Text drawn for another process's stdout: a terminal or not, in its encoding."""

    def __init__(self, isatty: bool, encoding: str) -> None:
        super().__init__()
        self._isatty, self._encoding = isatty, encoding

    def isatty(self) -> bool:
        return self._isatty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def shown(screen: dict[str, Any], result: Any) -> str:
    """The result drawn as the CLI process that measured `screen` (memcli.cli.front.screen) would
    draw it on its own stdout: the same colours, width and characters, as text. `mem watch` draws
    for the CLI with this, so a served call prints the same bytes as one run in-process."""
    env = {str(k): str(v) for k, v in dict(screen.get("env") or {}).items()}
    file = _Screen(bool(screen.get("isatty")), str(screen.get("encoding") or "utf-8"))
    console = new_console(file, env)
    # rich's own reading of the size (Console.size), with the client's terminal for the daemon's
    columns, lines = (int(v) if v and v.isdigit() else None for v in (env.get("COLUMNS"), env.get("LINES")))
    tty = screen.get("tty") or (None, None)
    if columns is None or lines is None:
        if console.is_dumb_terminal:
            console.size = (80, 25)
        else:
            console.size = (columns or int(tty[0] or 0) or 80, lines or int(tty[1] or 0) or 25)
    draw(console, screen, result)
    return file.getvalue()


def draw(console: Console, screen: dict[str, Any], result: Any) -> None:
    """The human view of a served call's result (front.py names it) on `console`."""
    view = screen.get("view")
    if view == "search":
        search(console, result, str(screen.get("query")))
    elif view == "record":
        record(console, result)
    elif view == "listing":
        listing(console, result)
    elif view == "added":
        added(console, result, inferred=bool(screen.get("inferred", True)))
    else:
        raise ValueError(f"no view called {view!r}")


def one_line(value: object) -> str:
    """A field that is one line on screen (id, scope, tag, path): a line break in it is shown as
    \\n, so a file name or a hand-written scope cannot forge the next line of the output."""
    return str(value).replace("\r", "\\r").replace("\n", "\\n")


def _scope(item: dict[str, Any]) -> str:
    parts = [f"{key[0]}:{item[f'{key}_id']}" for key in ("user", "agent", "run", "app") if item.get(f"{key}_id")]
    return one_line(" ".join(parts) or "shared")


def _snippet(text: str, limit: int = 160) -> Text:
    """One line of at most `limit` characters: long notes must not flood a results table."""
    flat = " ".join(text.split())
    return Text(flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…")


def _date(value: str | None) -> str:
    return one_line((value or "")[:10])


_EVENTS = {"ADD": "Added", "UPDATE": "Updated", "DELETE": "Forgot", "NONE": "Already known"}
_EVENT_STYLE = {"ADD": "green", "UPDATE": "yellow", "DELETE": "red", "NONE": "dim"}


def added(console: Console, result: dict[str, Any], inferred: bool = True) -> None:
    """One line per decision, with what it replaced and why: the user sees what was remembered."""
    if result.get("explain", {}).get("trace"):
        reading_explained(console, result["explain"])
    if not result["results"]:
        hint = " (store it as is with --no-infer)" if inferred else ""
        console.print(Text(f"Nothing to remember: no lasting fact in that{hint}."))
        return
    for item in result["results"]:
        event = item["event"]
        line = Text(f"{_EVENTS.get(event, event)} ", style=_EVENT_STYLE.get(event, ""))
        line.append(f"{item['id']}: {item['memory']}", style="dim" if event in ("NONE", "DELETE") else "")
        console.print(line)
        if item.get("previous_memory") is not None:
            console.print(Text(f"  replaces {item.get('previous_id', '')}: {item['previous_memory']}", style="dim"))
        if item.get("reason") and event != "ADD":
            console.print(Text(f"  why: {item['reason']}", style="dim"))
        possible_conflicts(console, item)
        if item.get("explain"):
            decision_explained(console, item["explain"])


def reading_explained(console: Console, explain: dict[str, Any]) -> None:
    """What each stage of extraction did, one line per step, then the keep head's verdicts."""
    console.print(Text("read:", style="dim"))
    for step in explain["trace"]:
        out = f" -> {one_line(step['out'])}" if step.get("out") else ""
        line = f"  {step['stage']:<8} {step['rule']}: {one_line(step['text'])[:80]}{out}"
        console.print(Text(line, style="dim"))
    for sentence in explain.get("sentences", []):
        if "p" in sentence:  # the keep head read it
            p = " ".join(f"P({k})={v:.2f}" for k, v in sentence["p"].items() if v >= 0.01)
            verdict = "kept" if sentence["kept"] else "dropped"
            text = one_line(sentence["text"])[:80]
            console.print(Text(f"  model    {verdict}, {sentence['why']}: {text}  {p}", style="dim"))


def decision_explained(console: Console, trace: dict[str, Any]) -> None:
    """The rule and threshold that decided, then each candidate memory the relation head read:
    its probabilities, the rules' reading and the features that are not zero (all in --json)."""
    head = {k: v for k, v in trace.items() if k not in ("candidates", "relation")}
    console.print(Text("  explain: " + json.dumps(head, ensure_ascii=False, default=str), style="dim"))
    for candidate in trace.get("candidates", []):
        p = " ".join(f"P({k})={v:.2f}" for k, v in candidate["p"].items())
        console.print(Text(f"    vs {candidate['id']}: {one_line(candidate['memory'])[:70]}  {p}", style="dim"))
        features = " ".join(f"{k}={v:g}" for k, v in candidate["features"].items() if v)
        rules = f"rules: {candidate['rules']}; " if candidate["rules"] else ""
        console.print(Text(f"      {rules}{features}", style="dim"))


def possible_conflicts(console: Console, item: dict[str, Any]) -> None:
    for other in item.get("possible_conflicts", []):
        console.print(Text(f"  may replace {other['id']}: {other['memory']}  (score {other['score']})", style="yellow"))
        console.print(
            Text(
                f"    kept both; if it is outdated: mem supersede {item['id']} {other['id']}  (or mem forget {other['id']})"
            )
        )


def conflict(console: Console, pair: dict[str, Any]) -> None:
    new, old = pair["new"], pair["old"]
    console.print(Text(f"{new['id']} ({_date(new.get('created_at'))}): {new['memory']}"))
    console.print(Text(f"  may replace {old['id']} ({_date(old.get('created_at'))}): {old['memory']}", style="dim"))


def plan(console: Console, text: str) -> None:
    """Consolidation's plan, a line at a time (no markup: memory texts are shown as written)."""
    for line in text.splitlines():
        console.print(Text(line), soft_wrap=True)


def conflicts(console: Console, result: dict[str, Any]) -> None:
    if not result["results"]:
        console.print(Text("No possible conflicts to review."))
        return
    for pair in result["results"]:
        conflict(console, pair)
        console.print(
            Text(f"  mem supersede {pair['new']['id']} {pair['old']['id']}   (or keep both: mem review in a terminal)")
        )


def search(console: Console, result: dict[str, Any], query: str) -> None:
    if not result["results"]:
        console.print(Text(f"No memories match {query!r}."))
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id", no_wrap=True)
    table.add_column("memory", ratio=1)
    table.add_column("scope", no_wrap=True)
    explain = any("explain" in item for item in result["results"])
    if explain:
        table.add_column("signals", no_wrap=True)
    for rank, item in enumerate(result["results"], 1):
        row = [str(rank), f"{item['score']:.2f}", item["id"], _snippet(item["memory"]), _scope(item)]
        if explain:
            short = {"bm25": "bm25", "cosine": "cos", "context": "ctx", "recency": "rec"}
            row.append(" ".join(f"{short.get(k, k)}={v:.2f}" for k, v in item["explain"].items()))
        table.add_row(*row)
    console.print(table)
    if result.get("mode") == "bm25" and explain:
        console.print("(BM25 only: no embedding model)")


def listing(console: Console, result: dict[str, Any]) -> None:
    if not result["results"]:
        console.print('No memories yet. Add one with: mem add "..."')
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("memory", ratio=1)
    table.add_column("scope", no_wrap=True)
    for item in result["results"]:
        memory = _snippet(item["memory"])
        if item.get("status", "current") != "current":
            memory = Text(f"[{one_line(item['status'])}] ", style="dim") + memory
        table.add_row(item["id"], _date(item["updated_at"]), memory, _scope(item))
    console.print(table)


def record(console: Console, item: dict[str, Any]) -> None:
    fields = [
        ("id", item["id"]),
        ("status", item.get("status")),
        ("scope", _scope(item)),
        ("tags", ", ".join(str(tag) for tag in item.get("tags") or []) or None),
        ("metadata", item["metadata"] or None),
        ("created", item["created_at"]),
        ("updated", item["updated_at"]),
        ("path", item["path"]),
    ]
    for name, value in fields:
        if value is not None:
            console.print(Text(f"{name + ':':<10}{one_line(value)}"))
    console.print()
    console.print(Text(item["memory"]))


def history(console: Console, events: list[dict[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("when", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("old", ratio=1)
    table.add_column("new", ratio=1)
    for event in events:
        table.add_row(
            one_line((event["created_at"] or "")[:19]),
            one_line(event["event"]),
            Text(event["old_memory"] or ""),
            Text(event["new_memory"] or ""),
        )
    console.print(table)


def doctor(console: Console, report: dict[str, Any]) -> None:
    how = {
        "flag": "--vault",
        "env": "MEM_VAULT",
        "marker": "mem.toml found above the current folder",
        "default": "default vault",
    }
    exists = "" if report["vault_exists"] else " (not created yet: the first `mem add` creates it)"
    console.print(Text(f"vault:         {one_line(report['vault'])}{exists}"))
    console.print(Text(f"chosen by:     {how.get(report['vault_source'], report['vault_source'])}"))
    console.print(Text(f"default vault: {one_line(report['default_vault'])}"))
    counts = report["counts"]
    console.print(
        Text(
            f"files:         {counts['memories']} current memories, {counts['superseded']} superseded, "
            f"{counts['deleted']} deleted, {counts.get('expired', 0)} expired, {counts['notes']} notes"
        )
    )
    drift = report.get("index_drift") or {}
    if drift.get("changed") or drift.get("removed"):
        console.print(
            Text(
                f"index:         was behind by {drift['changed']} changed and {drift['removed']} removed file(s); now up to date"
            )
        )
    index = report.get("index") or {}
    if index.get("problem"):
        console.print(Text(f"index:         in memory only: {one_line(index['problem'])}"))
    if index.get("unembedded"):
        console.print(
            Text(
                f"vectors:       {index['unembedded']} chunk(s) have no vector yet; search mode: {index['search_mode']}"
            )
        )
    if report.get("entities_without_note"):
        names = [one_line(name) for name in report["entities_without_note"]]
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        console.print(Text(f"entities:      {len(names)} linked but with no note (fine): {shown}"))
    if report.get("llm"):
        llm = report["llm"]
        where = f"{one_line(llm['model'])} at {one_line(llm['base_url'])}"
        if llm["reachable"] and not llm["error"]:
            state = f"answers in {llm['round_trip_ms']} ms, response_format {llm['response_format']}"
        else:
            state = f"{'not reachable' if not llm['reachable'] else 'no usable answer'}: {one_line(llm['error'] or '')}"
        paused = "; paused after repeated failures (the rules decide)" if llm.get("paused") else ""
        console.print(Text(f"llm:           {where}: {state}{paused}"))
    if report.get("swept_temp_files"):
        console.print(Text(f"swept:         {len(report['swept_temp_files'])} temp file(s) left by a killed writer"))
    for item in report.get("possible_prompt_injection", []):
        console.print(
            Text(
                f"warning:       {one_line(item['path'])} ({item['id']}) reads like instructions to a model; "
                "it is served as data"
            )
        )
    for item in report.get("stored_secrets", []):
        at = f" (line {item['line']} of the text)" if item["fields"][0] == "text" else ""
        where = f"in its {', '.join(item['fields'])}{at}"
        console.print(
            Text(f"secret:        {one_line(item['path'])} holds a {item['kind']} {where}; remove it by hand")
        )
    if not report["problems"]:
        console.print("problems:      none")
        return
    console.print(Text(f"problems:      {len(report['problems'])} file(s) could not be read and are skipped:"))
    for problem in report["problems"]:
        console.print(Text(f"  {one_line(problem['path'])}: {one_line(problem['reason'])}"))


_STAGES = {"read": "reading files", "embed": "embedding", "import": "importing"}


@contextlib.contextmanager
def progress(console: Console, minimum: int = 50) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback (stage, done, total) drawing rich bars with count and rate for long work."""
    bars = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if total < minimum:
            return
        if stage not in tasks:
            if not tasks:
                bars.start()
            tasks[stage] = bars.add_task(_STAGES.get(stage, stage), total=total, rate="")
        task = bars.tasks[tasks[stage]]
        elapsed = task.elapsed or 0.0
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else ""
        bars.update(TaskID(tasks[stage]), completed=done, total=total, rate=rate)

    try:
        yield update
    finally:
        if tasks:
            bars.stop()


def indexed(console: Console, stats: object, mode: str) -> None:
    console.print(
        Text(
            f"Indexed {stats.files} files: {stats.changed} changed, {stats.removed} removed, "  # type: ignore[attr-defined]
            f"{stats.embedded} embedded in {stats.seconds:.1f}s (search mode: {mode})"  # type: ignore[attr-defined]
        )
    )


def consolidated(console: Console, plan: dict[str, Any]) -> None:
    """One line per scheduled consolidation of `mem watch`."""
    stamp = time.strftime("%H:%M:%S")
    if plan.get("error"):
        console.print(Text(f"{stamp} consolidation skipped: {one_line(plan['error'])}"), soft_wrap=True)
        return
    counts = ", ".join(f"{kind} {n}" for kind, n in (plan.get("counts") or {}).items() if n) or "nothing"
    applied = plan.get("applied_now")
    done = f"; applied {len(applied.get('done') or [])} change(s)" if applied else ""
    console.print(Text(f"{stamp} consolidation planned: {counts}{done} (.mem/consolidation.md)"), soft_wrap=True)


def batch(console: Console, report: object) -> None:
    """One line per indexed burst of changes from `mem watch`."""
    stamp = time.strftime("%H:%M:%S")
    r = report  # a watch.BatchReport
    if r.error:  # type: ignore[attr-defined]
        console.print(Text(f"{stamp} indexing failed: {one_line(r.error)}; will rescan"), soft_wrap=True)  # type: ignore[attr-defined]
        return
    what = "full rescan" if r.full else f"{r.paths} file(s)"  # type: ignore[attr-defined]
    names = ", ".join(one_line(name) for name in r.names)  # type: ignore[attr-defined]
    more = f" — {names}{', …' if r.paths > len(r.names) else ''}" if names else ""  # type: ignore[attr-defined]
    console.print(
        Text(f"{stamp} {what}: {r.changed} changed, {r.removed} removed in {r.seconds:.2f}s{more}"),  # type: ignore[attr-defined]
        soft_wrap=True,
    )


def _dot_string(text: str) -> str:
    """A DOT quoted string: on one line, with backslash and quote escaped, so a name can neither
    end the string (and add attributes such as image=) nor use Graphviz escapes like \\N or \\l."""
    flat = " ".join(clean(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MERMAID_PLAIN = re.compile(r"[^\w ,.:/()'+=!?-]")


def _mermaid_string(text: str) -> str:
    """A mermaid quoted label: on one line, and every character that could end the string, start
    a comment, markdown or HTML, or an entity written as an entity code (#34; for a quote)."""
    flat = " ".join(clean(text).split())
    return '"' + _MERMAID_PLAIN.sub(lambda match: f"#{ord(match.group(0))};", flat) + '"'


def graph_text(result: dict[str, Any], fmt: str) -> str:
    """The graph as text: tree (for people), dot (Graphviz) or mermaid (GitHub, Obsidian).

    Node ids are n0, n1, … in node order (names only ever appear as escaped labels), so two
    names that differ only in punctuation stay two nodes."""
    edges = result["edges"]
    ids = {node["name"]: f"n{number}" for number, node in enumerate(result["nodes"])}
    if fmt == "dot":
        lines = ["graph mem {", "  node [shape=box];"]
        lines += [f"  {ids[n['name']]} [label={_dot_string(n['name'])}];" for n in result["nodes"]]
        lines += [
            f"  {ids[e['source']]} -- {ids[e['target']]} [label={_dot_string(e['relationship'])}];" for e in edges
        ]
        return "\n".join(lines + ["}"]) + "\n"
    if fmt == "mermaid":
        lines = ["graph LR"]
        lines += [f"  {ids[n['name']]}[{_mermaid_string(n['name'])}]" for n in result["nodes"]]
        lines += [f"  {ids[e['source']]} ---|{_mermaid_string(e['relationship'])}| {ids[e['target']]}" for e in edges]
        return "\n".join(lines) + "\n"
    root = result.get("root")
    lines = [one_line(root)] if root else ["Entities (most linked first):"]
    if root:
        for e in edges:
            if root in (e["source"], e["target"]):
                other = e["target"] if e["source"] == root else e["source"]
                lines.append(f"├── {one_line(e['relationship'])} → {one_line(other)}")
    else:
        nodes = sorted(result["nodes"], key=lambda n: -n["mentions"])
        lines += [f"  {one_line(n['name'])} ({n['mentions']})" for n in nodes]
    return "\n".join(lines) + "\n"


def mcp_registration(kind: str, command: list[str], vault: Path, user: str | None, agent: str | None) -> str:
    """How to register `mem mcp` with a client: a `claude mcp add` line, or an mcpServers entry
    (Cursor, Claude Desktop and most clients read that JSON)."""
    args = [*command[1:], "--vault", str(vault), "mcp"]
    args += ["--user", user] if user else []
    args += ["--agent", agent] if agent else []
    if kind == "claude":
        return shlex.join(["claude", "mcp", "add", "mem", "--", command[0], *args])
    if kind in ("cursor", "json"):
        return json.dumps({"mcpServers": {"mem": {"command": command[0], "args": args}}}, indent=2)
    raise InvalidInputError(f"--print-config takes claude, cursor or json, not {kind!r}")
