"""Where a serving process's memory goes: resident memory (RSS) of a process that opens an
already-built vault and answers searches, stage by stage, and the Python-heap size of each part of
the loaded index (tracemalloc, which numpy reports its arrays to).

The figure of issue 16 is the serving process's RSS (a `mem watch` daemon or an agent's process
holding the vault open), not the peak of the process that built the index: building embeds in
batches and is a one-off. Both are printed.

    python bench/rss.py --size 10000                   # build a 10k vault in a temp folder, then measure
    python bench/rss.py --size 100000 --keep /tmp/v100k  # keep the vault to measure again later
    python bench/rss.py --vault /tmp/v100k             # measure an existing vault (no build)

Stages, each the RSS after it (MB): python + `import memcli`; the vault opened; the model loaded
(first, as Memory.warm_up does: its load's transient buffers are handed back before the index
takes their place); the index loaded (records, BM25, vectors); after 50 searches; after 5 adds
with inference; the peak of the process. Then the tracemalloc sizes of the loaded columns' parts,
and the peak RSS of a `mem search` in its own process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import synthetic_queries, synthetic_texts, write_vault  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder: Path, size: int) -> dict:
    """Runs in its own process: write the files and build the index."""
    from memcli import Memory

    write_vault(folder, synthetic_texts(size))
    started = time.perf_counter()
    Memory(vault=folder).reindex()
    return {"build_s": time.perf_counter() - started, "build_peak_mb": peak_mb()}


def _size_of(snapshot_diff: list, needle: str) -> float:
    return sum(stat.size_diff for stat in snapshot_diff if needle in str(stat.traceback)) / 2**20


def measure(folder: Path, trace: bool) -> dict:
    """Runs in its own process: the stages of a serving process, RSS after each."""
    stages: dict[str, tuple[float, float]] = {"python": (rss_mb(), peak_mb())}
    import memcli

    stages["import memcli"] = (rss_mb(), peak_mb())
    mem = memcli.Memory(vault=folder)
    index = mem.core.index()
    stages["vault opened"] = (rss_mb(), peak_mb())
    index.warm()  # the model first, as `mem watch` and `mem mcp` warm up (Memory.warm_up)
    stages["model loaded"] = (rss_mb(), peak_mb())
    if trace:
        import tracemalloc

        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
    mem.core.fresh()
    parts: dict[str, float] = {}
    if trace:
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        diff = after.compare_to(before, "lineno")
        parts = {"total": sum(s.size_diff for s in diff) / 2**20}
        for stat in diff[:8]:
            frame = stat.traceback[0]
            parts[f"{frame.filename.split('memcli/')[-1]}:{frame.lineno}"] = stat.size_diff / 2**20
    stages["index loaded"] = (rss_mb(), peak_mb())
    for question in synthetic_queries(50):
        mem.search(question, user_id="ray", limit=10)
    stages["50 searches"] = (rss_mb(), peak_mb())
    for i in range(5):
        mem.add(f"I moved to Porto in {2020 + i}.", user_id="ray")
    stages["5 adds"] = (rss_mb(), peak_mb())
    return {"stages": stages, "peak_mb": peak_mb(), "parts": parts, "memories": len(index.records())}


def cli_search_peak(folder: Path) -> float:
    """Peak RSS of one `mem search` run in-process in a new process (the CLI's cold path),
    measured by a wrapper process of its own so no other child's peak counts."""
    wrapper = (
        "import os, resource, subprocess, sys\n"
        "command = [sys.executable, '-m', 'memcli', '--vault', sys.argv[1], 'search', 'what does Ray prefer', '-u', 'ray']\n"
        "subprocess.run(command, capture_output=True, check=True, env={**os.environ, 'MEM_DAEMON': 'off'})\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, str(folder)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000, help="memories in the vault built for the run")
    parser.add_argument("--vault", type=Path, help="measure this built vault instead of building one")
    parser.add_argument("--keep", type=Path, help="build the vault here and keep it")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc breakdown (faster)")
    parser.add_argument("--stage", nargs=2, metavar=("WHAT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        what, where = args.stage
        result = (
            build(Path(where), args.size)
            if what == "build"
            else measure(Path(where), what == "measure" and not args.no_trace)
        )
        print(json.dumps(result))
        return

    def run(what: str, folder: Path) -> dict:
        command = [
            sys.executable,
            __file__,
            "--stage",
            what,
            str(folder),
            "--size",
            str(args.size),
        ]
        done = subprocess.run([*command, *(["--no-trace"] if args.no_trace else [])], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{what} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory(prefix="mem-rss-") as tmp:
        built: dict = {}
        folder = args.vault
        if folder is None:
            folder = args.keep or Path(tmp) / "vault"
            built = run("build", folder)
        # Measured without tracing first (tracemalloc costs memory of its own), then traced.
        plain = run("measure-plain", folder) if not args.no_trace else None
        traced = run("measure", folder)
        result = plain if plain is not None else traced
        cli_peak = cli_search_peak(folder)
    print(f"vault: {result['memories']} memories ({folder})")
    if built:
        print(f"build: {built['build_s']:.1f} s, peak RSS of the building process {built['build_peak_mb']:.0f} MB")
    previous = 0.0
    for stage, (value, peak) in result["stages"].items():
        print(f"  {stage:<16} {value:>7.0f} MB  (+{value - previous:.0f}; peak so far {peak:.0f})")
        previous = value
    print(f"  {'peak':<16} {result['peak_mb']:>7.0f} MB   <- the serving process's RSS (issue 16: <= 400 MB at 100k)")
    print(f"a `mem search` in its own process (MEM_DAEMON=off): peak RSS {cli_peak:.0f} MB")
    if traced["parts"]:
        print("index load, Python heap by line (tracemalloc, MB):")
        for where, size in traced["parts"].items():
            print(f"  {size:>8.1f}  {where}")


if __name__ == "__main__":
    main()
