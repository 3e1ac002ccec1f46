"""Watcher benchmark: how soon an edit is searchable, how a 10k-file burst ends, and idle CPU.

A real `mem watch` runs as a subprocess on a temp vault. Another process reads the index the
watcher writes (its own file check is switched off, so it never indexes anything itself):
  latency  median / p95 over N in-place edits of the time from the write to the edited text
           being searchable, debounce included
  cli      the same through the CLI: from the write until a `mem search` in a new process (which
           the running `mem watch` answers over .mem/serve.sock) first finds the edited text
  burst    10,000 files created at once (like a git checkout): time until the index holds
           exactly the files on disk, next to `mem index` (Memory.reindex) on a copy of them
  idle     CPU seconds the watcher used during 5 idle seconds

    python bench/watch.py                    # 20 edits, 10,000-file burst
    python bench/watch.py --edits 5 --burst 500   # CI smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402  (synthetic texts and the file writer)

from memcli import Memory  # noqa: E402


def reader(folder: Path) -> Memory:
    """A Memory that only reads what is indexed: it never checks the files itself."""
    mem = Memory(vault=folder)
    mem.search("warm up")  # loads the model and the index once
    mem.settings = dataclasses.replace(mem.settings, freshness_ms=10**9)
    return mem


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition, timeout: float, step: float = 0.005) -> float | None:  # noqa: ANN001
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if condition():
            return time.perf_counter() - started
        time.sleep(step)  # polling is the measurement here, not synchronisation
    return None


def cli(folder: Path, *args: str) -> str:
    """stdout of one `mem` process (a new process each time, as a person or an agent runs it)."""
    done = subprocess.run(
        [sys.executable, "-m", "memcli", "--vault", str(folder), *args], capture_output=True, text=True
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--cli-edits", type=int, default=5, help="edits timed through `mem search` processes")
    parser.add_argument("--seed-size", type=int, default=1000, help="memories in the vault before the edits")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mem-watch-") as tmp:
        folder = Path(tmp) / "vault"
        scale.write_vault(folder, scale.synthetic_texts(args.seed_size))
        Memory(vault=folder).reindex()
        watcher = subprocess.Popen(
            [sys.executable, "-m", "memcli", "--vault", str(folder), "watch", "--debounce", "100"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its log lines tell us when it is ready
        )
        try:
            assert watcher.stdout is not None
            watcher.stdout.readline()  # "Watching …": observer started
            watcher.stdout.readline()  # the start-up rescan is done
            mem = reader(folder)

            latencies = []
            target = folder / "memories" / f"m-{0:010x}.md"
            for i in range(args.edits):
                word = f"zebra{i}quux"
                text = target.read_text()
                body_start = text.index("---\n", 4) + 4
                target.write_text(text[:body_start] + f"edited {word}\n")  # in place, like VS Code
                took = wait_until(
                    lambda word=word: any(word in r["memory"] for r in mem.search(word, limit=1)["results"]), 10
                )
                latencies.append(float("inf") if took is None else took)

            cli_latencies, cli_calls = [], 0
            for i in range(args.cli_edits):
                word = f"yak{i}zed"
                text = target.read_text()
                body_start = text.index("---\n", 4) + 4
                started = time.perf_counter()
                target.write_text(text[:body_start] + f"edited {word}\n")
                found = False
                while not found and time.perf_counter() - started < 10:
                    cli_calls += 1
                    found = word in cli(folder, "search", word, "-k", "1", "--json")
                cli_latencies.append(time.perf_counter() - started if found else float("inf"))
            served = json.loads(cli(folder, "watch", "--status", "--json"))["served"]

            idle_before = cpu_seconds(watcher.pid)
            time.sleep(5)
            idle_cpu = cpu_seconds(watcher.pid) - idle_before

            burst_dir = Path(tmp) / "burst"
            scale.write_vault(burst_dir, scale.synthetic_texts(args.burst, seed=99), first_id=args.seed_size)
            expected = args.seed_size + args.burst
            started = time.perf_counter()
            shutil.copytree(burst_dir / "memories", folder / "memories" / "burst")
            written = time.perf_counter() - started

            def settled() -> bool:  # every file indexed and every chunk embedded
                index = mem.core.fresh()
                return len(index.records()) == expected and index.store.count_unembedded() == 0

            took = wait_until(settled, 600, step=0.5)  # a slow poll: each look reloads the index
            burst = (written + took) if took is not None else float("inf")
            listing = {p for p, _, _ in mem.vault.listing()}
            exact = {r.path for r in mem.core.fresh().records()} == listing

            copy = Path(tmp) / "copy"
            shutil.copytree(burst_dir, copy)
            started = time.perf_counter()
            Memory(vault=copy).reindex()
            index_time = time.perf_counter() - started
        finally:
            watcher.terminate()
            watcher.wait(timeout=30)

    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"edit -> searchable ({args.edits} in-place edits, debounce 100 ms): median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )
    print(
        f"burst of {args.burst} new files: watcher {burst:.1f} s to an index matching the disk "
        f"({'exactly' if exact else 'NOT exactly'}); mem index on the same files {index_time:.1f} s; ratio {burst / index_time:.2f}"
    )
    cli_ordered = sorted(cli_latencies)
    print(
        f"save -> searchable through the CLI ({args.cli_edits} edits, `mem search` processes answered by mem watch): "
        f"median {statistics.median(cli_latencies) * 1000:.0f} ms, worst {cli_ordered[-1] * 1000:.0f} ms; "
        f"{served} of {cli_calls} calls answered by the daemon"
    )
    print(f"idle watcher: {idle_cpu:.3f} CPU seconds in 5 s")


if __name__ == "__main__":
    main()
