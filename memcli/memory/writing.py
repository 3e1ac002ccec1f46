"""Writing memory: add (extract + reconcile, or the LLM -> ADD a file, UPDATE a new file that
supersedes the old one, DELETE a tombstone, NONE nothing), update in place, forget, forget all."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from memcli.config import MEMORIES_DIR
from memcli.errors import InvalidInputError
from memcli.graph.rewrite import autolink as graph_autolink
from memcli.guard.inputs import check_messages, check_plain, check_scopes, check_text
from memcli.guard.secrets import guard, guard_mapping
from memcli.infer.attributes import attributes
from memcli.infer.extract import extract
from memcli.infer.llm import ChatClient, LLMError
from memcli.infer.reconcile import reconcile
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing, Similarity
from memcli.memory.core import Core
from memcli.models import CURRENT, DELETED, SUPERSEDED, MemoryRecord
from memcli.vault import markdown
from memcli.vault.files import slug

if TYPE_CHECKING:
    import numpy as np

    from memcli.index.core import SearchIndex

log = logging.getLogger(__name__)

Messages = str | list[dict[str, Any]]
UNCHANGED = "Memory unchanged."  # update's message (Mem0's wording) when the text is the same
LONG_TEXT = 4000  # characters: a text this long is a document to keep whole, not a message to mine
MAX_COMPARED = 300  # a scope this small is compared whole; a bigger one through search
CANDIDATES_PER_TEXT = 15  # in a big scope: the closest memories by words, and by meaning, per fact
LLM_CANDIDATES = 50  # memories shown to the LLM: the newest of the scope


def summary(results: list[dict[str, Any]]) -> str:
    """A commit message's worth of what an add did."""
    changes = [r for r in results if r["event"] != NONE]
    if len(changes) == 1:
        return f"{changes[0]['event'].lower()} {changes[0]['id']}: {changes[0]['memory'][:60]}"
    counts = {event: sum(r["event"] == event for r in changes) for event in (ADD, UPDATE, DELETE)}
    return ", ".join(f"{event.lower()} {n}" for event, n in counts.items() if n) or "nothing new"


