"""LoCoMo retrieval benchmark for mem: how well does `Memory.search` find the turns behind an answer?

What it measures (the definition is ../shared/bench/README.md):
  Each LoCoMo conversation becomes its own vault, one memory per turn, added through the public
  API (`Memory.add(text, infer=False, metadata={"dia_id": ...})`) with text like
  "[8 May, 2023] Caroline: <text> [shares <blip_caption>]". Every question then searches its own
  conversation (`Memory.search(question, limit=20)`); the question's evidence turns are the
  relevant set. Per category (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop,
  5 adversarial) and "overall" (categories 1-4 pooled, question-weighted; category 5 apart):
    - R@5 / R@10 / R@20: share of the question's evidence turns in the top k, averaged over questions
    - MRR: 1 / rank of the first evidence turn (0 when none is in the top 20)
    - tok@10: tokens of the top-10 result texts together, averaged over questions
    - ratio: tok@10 / tokens of the whole conversation (all its turn texts), averaged over questions
  Tokens are estimated, not counted by a tokenizer: round(len(text.split()) * 4 / 3) per text.
  Timing: total wall time of all `add` calls, median and p95 latency of `search` calls.

Evidence ids are normalised first ("D8:6; D9:17" -> two ids, "D:11:26" -> "D11:26",
"D30:05" -> "D30:5"); ids naming no turn of the conversation are dropped, and questions left
without evidence are skipped (both counted in the report).

Run (from the repository root; the data is read from ../shared/bench/, never copied here):
    python bench/locomo.py --mode hybrid
    python bench/locomo.py --mode bm25 --conversations 1          # quick smoke
    python bench/locomo.py --mode bm25 --json /tmp/locomo-bm25.json
    python bench/locomo.py --only 1,2,3                           # the part tuned on
    python bench/locomo.py --skip 1,2,3                           # the rest: held out
    python bench/locomo.py --keep /tmp/locomo --reuse             # build once, search again later

Conversations are numbered from 1 in the file's order; --only and --skip pick by those numbers
(after --conversations N, when given). With --reuse, a conversation whose vault already exists
under --keep is searched as it is (no adds, so no add timing for it): what the search changed
is measured without embedding every turn again.

The search mode is passed to the library through MEM_SEARCH_MODE (set before each Memory is
built); the table header shows the `mode` the searches actually reported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memcli import Memory

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "locomo_dev.json"
MODES = ("bm25", "dense", "hybrid")
KS = (5, 10, 20)
SEARCH_LIMIT = max(KS)
TOKENS_AT = 10
CATEGORIES: dict[int, str] = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
OVERALL_CATEGORIES = (1, 2, 3, 4)

_SESSION_KEY = re.compile(r"session_(\d+)")
_DIA_ID = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)", re.IGNORECASE)
_EVIDENCE_SEPARATORS = re.compile(r"[;,\s]+")


# -- evidence normalisation (pure) ---------------------------------------------------------------


def canonical_dia_id(raw: str) -> str | None:
    """One turn id in canonical form "D<session>:<turn>", or None when it is not a turn id.

    "D1:3" -> "D1:3", "D:11:26" -> "D11:26", "D30:05" -> "D30:5", "d2 : 7" -> "D2:7", "D" -> None.
    """
    match = _DIA_ID.fullmatch(raw.strip())
    if match is None:
        return None
    return f"D{int(match.group(1))}:{int(match.group(2))}"


def split_evidence(raw: str) -> list[str]:
    """The pieces of one evidence entry: "D8:6; D9:17" -> ["D8:6", "D9:17"]."""
    return [piece for piece in _EVIDENCE_SEPARATORS.split(raw.strip()) if piece]


def normalize_evidence(raw: Iterable[Any], known: Collection[str]) -> tuple[list[str], list[str]]:
    """Canonical evidence ids that name a turn of `known` (order kept, no repeats), and the dropped pieces.

    `known` holds the conversation's turn ids in canonical form.
    """
    kept: list[str] = []
    dropped: list[str] = []
    for entry in raw:
        for piece in split_evidence(str(entry)):
            dia_id = canonical_dia_id(piece)
            if dia_id is None or dia_id not in known:
                dropped.append(piece)
            elif dia_id not in kept:
                kept.append(dia_id)
    return kept, dropped


# -- turning a conversation into memories (pure) ------------------------------------------------


def session_date(raw: str | None) -> str:
    """The date part of a session stamp: "1:56 pm on 8 May, 2023" -> "8 May, 2023"."""
    if not raw:
        return ""
    return raw.rsplit(" on ", 1)[-1].strip()


def turn_text(date: str, turn: Mapping[str, Any]) -> str:
    """The memory text of one turn: "[8 May, 2023] Caroline: <text> [shares <blip_caption>]"."""
    text = f"{turn.get('speaker', '?')}: {str(turn.get('text') or '').strip()}"
    if date:
        text = f"[{date}] {text}"
    caption = str(turn.get("blip_caption") or "").strip()
    if caption:
        text += f" [shares {caption}]"
    return text


def conversation_turns(conversation: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dia_id, memory text) for every turn, sessions in numeric order.

    Only `session_N` keys holding turns count: some samples carry `session_N_date_time` stamps
    for sessions that have no turns.
    """
    numbers = sorted(
        int(m.group(1))
        for key, value in conversation.items()
        if (m := _SESSION_KEY.fullmatch(key)) and isinstance(value, list)
    )
    turns: list[tuple[str, str]] = []
    for number in numbers:
        date = session_date(conversation.get(f"session_{number}_date_time"))
        for turn in conversation[f"session_{number}"]:
            turns.append((str(turn["dia_id"]), turn_text(date, turn)))
    return turns


