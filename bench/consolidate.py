"""Consolidation benchmark: does `mem consolidate` tidy a vault grown the way agents grow one,
without losing what search finds? And how long does it take at 10k memories?

Three parts, each printed as a table (figures and ratios from this run):
  1. pairs   the labelled pair sets in bench/consolidate/ (written blind by helpers; regression
             material since their first runs): merge precision and recall with the bundled model.
  2. grown   each LoCoMo dev conversation (../shared/bench, read in place) added turn by turn with
             add(infer=True), the speaker as the user, as bench/locomo.py --infer does. Then
             deliberate restatements: for a seeded sample of the current memories, the same text
             again in another case with a final dot or with a filler word ("Basically, ...") - these
             must merge - and, for memories holding a number, the text with the number changed -
             these must not. Reported before/after `consolidate(apply=True)`: current memories,
             restatements left (of those added), false merges (near misses merged), LoCoMo R@10
             and MRR over categories 1-4 (a merged memory stands for the turns of what it merged;
             R@10 as grown, before the restatements were added, is shown too: a copy in other
             words is a second chance to be found, which a merge takes away),
             and `mem context` tokens summed over the speakers.
  3. scale   a 10k-memory synthetic vault (bench/scale.py's texts) with 5% restatements: the time
             of a dry run and of an applied run, against the time of one full index build.

Run from the repository root:
    python bench/consolidate.py                                  # all three
    python bench/consolidate.py --conversations 1 --scale 1000   # a smoke (CI)
    python bench/consolidate.py --skip-grown                     # pairs and scale only
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import locomo  # noqa: E402  (bench/locomo.py: the data, the scoring)
import scale  # noqa: E402  (bench/scale.py: the synthetic vault)

from memcli import Memory  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "consolidate"
FILLERS = ("Basically, {}", "Really, {}", "{} indeed")
SAMPLE_SHARE = 0.1
FULL = 10_000_000  # a context budget nothing reaches: the whole digest, to count what merging saves


# -- 1. the pair sets ---------------------------------------------------------------------------


def pair_sets() -> list[dict[str, Any]]:
    from memcli.index.embed import BundledEmbedder
    from memcli.infer import consolidate as judge
    from memcli.infer import decider, heads

    embedder = BundledEmbedder()
    loaded = heads.load()
    rows = []
    for path in sorted(PAIRS.glob("pairs-*.json")):
        pairs = json.loads(path.read_text(encoding="utf-8"))
        texts = sorted({p[k] for p in pairs for k in ("a", "b")})
        vectors = dict(zip(texts, embedder.embed_passages(texts), strict=True))
        relation = decider.relation_by_text(loaded, vectors) if loaded else None

        tp = fp = fn = 0
        for p in pairs:
            verdict = judge.restatement(p["a"], p["b"], float(vectors[p["a"]] @ vectors[p["b"]]), relation)
            tp += verdict.yes and p["same"]
            fp += verdict.yes and not p["same"]
            fn += not verdict.yes and p["same"]
        rows.append(
            {
                "set": path.name,
                "pairs": len(pairs),
                "merged": tp + fp,
                "precision": tp / (tp + fp) if tp + fp else 1.0,
                "recall": tp / (tp + fn) if tp + fn else 1.0,
            }
        )
    return rows


# -- 2. a vault grown by an agent ---------------------------------------------------------------


def _restated(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return text.casefold().rstrip(".") + "."
    lowered = text[:1].lower() + text[1:]
    return rng.choice(FILLERS).format(lowered if not lowered.startswith("[[") else text)


def _near_miss(text: str) -> str | None:
    match = re.search(r"(?<![\w.:/-])(\d{1,4})(?![\w.:/-])", text)
    if not match or "[[" in text:
        return None
    changed = str(int(match.group(1)) + 1)
    return text[: match.start()] + changed + text[match.end() :]


def _score(memory: Memory, sample: dict[str, Any], stands_for: dict[str, set[str]]) -> list[locomo.QuestionScore]:
    turns = locomo.conversation_turns(sample["conversation"])
    known = {locomo.canonical_dia_id(d) or d for d, _ in turns}
    conversation_tokens = sum(locomo.count_tokens(t) for _, t in turns)
    scores = []
    for qa in sample.get("qa", []):
        relevant, _ = locomo.normalize_evidence(list(qa.get("evidence") or []), known)
        if not relevant:
            continue
        results = memory.search(str(qa["question"]), limit=locomo.SEARCH_LIMIT)["results"]
        ranked = locomo.turns_found(results, stands_for, known)
        texts = [str(h.get("memory", "")) for h in results]
        scores.append(locomo.score_question(int(qa["category"]), ranked, texts, relevant, conversation_tokens))
    return scores


def _speakers(memory: Memory) -> list[str]:
    return sorted(u["name"] for u in memory.users()["results"] if u["type"] == "user")


def _grow(memory: Memory, sample: dict[str, Any]) -> dict[str, set[str]]:
    """The conversation added turn by turn with inference; the turns each memory stands for."""
    stands_for: dict[str, set[str]] = {}
    for dia_id, text in locomo.conversation_turns(sample["conversation"]):
        head, _, said = text.partition(": ")
        speaker = head.split("] ", 1)[-1] if said else None
        result = memory.add(said or text, user_id=speaker, infer=True, metadata={"dia_id": dia_id})
        for item in result["results"]:
            stands_for.setdefault(item["id"], set()).add(dia_id)
    return stands_for


def _inject(memory: Memory, rng: random.Random, stands_for: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """Restatements of a sample of each speaker's memories (to merge) and near misses (not to)."""
    restated: list[str] = []
    near: list[str] = []
    for speaker in _speakers(memory):
        current = memory.get_all(user_id=speaker, limit=100_000)["results"]
        for item in rng.sample(current, max(1, int(len(current) * SAMPLE_SHARE))):
            copy = memory.add(_restated(item["memory"], rng), user_id=speaker, infer=False, metadata=item["metadata"])
            restated.append(copy["results"][0]["id"])
            stands_for.setdefault(restated[-1], set()).update(stands_for.get(item["id"], set()))
        for item in current:
            if len(near) < len(restated) and (changed := _near_miss(item["memory"])):
                miss = memory.add(changed, user_id=speaker, infer=False, metadata=item["metadata"])
                near.append(miss["results"][0]["id"])
    return restated, near


