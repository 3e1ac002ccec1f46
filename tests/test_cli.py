"""The `mem` command through typer's CliRunner: exact output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app

runner = CliRunner()


def mem_cli(vault: Path, *args: str, input: str | None = None):  # noqa: ANN201 - click's Result
    return runner.invoke(app, ["--vault", str(vault), *args], input=input, catch_exceptions=False)


def only_id(vault: Path) -> str:
    (item,) = Memory(vault=vault).get_all(include_all=True)["results"]
    return item["id"]


def test_add_then_search_json_matches_the_library(vault: Path) -> None:
    added = mem_cli(vault, "add", "user prefers TypeScript over JavaScript", "-u", "ray", "--json")
    assert added.exit_code == 0, added.stderr
    payload = json.loads(added.stdout)
    memory_id = payload["results"][0]["id"]
    assert payload == {
        "results": [{"id": memory_id, "memory": "user prefers TypeScript over JavaScript", "event": "ADD"}]
    }
    found = mem_cli(vault, "search", "TypeScript", "-u", "ray", "--json")
    assert found.exit_code == 0
    assert json.loads(found.stdout) == Memory(vault=vault).search("TypeScript", user_id="ray")


def test_add_prints_one_line_per_memory(vault: Path) -> None:
    result = mem_cli(vault, "add", "Prefers pnpm over npm", "-u", "ray", "--tag", "tools", "--meta", "src=chat")
    memory_id = only_id(vault)
    assert result.exit_code == 0
    assert result.stdout == f"Added {memory_id}: Prefers pnpm over npm\n"
    got = Memory(vault=vault).get(memory_id)
    assert got["tags"] == ["tools"] and got["metadata"] == {"src": "chat"} and got["user_id"] == "ray"


def test_add_reads_stdin_with_dash(vault: Path) -> None:
    result = mem_cli(vault, "add", "-", "--json", input="prefers tabs, piped in\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["memory"] == "prefers tabs, piped in"


def test_add_messages_file(vault: Path, tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"role": "user", "content": "I live in Ghent"}\n{"role": "assistant", "content": "Nice city"}\n')
    result = mem_cli(vault, "add", "--messages", str(chat), "-u", "ray", "--json")
    assert result.exit_code == 0
    assert [r["memory"] for r in json.loads(result.stdout)["results"]] == [
        "Lives in Ghent"
    ]  # the user's fact, normalised


def test_search_table_and_no_match_message(vault: Path) -> None:
    mem_cli(vault, "add", "working on self.md Hugo site", "-u", "ray")
    table = mem_cli(vault, "search", "Hugo site", "-u", "ray")
    assert table.exit_code == 0
    assert "working on self.md Hugo site" in table.stdout and "u:ray" in table.stdout
    none = mem_cli(vault, "search", "quantum physics", "-u", "ray")
    assert (none.exit_code, none.stdout) == (0, "No memories match 'quantum physics'.\n")


def test_get_list_update_history_forget(vault: Path) -> None:
    mem_cli(vault, "add", "lives in Porto", "-u", "ray")
    memory_id = only_id(vault)

    got = mem_cli(vault, "get", memory_id, "--json")
    assert json.loads(got.stdout) == Memory(vault=vault).get(memory_id)
    listed = mem_cli(vault, "list", "-u", "ray", "--json")
    assert json.loads(listed.stdout) == Memory(vault=vault).get_all(user_id="ray")

    updated = mem_cli(vault, "update", memory_id, "lives in Ghent")
    assert (updated.exit_code, updated.stdout) == (0, f"Updated {memory_id}.\n")
    history = json.loads(mem_cli(vault, "history", memory_id, "--json").stdout)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "lives in Porto"),
        ("UPDATE", "lives in Porto", "lives in Ghent"),
    ]

    forgot = mem_cli(vault, "forget", memory_id)
    assert forgot.exit_code == 0
    assert (
        forgot.stdout
        == f"Forgot {memory_id}: kept on disk as deleted; `mem forget {memory_id} --purge` removes the file.\n"
    )
    assert json.loads(mem_cli(vault, "search", "Ghent", "--json").stdout)["results"] == []
    purged = mem_cli(vault, "forget", memory_id, "--purge")
    assert (purged.exit_code, purged.stdout) == (0, f"Purged {memory_id}: its file is removed.\n")
    assert list((vault / "memories").glob("*.md")) == []


def test_init_and_doctor(tmp_path: Path) -> None:
    target = tmp_path / "new-vault"
    first = runner.invoke(app, ["init", str(target)])
    assert (first.exit_code, first.stdout) == (0, f"Initialised {target}\n")
    again = runner.invoke(app, ["init", str(target)])
    assert again.stdout == f"Already a vault: {target}\n"
    (target / "notes.md").write_text("---\nbad: [yaml\n---\n")
    report = json.loads(runner.invoke(app, ["--vault", str(target), "doctor", "--json"]).stdout)
    assert report["vault"] == str(target) and report["vault_source"] == "flag"
    assert report["problems"] == [{"path": "notes.md", "reason": report["problems"][0]["reason"]}]
    assert report["problems"][0]["reason"].startswith("invalid YAML frontmatter")
    human = runner.invoke(app, ["--vault", str(target), "doctor"])
    assert f"vault:         {target}\n" in human.stdout
    assert "notes.md: invalid YAML frontmatter" in human.stdout


def test_vault_from_env_and_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_vault = tmp_path / "env-vault"
    monkeypatch.setenv("MEM_VAULT", str(env_vault))
    assert runner.invoke(app, ["add", "via env", "--no-infer"]).exit_code == 0
    assert len(list((env_vault / "memories").glob("*.md"))) == 1
    monkeypatch.delenv("MEM_VAULT")
    project = tmp_path / "project"
    runner.invoke(app, ["init", str(project)])
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    assert runner.invoke(app, ["add", "via marker", "--no-infer"]).exit_code == 0
    assert len(list((project / "memories").glob("*.md"))) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", ""], "error: nothing to remember: the text is empty\n"),
        (["add", "   "], "error: nothing to remember: the text is empty\n"),
        (["add"], 'error: nothing to remember: give the text, e.g. mem add "prefers pnpm over npm"\n'),
        (["add", "x", "--meta", "novalue"], "error: --meta takes KEY=VALUE, got 'novalue'\n"),
        (["search", " "], "error: the search query is empty\n"),
        (["search", "x", "-k", "0"], "error: limit must be a positive whole number, got 0\n"),
        (["get", "m-0123456789"], "error: no memory with id m-0123456789; see `mem list` or `mem search` for ids\n"),
        (
            ["update", "m-0123456789", "x"],
            "error: no memory with id m-0123456789; see `mem list` or `mem search` for ids\n",
        ),
        (["forget", "m-0123456789"], "error: no memory with id m-0123456789; see `mem list` or `mem search` for ids\n"),
        (
            ["history", "m-0123456789"],
            "error: no memory with id m-0123456789; see `mem list` or `mem search` for ids\n",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(vault: Path, args: list[str], message: str) -> None:
    Memory(vault=vault).add("an existing memory", infer=False)
    before = sorted(p.read_bytes() for p in (vault / "memories").glob("*.md"))
    result = mem_cli(vault, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)
    assert sorted(p.read_bytes() for p in (vault / "memories").glob("*.md")) == before


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "memories/x", "/etc/passwd", "m-1\x00", "..", "a" * 300])
@pytest.mark.parametrize("command", ["get", "forget", "history"])
def test_ids_that_look_like_paths_are_refused(vault: Path, bad_id: str, command: str) -> None:
    result = mem_cli(vault, command, bad_id)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid memory id ")
    assert result.stderr.count("\n") == 1


def test_vault_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "file.md"
    file.write_text("x")
    result = runner.invoke(app, ["--vault", str(file), "add", "hello"])
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: vault path {file} is a file, not a folder; pass a folder with --vault or MEM_VAULT\n",
    )
    assert file.read_text() == "x"


def test_unexpected_errors_are_one_line_too(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret memory text must not leak")

    monkeypatch.setattr(Memory, "search", boom)
    result = mem_cli(vault, "search", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: unexpected RuntimeError; run again with MEM_DEBUG=1 to see where\n",
    )


def test_every_command_has_help() -> None:
    commands = [
        "init",
        "add",
        "search",
        "get",
        "list",
        "update",
        "forget",
        "reset",
        "history",
        "index",
        "watch",
        "context",
        "mcp",
        "doctor",
        "export",
        "import",
        "commit",
        "sync",
        "graph",
        "entities",
        "supersede",
        "review",
        "consolidate",
    ]
    assert {c.name or c.callback.__name__ for c in app.registered_commands} == set(commands)  # none missing
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout, name


def test_index_command_reports_and_rebuilds(vault: Path) -> None:
    Memory(vault=vault).add("prefers pnpm over npm", infer=False)
    first = mem_cli(vault, "index", "--json")
    assert first.exit_code == 0
    stats = json.loads(first.stdout)
    assert (stats["files"], stats["changed"], stats["mode"]) == (1, 0, "bm25")
    rebuilt = json.loads(mem_cli(vault, "index", "--rebuild", "--json").stdout)
    assert (rebuilt["files"], rebuilt["changed"]) == (1, 1)
    human = mem_cli(vault, "index")
    assert human.stdout.startswith("Indexed 1 files: 0 changed, 0 removed, 0 embedded in ")
    assert human.stdout.endswith("(search mode: bm25)\n")


def test_search_explain_in_json_and_table(vault: Path) -> None:
    Memory(vault=vault).add("prefers pnpm over npm", infer=False)
    payload = json.loads(mem_cli(vault, "search", "pnpm", "--explain", "--json").stdout)
    assert set(payload["results"][0]["explain"]) == {"bm25", "context", "fused", "recency", "former", "asks"}
    table = mem_cli(vault, "search", "pnpm", "--explain")
    assert "bm25=" in table.stdout and "rec=1.00" in table.stdout


def test_doctor_fix_rebuilds_a_damaged_index(vault: Path) -> None:
    Memory(vault=vault).add("prefers pnpm over npm", infer=False)
    (vault / ".mem" / "index.sqlite").write_bytes(b"garbage" * 100)
    result = mem_cli(vault, "doctor", "--fix", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["counts"]["memories"] == 1
    assert (
        json.loads(mem_cli(vault, "search", "pnpm", "--json").stdout)["results"][0]["memory"] == "prefers pnpm over npm"
    )
