"""Guard rails on the shape of the package: what `mem`'s start-up imports, and docs that name
every command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from memcli import Memory
from memcli.cli import app
from memcli.watch import Watcher

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["numpy", "fastembed", "onnxruntime", "tokenizers", "watchdog", "mcp", "rank_bm25", "detect_secrets"]


@pytest.mark.parametrize("module", ["memcli.cli", "memcli.memory"])
def test_importing_the_cli_loads_no_heavy_dependency(module: str) -> None:
    """`mem --help` must not pay for the model, numpy, watchdog or MCP: they are imported by the
    commands that need them, on first use. Nor does the library itself: a `mem get` in-process
    loads numpy only once the index does."""
    probe = f"import sys, json, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    "args",
    [["search", "pnpm", "--json"], ["list"], ["get", "{id}"], ["context"], ["add", "likes tea", "--no-infer"]],
    ids=lambda args: args[0],
)
def test_a_call_the_daemon_answers_loads_neither_the_library_nor_the_model(
    vault: Path, serving: Watcher, args: list[str]
) -> None:
    """The point of the warm path: the CLI process pays for Python and mem's front door, no more:
    neither typer nor rich (the daemon draws the tables), nor the library, nor the model."""
    memory_id = Memory(vault=vault).add("prefers pnpm over npm", infer=False)["results"][0]["id"]
    argv = ["mem", "--vault", str(vault), *(a.format(id=memory_id) for a in args)]
    unwanted = [*HEAVY, "memcli.memory", "memcli.index", "memcli.infer", "frontmatter", "yaml", "typer", "rich"]
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print('LOADED', json.dumps([m for m in {unwanted!r} if m in sys.modules])))\n"
        f"sys.argv = {argv!r}\n"
        "from memcli.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED []"
    assert serving.server is not None and serving.server.served == 1


def test_the_readme_mentions_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    missing = [name for name in commands if not re.search(rf"\bmem {re.escape(name)}\b", readme)]
    assert commands and not missing, f"README.md never shows: {', '.join('mem ' + m for m in missing)}"


def test_memory_layer_does_not_import_numpy_or_the_index_at_module_level() -> None:
    """The arrows point one way: memory reaches the index through SearchIndex's methods only."""
    for path in sorted((ROOT / "memcli" / "memory").glob("*.py")):
        top_level = [
            line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(("import", "from"))
        ]
        assert not [line for line in top_level if "numpy" in line or line.startswith("from memcli.index.core")], path
