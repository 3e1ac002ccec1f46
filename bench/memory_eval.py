"""Memory-management cases (../shared/eval/memory_cases_dev.json) run through the public API.

Each case gets a fresh vault; steps are `add` / `messages` (Memory.add) and `sleep_days` (an
injected clock moves on); checks search current memories of the user (and agent) with
limit=top, or count them. Prints pass rates overall, per kind and per difficulty.
See ../shared/eval/README.md for the rules.

    python bench/memory_eval.py                 # all kinds
    python bench/memory_eval.py --kind graph -v # one kind, with each failing check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from memcli import Memory

DEFAULT_CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "eval" / "memory_cases_dev.json"


def run_case(case: dict, folder: Path) -> list[tuple[dict, bool]]:
    now = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    mem = Memory(vault=folder, clock=lambda: now[0])
    for step in case["steps"]:
        if "sleep_days" in step:
            now[0] += timedelta(days=step["sleep_days"])
            continue
        now[0] += timedelta(minutes=1)
        payload = step["messages"] if "messages" in step else step["add"]
        mem.add(payload, user_id=step["user"], agent_id=step.get("agent"), infer=step.get("infer", True))
    outcomes = []
    for check in case["expect"]:
        scope = {"user_id": check["user"], "agent_id": check.get("agent")}
        if "query" in check:
            top = check.get("top", 3 if "found" in check else 5)
            texts = [r["memory"].casefold() for r in mem.search(check["query"], limit=top, **scope)["results"]]
            if "found" in check:
                ok = any(check["found"].casefold() in t for t in texts)
            else:
                ok = not any(check["not_found"].casefold() in t for t in texts)
        else:
            count = len([r for r in mem.get_all(limit=10_000, **scope)["results"] if r["path"].startswith("memories/")])
            ok = count <= check["max_current"] if "max_current" in check else count >= check["min_current"]
        outcomes.append((check, ok))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--kind")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if not args.cases.exists():
        print(f"cases not found at {args.cases}; skipping (pass --cases FILE)")
        return
    os.environ.setdefault("MEM_FRESHNESS_MS", "0")
    cases = [c for c in json.loads(args.cases.read_text()) if not args.kind or c["kind"] == args.kind]
    by_kind: dict[str, list[bool]] = defaultdict(list)
    by_level: dict[str, list[bool]] = defaultdict(list)
    passed = 0
    with tempfile.TemporaryDirectory(prefix="mem-eval-") as tmp:
        for number, case in enumerate(cases):
            outcomes = run_case(case, Path(tmp) / str(number))
            ok = all(o for _, o in outcomes)
            passed += ok
            by_kind[case["kind"]].append(ok)
            by_level[case.get("difficulty", "?")].append(ok)
            if args.verbose and not ok:
                for check, good in outcomes:
                    if not good:
                        print(f"  FAIL {case['id']}: {json.dumps(check)}", file=sys.stderr)
    print(f"cases: {passed}/{len(cases)} passed ({passed / max(len(cases), 1):.0%})")
    for name, results in sorted(by_kind.items()):
        print(f"  {name:<10} {sum(results)}/{len(results)}")
    for name, results in sorted(by_level.items()):
        print(f"  {name:<10} {sum(results)}/{len(results)}")


if __name__ == "__main__":
    main()
