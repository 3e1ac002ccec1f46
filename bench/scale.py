"""Scale benchmark: how `mem` search behaves on synthetic vaults of 1k / 10k / 100k memories.

For each size, in a fresh process (so memory figures do not mix):
  build     index build from scratch (`Memory.reindex()` over files already on disk), seconds
  warm      search latency in a warm process, p50 / p95 over 200 queries (freshness check included)
  cold      `mem search` wall time in a new process (the results table, as a person sees it),
            median of 5
  daemon    the same `mem search` while a `mem watch` of the vault runs and answers it over
            .mem/serve.sock (it draws the table too), median of 5; ratio = daemon / cold (same
            run, same queries), next to `import memcli.cli.commands` (Python + typer + rich: what
            a call the daemon does not answer pays) in the same run
  add       `Memory.add` latency in a warm process: verbatim (infer=False) median, and with
            extraction + reconciliation (infer=True, no LLM) p50 / p95, over `--adds` statements
  rss       peak resident memory of the process that built, searched, added and ran the baseline
            (which holds rank-bm25 over every text), MB; what a serving process holds is
            bench/rss.py's figure
and, measured in the same process on the same data, the baseline of the issue: rank-bm25's
get_scores plus a numpy brute-force cosine over all vectors.

    python bench/scale.py                       # 1k and 10k, hybrid
    python bench/scale.py --sizes 100000        # the big one (embedding 100k takes minutes)
    python bench/scale.py --sizes 1000 --queries 50 --cold-runs 2   # CI smoke
    python bench/scale.py --mode bm25           # without the model (MEM_EMBED_MODEL=none)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ["Ray", "Ana", "Maya", "Leo", "Marta", "Sam", "Noor", "Kenji", "Ines", "Tomas", "Priya", "Olu"]
VERBS = [
    "prefers",
    "uses",
    "likes",
    "works on",
    "moved to",
    "bought",
    "reads",
    "plays",
    "visited",
    "learns",
    "dislikes",
    "maintains",
]
THINGS = [
    "TypeScript",
    "pnpm",
    "Neovim",
    "PostgreSQL",
    "Kubernetes",
    "the Hugo site",
    "green tea",
    "jazz records",
    "Kyoto",
    "the Falcon project",
    "rock climbing",
    "a Fuji camera",
    "sourdough bread",
    "Rust",
    "Go services",
    "the data team",
    "a cat called Miso",
    "Oslo",
    "Lisbon",
    "marathon training",
    "chess openings",
    "the billing service",
    "Terraform",
    "spicy ramen",
    "vinyl",
    "Obsidian",
    "Linux laptops",
    "the mobile app",
    "Spanish lessons",
    "board games",
]
STATEMENTS = [
    "I moved to {city} last month.",
    "I prefer {thing} these days.",
    "My sister {name} lives in {city}.",
    "Please forget that I like {thing}.",
    "Our team switched to {thing}.",
    "I'm learning {thing} with a tutor.",
    "Hi! How are you today?",
    "I no longer use {thing}.",
    "My manager is {name} now.",
    "Always use {thing} in this repo.",
]
CITIES = ["Ghent", "Porto", "Oslo", "Lisbon", "Kyoto", "Leeds", "Tampere", "Bilbao"]
WHEN = ["since 2021", "every morning", "on weekends", "at work", "for the last year", "in April", "after the move", ""]


def synthetic_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(
            filter(None, [rng.choice(NAMES), rng.choice(VERBS), rng.choice(THINGS), rng.choice(WHEN), f"(note {i})"])
        )
        for i in range(count)
    ]


def synthetic_queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [f"what does {rng.choice(NAMES)} {rng.choice(VERBS).split()[0]} {rng.choice(THINGS)}" for _ in range(count)]


def write_vault(root: Path, texts: list[str], first_id: int = 0) -> None:
    """Files written directly (as a git checkout would), in mem's format, with distinct times."""
    memories = root / "memories"
    memories.mkdir(parents=True)
    (root / "mem.toml").write_text("version = 1\n")
    users = ["ray", "ana", "sam"]
    for i, text in enumerate(texts, first_id):
        stamp = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00.000Z"
        (memories / f"m-{i:010x}.md").write_text(
            f"---\nid: m-{i:010x}\ncreated: {stamp}\nupdated: {stamp}\nuser: {users[i % 3]}\nsource: bench\n---\n{text}\n"
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def worker(size: int, folder: Path, queries: int, adds: int) -> dict:
    """Runs in its own process: build, warm search, add, baseline. Prints one JSON line."""
    import numpy as np

    from memcli import Memory
    from memcli.index.bm25 import ReferenceBM25
    from memcli.text.normalize import tokenize

    texts = synthetic_texts(size)
    write_vault(folder, texts)
    mem = Memory(vault=folder)
    started = time.perf_counter()
    stats = mem.reindex()
    build = time.perf_counter() - started
    mode = mem.search_mode()

    questions = synthetic_queries(queries)
    mem.search(questions[0], user_id="ray")  # first query loads the query path
    warm = []
    for question in questions:
        t0 = time.perf_counter()
        mem.search(question, user_id="ray", limit=10)
        warm.append((time.perf_counter() - t0) * 1000)

    # The same queries when every search re-checks every file (MEM_FRESHNESS_MS=0): one stat per file.
    import dataclasses

    strict = Memory(
        vault=folder, settings=dataclasses.replace(mem.settings, freshness_ms=0), embedder=mem.core.index().embedder
    )
    strict.search(questions[0], user_id="ray")
    checked = []
    for question in questions:
        t0 = time.perf_counter()
        strict.search(question, user_id="ray", limit=10)
        checked.append((time.perf_counter() - t0) * 1000)

    add_times = []
    for i in range(adds):
        t0 = time.perf_counter()
        mem.add(f"bench add number {i}: likes {THINGS[i % len(THINGS)]}", user_id="ray", infer=False)
        add_times.append((time.perf_counter() - t0) * 1000)
    infer_times = []
    rng = random.Random(5)
    for i in range(max(adds, 20)):
        text = STATEMENTS[i % len(STATEMENTS)].format(
            city=rng.choice(CITIES), thing=rng.choice(THINGS), name=rng.choice(NAMES)
        )
        t0 = time.perf_counter()
        mem.add(text, user_id="ray")  # extraction + reconciliation against ray's memories (a third of the vault)
        infer_times.append((time.perf_counter() - t0) * 1000)

    # The baseline of the issue, on the same texts and (when there is a model) the same vectors.
    t0 = time.perf_counter()
    reference = ReferenceBM25([tokenize(t) for t in texts])
    baseline_build = time.perf_counter() - t0
    index = mem.core.index()
    vectors = index.vectors() if mode != "bm25" else None
    embedder = index.embedder
    base = []
    for question in questions:
        t0 = time.perf_counter()
        scores = np.asarray(reference.scores(tokenize(question)))
        if vectors is not None and embedder is not None:
            sims = vectors @ embedder.embed_query(question)
            scores = scores / (scores.max() or 1.0) + sims[: len(scores)]
        np.argsort(-scores)[:10]
        base.append((time.perf_counter() - t0) * 1000)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": size,
        "mode": mode,
        "build_s": build,
        "embedded": stats.embedded,
        "warm_p50_ms": statistics.median(warm),
        "warm_p95_ms": percentile(warm, 0.95),
        "checked_p95_ms": percentile(checked, 0.95),
        "add_p50_ms": statistics.median(add_times) if add_times else float("nan"),
        "infer_p50_ms": statistics.median(infer_times),
        "infer_p95_ms": percentile(infer_times, 0.95),
        "baseline_build_s": baseline_build,
        "baseline_p50_ms": statistics.median(base),
        "baseline_p95_ms": percentile(base, 0.95),
        "rss_mb": rss_mb,
    }


