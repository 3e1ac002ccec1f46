"""The lived-in vault benchmark: does `add` keep its hands off what nobody asked it to change?

A scenario (JSON) is one user's vault of seed memories (stored verbatim, as a memory tool keeps
them) and a sequence of statements typed in chat, each labelled: `unrelated` (shares words with
a stored fact but changes nothing), `update` (targets a fact, with `new_value` / `old_value`),
`retraction` (targets a fact; `gone` must leave current memory), `noise` (nothing to store),
`new` (a new fact, `key` / `value`, which later statements may target). Statements run in order
through `Memory.add(text, user_id=…)`, a minute apart, with the bundled model and no LLM.

Reported, per scenario and in all:
  lost       memories superseded or deleted that no statement targeted   (must be 0)
  updates    applied (old gone, new value current) / flagged (new value stored, the old one named
             as a possible conflict) / missed
  retractions applied / missed
  noise      statements of kind noise that stored something                (must be 0)
  new        new facts stored

    python bench/lived_in.py bench/lived_in/sealed/scenario-1.json bench/lived_in/sealed/scenario-2.json
    python bench/lived_in.py SCENARIO -v      # each statement's outcome
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memcli import Memory


def current(mem: Memory, user: str) -> dict[str, str]:
    return {r["id"]: r["memory"] for r in mem.get_all(user_id=user, limit=100_000)["results"]}


def run(path: Path, verbose: bool) -> Counter[str]:
    scenario = json.loads(path.read_text(encoding="utf-8"))
    user = scenario["user"]
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="mem-lived-in-") as tmp:
        now = [datetime(2026, 1, 1, tzinfo=UTC)]
        mem = Memory(vault=Path(tmp) / "vault", clock=lambda: now[0])
        key_of: dict[str, str] = {}  # memory id -> the key of the fact it holds
        for seed in scenario["seed"]:
            now[0] += timedelta(minutes=1)
            memory_id = mem.add(seed["text"], user_id=user, infer=False)["results"][0]["id"]
            key_of[memory_id] = seed["key"]
        for number, statement in enumerate(scenario["statements"], 1):
            now[0] += timedelta(minutes=1)
            before = current(mem, user)
            results = mem.add(statement["text"], user_id=user)["results"]
            after = current(mem, user)
            targets = set(statement.get("targets") or [])
            gone = [i for i in before if i not in after]
            lost = [i for i in gone if key_of.get(i) not in targets]
            counts["lost"] += len(lost)
            stored = [r for r in results if r["event"] in ("ADD", "UPDATE")]
            for result in stored:  # the fact a memory holds follows its supersede chain
                previous = result.get("previous_id")
                if previous in key_of:
                    key_of[result["id"]] = key_of[previous]
            kind = statement["kind"]
            texts = [t.casefold() for t in after.values()]
            outcome = ""
            if kind == "update":
                new_value = statement["new_value"].casefold()
                has_new = any(new_value in t for t in texts)
                target_gone = any(key_of.get(i) in targets for i in gone)
                flagged = any(key_of.get(c["id"]) in targets for r in results for c in r.get("possible_conflicts", []))
                outcome = "applied" if has_new and target_gone else "flagged" if has_new and flagged else "missed"
                counts[f"update {outcome}"] += 1
            elif kind == "retraction":
                applied = not any(statement["gone"].casefold() in t for t in texts)
                outcome = "applied" if applied else "missed"
                counts[f"retraction {outcome}"] += 1
            elif kind == "noise":
                outcome = "stored" if stored else "ignored"
                counts["noise stored"] += bool(stored)
            elif kind == "new":
                made = [r for r in stored if statement["value"].casefold() in r["memory"].casefold()]
                for result in made:
                    key_of[result["id"]] = statement["key"]
                outcome = "stored" if made else "missed"
                counts[f"new {outcome}"] += 1
            else:
                outcome = "changed nothing" if not gone else "changed something"
            counts[kind] += 1
            if verbose or lost:
                events = "; ".join(f"{r['event']} {r['memory'][:50]!r}" for r in results) or "nothing"
                flag = f"  LOST {[before[i] for i in lost]}" if lost else ""
                print(f"  {number:>3} {kind:<10} {outcome:<15} {statement['text'][:60]!r} -> {events}{flag}")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    total: Counter[str] = Counter()
    for path in args.scenarios:
        print(f"{path}:")
        counts = run(path, args.verbose)
        total += counts
        report(counts)
    if len(args.scenarios) > 1:
        print("all:")
        report(total)
    return 0


def report(c: Counter[str]) -> None:
    print(
        f"  lost {c['lost']} (must be 0) · updates {c['update applied']} applied, {c['update flagged']} flagged, "
        f"{c['update missed']} missed of {c['update']} · retractions {c['retraction applied']}/{c['retraction']} · "
        f"noise stored {c['noise stored']}/{c['noise']} (must be 0) · new {c['new stored']}/{c['new']} · "
        f"unrelated {c['unrelated']}"
    )


if __name__ == "__main__":
    sys.exit(main())
