"""The pure parts of bench/locomo.py: evidence normalisation, turn texts and metrics (no data, no network)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "locomo.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_locomo", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


locomo = _load()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("D1:3", "D1:3"),
        ("D:11:26", "D11:26"),
        ("D30:05", "D30:5"),
        (" d2 : 7 ", "D2:7"),
        ("D", None),
        ("D8:6; D9:17", None),
        ("1:3", None),
        ("D1:3x", None),
        ("", None),
    ],
)
def test_canonical_dia_id(raw: str, expected: str | None) -> None:
    assert locomo.canonical_dia_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("D8:6; D9:17", ["D8:6", "D9:17"]),
        ("D8:6,D9:17", ["D8:6", "D9:17"]),
        ("D1:3", ["D1:3"]),
        ("  ", []),
    ],
)
def test_split_evidence(raw: str, expected: list[str]) -> None:
    assert locomo.split_evidence(raw) == expected


KNOWN = {"D1:3", "D8:6", "D9:17", "D11:26", "D30:5", "D10:16"}


@pytest.mark.parametrize(
    ("raw", "kept", "dropped"),
    [
        (["D1:3"], ["D1:3"], []),
        (["D8:6; D9:17"], ["D8:6", "D9:17"], []),
        (["D:11:26"], ["D11:26"], []),
        (["D30:05"], ["D30:5"], []),
        (["D1:3", "D", "D10:16"], ["D1:3", "D10:16"], ["D"]),
        (["D10:19", "D10:16"], ["D10:16"], ["D10:19"]),  # names no turn of the conversation
        (["D1:3", "D1:03"], ["D1:3"], []),  # the same turn twice counts once
        ([], [], []),
        (["D99:1"], [], ["D99:1"]),
    ],
)
def test_normalize_evidence(raw: list[str], kept: list[str], dropped: list[str]) -> None:
    assert locomo.normalize_evidence(raw, KNOWN) == (kept, dropped)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1:56 pm on 8 May, 2023", "8 May, 2023"),
        ("10:37 am on 27 June, 2023", "27 June, 2023"),
        ("8 May, 2023", "8 May, 2023"),
        (None, ""),
    ],
)
def test_session_date(raw: str | None, expected: str) -> None:
    assert locomo.session_date(raw) == expected


def test_turn_text_with_and_without_caption() -> None:
    turn = {"speaker": "Caroline", "dia_id": "D1:5", "text": "So inspiring! "}
    assert locomo.turn_text("8 May, 2023", turn) == "[8 May, 2023] Caroline: So inspiring!"
    shared = {**turn, "blip_caption": "a photo of a dog"}
    assert locomo.turn_text("8 May, 2023", shared) == "[8 May, 2023] Caroline: So inspiring! [shares a photo of a dog]"


def test_conversation_turns_orders_sessions_and_ignores_stamps_without_turns() -> None:
    conversation = {
        "speaker_a": "A",
        "speaker_b": "B",
        "session_10": [{"speaker": "B", "dia_id": "D10:1", "text": "later"}],
        "session_10_date_time": "1:00 pm on 2 June, 2023",
        "session_2": [{"speaker": "A", "dia_id": "D2:1", "text": "earlier"}],
        "session_2_date_time": "9:00 am on 1 May, 2023",
        "session_11_date_time": "1:00 pm on 3 June, 2023",  # a stamp with no session
    }
    assert locomo.conversation_turns(conversation) == [
        ("D2:1", "[1 May, 2023] A: earlier"),
        ("D10:1", "[2 June, 2023] B: later"),
    ]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("one", 1), ("one two", 3), ("a b c", 4), ("a b c d e f", 8)],
)
def test_count_tokens(text: str, tokens: int) -> None:
    assert locomo.count_tokens(text) == tokens


RANKED = ["D1:1", None, "D1:3", "D2:1", "D2:2"]


@pytest.mark.parametrize(
    ("relevant", "k", "recall"),
    [
        ({"D1:3"}, 2, 0.0),
        ({"D1:3"}, 3, 1.0),
        ({"D1:1", "D2:2"}, 3, 0.5),
        ({"D1:1", "D2:2"}, 5, 1.0),
        ({"D1:1", "D9:9"}, 20, 0.5),  # k past the end of the list
        ({"D9:9"}, 5, 0.0),
    ],
)
def test_recall_at_k(relevant: set[str], k: int, recall: float) -> None:
    assert locomo.recall_at_k(RANKED, relevant, k) == pytest.approx(recall)


def test_recall_needs_evidence() -> None:
    with pytest.raises(ValueError):
        locomo.recall_at_k(RANKED, set(), 5)


@pytest.mark.parametrize(
    ("relevant", "depth", "rr"),
    [
        ({"D1:1"}, 20, 1.0),
        ({"D1:3", "D2:2"}, 20, 1 / 3),
        ({"D2:2"}, 20, 1 / 5),
        ({"D2:2"}, 4, 0.0),
        ({"D9:9"}, 20, 0.0),
        (set(), 20, 0.0),
    ],
)
def test_reciprocal_rank(relevant: set[str], depth: int, rr: float) -> None:
    assert locomo.reciprocal_rank(RANKED, relevant, depth) == pytest.approx(rr)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
        ([3.0, 1.0, 2.0], 0, 1.0),
    ],
)
def test_percentile(values: list[float], pct: float, expected: float) -> None:
    assert locomo.percentile(values, pct) == pytest.approx(expected)


def test_score_question() -> None:
    texts = ["one two", "a b c", "x"] + ["w"] * 10
    score = locomo.score_question(4, RANKED, texts, {"D1:3", "D2:2"}, conversation_tokens=100)
    assert score.category == 4
    assert score.recall == {5: 1.0, 10: 1.0, 20: 1.0}
    assert score.rr == pytest.approx(1 / 3)
    assert score.tokens == 3 + 4 + 1 + 7 * 1  # only the top 10 texts count
    assert score.ratio == pytest.approx(0.15)


def test_aggregate_pools_categories_one_to_four_and_keeps_five_apart() -> None:
    def make(category: int, r: float, rr: float, tokens: int) -> object:
        return locomo.QuestionScore(category, {5: r, 10: r, 20: r}, rr, tokens, tokens / 1000)

    scores = [make(1, 1.0, 1.0, 100), make(4, 0.0, 0.0, 300), make(4, 0.5, 0.5, 200), make(5, 1.0, 1.0, 999)]
    table = locomo.aggregate(scores)
    assert set(table) == {"1", "2", "3", "4", "5", "overall"}
    assert table["overall"]["n"] == 3
    assert table["overall"]["recall@10"] == pytest.approx(0.5)  # question-weighted, not a mean of category means
    assert table["overall"]["mrr"] == pytest.approx(0.5)
    assert table["overall"]["tokens@10"] == pytest.approx(200)
    assert table["overall"]["token_ratio"] == pytest.approx(0.2)
    assert table["4"]["recall@5"] == pytest.approx(0.25)
    assert table["5"]["n"] == 1 and table["5"]["mrr"] == 1.0
    assert table["2"]["n"] == 0
    assert all(value is None for key, value in table["2"].items() if key != "n")
    assert "overall (1-4)" in locomo.format_table(table)


def test_missing_data_file_exits_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert locomo.main(["--data", str(tmp_path / "absent.json"), "--mode", "bm25"]) == 0
    assert "not found" in capsys.readouterr().out


def test_default_data_path_points_outside_the_repo() -> None:
    repo = BENCH.parents[1]
    assert locomo.DEFAULT_DATA.resolve() == (repo.parent / "shared" / "bench" / "locomo_dev.json").resolve()


@pytest.mark.parametrize(
    ("raw", "numbers"),
    [("1,2,3", {1, 2, 3}), ("4-5", {4, 5}), ("1-3, 5", {1, 2, 3, 5}), ("2", {2}), ("", set())],
)
def test_parse_numbers(raw: str, numbers: set[int]) -> None:
    assert locomo.parse_numbers(raw) == numbers


@pytest.mark.parametrize("raw", ["a", "1-b", "-2"])
def test_parse_numbers_refuses_what_is_no_number(raw: str) -> None:
    with pytest.raises(ValueError):
        locomo.parse_numbers(raw)


@pytest.mark.parametrize(
    ("first", "only", "skip", "picked"),
    [
        (None, set(), set(), [1, 2, 3, 4, 5]),
        (None, {1, 2, 3}, set(), [1, 2, 3]),
        (None, set(), {1, 2, 3}, [4, 5]),
        (2, set(), set(), [1, 2]),
        (3, {2, 5}, set(), [2]),
        (None, {1, 2}, {2}, [1]),
    ],
)
def test_pick_conversations(first: int | None, only: set[int], skip: set[int], picked: list[int]) -> None:
    samples = [f"s{n}" for n in range(1, 6)]
    chosen = locomo.pick_conversations(samples, first, only, skip)
    assert [n for n, _ in chosen] == picked
    assert [s for _, s in chosen] == [f"s{n}" for n in picked]


def test_reuse_needs_keep() -> None:
    with pytest.raises(SystemExit):
        locomo.parse_args(["--reuse"])
