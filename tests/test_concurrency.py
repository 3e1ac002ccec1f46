"""Several processes at once, and a writer killed mid-write: nothing lost, nothing torn."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memcli import Memory
from memcli.index.store import IndexStore
from memcli.vault import markdown


def _mem(vault: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memcli", "--vault", str(vault), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_four_processes_times_25_adds_make_exactly_100_memories(vault: Path) -> None:
    def worker(number: int) -> list[int]:
        return [_mem(vault, "add", f"fact {number}-{i} about zebras", "--no-infer").returncode for i in range(25)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = [code for result in pool.map(worker, range(4)) for code in result]
    assert codes == [0] * 100
    # Every writer indexed its own file: the stored index agrees with the disk before any refresh.
    stored = IndexStore(vault / ".mem", None)
    assert sorted(p for p in stored.files() if p.startswith("memories/")) == sorted(
        f"memories/{p.name}" for p in (vault / "memories").glob("*.md")
    )
    stored.close()
    files = sorted((vault / "memories").glob("*.md"))
    assert len(files) == 100
    mem = Memory(vault=vault)
    texts = {mem.get(markdown.parse(f.read_text()).meta["id"])["memory"] for f in files}
    assert texts == {f"fact {n}-{i} about zebras" for n in range(4) for i in range(25)}
    assert len(mem.search("zebras", limit=1000)["results"]) == 100
    assert list((vault / "memories").glob(".*.tmp")) == []


# A writer that rewrites one memory file over and over through the vault's atomic replace, with
# texts big enough that the kill most likely lands inside a write; it says after each write.
_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from memcli.config import load_settings
    from memcli.vault.files import Vault, sha256
    vault = Vault(load_settings(sys.argv[1]))
    path = Path(sys.argv[2])
    n = 0
    while True:
        n += 1
        with vault.lock():
            sha = sha256(path.read_bytes())
            text = f"---\\nid: m-0000000001\\n---\\nversion {n} " + ("x" * 8_000_000) + f" end {n}\\n"
            vault.replace(path, text, expected_sha=sha)
        print(n, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_old_file_or_the_new_one(vault: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEM_MAX_FILE_BYTES", str(50_000_000))
    mem = Memory(vault=vault)
    mem.init()
    path = vault / "memories" / "big-m-0000000001.md"
    path.write_text("---\nid: m-0000000001\n---\nversion 0\n")
    chance = random.Random(1234)
    for trial in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(vault), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        for _ in range(1 + trial % 3):  # wait until some writes are complete...
            assert child.stdout.readline()
        # ...then kill at a random point of the next one (fault injection, not synchronisation)
        time.sleep(chance.uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait()
        text = mem.get("m-0000000001")["memory"]
        number = text.split()[1]
        assert text == "version 0" or (text.startswith(f"version {number} x") and text.endswith(f"x end {number}"))
    # the lock of a killed holder is free again: the next writer proceeds
    assert mem.update("m-0000000001", "version 0")["message"].startswith("Memory updated")
    assert [p.name for p in path.parent.glob("*.md")] == [path.name]


_ADDER = """
import sys
from memcli import Memory
mem = Memory(vault=sys.argv[1])
for i in range(50):
    mem.add(f"writer {sys.argv[2]} fact {i} about otters", infer=False)
"""


@pytest.mark.slow
def test_eight_processes_times_50_library_adds(vault: Path) -> None:
    Memory(vault=vault).init()
    writers = [subprocess.Popen([sys.executable, "-c", _ADDER, str(vault), str(n)]) for n in range(8)]
    assert [w.wait(timeout=300) for w in writers] == [0] * 8
    assert len(list((vault / "memories").glob("*.md"))) == 400
    stored = IndexStore(vault / ".mem", None)
    assert len([p for p in stored.files() if p.startswith("memories/")]) == 400  # the index agrees
    stored.close()
    assert len(Memory(vault=vault).search("otters", limit=1000)["results"]) == 400


@pytest.mark.slow
def test_four_processes_moving_house_at_once_leave_one_current_home(vault: Path) -> None:
    assert _mem(vault, "add", "I live in Porto", "-u", "ana").returncode == 0
    cities = ["Lisbon", "Berlin", "Oslo", "Kyoto"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda city: _mem(vault, "add", f"I moved to {city}", "-u", "ana"), cities))
    assert [run.returncode for run in runs] == [0] * 4, [run.stderr for run in runs]
    homes = [r["memory"] for r in Memory(vault=vault).get_all(user_id="ana")["results"]]
    assert len(homes) == 1, " | ".join(r.stdout.replace("\n", " ") for r in runs)
    assert homes[0] in {f"Lives in {city}" for city in cities}
