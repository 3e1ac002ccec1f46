"""Pure search pieces, table-tested: tokenizer, BM25 (sparse vs rank-bm25), fusion, recency, chunking."""

from __future__ import annotations

import random
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest

from memcli import Memory
from memcli.index import fusion
from memcli.index.bm25 import ReferenceBM25, SparseBM25
from memcli.index.chunk import MAX_WORDS, chunk_note, sections
from memcli.text.normalize import tokenize


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("User prefers TypeScript", ["user", "prefer", "typescript"]),
        ("Café in São Paulo", ["cafe", "sao", "paulo"]),
        ("the and of is", []),
        ("running runs ran", ["run", "run", "ran"]),
        ("self.md Hugo-site 2024", ["self", "md", "hugo", "site", "2024"]),
        ("snake_case words", ["snake", "case", "word"]),
        ("[[Project Falcon]] uses [[PostgreSQL]]", ["project", "falcon", "use", "postgresql"]),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def _as_ids(documents: list[list[str]]) -> tuple[list[np.ndarray], dict[str, int]]:
    vocab: dict[str, int] = {}
    ids = [np.array([vocab.setdefault(t, len(vocab)) for t in doc], dtype=np.int32) for doc in documents]
    return ids, vocab


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sparse_bm25_equals_rank_bm25(seed: int) -> None:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    documents = [[rng.choice(words) for _ in range(rng.randint(0, 12))] for _ in range(rng.randint(1, 60))]
    ids, vocab = _as_ids(documents)
    sparse, reference = SparseBM25(ids), ReferenceBM25(documents)
    for _ in range(10):
        query = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        expected = reference.scores(query)
        got = sparse.scores([vocab[t] for t in query if t in vocab])
        assert np.allclose(got, expected), query


@pytest.mark.parametrize("size", [1, 2, 3])
def test_tiny_corpus_match_scores_positive(size: int) -> None:
    documents = [["pnpm", "npm"], ["porto"], ["peanut"]][:size]
    ids, vocab = _as_ids(documents)
    scores = SparseBM25(ids).scores([vocab["pnpm"]])
    assert scores[0] > 0 and (scores[1:] == 0).all()


def test_bm25_edge_cases() -> None:
    assert SparseBM25([]).scores([0]).tolist() == []
    assert SparseBM25([np.zeros(0, dtype=np.int32)] * 2).scores([0]).tolist() == [0.0, 0.0]
    model = SparseBM25([np.array([0]), np.array([1]), np.array([0, 1])])
    assert model.scores([0, 0]).tolist() == model.scores([0]).tolist()  # repeats count once
    assert model.scores([99, -1]).tolist() == [0.0, 0.0, 0.0]  # unknown terms


@pytest.mark.parametrize(
    "bm25, dense, weight, expected",
    [
        ([2.0, 1.0, 0.0], [0.0, 0.0, 1.0], 0.5, [0.5, 0.25, 0.5]),
        ([2.0, 1.0, 0.0], None, 0.5, [1.0, 0.5, 0.0]),
        ([0.0, 0.0], [0.2, 1.0], 0.3, [0.2, 1.0]),  # no lexical match: dense decides alone
        ([4.0, 0.0], [0.0, 1.0], 0.0, [1.0, 0.0]),
    ],
)
def test_fuse(bm25: list[float], dense: list[float] | None, weight: float, expected: list[float]) -> None:
    got = fusion.fuse(np.array(bm25), None if dense is None else np.array(dense), weight)
    assert np.allclose(got, expected)


@pytest.mark.parametrize(
    "sims, floor, expected",
    [
        ([0.1, 0.3, 0.5], 0.1, [0.0, 0.5, 1.0]),
        ([0.05, 0.02], 0.1, [0.0, 0.0]),
        ([-1.0, 0.6], 0.1, [0.0, 1.0]),
    ],
)
def test_normalise_dense(sims: list[float], floor: float, expected: list[float]) -> None:
    assert np.allclose(fusion.normalise_dense(np.array(sims), floor), expected)