# -- metrics (pure) ------------------------------------------------------------------------------


def count_tokens(text: str) -> int:
    """Estimated tokens of a text: round(words * 4 / 3). An estimate, not a real tokenizer."""
    return round(len(text.split()) * 4 / 3)


Ranked = Sequence[str | frozenset[str] | None]  # per result: its turn, the turns it stands for, or none


def _turns(item: str | frozenset[str] | None) -> frozenset[str]:
    return frozenset() if item is None else frozenset([item]) if isinstance(item, str) else item


def recall_at_k(ranked: Ranked, relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the first k of `ranked`."""
    if not relevant:
        raise ValueError("recall needs at least one relevant id")
    found = {turn for item in ranked[:k] for turn in _turns(item)} & set(relevant)
    return len(found) / len(set(relevant))


def reciprocal_rank(ranked: Ranked, relevant: Collection[str], depth: int = SEARCH_LIMIT) -> float:
    """1 / rank of the first relevant id within the first `depth` of `ranked`; 0 when there is none."""
    for rank, item in enumerate(ranked[:depth], 1):
        if _turns(item) & set(relevant):
            return 1.0 / rank
    return 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class QuestionScore:
    """The metrics of one question."""

    category: int
    recall: dict[int, float]
    rr: float
    tokens: int  # tokens of the top-10 result texts together
    ratio: float  # tokens / conversation tokens


def score_question(
    category: int,
    ranked: Ranked,
    texts: Sequence[str],
    relevant: Collection[str],
    conversation_tokens: int,
    ks: Sequence[int] = KS,
) -> QuestionScore:
    """Score one search: `ranked` are the results' dia_ids, `texts` their memory texts, best first."""
    tokens = sum(count_tokens(text) for text in texts[:TOKENS_AT])
    return QuestionScore(
        category=category,
        recall={k: recall_at_k(ranked, relevant, k) for k in ks},
        rr=reciprocal_rank(ranked, relevant, max(ks)),
        tokens=tokens,
        ratio=tokens / conversation_tokens if conversation_tokens else 0.0,
    )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(scores: Sequence[QuestionScore], ks: Sequence[int] = KS) -> dict[str, dict[str, Any]]:
    """Mean metrics per category ("1".."5") and "overall" (categories 1-4 pooled, each question once)."""
    groups: dict[str, list[QuestionScore]] = {str(c): [s for s in scores if s.category == c] for c in CATEGORIES}
    groups["overall"] = [s for s in scores if s.category in OVERALL_CATEGORIES]
    table: dict[str, dict[str, Any]] = {}
    for name, group in groups.items():
        row: dict[str, Any] = {"n": len(group)}
        for k in ks:
            row[f"recall@{k}"] = _mean([s.recall[k] for s in group])
        row["mrr"] = _mean([s.rr for s in group])
        row[f"tokens@{TOKENS_AT}"] = _mean([s.tokens for s in group])
        row["token_ratio"] = _mean([s.ratio for s in group])
        table[name] = row
    return table


# -- running it ----------------------------------------------------------------------------------


@dataclass
class RunStats:
    """Counts and timings gathered while running, for the report."""

    conversations: list[str] = field(default_factory=list)
    turns: int = 0
    conversation_tokens: list[int] = field(default_factory=list)
    questions_total: int = 0
    questions_skipped_no_evidence: int = 0
    evidence_ids_dropped: list[str] = field(default_factory=list)
    evidence_entries_malformed: int = 0  # entries not already of the form D<n>:<m>
    add_seconds: float = 0.0
    search_ms: list[float] = field(default_factory=list)
    modes: Counter[str] = field(default_factory=Counter)
    short_result_lists: int = 0  # searches returning fewer than SEARCH_LIMIT results
    unmapped_results: int = 0  # results whose metadata carried no known dia_id


def _vault_root(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="mem-locomo-"))
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def pick_conversations(
    samples: Sequence[Any], first: int | None = None, only: Collection[int] = (), skip: Collection[int] = ()
) -> list[tuple[int, Any]]:
    """(number, sample) of the conversations to run, numbered from 1 in the file's order: the
    first `first` (all when None), then only the numbers in `only` (when given), minus `skip`."""
    numbered = list(enumerate(samples, 1))[:first]
    return [(n, s) for n, s in numbered if (not only or n in only) and n not in skip]


