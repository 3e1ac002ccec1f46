"""The persistent index: incremental, rename-aware, self-repairing, and hybrid ranking with a fake model."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from memcli import Memory
from memcli.index import store as store_module
from memcli.index.options import SearchOptions
from memcli.vault.files import Vault


def _ids(result: dict) -> list[str]:
    return [r["id"] for r in result["results"]]


def _add_many(mem: Memory, texts: list[str], **scope: str) -> list[str]:
    return [mem.add(t, infer=False, **scope)["results"][0]["id"] for t in texts]


TEXTS = [
    "user prefers TypeScript over JavaScript",
    "working on self.md Hugo site",
    "has a cat called Miso",
    "sister lives in Oslo",
    "allergic to peanuts",
]


def test_add_embeds_once_and_a_search_embeds_nothing(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    _add_many(mem, TEXTS)
    assert sorted(fake_embedder.calls) == sorted(TEXTS)
    fake_embedder.calls.clear()
    assert mem.search("cat")["mode"] == "hybrid"
    again = Memory(vault=vault, embedder=fake_embedder)  # a new process reads the stored index
    again.search("Oslo")
    assert fake_embedder.calls == []


def test_touching_one_file_re_embeds_only_that_file(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    ids = _add_many(mem, TEXTS)
    fake_embedder.calls.clear()
    path = vault / mem.get(ids[2])["path"]
    path.write_text(path.read_text().replace("Miso", "Tofu"))
    assert _ids(Memory(vault=vault, embedder=fake_embedder).search("Tofu")) == [ids[2]]
    assert fake_embedder.calls == ["has a cat called Tofu"]
    fake_embedder.calls.clear()
    os.utime(path)  # touched, same bytes: re-read, not re-embedded
    Memory(vault=vault, embedder=fake_embedder).search("cat")
    assert fake_embedder.calls == []


def test_same_size_edit_in_the_same_mtime_tick_is_seen(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    (memory_id,) = _add_many(mem, ["has a cat called Miso"])
    path = vault / mem.get(memory_id)["path"]
    stat = path.stat()
    path.write_text(path.read_text().replace("Miso", "Momo"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    assert _ids(mem.search("Momo")) == [memory_id]


def test_moving_a_file_does_not_re_embed(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    ids = _add_many(mem, TEXTS)
    fake_embedder.calls.clear()
    old = vault / mem.get(ids[3])["path"]
    (vault / "people").mkdir()
    old.rename(vault / "people" / "maya.md")
    hits = Memory(vault=vault, embedder=fake_embedder).search("Oslo")["results"]
    assert [(h["id"], h["path"]) for h in hits] == [(ids[3], "people/maya.md")]
    assert fake_embedder.calls == []


def test_deleted_file_leaves_search(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    ids = _add_many(mem, TEXTS)
    (vault / mem.get(ids[0])["path"]).unlink()
    assert ids[0] not in _ids(mem.search("TypeScript"))
    assert mem.get(ids[0]) is None


@pytest.mark.parametrize(
    "damage", ["delete", "truncate", "garbage", "vectors-truncated", "vectors-deleted", "vectors-overwritten", "schema"]
)
def test_a_damaged_index_is_rebuilt_with_the_same_results(vault: Path, damage: str) -> None:
    mem = Memory(vault=vault, embedder=FakeEmbedder())
    _add_many(mem, TEXTS + ["cats and dogs are pets", "Miso is a fluffy cat"])
    queries = ["cat", "what pets", "Oslo", "TypeScript Hugo"]
    clean = [mem.search(q) for q in queries]
    state = vault / ".mem"
    db, vectors = state / store_module.DB_NAME, state / store_module.VECTORS_NAME
    if damage in ("delete", "truncate", "garbage"):  # the database file's damage includes its WAL
        for wal in state.glob("index.sqlite-*"):
            wal.unlink()
    if damage == "delete":
        db.unlink()
    elif damage == "truncate":
        db.write_bytes(db.read_bytes()[:1000])
    elif damage == "garbage":
        db.write_bytes(b"\x00garbage" * 500)
    elif damage == "vectors-truncated":
        vectors.write_bytes(vectors.read_bytes()[:100])
    elif damage == "vectors-deleted":
        vectors.unlink()
    elif damage == "vectors-overwritten":
        # Silent corruption: the first vector's bytes become another vector's (the file's size
        # and the SQLite file stay valid; only the per-row checksums can tell).
        data, row = bytearray(vectors.read_bytes()), 4 * FakeEmbedder.dim
        data[:row] = data[2 * row : 3 * row]
        vectors.write_bytes(bytes(data))
    elif damage == "schema":
        store = store_module.IndexStore(state, None)
        store.db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
        store.close()
    fresh = Memory(vault=vault, embedder=FakeEmbedder())
    assert [fresh.search(q) for q in queries] == clean


def test_another_model_re_embeds_everything(vault: Path) -> None:
    first = FakeEmbedder()
    _add_many(Memory(vault=vault, embedder=first), TEXTS)

    class OtherModel(FakeEmbedder):
        name = "other-model"

    other = OtherModel()
    Memory(vault=vault, embedder=other).search("cat")
    assert sorted(other.calls) == sorted(TEXTS)


def test_rebuild_starts_over(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    _add_many(mem, TEXTS)
    fake_embedder.calls.clear()
    stats = mem.reindex(rebuild=True)
    assert stats.changed == len(TEXTS) + 0 and stats.embedded == len(TEXTS)
    assert sorted(fake_embedder.calls) == sorted(TEXTS)


def test_read_only_vault_is_searched_in_memory(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "ro"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sample_vault", vault, ignore=shutil.ignore_patterns(".mem"))

    def read_only(self: Vault) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(Vault, "ensure_state", read_only)  # (tests run as root, so chmod would not bite)
    mem = Memory(vault=vault, embedder=fake_embedder)
    assert mem.search("TypeScript", user_id="ray")["results"]
    assert not (vault / ".mem").exists()


def test_hybrid_finds_a_paraphrase_bm25_cannot(vault: Path) -> None:
    class Synonyms(FakeEmbedder):
        """Maps 'stack' and 'language' onto the same dimension, like a model knows they relate."""

        def _vector(self, text: str) -> np.ndarray:
            return super()._vector(text.replace("stack", "typescript").replace("language", "typescript"))

    mem = Memory(vault=vault, embedder=Synonyms())
    ids = _add_many(mem, TEXTS)
    hybrid = mem.search("what stack?")
    assert hybrid["mode"] == "hybrid" and _ids(hybrid)[0] == ids[0]
    bm25_only = Memory(vault=vault, embedder=None).search("what stack?")
    assert bm25_only["mode"] == "bm25" and bm25_only["results"] == []


def test_explain_shows_each_signal(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    _add_many(mem, TEXTS)
    (hit,) = mem.search("Miso", explain=True, limit=1)["results"]
    assert set(hit["explain"]) == {"bm25", "cosine", "context", "fused", "recency", "former", "asks"}
    assert hit["explain"]["bm25"] > 0 and 0 < hit["explain"]["cosine"] <= 1
    assert "explain" not in mem.search("Miso", limit=1)["results"][0]


def test_long_note_scores_by_its_best_chunk(vault: Path, fake_embedder: FakeEmbedder) -> None:
    mem = Memory(vault=vault, embedder=fake_embedder)
    mem.init()
    filler = "\n\n".join(" ".join(f"filler{p}w{i}" for i in range(120)) for p in range(5))
    (vault / "handbook.md").write_text(f"# Handbook\n\n{filler}\n\n## Deploys\n\nWe deploy Falcon with Argo.\n")
    _add_many(mem, ["lunch is at noon"])
    hits = mem.search("argo deploy")["results"]
    assert [h["path"] for h in hits] == ["handbook.md"]
    assert hits[0]["memory"].startswith("# Handbook")


def test_recency_breaks_near_ties_toward_newer(vault: Path) -> None:
    from datetime import datetime, timedelta

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    mem = Memory(vault=vault, embedder=None, clock=lambda: now[0])
    old = _add_many(mem, ["deploys with docker compose"])[0]
    now[0] += timedelta(days=365)
    new = _add_many(mem, ["deploys with docker compose"])[0]
    result = mem.search("docker", explain=True)["results"]
    assert _ids({"results": result}) == [new, old]
    assert result[0]["explain"]["recency"] > result[1]["explain"]["recency"]


def test_warm_process_checks_outside_edits_at_most_every_freshness_interval(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memcli.memory import core

    clock = [1000.0]
    monkeypatch.setattr(core.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("MEM_FRESHNESS_MS", "1000")
    mem = Memory(vault=vault, embedder=None)
    (first,) = _add_many(mem, ["has a cat called Miso"])
    assert _ids(mem.search("Miso")) == [first]  # full check here
    path = vault / mem.get(first)["path"]
    path.write_text(path.read_text().replace("Miso", "Tofu"))  # an outside edit
    assert _ids(mem.search("Tofu")) == []  # within the interval: not looked for yet
    (second,) = _add_many(mem, ["has a dog called Rex"])  # own writes show at once
    assert _ids(mem.search("Rex")) == [second]
    (third,) = _add_many(Memory(vault=vault, embedder=None), ["has a fish called Blub"])  # so do other mem processes'
    assert _ids(mem.search("Blub")) == [third]
    clock[0] += 1.0
    assert _ids(mem.search("Tofu")) == [first]  # the interval has passed: the edit is found


def test_a_file_saved_while_it_is_being_indexed_is_indexed_again(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mem = Memory(vault=vault, embedder=None)
    (memory_id,) = _add_many(mem, ["draft one"])
    path = vault / mem.get(memory_id)["path"]
    path.write_text(path.read_text().replace("draft one", "draft zero"))
    real_load = mem.core.load_for_index

    def saved_meanwhile(relpath: str):  # noqa: ANN202
        loaded = real_load(relpath)
        path.write_text(path.read_text().replace("draft zero", "final text, longer"))  # the editor saves again
        return loaded

    monkeypatch.setattr(mem.core, "load_for_index", saved_meanwhile)
    mem.reindex()
    monkeypatch.setattr(mem.core, "load_for_index", real_load)
    # The stored stat is the one from before the read, so the next look sees the file moved on.
    assert _ids(mem.search("final")) == [memory_id]
    assert _ids(mem.search("zero")) == []


def test_explain_accounts_for_the_whole_score(vault: Path, fake_embedder: FakeEmbedder) -> None:
    """final = max(own, graph) + bonus * min(own, graph) with own = fused * recency * former *
    asks: no factor of a score is missing from --explain."""
    mem = Memory(vault=vault, embedder=fake_embedder)
    mem.add("my mentor runs a bakery", infer=False)
    mem.add("my former mentor runs a bakery in Ghent", infer=False)
    mem.add("works on [[Falcon]] with [[Ana]]", infer=False)
    mem.add("[[Ana]] runs the bakery team", infer=False)
    for query in ("mentor bakery", "who runs the bakery", "Ana"):
        for hit in mem.search(query, explain=True)["results"]:
            e = hit["explain"]
            own, graph = e["fused"] * e["recency"] * e["former"] * e["asks"], e.get("graph", 0.0)
            bonus = SearchOptions().graph_bonus
            assert hit["score"] == pytest.approx(max(own, graph) + bonus * min(own, graph), abs=2e-4)
    former = {h["memory"]: h["explain"]["former"] for h in mem.search("mentor bakery", explain=True)["results"]}
    assert former["my former mentor runs a bakery in Ghent"] == 0.6 and former["my mentor runs a bakery"] == 1.0


def test_a_refresh_whose_listing_went_stale_keeps_a_file_another_writer_just_indexed(vault: Path) -> None:
    """A walk lists the files, then waits for the index lock while another process writes and
    indexes a new memory: what it stores must not drop that file (it left a reader deciding on a
    vault without it, and two current homes after concurrent moves)."""
    mem = Memory(vault=vault)
    mem.add("likes tea", infer=False)
    core = mem.core
    before = core.vault.listing()  # the walk's listing, taken before the other writer
    (vault / "memories" / "likes-tea-m-0000000001.md").write_text("---\nid: m-0000000001\n---\nlikes coffee\n")
    core.reindex()  # the other writer indexes its file
    stale = iter([before])
    core.index().refresh(lambda: next(stale, None) or core.vault.listing(), core.load_for_index)
    core.index().load_current()
    assert core.loaded("m-0000000001") is not None


def test_a_memory_is_found_by_the_name_of_the_user_it_is_kept_for(tmp_path: Path) -> None:
    clock = [datetime(2026, 5, 1, tzinfo=UTC)]
    mem = Memory(vault=tmp_path / "v", embedder=None, clock=lambda: clock[0])
    melanie = mem.add("Painted a sunrise over the lake", user_id="Melanie", infer=False)["results"][0]["id"]
    clock[0] = datetime(2026, 5, 2, tzinfo=UTC)
    mem.add("Painted a sunrise at the beach", user_id="Caroline", infer=False)  # newer: recency favours it
    found = mem.search("When did Melanie paint a sunrise?")["results"]
    assert found[0]["id"] == melanie
    scoped = mem.search("When did Melanie paint a sunrise?", user_id="Caroline")["results"]
    assert melanie not in [r["id"] for r in scoped]  # a name in the query never crosses a scope