@pytest.mark.parametrize(
    "age, half_life, weight, expected",
    [
        (0.0, 180.0, 0.1, 1.0),
        (180.0, 180.0, 0.1, 0.95),
        (1e9, 180.0, 0.1, 0.9),
        (-5.0, 180.0, 0.1, 1.0),  # from the future: no bonus beyond new
        (50.0, 0.0, 0.1, 1.0),  # half-life 0 turns recency off
    ],
)
def test_recency(age: float, half_life: float, weight: float, expected: float) -> None:
    assert fusion.recency(np.array([age]), half_life, weight)[0] == pytest.approx(expected)


def test_sections_ignore_headings_in_code() -> None:
    body = "intro\n# One\ntext one\n```\n# not a heading\n```\n## Two\ntext two\n"
    assert [h for h, _ in sections(body)] == ["", "One", "Two"]


def test_chunk_note_keeps_title_and_respects_the_limit() -> None:
    long_paragraph = " ".join(f"word{i}." for i in range(400))
    body = f"# Falcon\nshort intro\n\n## Design\n{long_paragraph}\n\n## Team\nAna leads it.\n"
    chunks = chunk_note("Falcon", body)
    assert chunks[0] == "Falcon\nshort intro"
    assert all(c.startswith("Falcon") for c in chunks)
    assert all(len(c.split()) <= MAX_WORDS + 4 for c in chunks)
    assert chunks[-1] == "Falcon — Team\nAna leads it."
    assert sum(c.count("word") for c in chunks) == 400  # nothing lost
    assert chunk_note("Empty", "") == ["Empty"]


def _record(i: int, minute: float, user: str = "ray", kind: str = "memory"):  # noqa: ANN202
    from memcli.models import MemoryRecord

    stamp = f"2026-01-01T{int(minute) // 60:02d}:{int(minute) % 60:02d}:00Z"
    return MemoryRecord(id=f"m-{i}", text=str(i), path=f"{i}.md", kind=kind, created=stamp, user=user)


def test_conversation_neighbours_stay_within_one_scope_and_one_sitting() -> None:
    from memcli.index.columns import Columns
    from memcli.index.signals import OFFSETS as _OFFSETS
    from memcli.index.store import ChunkRow
    from memcli.index.stored import encode, fields_of

    records = [
        _record(0, 0),
        _record(1, 1),
        _record(2, 2),  # one sitting of ray's
        _record(3, 100),  # ray again, 98 minutes later: a new conversation
        _record(4, 1, user="ana"),  # ana at the same time: another scope
        _record(5, 3, kind="note"),  # notes have no neighbours
    ]
    columns = Columns()
    columns.append(
        [
            (
                r.path,
                encode(r),
                fields_of(encode(r)),
                [ChunkRow(r.path, 0, f"{i:032x}", np.zeros(1, np.int32).tobytes())],
            )
            for i, r in enumerate(records)
        ]
    )
    columns.ready()
    table = columns.neighbours
    neighbours = {i: sorted(int(j) for j in table[:, i] if j >= 0) for i in range(len(records))}
    assert neighbours == {0: [1, 2], 1: [0, 2], 2: [0, 1], 3: [], 4: [], 5: []}
    assert table.shape == (len(_OFFSETS), len(records))


def _two_conversations(tmp_path):  # noqa: ANN001, ANN202
    """A Kyoto conversation (two turns 30 s apart), then, 3 hours later, an `add` for the next one."""
    from datetime import datetime, timedelta

    from memcli import Memory

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    mem = Memory(vault=tmp_path / "v", embedder=None, clock=lambda: now[0])

    def add(text: str) -> str:
        now[0] += timedelta(seconds=30)
        return mem.add(text, user_id="ray", infer=False)["results"][0]["id"]

    kyoto, booked = add("planning the trip to Kyoto"), add("I booked the ryokan yesterday")
    now[0] += timedelta(hours=3)  # another conversation
    return mem, add, kyoto, booked


def test_context_reranks_matches_but_never_makes_one(tmp_path) -> None:  # noqa: ANN001
    mem, add, kyoto, booked = _two_conversations(tmp_path)
    prices = add("ryokan prices are high everywhere")
    hits = {h["id"]: h for h in mem.search("Kyoto ryokan", explain=True)["results"]}
    assert list(hits)[1:] == [booked, prices]  # same own match; the Kyoto conversation lifts `booked`
    assert hits[booked]["explain"]["context"] > 0 and hits[prices]["explain"]["context"] == 0
    assert [h["id"] for h in mem.search("Kyoto")["results"]] == [kyoto]  # context alone is no match