class Writing:
    """Deciding and writing what `add` remembers, and the edits that follow."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def add(
        self,
        messages: Messages,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        tags: Iterable[str] | None = None,
        source: str = "api",
        redact: bool | None = None,
        timestamp: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Remember text or a conversation: {"results": [{"id", "memory", "event", …}]}.

        `messages` is a string or Mem0-style [{"role", "content"}]. With `infer=True` (the
        default) the facts worth keeping are extracted (assistant turns are context only) and
        reconciled with the current memories of exactly this scope: ADD a new fact, UPDATE
        (supersede) a memory whose value changed, DELETE what the user retracts, NONE for what
        is already known. Each result says which, with `previous_memory` for an UPDATE.
        With `infer=False` each text is stored verbatim as one memory.
        `timestamp` (datetime, ISO text or Unix seconds) dates the change, e.g. for imports of
        old conversations; default now.
        A secret in the text or metadata (API key, token, private key, password in a URL) is
        refused with SecretFoundError; with `redact=True` (or the vault's setting) it is stored
        as [REDACTED:kind] instead.
        """
        core = self.core
        scope = check_scopes(user_id, agent_id, run_id)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a mapping of keys to values")
        check_plain(metadata or {}, "metadata")
        when = core.moment(timestamp)
        tag_list = [str(tag).strip() for tag in (tags or []) if str(tag).strip()]
        hide = core.settings.redact_secrets if redact is None else redact
        turns = [(role, guard(text, redact_secrets=hide)) for role, text in check_messages(messages, infer)]
        metadata = guard_mapping(metadata, redact_secrets=hide)
        index = core.fresh() if infer else None
        known_vectors: dict[str, np.ndarray] = {}
        if index is not None and isinstance(messages, str) and (len(messages) > LONG_TEXT or "```" in messages):
            # a document or a code snippet, not a message: kept whole (search finds its parts)
            decisions = [Decision(ADD, text=turns[0][1], why="a long text or code: stored as given")]
        elif index is None:
            decisions = [Decision(ADD, text=text) for role, text in turns]
        else:
            decisions, known_vectors = self.decide(index, turns, scope)
        link = self._linker(index) if index is not None and core.settings.autolink else None
        meta = {
            "created": when,
            "updated": when,
            **scope,
            "tags": tag_list or None,
            "metadata": dict(metadata) if metadata else None,
            "source": source,
        }
        results: list[dict[str, Any]] = []
        written: list[str] = []
        with core.vault.lock():
            if index is not None and any(d.target for d in decisions):
                core.index().load_current()  # what other writers did since the decision
            for decision in decisions:
                results.append(self.apply(decision, meta, link, written))
            core.autocommit(written, f"mem: {summary(results)}")
        core.settle()
        if written and known_vectors and not tag_list:  # the model text of a tagless memory is its text
            core.index().seed_vectors(
                {r["memory"]: known_vectors[r["memory"]] for r in results if r["memory"] in known_vectors}
            )
        if written:
            core.reindex(paths=written)  # embed the new memories now, so the next search has nothing to do
        return {"results": results}

    # -- deciding --------------------------------------------------------------------------------

    def _linker(self, index: SearchIndex) -> Callable[[str], str] | None:
        if not index.has_links:
            return None  # no [[links]] anywhere: no entity to link (and no graph to build)
        graph = self.core.graph(index)
        return (lambda text: graph_autolink(text, graph)) if graph.entities else None

    def decide(
        self, index: SearchIndex, turns: list[tuple[str, str]], scope: dict[str, str]
    ) -> tuple[list[Decision], dict[str, np.ndarray]]:
        """Extract facts (the LLM when configured, else the rules) and reconcile them with the
        current memories of exactly this scope (scopes never supersede each other)."""
        exact = index.exact_scope(scope)
        llm = self._llm_client()
        if llm is not None:
            newest = index.select(exact, newest_first=True)[:LLM_CANDIDATES][::-1]
            try:
                return llm.decide(turns, [Existing(r.id, r.text) for r in newest]), {}
            except LLMError as err:
                log.warning(f"mem: the LLM failed ({err}); using the built-in extraction")
        extraction = extract(turns)
        texts = [f.text for f in extraction.facts] + [r.target for r in extraction.retractions]
        texts += [r.fallback for r in extraction.retractions if r.fallback]
        vectors = index.embed(texts) if texts else None
        if exact.size <= MAX_COMPARED:
            records = sorted(index.select(exact), key=lambda r: r.time)
        else:  # a big scope: only what is close by words or meaning (or names the same attribute)
            queries = texts + [c.old for c in extraction.corrections]
            queries += [" ".join(sorted(attributes(f.text))) for f in extraction.facts if attributes(f.text)]
            # the attribute queries ("home job") have no vector: a zero one would pick k records at random
            records = index.related(queries, vectors, exact, CANDIDATES_PER_TEXT)
        existing = [Existing(r.id, r.text) for r in records]
        decisions = reconcile(extraction, existing, self._similarity(index, records, texts, vectors))
        return decisions, ({} if vectors is None else dict(zip(texts, vectors, strict=True)))

    @staticmethod
    def _similarity(
        index: SearchIndex, records: list[MemoryRecord], texts: list[str], vectors: np.ndarray | None
    ) -> Similarity:
        if vectors is None:
            return lambda text, memory_id: None
        by_text = dict(zip(texts, vectors, strict=True))
        stored = {r.id: index.vector_of(r.id) for r in records}

        def similarity(text: str, memory_id: str) -> float | None:
            left, right = by_text.get(text), stored.get(memory_id)
            return None if left is None or right is None else float(left @ right)

        return similarity

    def _llm_client(self) -> ChatClient | None:
        s = self.core.settings
        if not (s.llm_base_url and s.llm_model):
            return None
        return ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)

    # -- writing ---------------------------------------------------------------------------------

    def apply(
        self, decision: Decision, meta: dict[str, Any], link: Callable[[str], str] | None, written: list[str]
    ) -> dict[str, Any]:
        """Write one decision; the caller holds the writer lock. Returns its result dict."""
        target = decision.target
        old = self.core.loaded(target.id) if target is not None else None
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
            self.forget_file(old, purge=False, when=meta["updated"])
            written.append(old.path)
            return {"id": old.id, "memory": old.text, "event": DELETE, "reason": decision.why}
        text = decision.text or ""
        text = link(text) if link else text
        earlier = old is not None and decision.event == UPDATE and meta["created"] < (old.created or "")
        if earlier:  # an older fact (an import of an old conversation): it becomes the past of the newer one
            assert old is not None
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
            self._rewrite(
                old,
                {
                    "status": SUPERSEDED,
                    "superseded_by": memory_id,
                    "invalid_at": meta["updated"],
                    "updated": meta["updated"],
                },
            )
            written.append(old.path)
            result.update(previous_memory=old.text, previous_id=old.id)
        return result

    def _rewrite(self, record: MemoryRecord, changes: dict[str, Any], body: str | None = None) -> None:
        """Change frontmatter keys (and maybe the body) of a memory's file if it is unchanged on disk."""
        path = self.core.vault.path(record.path)
        file_text, sha = self.core.vault.read(path)
        self.core.vault.replace(path, markdown.set_keys(file_text, changes, body=body), expected_sha=sha)

    def _add_past(self, record: MemoryRecord, earlier_id: str) -> None:
        self._rewrite(record, {"supersedes": [earlier_id, *[i for i in record.supersedes if i != earlier_id]]})

    def _create(self, text: str, meta: dict[str, Any]) -> tuple[str, str]:
        for attempt in (1, 2):  # the same text and id already on disk: a new id, once
            memory_id = self.core.unused_id()
            relpath = f"{MEMORIES_DIR}/{slug(text)}-{memory_id}.md"
            try:
                self.core.vault.create(relpath, markdown.render({"id": memory_id, **meta}, text + "\n"))
                return relpath, memory_id
            except FileExistsError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def forget_file(self, record: MemoryRecord, purge: bool, when: str | None = None) -> str:
        """Tombstone or remove one memory's file; the caller holds the writer lock."""
        vault = self.core.vault
        if purge:
            path = vault.path(record.path)
            vault.remove(path, expected_sha=vault.read(path)[1])
            return "Memory purged successfully!"
        if record.status == DELETED:
            return "Memory already deleted."
        now = when or self.core.now()
        history = [*record.history, {"event": "DELETE", "at": now}]
        self._rewrite(record, {"status": DELETED, "invalid_at": now, "updated": now, "history": history})
        return "Memory deleted successfully!"

    # -- edits -----------------------------------------------------------------------------------

    def update(self, memory_id: str, data: str, *, redact: bool | None = None) -> dict[str, Any]:
        """Replace a memory's text, keeping its id; the old text goes into its history."""
        core = self.core
        hide = core.settings.redact_secrets if redact is None else redact
        text = guard(check_text(data), redact_secrets=hide)
        with core.vault.lock():
            record = core.find_editable(memory_id)
            if record.status != CURRENT:
                raise InvalidInputError(f"{memory_id} is {record.status}; add a new memory instead")
            if text == record.text:
                return {"message": UNCHANGED, "id": memory_id}
            now = core.now()
            history = [*record.history, {"event": "UPDATE", "at": now, "old": record.text}]
            self._rewrite(record, {"updated": now, "history": history}, body=text + "\n")
            core.autocommit([record.path], f"mem: update {memory_id}")
        core.reindex(paths=[record.path])
        return {"message": "Memory updated successfully!", "id": memory_id}

    def delete(self, memory_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Forget a memory: a tombstone (`status: deleted`, kept on disk), or with purge the file goes."""
        core = self.core
        with core.vault.lock():
            record = core.find_editable(memory_id)
            message = self.forget_file(record, purge)
            core.autocommit([record.path], f"mem: {'purge' if purge else 'forget'} {memory_id}")
        core.reindex(paths=[record.path])
        return {"message": message, "id": memory_id}

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        purge: bool = False,
    ) -> dict[str, Any]:
        """Forget every memory of exactly this scope (shared memories are left alone)."""
        core = self.core
        scope = check_scopes(user_id, agent_id, run_id)
        if not scope:
            raise InvalidInputError("delete_all needs a user_id, agent_id or run_id; refusing to forget everything")
        targets = [
            r
            for r in core.scan()[0]
            if r.kind == "memory"
            and (purge or r.is_current)
            and all(getattr(r, key) == value for key, value in scope.items())
        ]
        with core.vault.lock():
            for record in targets:
                self.forget_file(record, purge)
            scope_text = " ".join(f"{key}={value}" for key, value in scope.items())
            verb = "purge" if purge else "forget"
            core.autocommit([r.path for r in targets], f"mem: {verb} {len(targets)} memories of {scope_text}")
        core.reindex(paths=[record.path for record in targets])
        return {"message": "Memories deleted successfully!", "count": len(targets)}
