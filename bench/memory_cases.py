"""Memory-management cases (../shared/eval/memory_cases_dev.json) run through the public API.

Exactly as ../shared/eval/README.md says: a fresh vault per case; steps are `add` / `messages`
(Memory.add with the step's user, agent and infer) and `sleep_days` (the injected clock moves
on); checks search the current memories of the user (and agent) with limit=top, or count them.
Prints the pass rate overall, per kind and per difficulty, and per check type.

    python bench/memory_cases.py                       # the dev set, bundled model, no LLM
    python bench/memory_cases.py --kind graph -v       # one kind, with each failing check
    python bench/memory_cases.py --cases other.json    # any file of the same shape
    python bench/memory_cases.py --runs 3              # with an LLM (MEM_LLM_*): mean, min, max

Without a model (MEM_EMBED_MODEL=none) it measures the rules alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memcli import Memory

DEFAULT_CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "eval" / "memory_cases_dev.json"


def check_kind(check: dict) -> str:
    return next(k for k in ("found", "not_found", "max_current", "min_current") if k in check)


def run_case(case: dict, folder: Path) -> list[tuple[dict, bool, list[str]]]:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    mem = Memory(vault=folder, clock=lambda: now[0])
    for step in case["steps"]:
        if "sleep_days" in step:
            now[0] += timedelta(days=step["sleep_days"])
            continue
        now[0] += timedelta(minutes=1)
        if "messages" in step:
            mem.add(step["messages"], user_id=step["user"], agent_id=step.get("agent"), infer=True)
        else:
            mem.add(step["add"], user_id=step["user"], agent_id=step.get("agent"), infer=step.get("infer", True))
    outcomes = []
    for check in case["expect"]:
        agent = check.get("agent")
        if "query" in check:
            top = check.get("top", 3 if "found" in check else 5)
            hits = mem.search(check["query"], user_id=check["user"], agent_id=agent, limit=top * 4 if agent else top)[
                "results"
            ]
            if agent:  # with an agent the check covers that agent's memories only (not shared ones)
                hits = [h for h in hits if h["agent_id"] == agent]
            texts = [h["memory"] for h in hits[:top]]
            folded = [t.casefold() for t in texts]
            if "found" in check:
                ok = any(check["found"].casefold() in t for t in folded)
            else:
                ok = not any(check["not_found"].casefold() in t for t in folded)
        else:
            rows = mem.get_all(user_id=check["user"], agent_id=agent, limit=10_000)["results"]
            rows = [r for r in rows if (agent is None or r["agent_id"] == agent)]
            texts = [r["memory"] for r in rows]
            count = len(rows)
            ok = count <= check["max_current"] if "max_current" in check else count >= check["min_current"]
        outcomes.append((check, ok, texts))
    return outcomes


def run_set(cases: list[dict], verbose: bool) -> dict:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    by_level: dict[str, list[bool]] = defaultdict(list)
    by_check: dict[str, list[bool]] = defaultdict(list)
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mem-cases-") as tmp:
        for number, case in enumerate(cases):
            outcomes = run_case(case, Path(tmp) / str(number))
            ok = all(good for _, good, _ in outcomes)
            by_kind[case["kind"]].append(ok)
            by_level[case.get("difficulty", "?")].append(ok)
            for check, good, _ in outcomes:
                by_check[check_kind(check)].append(good)
            if not ok:
                failed.append(case["id"])
                if verbose:
                    for check, good, texts in outcomes:
                        if not good:
                            print(f"  FAIL {case['id']}: {json.dumps(check)}\n       saw: {texts}", file=sys.stderr)
    return {
        "kind": by_kind,
        "difficulty": by_level,
        "check": by_check,
        "failed": failed,
        "passed": sum(ok for results in by_kind.values() for ok in results),
        "total": len(cases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--kind")
    parser.add_argument("--runs", type=int, default=1, help="repeat (an LLM is not deterministic)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--min-pass", type=float, help="exit 1 when the pass rate is below this (a CI guard)")
    args = parser.parse_args()
    if not args.cases.exists():
        print(f"cases not found at {args.cases}; skipping (pass --cases FILE)")
        return
    os.environ.setdefault("MEM_FRESHNESS_MS", "0")
    cases = [c for c in json.loads(args.cases.read_text()) if not args.kind or c["kind"] == args.kind]
    llm = os.environ.get("MEM_LLM_MODEL") and os.environ.get("MEM_LLM_BASE_URL")
    model = "none (BM25 only)" if os.environ.get("MEM_EMBED_MODEL") == "none" else "bundled MiniLM"
    print(
        f"{args.cases.name}: {len(cases)} cases · embeddings: {model} · LLM: {os.environ.get('MEM_LLM_MODEL') if llm else 'none'}"
    )
    runs = [run_set(cases, args.verbose) for _ in range(max(args.runs, 1))]
    rates = [r["passed"] / max(r["total"], 1) for r in runs]
    first = runs[0]
    if len(runs) > 1:
        print(
            f"cases: mean {statistics.mean(rates):.1%} (min {min(rates):.1%}, max {max(rates):.1%}) over {len(runs)} runs"
        )
    else:
        print(f"cases: {first['passed']}/{first['total']} passed ({rates[0]:.1%})")
    for group in ("kind", "difficulty", "check"):
        print(f"by {group}:")
        for name in sorted(first[group]):
            results = [r for run in runs for r in run[group][name]]
            print(
                f"  {name:<12} {sum(results) / len(runs):>5.1f}/{len(results) // len(runs):<3} {sum(results) / len(results):.0%}"
            )
    if first["failed"]:
        print("failed: " + ", ".join(first["failed"]))
    if args.min_pass is not None and min(rates) < args.min_pass:
        print(f"pass rate {min(rates):.1%} is below --min-pass {args.min_pass:.0%}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
