"""The hand-written memory-management case sets of bench/cases run through pytest, one test id per
case, with the bundled model (as `bench/memory_cases.py --cases …` runs them). They are regression
guards, not measures: each set was tuned on after its blind first run (bench/cases/README.md).
Cases that fail today are listed in KNOWN_FAILURES and expected to fail (strictly: a case that
starts passing says so, and leaves the list)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CASES_DIR = Path(__file__).resolve().parents[1] / "bench" / "cases"
_spec = importlib.util.spec_from_file_location("memory_cases", CASES_DIR.parent / "memory_cases.py")
assert _spec is not None and _spec.loader is not None
memory_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memory_cases)

# What the decisions get wrong today, by case id; most are changes kept beside the old memory as a
# possible conflict (precision first: bench/cases/README.md). Regenerated from a full run when the
# decisions change.
KNOWN_FAILURES = {
    "bl-conflict-06",
    "bl-conflict-08",
    "bl-conflict-09",
    "bl-conflict-10",
    "bl-dedupe-01",
    "bl-dedupe-07",
    "bl-forget-06",
    "bl-graph-03",
    "bl-temporal-02",
    "bl-temporal-04",
    "fi-conflict-03",
    "fi-conflict-05",
    "fi-conflict-07",
    "fi-conflict-08",
    "fi-conflict-11",
    "fi-conflict-12",
    "fi-dedupe-04",
    "fi-dedupe-08",
    "fi-extract-08",
    "fi-temporal-03",
    "ho-conflict-03",
    "ho-conflict-05",
    "ho-dedupe-08",
    "ho-graph-01",
    "ho-temporal-03",
    "ho-temporal-04",
    "la-conflict-09",
    "la-dedupe-01",
    "la-dedupe-04",
    "la-extract-04",
    "la-recall-04",
    "la-temporal-01",
    "la-temporal-02",
    "la-temporal-03",
    "la-temporal-04",
    "v5-conflict-05",
    "v5-conflict-06",
    "v5-dedupe-05",
    "v5-dedupe-06",
    "v5-extract-07",
    "v5-temporal-02",
    "v5-temporal-03",
    "v5-temporal-04",
}


def _cases() -> list[pytest.ParameterSet]:
    params = []
    for path in sorted(CASES_DIR.glob("written-*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            marks = [pytest.mark.slow]
            if case["id"] in KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(strict=True, reason="a known failure of the rules"))
            params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")
    failed = [
        f"{memory_cases.check_kind(check)} {check}: got {texts[:5]}"
        for check, ok, texts in memory_cases.run_case(case, tmp_path / "vault")
        if not ok
    ]
    assert not failed, "\n".join(failed)
