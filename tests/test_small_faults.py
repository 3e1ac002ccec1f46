"""Small faults of the catalogue, each fixed: a test fails without its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from typer.testing import CliRunner

from memcli import GitError, InvalidInputError, Memory, VaultError
from memcli.cli.commands import app
from memcli.mcp_server import create_server
from memcli.memory import reading
from memcli.testing import HashEmbedder
from memcli.vault import git as gitrepo
from memcli.vault.files import entity_file, temp_name


def test_the_temp_sweeper_leaves_a_users_file_that_only_looks_like_a_temp(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("something", infer=False)
    mine = vault / "memories" / ".notes.md.backup.tmp"  # a person's (or another tool's) file
    leftover = vault / "memories" / temp_name("notes.md")  # a killed mem writer's
    for path in (mine, leftover):
        path.write_text("text")
        old = time.time() - 3600
        os.utime(path, (old, old))
    assert Memory(vault=vault).doctor()["swept_temp_files"] == [f"memories/{leftover.name}"]
    assert mine.read_text() == "text" and not leftover.exists()


def _call_tool(server: Any, name: str, args: dict[str, Any]) -> Any:
    async def call() -> Any:
        return await server.call_tool(name, args, None)

    return anyio.run(call)


def test_mcp_bad_tags_filter_is_a_plain_tool_error(mem: Memory) -> None:
    mem.add("likes tea", infer=False, tags=["drinks"])
    server = create_server(mem)
    with pytest.raises(ToolError, match="tags values must be strings") as caught:
        _call_tool(server, "search_memories", {"query": "tea", "filters": {"tags": 5}})
    assert not isinstance(caught.value, UnexpectedToolError)  # the SDK logs those with a traceback


def test_mcp_an_unexpected_error_in_a_tool_is_one_line_not_a_traceback(
    mem: Memory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mem.add("likes tea", infer=False, tags=["drinks"])
    server = create_server(mem)

    def bug(*_: object) -> None:
        raise TypeError("a bug past the checks")

    monkeypatch.setattr(reading, "scoped", bug)
    with caplog.at_level("WARNING"), pytest.raises(ToolError, match="unexpected TypeError inside mem") as caught:
        _call_tool(server, "search_memories", {"query": "tea", "filters": {"tags": 5}})
    assert not isinstance(caught.value, UnexpectedToolError)
    assert [r.getMessage() for r in caplog.records if r.name == "memcli.mcp_server"] == [
        "mem mcp: unexpected TypeError in a tool; run with MEM_DEBUG=1 to see where"
    ]
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.slow
def test_mcp_over_stdio_bad_tags_filter_writes_no_traceback(vault: Path, tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"

    async def session_run() -> str:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "memcli", "--vault", str(vault), "mcp"], env=dict(os.environ)
        )
        with errors.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                await session.call_tool("add_memory", {"text": "likes tea", "infer": False})
                result = await session.call_tool("search_memories", {"query": "tea", "filters": {"tags": 5}})
                assert result.is_error
                return str(result.content[0].text)

    assert anyio.run(session_run).count("filters: tags values must be strings") == 1
    assert "Traceback" not in errors.read_text()


@pytest.mark.parametrize("name", ["Ana\nBob", "Ana\x1b[31m", "Ana\u202etxt.exe", "Ana\u2028Bob", "Ana\u200b"])
def test_an_entity_name_with_a_line_break_control_or_bidi_character_is_refused(
    mem: Memory, vault: Path, name: str
) -> None:
    good = {"type": "entity", "name": "Ana", "entityType": "person", "observations": ["likes tea"]}
    bad = {"type": "entity", "name": name, "entityType": "person", "observations": []}
    with pytest.raises(InvalidInputError, match=r"entity name .* a name must be one line of visible text"):
        mem.import_text("\n".join(json.dumps(item) for item in (good, bad)))
    assert not (vault / "entities").exists() and mem.get_all()["results"] == []


@pytest.mark.parametrize("field", ["from", "relationType", "to"])
def test_a_relation_name_with_a_control_character_is_refused(mem: Memory, vault: Path, field: str) -> None:
    relation = {
        "type": "relation",
        "from": "Ana",
        "relationType": "works_on",
        "to": "Falcon",
        field: "x\x1b]0;pwned\x07",
    }
    with pytest.raises(InvalidInputError, match="relation .* holds U\\+001B"):
        mem.import_text(json.dumps(relation))
    assert not (vault / "entities").exists()


def test_rename_to_a_name_with_a_bidi_override_is_refused(mem: Memory, vault: Path) -> None:
    mem.add("[[Ana]] likes tea", infer=False)
    (vault / "entities").mkdir()
    (vault / "entities" / "Ana.md").write_text("# Ana\n")
    with pytest.raises(InvalidInputError, match="holds U\\+202E"):
        mem.rename_entity("Ana", "Ana\u202edm.exe", apply=True)
    assert sorted(p.name for p in (vault / "entities").iterdir()) == ["Ana.md"]


def test_entity_file_names_never_carry_control_or_bidi_characters() -> None:
    assert entity_file("Ana\x1b[31m\u202eB\nC") == "Ana[31mBC.md"


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads itself gives up
        '{"memory": "likes tea", "metadata": ' + _nested(900) + "}\n",  # loads, then writing it fails
    ],
    ids=["deep-list", "deep-metadata"],
)
def test_deeply_nested_import_json_is_one_clear_error(mem: Memory, vault: Path, text: str) -> None:
    with pytest.raises(InvalidInputError, match="nested more than 32 levels deep"):
        mem.import_text(text)
    assert mem.get_all()["results"] == []


def test_nesting_a_memory_needs_imports_fine(mem: Memory) -> None:
    line = json.dumps({"memory": "likes tea", "metadata": json.loads(_nested(20))})
    assert mem.import_text(line)["added"] == 1


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def _lines(*items: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def test_a_bad_item_midway_imports_nothing_in_a_git_vault(vault: Path) -> None:
    Memory(vault=vault).init(git=True)
    mem = Memory(vault=vault)
    text = _lines(
        {"id": "m-aaaaaaaaaa", "memory": "likes tea"},
        {"id": "m-bbbbbbbbbb", "memory": "likes coffee"},
        {"id": "m-cccccccccc", "memory": "x", "metadata": "not a mapping"},
    )
    with pytest.raises(InvalidInputError, match=r"^item 3 of the file: metadata of m-cccccccccc must be a mapping"):
        mem.import_text(text)
    assert list((vault / "memories").iterdir()) == []
    assert _git(vault, "status", "--porcelain") == "" and _git(vault, "log", "--format=%s") == "mem: init vault\n"


def test_a_write_failing_midway_commits_what_was_written_and_says_how_far(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Memory(vault=vault).init(git=True)
    mem = Memory(vault=vault)
    real_create, calls = mem.vault.create, []

    def create(relpath: str, text: str) -> Path:
        calls.append(relpath)
        if len(calls) == 2:
            raise VaultError(f"could not write {relpath}: No space left on device; nothing was changed")
        return real_create(relpath, text)

    monkeypatch.setattr(mem.vault, "create", create)
    text = _lines({"id": "m-aaaaaaaaaa", "memory": "likes tea"}, {"id": "m-bbbbbbbbbb", "memory": "likes coffee"})
    with pytest.raises(
        VaultError, match=r"^import stopped after saving 1 of 2 new memories: could not write .*No space"
    ):
        mem.import_text(text)
    assert _git(vault, "status", "--porcelain") == ""  # the one written is committed…
    assert _git(vault, "log", "--format=%s").splitlines()[0] == "mem: import 1 memories (mem)"
    assert [r["memory"] for r in mem.search("tea")["results"]] == ["likes tea"]  # …and indexed
    monkeypatch.undo()
    assert Memory(vault=vault).import_text(text)["added"] == 1  # again: the rest, nothing twice


class AnisotropicEmbedder(HashEmbedder):
    """Like real sentence models, every vector shares one direction, and an empty text is that
    direction alone: close to every query."""

    name = "fake-anisotropic"

    def _vector(self, text: str) -> np.ndarray:
        vector = super()._vector(text)
        vector[0] += 1.0
        return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("body", ["", "   \n\n"])
def test_an_empty_memory_matches_no_query(vault: Path, body: str) -> None:
    mem = Memory(vault=vault, embedder=AnisotropicEmbedder())
    mem.add("likes green tea", infer=False)
    (vault / "memories" / "blank-m-0000000001.md").write_text(f"---\nid: m-0000000001\n---\n{body}")
    for query in ("tea", "quantum physics"):
        assert "m-0000000001" not in [r["id"] for r in mem.search(query)["results"]]
    assert [r["memory"] for r in mem.search("tea")["results"]] == ["likes green tea"]


def _two_clones(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    laptop = tmp_path / "laptop"
    Memory(vault=laptop).init(git=True)
    _git(laptop, "remote", "add", "origin", str(origin))
    _git(laptop, "push", "-q", "-u", "origin", "HEAD")
    desktop = tmp_path / "desktop"
    _git(tmp_path, "clone", "-q", str(origin), str(desktop))
    return laptop, desktop


def _racing(monkeypatch: pytest.MonkeyPatch, other: Path, races: int) -> None:
    """Just before each of the next `races` pushes, the other machine adds a memory and pushes."""
    real_run, left = gitrepo._run, [races]

    def run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if args[0] == "push" and root != other and left[0] > 0:
            left[0] -= 1
            Memory(vault=other).add(f"added on the desktop, race {left[0]}", infer=False)
            real_run(other, "push", "-q")
        return real_run(root, *args, check=check)

    monkeypatch.setattr(gitrepo, "_run", run)


def test_a_push_that_loses_a_race_is_pulled_and_pushed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    laptop, desktop = _two_clones(tmp_path)
    Memory(vault=laptop).add("added on the laptop", infer=False)
    _racing(monkeypatch, desktop, races=1)
    result = Memory(vault=laptop).sync()
    assert result["pushed"] and len(result["pulled_files"]) == 1  # the desktop's memory came in
    assert _git(laptop, "rev-parse", "HEAD") == _git(laptop, "rev-parse", "@{u}")  # nothing left to push
    texts = {r["memory"] for r in Memory(vault=laptop).get_all()["results"]}
    assert texts == {"added on the laptop", "added on the desktop, race 0"}


def test_a_push_that_loses_the_race_twice_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    laptop, desktop = _two_clones(tmp_path)
    Memory(vault=laptop).add("added on the laptop", infer=False)
    _racing(monkeypatch, desktop, races=2)
    result = CliRunner().invoke(app, ["--vault", str(laptop), "sync"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: git push was rejected twice: another machine keeps pushing to the remote; "
        "your commits are safe here, run `mem sync` again\n"
    )


def test_a_push_the_remote_refuses_says_why_not_a_hint(tmp_path: Path) -> None:
    laptop, _ = _two_clones(tmp_path)
    hook = tmp_path / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed today' >&2\nexit 1\n")
    hook.chmod(0o755)
    Memory(vault=laptop).add("added on the laptop", infer=False)
    with pytest.raises(GitError) as caught:
        Memory(vault=laptop).sync()
    assert str(caught.value) == "git push was refused by the remote: [remote rejected] (pre-receive hook declined)"


def test_deeply_nested_metadata_given_to_add_is_refused_not_a_recursion_error(mem: Memory) -> None:
    nested: object = "leaf"
    for _ in range(5000):
        nested = {"k": nested}
    with pytest.raises(InvalidInputError, match="nested more than 32 levels"):
        mem.add("likes tea", infer=False, metadata={"deep": nested})
    assert mem.get_all()["results"] == []
