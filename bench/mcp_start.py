"""MCP start-up benchmark: how soon `mem mcp` answers a client (Claude Code starts every MCP
server at session start and waits for it).

On a synthetic vault of `--size` memories, already indexed, over stdio with the official MCP
client, median of `--runs` fresh server processes:
  initialize   spawn -> the answer to `initialize`, seconds (target <= 1 s at 10k)
  tools/list   spawn -> the tool list
  first search spawn -> the first search_memories answer (waits for the index and the model)
and, in the same run, the baseline: the same server with the old start-up order (the index and
the model loaded before the server reads its first message).

    python bench/mcp_start.py                      # 10k memories, the bundled model
    python bench/mcp_start.py --size 1000 --runs 3 --mode bm25   # CI smoke
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

sys.path.insert(0, str(Path(__file__).parent))
from scale import synthetic_texts, write_vault  # noqa: E402

_OLD_ORDER = """
import sys
from memcli import Memory
from memcli.mcp_server import create_server
memory = Memory(vault=sys.argv[1])
memory.warm_up()
create_server(memory, default_user="ray").run("stdio")
"""


def one_start(vault: Path, old_order: bool, env: dict[str, str]) -> tuple[float, float, float]:
    if old_order:
        params = StdioServerParameters(command=sys.executable, args=["-c", _OLD_ORDER, str(vault)], env=env)
    else:
        args = ["-m", "memcli", "--vault", str(vault), "mcp", "--user", "ray"]
        params = StdioServerParameters(command=sys.executable, args=args, env=env)

    async def run() -> tuple[float, float, float]:
        started = time.perf_counter()
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            initialized = time.perf_counter() - started
            await session.list_tools()
            listed = time.perf_counter() - started
            result = await session.call_tool("search_memories", {"query": "what does ana like"})
            assert not result.is_error, result.content
            return initialized, listed, time.perf_counter() - started

    return anyio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=["hybrid", "bm25"], default="hybrid")
    options = parser.parse_args()
    env = {**os.environ, "MEM_EMBED_MODEL": "none" if options.mode == "bm25" else "bundled"}
    os.environ.update(env)
    from memcli import Memory

    with tempfile.TemporaryDirectory() as folder:
        vault = Path(folder) / "vault"
        write_vault(vault, synthetic_texts(options.size))
        built = time.perf_counter()
        Memory(vault=vault).reindex()
        print(f"vault: {options.size} memories, {options.mode}, indexed in {time.perf_counter() - built:.1f} s")
        rows = {}
        for label, old in (("mem mcp", False), ("baseline (load, then serve)", True)):
            runs = [one_start(vault, old, env) for _ in range(options.runs)]
            rows[label] = [statistics.median(column) for column in zip(*runs, strict=True)]
        print(f"{'':30} {'initialize':>11} {'tools/list':>11} {'first search':>13}   (median of {options.runs}, s)")
        for label, (init, listed, first) in rows.items():
            print(f"{label:30} {init:11.3f} {listed:11.3f} {first:13.3f}")
        new, old = rows["mem mcp"], rows["baseline (load, then serve)"]
        print(f"initialize: {new[0]:.3f} s, {new[0] / old[0]:.2f}x the baseline; target <= 1 s")
        if new[0] > 1.0:
            print("note: over the 1 s target on this machine")


if __name__ == "__main__":
    main()
