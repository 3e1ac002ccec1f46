"""The bench/cases sets with and without an LLM that answers like a weak model: a stub
chat-completions server on 127.0.0.1 (memcli.testing.StubChatServer), no real model.

It shows what the rules' vetting of the LLM's decisions is worth: each stub runs once vetted
(as mem runs it) and once trusted (the LLM's decisions applied as they come, which is what a
schema-valid answer got before the vetting). The bar: vetted stays at or near the rules alone.

    python bench/llm_stub.py                                  # the five written sets, every stub
    python bench/llm_stub.py --cases bench/cases/written-1.json --answers none

Answers (memcli.testing.weak_model): "none" calls everything known (the first memory shown),
"add" stores the user's words as they are, "echo-update" replaces the first memory shown with
the user's words. Uses the bundled model, as tests/test_case_sets.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import memory_cases  # bench/memory_cases.py, beside this file

from memcli.infer import decider, llm
from memcli.testing import StubChatServer, weak_model

CASES = sorted((Path(__file__).resolve().parent / "cases").glob("written-*.json"))


def trusted(llm_decisions: list[Any], *args: Any, **kwargs: Any) -> decider.Vetted:
    """No vetting: the LLM's decisions as they come."""
    return decider.Vetted(list(llm_decisions), [])


def run(sets: list[Path], answers: str | None, vet: bool) -> tuple[list[tuple[int, int]], float, int]:
    """(passed, total) per set, seconds, and the LLM requests made."""
    real: Callable[..., decider.Vetted] = decider.vetted
    results = []
    started = time.monotonic()
    with StubChatServer(weak_model(answers or "none")) as stub:
        if answers is None:
            os.environ.pop("MEM_LLM_BASE_URL", None)
            os.environ.pop("MEM_LLM_MODEL", None)
        else:
            os.environ["MEM_LLM_BASE_URL"], os.environ["MEM_LLM_MODEL"] = stub.url, f"stub-{answers}"
        decider.vetted = real if vet else trusted  # type: ignore[assignment]
        try:
            for path in sets:
                llm.forget_servers()
                outcome = memory_cases.run_set(json.loads(path.read_text(encoding="utf-8")), verbose=False)
                results.append((outcome["passed"], outcome["total"]))
        finally:
            decider.vetted = real
        requests = len(stub.requests)
    return results, time.monotonic() - started, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, action="append", help="a case set (repeatable); default: written-*")
    parser.add_argument("--answers", action="append", choices=["none", "add", "echo-update"])
    args = parser.parse_args()
    os.environ.setdefault("MEM_FRESHNESS_MS", "0")
    os.environ.setdefault("MEM_EMBED_MODEL", "bundled")
    sets = args.cases or CASES
    runs: list[tuple[str, str | None, bool]] = [("rules alone (no LLM)", None, True)]
    for answers in args.answers or ["none", "add", "echo-update"]:
        runs += [(f"stub '{answers}', vetted", answers, True), (f"stub '{answers}', trusted", answers, False)]
    print("| run | " + " | ".join(p.stem for p in sets) + " | all | s | LLM requests |")
    print("|---|" + "---|" * (len(sets) + 3))
    for name, answers, vet in runs:
        results, seconds, requests = run(sets, answers, vet)
        passed, total = sum(p for p, _ in results), sum(t for _, t in results)
        cells = " | ".join(f"{p / t:.1%}" for p, t in results)
        print(
            f"| {name} | {cells} | **{passed / total:.1%}** ({passed}/{total}) | {seconds:.0f} | {requests} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
