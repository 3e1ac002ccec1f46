"""How `add` turns decisions into files: extract + reconcile (or the LLM) -> ADD a file, UPDATE
(a new file that supersedes the old one), DELETE (a tombstone), NONE (nothing). A mixin of
Memory (service.py); `add` itself lives there, with the rest of the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from memcli.config import MEMORIES_DIR
from memcli.graph.model import autolink as graph_autolink
from memcli.index.engine import SearchIndex, log
from memcli.infer.extract import extract
from memcli.infer.llm import ChatClient, LLMError
from memcli.infer.reconcile import ADD, DELETE, NONE, UPDATE, Decision, Existing, Similarity, attributes, reconcile
from memcli.models import SUPERSEDED, MemoryRecord
from memcli.vault import markdown
from memcli.vault.files import slug

MAX_COMPARED = 300  # a scope this small is compared whole; a bigger one through search
CANDIDATES_PER_TEXT = 15  # in a big scope: the closest memories by words, and by meaning, per fact
LLM_CANDIDATES = 50  # memories shown to the LLM: the newest of the scope


class Recording:
    """Deciding and writing what `add` remembers."""

    @staticmethod
    def _summary(results: list[dict[str, Any]]) -> str:
        changes = [r for r in results if r["event"] != NONE]
        if len(changes) == 1:
            return f"{changes[0]['event'].lower()} {changes[0]['id']}: {changes[0]['memory'][:60]}"
        counts = {event: sum(r["event"] == event for r in changes) for event in (ADD, UPDATE, DELETE)}
        return ", ".join(f"{event.lower()} {n}" for event, n in counts.items() if n) or "nothing new"

    def _linker(self, index: SearchIndex) -> Callable[[str], str] | None:
        if not index.has_links:
            return None  # no [[links]] anywhere: no entity to link (and no graph to build)
        graph = self._graph(index)
        return (lambda text: graph_autolink(text, graph)) if graph.entities else None

    def _decide(
        self, index: SearchIndex, turns: list[tuple[str, str]], scope: dict[str, str]
    ) -> tuple[list[Decision], dict[str, np.ndarray]]:
        """Extract facts (the LLM when configured, else the rules) and reconcile them with the
        current memories of exactly this scope (scopes never supersede each other)."""
        exact = index.exact_scope(scope)
        llm = self._llm_client()
        if llm is not None:
            newest = sorted(exact, key=lambda i: index.records[i].time)[-LLM_CANDIDATES:]
            try:
                return llm.decide(turns, [Existing(index.records[i].id, index.records[i].text) for i in newest]), {}
            except LLMError as err:
                log.warning(f"mem: the LLM failed ({err}); using the built-in extraction")
        extraction = extract(turns)
        texts = [f.text for f in extraction.facts] + [r.target for r in extraction.retractions]
        texts += [r.fallback for r in extraction.retractions if r.fallback]
        vectors = index.embed(texts) if texts else None
        if exact.size <= MAX_COMPARED:
            positions = [int(i) for i in exact]
        else:  # a big scope: only what is close by words or meaning (or names the same attribute)
            queries = texts + [c.old for c in extraction.corrections]
            queries += [" ".join(sorted(attributes(f.text))) for f in extraction.facts if attributes(f.text)]
            # the attribute queries ("home job") have no vector: a zero one would pick k records at random
            positions = sorted(index.related(queries, vectors, exact, CANDIDATES_PER_TEXT))
        positions.sort(key=lambda i: index.records[i].time)
        existing = [Existing(index.records[i].id, index.records[i].text) for i in positions]
        decisions = reconcile(extraction, existing, self._similarity(index, positions, texts, vectors))
        return decisions, ({} if vectors is None else dict(zip(texts, vectors, strict=True)))

    @staticmethod
    def _similarity(
        index: SearchIndex, positions: list[int], texts: list[str], vectors: np.ndarray | None
    ) -> Similarity:
        if vectors is None:
            return lambda text, memory_id: None
        by_text = dict(zip(texts, vectors, strict=True))
        stored = {index.records[i].id: index.vector_of(i) for i in positions}

        def similarity(text: str, memory_id: str) -> float | None:
            left, right = by_text.get(text), stored.get(memory_id)
            return None if left is None or right is None else float(left @ right)

        return similarity

    def _apply(
        self, decision: Decision, meta: dict[str, Any], link: Callable[[str], str] | None, written: list[str]
    ) -> dict[str, Any]:
        """Write one decision; the caller holds the writer lock. Returns its result dict."""
        target = decision.target
        old = self._loaded(target.id) if target is not None else None
        if target is not None and (old is None or not old.is_current):
            # another writer changed it between deciding and this lock: never act on a stale view
            if decision.event != UPDATE:
                return {
                    "id": target.id,
                    "memory": target.text,
                    "event": NONE,
                    "reason": "changed meanwhile; left alone",
                }
            decision, target, old = Decision(ADD, text=decision.text, why="its memory changed meanwhile"), None, None
        if decision.event == NONE:
            assert target is not None
            return {"id": target.id, "memory": target.text, "event": NONE, "reason": decision.why}
        if decision.event == DELETE:
            assert old is not None
            self._forget(old, purge=False, when=meta["updated"])
            written.append(old.path)
            return {"id": old.id, "memory": old.text, "event": DELETE, "reason": decision.why}
        text = decision.text or ""
        text = link(text) if link else text
        earlier = old is not None and decision.event == UPDATE and meta["created"] < (old.created or "")
        if earlier:  # an older fact (an import of an old conversation): it becomes the past of the newer one
            extra: dict[str, Any] = {"status": SUPERSEDED, "superseded_by": old.id, "invalid_at": old.created}
        else:
            extra = {"supersedes": [old.id]} if decision.event == UPDATE and old else {}
        relpath, memory_id = self._create(text, {**meta, **extra})
        written.append(relpath)
        if earlier:
            assert old is not None
            self._add_past(old, memory_id)
            written.append(old.path)
            return {"id": memory_id, "memory": text, "event": ADD, "reason": f"older than {old.id}: kept as its past"}
        result = {"id": memory_id, "memory": text, "event": decision.event}
        if decision.why and decision.why != "new":  # a plain ADD stays Mem0's {id, memory, event}
            result["reason"] = decision.why
        if decision.event == UPDATE and old:
            self._supersede(old, memory_id, meta["updated"])
            written.append(old.path)
            result.update(previous_memory=old.text, previous_id=old.id)
        return result

    def _loaded(self, memory_id: str) -> MemoryRecord | None:
        """A memory as the index (brought up to date under the writer lock) has it."""
        index = self._search_index()
        position = index.by_id.get(memory_id)
        return index.records[position] if position is not None else None

    def _add_past(self, record: MemoryRecord, earlier_id: str) -> None:
        path = self.vault.path(record.path)
        file_text, sha = self.vault.read(path)
        supersedes = [earlier_id, *[i for i in record.supersedes if i != earlier_id]]
        self.vault.replace(path, markdown.set_keys(file_text, {"supersedes": supersedes}), expected_sha=sha)

    def _create(self, text: str, meta: dict[str, Any]) -> tuple[str, str]:
        for attempt in (1, 2):  # the same text and id already on disk: a new id, once
            memory_id = self._unused_id()
            relpath = f"{MEMORIES_DIR}/{slug(text)}-{memory_id}.md"
            fields = {"id": memory_id, **{k: v for k, v in meta.items()}}
            try:
                self.vault.create(relpath, markdown.render(fields, text + "\n"))
                return relpath, memory_id
            except FileExistsError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _supersede(self, record: MemoryRecord, by: str, when: str) -> None:
        path = self.vault.path(record.path)
        file_text, sha = self.vault.read(path)
        changes = {"status": SUPERSEDED, "superseded_by": by, "invalid_at": when, "updated": when}
        self.vault.replace(path, markdown.set_keys(file_text, changes), expected_sha=sha)

    def _llm_client(self) -> ChatClient | None:
        s = self.settings
        if not (s.llm_base_url and s.llm_model):
            return None
        return ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)