def parse_numbers(raw: str) -> set[int]:
    """ "1,2,3" or "1-3,5" -> {1, 2, 3} / {1, 2, 3, 5}."""
    numbers: set[int] = set()
    for piece in filter(None, (p.strip() for p in raw.split(","))):
        low, _, high = piece.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"not a conversation number or range: {piece!r}")
        numbers.update(range(int(low), int(high or low) + 1))
    return numbers


def turns_found(
    results: Sequence[Mapping[str, Any]], stands_for: Mapping[str, set[str]], known: Collection[str]
) -> Ranked:
    """Per search hit, the conversation turns it stands for (the turn in its metadata, and each
    turn a memory restated), or None for a hit that names no known turn."""
    ranked: list[str | frozenset[str] | None] = []
    for hit in results:
        source = (hit.get("metadata") or {}).get("dia_id")
        turns = {
            canonical_dia_id(str(t)) or str(t)
            for t in stands_for.get(hit["id"], set()) | ({source} if source else set())
        }
        turns &= set(known)
        ranked.append(frozenset(turns) if turns else None)
    return ranked


def run_conversation(
    sample: Mapping[str, Any],
    vault: Path,
    stats: RunStats,
    scores: list[QuestionScore],
    limit_questions: int | None,
    infer: bool = False,
    reuse: bool = False,
) -> None:
    """Build one conversation's vault through the API, then search every question in it. With
    `infer`, each turn goes through extraction and reconciliation (the speaker as the user, the
    turn id in the metadata of every fact it yields): does recall survive memory management?
    With `reuse`, a vault already there is searched as it is."""
    name = str(sample.get("sample_id") or vault.name)
    reusing = reuse and vault.exists() and any(vault.iterdir())
    if vault.exists() and any(vault.iterdir()) and not reusing:
        raise SystemExit(f"error: {vault} is not empty; give --keep a fresh folder (or --reuse it)")
    turns = conversation_turns(sample["conversation"])
    memory = Memory(vault=vault)
    # the turns each memory stands for: the one it came from, and each later turn that restated it
    # (NONE: inference keeps one memory where verbatim keeps two)
    stands_for: dict[str, set[str]] = {}
    started = time.perf_counter()
    for dia_id, text in [] if reusing else turns:
        if infer:  # the turn as its speaker said it (their facts in their own scope), without "[date] Name:"
            head, _, said = text.partition(": ")
            speaker = head.split("] ", 1)[-1] if said else None
            result = memory.add(said or text, user_id=speaker, infer=True, metadata={"dia_id": dia_id})
        else:
            result = memory.add(text, user_id=None, infer=False, metadata={"dia_id": dia_id})
        for item in result["results"]:
            stands_for.setdefault(item["id"], set()).add(dia_id)
    add_seconds = time.perf_counter() - started
    known = {canonical_dia_id(dia_id) or dia_id for dia_id, _ in turns}
    conversation_tokens = sum(count_tokens(text) for _, text in turns)

    stats.conversations.append(name)
    stats.turns += len(turns)
    stats.conversation_tokens.append(conversation_tokens)
    stats.add_seconds += add_seconds

    questions = list(sample.get("qa", []))
    if limit_questions is not None:
        questions = questions[:limit_questions]
    searched = 0
    for qa in questions:
        stats.questions_total += 1
        raw = list(qa.get("evidence") or [])
        relevant, dropped = normalize_evidence(raw, known)
        stats.evidence_ids_dropped.extend(f"{name} {piece}" for piece in dropped)
        stats.evidence_entries_malformed += sum(1 for entry in raw if canonical_dia_id(str(entry)) != str(entry))
        if not relevant:
            stats.questions_skipped_no_evidence += 1
            continue
        started = time.perf_counter()
        found = memory.search(str(qa["question"]), limit=SEARCH_LIMIT)
        stats.search_ms.append((time.perf_counter() - started) * 1000)
        stats.modes[str(found.get("mode"))] += 1
        results = found["results"]
        if len(results) < SEARCH_LIMIT:
            stats.short_result_lists += 1
        ranked = turns_found(results, stands_for, known)
        stats.unmapped_results += sum(1 for turns in ranked if turns is None)
        texts = [str(hit.get("memory", "")) for hit in results]
        scores.append(score_question(int(qa["category"]), ranked, texts, relevant, conversation_tokens))
        searched += 1
    added = "reused" if reusing else f"added in {add_seconds:.1f} s"
    print(f"  {name}: {len(turns)} turns {added}, {searched} questions searched", file=sys.stderr)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(table: Mapping[str, Mapping[str, Any]], ks: Sequence[int] = KS) -> str:
    """The plain-text table: one row per category and overall."""
    header = f"{'category':<16}{'n':>6}" + "".join(f"{'R@' + str(k):>8}" for k in ks)
    header += f"{'MRR':>8}{'tok@' + str(TOKENS_AT):>9}{'ratio':>8}"
    lines = [header, "-" * len(header)]
    for key in [*(str(c) for c in CATEGORIES), "overall"]:
        row = table[key]
        label = f"{key} {CATEGORIES[int(key)]}" if key != "overall" else "overall (1-4)"
        line = f"{label:<16}{row['n']:>6}" + "".join(f"{_fmt(row[f'recall@{k}']):>8}" for k in ks)
        ratio = row["token_ratio"]
        line += f"{_fmt(row['mrr']):>8}{_fmt(row[f'tokens@{TOKENS_AT}'], 0):>9}"
        line += f"{'-' if ratio is None else f'{ratio * 100:.2f}%':>8}"
        if key == "overall":
            lines.append("-" * len(header))
        lines.append(line)
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="LoCoMo retrieval benchmark for mem (recall@k, MRR, tokens).")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="LoCoMo JSON (default: ../shared/bench/locomo_dev.json)"
    )
    parser.add_argument(
        "--mode", choices=MODES, default="hybrid", help="search mode, passed as MEM_SEARCH_MODE (default hybrid)"
    )
    parser.add_argument("--conversations", type=int, metavar="N", help="use only the first N conversations")
    parser.add_argument("--only", type=parse_numbers, default=set(), metavar="1,2,3", help="only these conversations")
    parser.add_argument(
        "--skip", type=parse_numbers, default=set(), metavar="4,5", help="leave these conversations out"
    )
    parser.add_argument(
        "--limit-questions", type=int, metavar="N", help="use only the first N questions of each conversation"
    )
    parser.add_argument(
        "--infer", action="store_true", help="add each turn with inference (extract + reconcile) instead of verbatim"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers to FILE")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the vaults in DIR and keep them")
    parser.add_argument("--reuse", action="store_true", help="with --keep: search vaults already in DIR as they are")
    args = parser.parse_args(argv)
    if args.reuse and args.keep is None:
        parser.error("--reuse needs --keep DIR")
    for name in ("conversations", "limit_questions"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_path = args.data.resolve()
    if not data_path.is_file():
        print(f"LoCoMo data not found at {data_path}; skipping the benchmark (pass --data FILE).")
        return 0
    samples = pick_conversations(
        json.loads(data_path.read_text(encoding="utf-8")), args.conversations, args.only, args.skip
    )

    os.environ["MEM_SEARCH_MODE"] = args.mode  # read by Memory at construction
    stats = RunStats()
    scores: list[QuestionScore] = []
    root = _vault_root(args.keep)
    print(f"LoCoMo: {len(samples)} conversation(s) from {data_path}, vaults in {root}", file=sys.stderr)
    try:
        for number, sample in samples:
            name = str(sample.get("sample_id") or f"conv-{number}")
            run_conversation(sample, root / name, stats, scores, args.limit_questions, args.infer, args.reuse)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    table = aggregate(scores)
    modes = ", ".join(f"{mode} x{count}" for mode, count in stats.modes.most_common()) or "none"
    searches = len(stats.search_ms)
    median_ms = statistics.median(stats.search_ms) if stats.search_ms else math.nan
    p95_ms = percentile(stats.search_ms, 95)
    mean_conv_tokens = _mean(stats.conversation_tokens)

    print(f"\nLoCoMo retrieval  mode requested: {args.mode}  mode returned: {modes}")
    if stats.modes and set(stats.modes) != {args.mode}:
        print(f"note: the library did not report mode {args.mode!r} for every search; the numbers are for {modes}")
    print(
        f"conversations: {len(stats.conversations)} ({', '.join(stats.conversations)}), turns: {stats.turns}, "
        f"questions: {stats.questions_total} seen, {len(scores)} scored, "
        f"{stats.questions_skipped_no_evidence} skipped (no evidence)"
    )
    print(
        f"evidence: {stats.evidence_entries_malformed} malformed entries normalised, "
        f"{len(stats.evidence_ids_dropped)} ids dropped (no such turn)"
        + (f": {'; '.join(stats.evidence_ids_dropped)}" if stats.evidence_ids_dropped else "")
    )
    print()
    print(format_table(table))
    print()
    print(
        f"tokens = round(words * 4/3) per text; tok@{TOKENS_AT} = top-{TOKENS_AT} result texts together; "
        f"ratio = tok@{TOKENS_AT} / conversation tokens (mean conversation: {_fmt(mean_conv_tokens, 0)} tokens)"
    )
    print(f"results: {stats.short_result_lists} of {searches} searches returned fewer than {SEARCH_LIMIT}", end="")
    print(f"; {stats.unmapped_results} results without a known dia_id" if stats.unmapped_results else "")
    per_turn = stats.add_seconds / stats.turns * 1000 if stats.turns else math.nan
    print(
        f"timing: add {stats.add_seconds:.1f} s total ({stats.turns} turns, {per_turn:.1f} ms/turn); "
        f"search median {median_ms:.1f} ms, p95 {p95_ms:.1f} ms ({searches} searches)"
    )

    if args.json is not None:
        report = {
            "benchmark": "locomo-retrieval",
            "data": str(data_path),
            "mode_requested": args.mode,
            "modes_returned": dict(stats.modes),
            "conversations": stats.conversations,
            "conversation_numbers": [number for number, _ in samples],
            "limit_questions": args.limit_questions,
            "turns": stats.turns,
            "conversation_tokens": stats.conversation_tokens,
            "questions_seen": stats.questions_total,
            "questions_scored": len(scores),
            "questions_skipped_no_evidence": stats.questions_skipped_no_evidence,
            "evidence_entries_malformed": stats.evidence_entries_malformed,
            "evidence_ids_dropped": stats.evidence_ids_dropped,
            "short_result_lists": stats.short_result_lists,
            "unmapped_results": stats.unmapped_results,
            "token_estimate": "round(len(text.split()) * 4 / 3) per text",
            "categories": {
                key: {"name": "categories 1-4" if key == "overall" else CATEGORIES[int(key)], **row}
                for key, row in table.items()
            },
            "timing": {
                "add_seconds_total": stats.add_seconds,
                "search_ms_median": median_ms,
                "search_ms_p95": p95_ms,
                "searches": searches,
            },
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