def cold_search(folder: Path, runs: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "memcli",
                "--vault",
                str(folder),
                "search",
                synthetic_queries(runs, seed=i)[0],
                "-u",
                "ray",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        )
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"cold search failed: {done.stderr.strip()}")
    return times


def cli_startup(runs: int) -> list[float]:
    """`import memcli.cli.commands` in new processes: Python, typer and rich, what a `mem` call the
    daemon does not answer pays before it parses its arguments (same run; `mem --help` is no
    floor: rich lays out every command). A call the daemon answers never imports them
    (memcli.cli.front)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import memcli.cli.commands"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def served_search(folder: Path, runs: int) -> tuple[list[float], int]:
    """`mem search` in new processes while a `mem watch` runs (started for this measurement), and
    how many of them it answered (from `mem watch --status`)."""
    watcher = subprocess.Popen(
        [sys.executable, "-m", "memcli", "--vault", str(folder), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert watcher.stdout is not None
        ready = watcher.stdout.readline()  # "Watching … serving CLI queries": the socket listens
        if "serving" not in ready:
            raise SystemExit(f"mem watch does not serve: {ready.strip()}")
        watcher.stdout.readline()  # its start-up rescan is done: the daemon is idle
        times = cold_search(folder, runs)
        status = subprocess.run(
            [sys.executable, "-m", "memcli", "--vault", str(folder), "watch", "--status", "--json"],
            capture_output=True,
            text=True,
        )
        served = json.loads(status.stdout)["served"] if status.returncode == 0 else 0
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    return times, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated vault sizes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--adds", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--mode", choices=["hybrid", "bm25"], default="hybrid")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", nargs=2, metavar=("SIZE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.mode == "bm25":
        os.environ["MEM_EMBED_MODEL"] = "none"
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), Path(args.worker[1]), args.queries, args.adds)))
        return

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"mem-scale-{size}-") as tmp:
            folder = Path(tmp) / "vault"
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(size),
                    str(folder),
                    "--queries",
                    str(args.queries),
                    "--adds",
                    str(args.adds),
                    "--mode",
                    args.mode,
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"worker for {size} failed:\n{done.stderr}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            cold = cold_search(folder, args.cold_runs, env={"MEM_DAEMON": "off"})
            row["cold_p50_s"] = statistics.median(cold)
            daemon, served = served_search(folder, args.cold_runs)
            row["daemon_p50_s"], row["daemon_served"] = statistics.median(daemon), served
            row["startup_p50_s"] = statistics.median(cli_startup(args.cold_runs))
            rows.append(row)
            print(f"done {size}", file=sys.stderr, flush=True)

    header = (
        f"{'size':>7} {'mode':>6} {'build s':>8} {'warm p50':>9} {'warm p95':>9} {'cold p50':>9} {'daemon':>7} "
        f"{'ratio':>5} {'import':>6} {'add p50':>8} "
        f"{'infer p50':>9} {'infer p95':>9} "
        f"{'RSS MB':>7} {'stat p95':>9} | {'base p50':>9} {'base p95':>9} {'p95 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r["warm_p95_ms"] / r["baseline_p95_ms"] if r["baseline_p95_ms"] else float("nan")
        print(
            f"{r['size']:>7} {r['mode']:>6} {r['build_s']:>8.1f} {r['warm_p50_ms']:>7.1f}ms {r['warm_p95_ms']:>7.1f}ms "
            f"{r['cold_p50_s']:>8.2f}s {r['daemon_p50_s']:>6.2f}s {r['daemon_p50_s'] / r['cold_p50_s']:>5.2f} "
            f"{r['startup_p50_s']:>5.2f}s "
            f"{r['add_p50_ms']:>6.0f}ms {r['infer_p50_ms']:>7.1f}ms {r['infer_p95_ms']:>7.1f}ms "
            f"{r['rss_mb']:>7.0f} {r['checked_p95_ms']:>7.1f}ms | "
            f"{r['baseline_p50_ms']:>7.1f}ms "
            f"{r['baseline_p95_ms']:>7.1f}ms {ratio:>9.2f}"
        )
    print(
        "warm = Memory.search in a warm process (files re-checked at most once a second, the default);"
        " stat p95 = the same with every file stat'ed before every search (MEM_FRESHNESS_MS=0);"
        " base = rank-bm25 get_scores + numpy cosine over all vectors (no scope filter, no file check),"
        " same process and data; p95 ratio = warm p95 / base p95; infer = Memory.add with extraction and"
        " reconciliation (no LLM), warm; cold = `mem search` in a new process, in-process (MEM_DAEMON=off);"
        " daemon = the same while `mem watch` runs and answers it; ratio = daemon / cold;"
        " import = `python -c 'import memcli.cli.commands'` (typer + rich), what a call the daemon does not"
        " answer pays first, same run; cold and daemon print the results table (the daemon draws it)."
    )
    for r in rows:
        if r["daemon_served"] < args.cold_runs:
            print(f"warning: mem watch answered {r['daemon_served']} of {args.cold_runs} daemon runs at {r['size']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