def grown(conversations: int | None, data: Path, folder: Path, seed: int) -> dict[str, Any]:
    samples = json.loads(data.read_text(encoding="utf-8"))[: conversations or None]
    rng = random.Random(seed)
    totals: dict[str, Any] = {"conversations": len(samples), "restated": 0, "near_misses": 0}
    grown_scores: list[locomo.QuestionScore] = []
    before_scores: list[locomo.QuestionScore] = []
    after_scores: list[locomo.QuestionScore] = []
    counts = {"current_before": 0, "current_after": 0, "context_before": 0, "context_after": 0}
    left = false_merges = 0
    seconds = 0.0
    for number, sample in enumerate(samples, 1):
        vault = folder / f"c{number}"
        memory = Memory(vault=vault)
        stands_for = _grow(memory, sample)
        grown_scores += _score(memory, sample, stands_for)  # as the agent left it, before the copies
        restated, near = _inject(memory, rng, stands_for)
        totals["restated"] += len(restated)
        totals["near_misses"] += len(near)
        counts["current_before"] += sum(
            len(memory.get_all(user_id=s, limit=100_000)["results"]) for s in _speakers(memory)
        )
        counts["context_before"] += sum(memory.context(user_id=s, budget=FULL)["tokens"] for s in _speakers(memory))
        before_scores += _score(memory, sample, stands_for)
        planned = memory.consolidate(kinds=["conflicts"])["conflicts"]
        totals["conflicts_planned"] = totals.get("conflicts_planned", 0) + len(planned)
        started = time.perf_counter()
        done = memory.consolidate(apply=True, kinds=["merge", "fold"])
        seconds += time.perf_counter() - started
        for item in done["merge"]:
            for merged in item["merge"]:
                stands_for.setdefault(item["keep"]["id"], set()).update(stands_for.get(merged["id"], set()))
        ids = {merged["id"] for item in done["merge"] for merged in item["merge"]} | {
            item["keep"]["id"] for item in done["merge"]
        }
        # a restatement is left when both it and what it restates are still current
        left += sum(1 for r in restated if (memory.get(r) or {}).get("status") == "current" and r not in ids)
        false_merges += sum(1 for n in near if n in ids)
        injected = set(restated) | set(near)
        for item in done["merge"]:  # merges among the agent's own memories: shown, for a person to judge
            for merged in item["merge"]:
                if merged["id"] not in injected and item["keep"]["id"] not in injected:
                    totals.setdefault("own_merges", []).append(
                        (item["keep"]["memory"], merged["memory"], merged["why"])
                    )
        counts["current_after"] += sum(
            len(memory.get_all(user_id=s, limit=100_000)["results"]) for s in _speakers(memory)
        )
        counts["context_after"] += sum(memory.context(user_id=s, budget=FULL)["tokens"] for s in _speakers(memory))
        after_scores += _score(memory, sample, stands_for)
        print(f"  conversation {number}: {len(done['merge'])} merges", file=sys.stderr)
    before, after = locomo.aggregate(before_scores), locomo.aggregate(after_scores)
    as_grown = locomo.aggregate(grown_scores)
    return {
        **totals,
        "own_merges": totals.get("own_merges", []),
        **counts,
        "restatements_left": left,
        "false_merges": false_merges,
        "r10_grown": as_grown["overall"]["recall@10"],
        "r10_before": before["overall"]["recall@10"],
        "r10_after": after["overall"]["recall@10"],
        "mrr_before": before["overall"]["mrr"],
        "mrr_after": after["overall"]["mrr"],
        "consolidate_seconds": seconds,
    }


