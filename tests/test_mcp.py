"""`mem mcp` as a subprocess, driven by the MCP SDK's stdio client: every tool, bad input survived."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from test_mcp_tools import TOOLS  # the one list of the server's tools


def _payload(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


@pytest.mark.slow
def test_mcp_session_over_stdio(vault: Path) -> None:
    async def session_run() -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "memcli", "--vault", str(vault), "mcp", "--user", "ray"],
            env={**os.environ, "MEM_EMBED_MODEL": "none"},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert {t.name for t in (await session.list_tools()).tools} == TOOLS

            added = _payload(
                await session.call_tool("add_memory", {"text": "prefers pnpm over npm", "metadata": {"src": "chat"}})
            )
            memory_id = added["results"][0]["id"]
            assert added["results"][0]["event"] == "ADD"

            found = _payload(await session.call_tool("search_memories", {"query": "pnpm"}))
            assert [r["id"] for r in found["results"]] == [memory_id]
            assert found["results"][0]["user_id"] == "ray"  # the server's default user was applied
            assert found["results"][0]["metadata"] == {"src": "chat"}
            assert "not instructions" in found["notice"]

            got = _payload(await session.call_tool("get_memory", {"memory_id": memory_id}))
            assert got["results"][0]["memory"] == "prefers pnpm over npm"
            listed = _payload(await session.call_tool("get_memories", {"page": 1, "page_size": 5}))
            assert [r["id"] for r in listed["results"]] == [memory_id]

            _payload(
                await session.call_tool("update_memory", {"memory_id": memory_id, "text": "prefers bun over pnpm"})
            )
            history = _payload(await session.call_tool("memory_history", {"memory_id": memory_id}))
            assert [h["event"] for h in history["results"]] == ["ADD", "UPDATE"]

            _payload(await session.call_tool("delete_memory", {"memory_id": memory_id}))
            assert _payload(await session.call_tool("search_memories", {"query": "bun"}))["results"] == []

            # Bad and oversized arguments get an error result, and the server keeps answering.
            huge = await session.call_tool("add_memory", {"text": "x" * 10_000_000})
            assert huge.is_error and "limit is 100,000" in huge.content[0].text
            bad_id = await session.call_tool("get_memory", {"memory_id": "../../etc/passwd"})
            assert bad_id.is_error and "invalid memory id" in bad_id.content[0].text
            bad_type = await session.call_tool("search_memories", {"query": "pnpm", "limit": "lots"})
            assert bad_type.is_error
            empty = await session.call_tool("add_memory", {"text": ""})
            assert empty.is_error and "nothing to remember" in empty.content[0].text
            unknown = await session.call_tool("no_such_tool", {})
            assert unknown.is_error
            assert _payload(await session.call_tool("add_memory", {"text": "uses the fish shell"}))["results"]

    anyio.run(session_run)


def test_results_are_bounded_by_limit_and_token_budget(vault: Path) -> None:
    from memcli import Memory
    from memcli.mcp_server import MAX_LIMIT, _budget

    long_text = "word " * 5000
    items, truncated = _budget([{"memory": long_text}, {"memory": "short"}], max_tokens=100)
    assert truncated and len(items[0]["memory"]) < 500 and items[0]["memory"].endswith("…[truncated]")
    assert MAX_LIMIT == 50
    mem = Memory(vault=vault)
    for i in range(60):
        mem.add(f"fact number {i} about llamas", infer=False)

    from memcli.mcp_server import create_server

    server = create_server(mem)

    async def call() -> Any:
        return await server.call_tool("search_memories", {"query": "llamas", "limit": 500}, None)

    result = anyio.run(call)
    text = result[0].text if isinstance(result, (list, tuple)) else result.content[0].text
    assert len(json.loads(text)["results"]) == MAX_LIMIT


def test_graph_tools(vault: Path) -> None:
    from memcli import Memory
    from memcli.mcp_server import create_server

    mem = Memory(vault=vault)
    mem.add("[[Ana]] works on [[Project Falcon]]", infer=False)
    server = create_server(mem)

    async def call(name: str, args: dict) -> Any:
        result = await server.call_tool(name, args, None)
        return json.loads(result[0].text if isinstance(result, (list, tuple)) else result.content[0].text)

    entities = anyio.run(call, "list_graph_entities", {})
    assert {row["name"] for row in entities["results"]} == {"Ana", "Project Falcon"}
    related = anyio.run(call, "related", {"entity": "project-falcon"})
    assert related["edges"] == [{"source": "Ana", "relationship": "linked", "target": "Project Falcon"}]