@pytest.mark.parametrize("gone", ["forgotten", "superseded"])
def test_a_memory_out_of_search_lends_no_conversation_context(tmp_path, gone: str) -> None:  # noqa: ANN001
    mem, add, kyoto, booked = _two_conversations(tmp_path)
    add("ryokan prices are high everywhere")
    correction = add("no trip to Japan after all")
    before = {h["id"]: h for h in mem.search("Kyoto ryokan", explain=True)["results"]}
    assert before[booked]["explain"]["context"] > 0  # while the Kyoto memory is current, it lends
    if gone == "forgotten":
        mem.delete(kyoto)
    else:
        mem.supersede(correction, kyoto)
    hits = {h["id"]: h for h in mem.search("Kyoto ryokan", explain=True)["results"]}
    assert kyoto not in hits
    assert hits[booked]["explain"]["context"] == 0  # the only neighbour that matched is gone


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Where did you go?", True),
        ("Where did you go? [shares a photo of a beach]", True),
        ("Where did you go?  ", True),
        ("I went to Rome.", False),
        ("Did I? I went to Rome.", False),
        ("I went to Rome [shares a photo of the Colosseum?]", False),
        ("", False),
    ],
)
def test_asks(text: str, asks: bool) -> None:
    from memcli.index.signals import asks as asks_signal

    assert asks_signal(text) is asks


def test_word_context_takes_each_word_from_the_record_or_its_neighbour() -> None:
    from memcli.index.signals import OFFSETS, word_context

    neighbours = np.full((len(OFFSETS), 3), -1)  # records 0 and 1 are one turn apart; 2 is alone
    neighbours[OFFSETS.index(1), 0], neighbours[OFFSETS.index(-1), 1] = 1, 0
    paint = np.array([0.0, 2.0, 2.0])  # "painted" in the reply and in an unrelated memory
    center = np.array([3.0, 0.0, 0.0])  # "center" in the turn before the reply
    every = np.ones(3, dtype=bool)
    assert word_context(neighbours, [paint, center], every, 0.5).tolist() == [4.0, 3.5, 2.0]
    hidden = np.array([False, True, True])  # a record search does not see lends no word
    assert word_context(neighbours, [paint, center], hidden, 0.5).tolist() == [4.0, 2.0, 2.0]


def test_a_former_one_ranks_below_the_current_one(tmp_path) -> None:  # noqa: ANN001
    from memcli import Memory

    mem = Memory(vault=tmp_path / "v", embedder=None)
    mem.add("My mentor Beatriz Okafor works at Tallgrass Robotics.", user_id="u", infer=False)
    mem.add("Former mentor Cyrus works at Nordlicht.", user_id="u", infer=False)  # shorter and newer: it would win
    ranked = [r["memory"] for r in mem.search("where does my mentor work", user_id="u")["results"]]
    assert ranked[0].startswith("My mentor Beatriz")
    asked = [r["memory"] for r in mem.search("where does my former mentor work", user_id="u")["results"]]
    assert asked[0].startswith("Former mentor Cyrus")  # asked about the former one: no penalty


def test_a_query_nothing_matches_gets_the_nearest_by_meaning_not_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No query word in any memory and no cosine above the dense floor: the nearest memories by
    meaning answer, in cosine order and marked in --explain, as a vector store would; a
    threshold still means what it says."""
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")
    monkeypatch.setenv("MEM_EMBED_THREADS", "1")
    mem = Memory(vault=tmp_path / "vault")
    for text in ("Is a florist with a little shop in Utrecht", "Sings fado three nights a week"):
        mem.add(text, user_id="ana", infer=False)
    found = mem.search("what does the user do for work", user_id="ana", explain=True)["results"]
    assert [r["memory"] for r in found][0] == "Is a florist with a little shop in Utrecht"
    assert all(r["explain"]["nearest"] == 1.0 for r in found)
    assert found[0]["explain"]["cosine"] >= found[-1]["explain"]["cosine"]
    assert mem.search("what does the user do for work", user_id="ana", threshold=0.01)["results"] == []
    # a real match is ranked as always, with no nearest filling in beside it
    hits = mem.search("florist", user_id="ana", explain=True)["results"]
    assert hits[0]["memory"].startswith("Is a florist") and not any("nearest" in h["explain"] for h in hits)