# -- 3. at scale --------------------------------------------------------------------------------


def _original(texts: list[str], copy: str) -> int:
    return next(n for n, t in enumerate(texts) if t.casefold() + "." == copy)


def at_scale(size: int, folder: Path) -> dict[str, Any]:
    texts = scale.synthetic_texts(size)
    rng = random.Random(5)
    extra = [t.casefold() + "." for t in rng.sample(texts, size // 20)]
    root = folder / f"scale-{size}"
    scale.write_vault(root, texts)
    users = ["ray", "ana", "sam"]  # scale.write_vault's, by position: a copy has its original's user
    for n, text in enumerate(extra):
        original = _original(texts, text)
        stamp = "2026-12-01T10:00:00.000Z"
        (root / "memories" / f"m-{size + n:010x}.md").write_text(
            f"---\nid: m-{size + n:010x}\ncreated: {stamp}\nupdated: {stamp}\nuser: {users[original % 3]}\n"
            f"source: bench\n---\n{text}\n"
        )
    started = time.perf_counter()
    memory = Memory(vault=root)
    memory.reindex()
    build = time.perf_counter() - started
    started = time.perf_counter()
    plan = memory.consolidate()
    dry = time.perf_counter() - started
    started = time.perf_counter()
    done = memory.consolidate(apply=True)
    applied = time.perf_counter() - started
    return {
        "memories": size + len(extra),
        "restatements": len(extra),
        "merges_planned": sum(len(i["merge"]) for i in plan["merge"]),
        "conflicts_planned": len(plan["conflicts"]),
        "index_build_s": build,
        "dry_run_s": dry,
        "apply_s": applied,
        "done": len(done["done"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, help="only the first N LoCoMo conversations")
    parser.add_argument("--scale", type=int, default=10_000, help="memories in the timing vault (0: skip)")
    parser.add_argument("--skip-grown", action="store_true", help="no LoCoMo part")
    parser.add_argument("--data", type=Path, default=locomo.DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    print("# 1. pair sets (merge precision / recall, bundled model)")
    for row in pair_sets():
        print(
            f"  {row['set']}: {row['pairs']} pairs, {row['merged']} merged, "
            f"precision {row['precision']:.3f}, recall {row['recall']:.3f}"
        )
    with tempfile.TemporaryDirectory(prefix="mem-consolidate-") as tmp:
        if not args.skip_grown:
            if not args.data.exists():
                print(f"# 2. grown vault: skipped, no data at {args.data}")
            else:
                print("# 2. a vault grown with add(infer=True), plus restatements and near misses")
                g = grown(args.conversations, args.data, Path(tmp), args.seed)
                print(
                    f"  conversations {g['conversations']}; restatements added {g['restated']}, near misses {g['near_misses']}"
                )
                print(
                    f"  current memories {g['current_before']} -> {g['current_after']} "
                    f"({g['current_after'] / max(g['current_before'], 1):.3f}x)"
                )
                print(
                    f"  restatements left {g['restatements_left']} of {g['restated']}; false merges {g['false_merges']} "
                    f"of {g['near_misses']}; possible conflicts planned {g.get('conflicts_planned', 0)}"
                )
                print(
                    f"  LoCoMo R@10 {g['r10_before']:.3f} -> {g['r10_after']:.3f} "
                    f"(delta {g['r10_after'] - g['r10_before']:+.3f}; {g['r10_grown']:.3f} as grown, before the "
                    f"restatements were added); MRR {g['mrr_before']:.3f} -> {g['mrr_after']:.3f}"
                )
                print(f"  merges among the agent's own memories: {len(g['own_merges'])}")
                for kept, merged, why in g["own_merges"]:
                    print(f"    {kept[:70]!r} <- {merged[:70]!r} ({why})")
                print(
                    f"  mem context tokens (whole digest) {g['context_before']} -> {g['context_after']} "
                    f"({g['context_after'] / max(g['context_before'], 1):.3f}x); consolidate {g['consolidate_seconds']:.1f} s"
                )
        if args.scale:
            print(f"# 3. at scale ({args.scale} memories + 5% restatements)")
            s = at_scale(args.scale, Path(tmp))
            print(
                f"  {s['memories']} memories: index build {s['index_build_s']:.1f} s; dry run {s['dry_run_s']:.1f} s "
                f"({s['dry_run_s'] / s['index_build_s']:.2f}x the build); apply {s['apply_s']:.1f} s; "
                f"{s['merges_planned']} merges of {s['restatements']} restatements planned, "
                f"{s['conflicts_planned']} possible conflicts"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
