"""Writing memory: add (extract + reconcile, or the LLM -> ADD a file, UPDATE a new file that
supersedes the old one, DELETE a tombstone, NONE nothing), update in place, forget, forget all."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from memcli.config import MEMORIES_DIR
from memcli.errors import ConflictError, IndexUnavailable, InvalidInputError
from memcli.graph.rewrite import autolink as graph_autolink
from memcli.guard.inputs import check_expiry, check_messages, check_plain, check_scopes, check_text
from memcli.guard.secrets import guard, guard_mapping, refuse
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing
from memcli.memory.core import Core
from memcli.memory.filters import scoped
from memcli.memory.reading import open_conflicts
from memcli.models import CURRENT, DELETED, SUPERSEDED, MemoryRecord
from memcli.text.normalize import squashed
from memcli.vault import markdown
from memcli.vault.files import new_id, slug

if TYPE_CHECKING:
    import numpy as np

    from memcli.index.core import SearchIndex
    from memcli.infer.llm import ChatClient
    from memcli.memory.deciding import Decided, Decider

log = logging.getLogger(__name__)

Messages = str | list[dict[str, Any]]
UNCHANGED = "Memory unchanged."  # update's message (Mem0's wording) when the text is the same
LONG_TEXT = 4000  # characters: a text this long is a document to keep whole, not a message to mine


def _given(scope: dict[str, str | None]) -> dict[str, str]:
    """The scope keys a record sets, as check_scopes returns a caller's ({"user": "ray"})."""
    return {key: value for key, value in scope.items() if value is not None}


def _scope_text(scope: dict[str, str | None]) -> str:
    return " ".join(f"{k}={v}" for k, v in scope.items() if v is not None) or "shared"


def written_by_mem(record: MemoryRecord) -> bool:
    """A memory file mem wrote (what `reset` removes): under memories/, with an id. Hand-written
    notes and entity notes are not."""
    return record.kind == "memory" and record.path.startswith(f"{MEMORIES_DIR}/")


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
        app_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        tags: Iterable[str] | None = None,
        source: str = "api",
        redact: bool | None = None,
        timestamp: datetime | str | float | None = None,
        replaces: list[str] | None = None,
        explain: bool = False,
        expiration_date: date | str | None = None,
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
        `replaces=[ids]` stores the text as one memory that supersedes exactly those memories
        (current memories of exactly this scope; the caller, e.g. an agent, has decided).
        Each ADD the decider was unsure about carries `possible_conflicts` ([{id, memory,
        score}]): memories it may replace, left current until confirmed (`supersede`) or
        rejected (`resolve_conflict`). `explain=True` adds, per result, the rule, features
        and numbers that decided it. `expiration_date` (a date, or an ISO date or time) is
        written as `expires:`; after it the memory leaves search, lists and context (it stays
        on disk, and in `include_all`/`as_of` searches of before).
        A secret in the text or metadata (API key, token, private key, password in a URL) is
        refused with SecretFoundError; with `redact=True` (or the vault's setting) it is stored
        as [REDACTED:kind] instead. One in a tag, a metadata key, a scope id or the source is
        refused either way (a redacted tag or scope would be shared by unrelated memories).
        """
        core = self.core
        scope = check_scopes(user_id, agent_id, run_id, app_id)
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a mapping of keys to values")
        check_plain(metadata or {}, "metadata")
        expires = check_expiry(expiration_date)
        when = core.moment(timestamp)
        tag_list = [str(tag).strip() for tag in (tags or []) if str(tag).strip()]
        refuse({**{f"{key} id": value for key, value in scope.items()}, "tag": tag_list, "source": source})
        hide = core.settings.redact_secrets if redact is None else redact
        turns = [(role, guard(text, redact_secrets=hide)) for role, text in check_messages(messages, infer)]
        metadata = guard_mapping(metadata, redact_secrets=hide)
        replaced = self._replaceable(replaces, scope) if replaces is not None else None
        explained: dict[str, Any] = {"sentences": [], "trace": []}
        index = core.fresh() if infer and replaced is None else None
        known_vectors: dict[str, np.ndarray] = {}
        decided_on: int | None = None  # the index generation a decision was made on
        if replaced is not None:
            text = "\n\n".join(text for _, text in turns)
            decisions = [
                Decision(ADD, text=text, why=f"replaces {', '.join(r.id for r in replaced)} (named by the caller)")
            ]
        elif index is not None and isinstance(messages, str) and (len(messages) > LONG_TEXT or "```" in messages):
            # a document or a code snippet, not a message: kept whole (search finds its parts)
            decisions = [Decision(ADD, text=turns[0][1], why="a long text or code: stored as given")]
        elif index is None:
            decisions = [Decision(ADD, text=text) for role, text in turns]
        else:
            decided_on = index.generation
            decisions, known_vectors, explained = self._decided(index, turns, scope, when)
        link = self._linker(index) if index is not None and core.settings.autolink else None
        meta = {
            "created": when,
            "updated": when,
            **scope,
            "tags": tag_list or None,
            "metadata": dict(metadata) if metadata else None,
            "source": source,
            "expires": expires,
        }
        results: list[dict[str, Any]] = []
        written: list[str] = []
        with core.vault.lock():
            if index is not None and decided_on is not None:
                index.load_current()  # every mem writer indexes its files before it lets go of the lock
                if index.generation != decided_on:  # another writer changed memory meanwhile: decide again
                    decisions, known_vectors, explained = self._decided(index, turns, scope, when)
            if replaced is not None:  # checked again as the files say now, before anything is written
                replaced = self._replaceable([r.id for r in replaced], scope)
            for decision in decisions:
                results.append(self.apply(decision, meta, link, written, explain))
            if replaced is not None:
                self._supersede_named(replaced, results[0], written[0], when, written)
            core.autocommit(written, f"mem: {summary(results)}")
            core.settle()
            if written and known_vectors and not tag_list:  # the model text of a tagless memory is its text
                with contextlib.suppress(IndexUnavailable):  # a saving only: the reindex below says why
                    core.index().seed_vectors(
                        {r["memory"]: known_vectors[r["memory"]] for r in results if r["memory"] in known_vectors}
                    )
            if written:  # indexed (and embedded) before the lock goes: the next writer decides on it
                core.index_written(written)
        return {"results": results, "explain": explained} if explain else {"results": results}

    # -- deciding --------------------------------------------------------------------------------

    def _linker(self, index: SearchIndex) -> Callable[[str], str] | None:
        if not index.has_links:
            return None  # no [[links]] anywhere: no entity to link (and no graph to build)
        graph = self.core.graph(index)
        return (lambda text: graph_autolink(text, graph)) if graph.entities else None

    def _decided(
        self, index: SearchIndex, turns: list[tuple[str, str]], scope: dict[str, str], when: str | None
    ) -> tuple[list[Decision], dict[str, np.ndarray], dict[str, Any]]:
        """The decisions, the vectors embedded on the way, and what --explain shows of the reading."""
        decided = self.decide(index, turns, scope, when)
        return decided.decisions, decided.known_vectors, {"sentences": decided.sentences, "trace": decided.trace}

    def decide(
        self, index: SearchIndex, turns: list[tuple[str, str]], scope: dict[str, str], when: str | None = None
    ) -> Decided:
        """Extract facts and reconcile them with the current memories of exactly this scope
        (scopes never supersede each other), by the decider this vault is configured for.
        `when` (ISO time) is the message's date, for the LLM to read relative dates by."""
        return self.decider().decide(index, index.exact_scope(scope), turns, when)

    def decider(self) -> Decider:
        """The LLM's decider when one is configured and not paused (it failed too often lately,
        and one warning said so), else the rules'."""
        # the rules, the heads and the LLM client: loaded by the first add, not by every import
        from memcli.memory.deciding import LLMDecider, RulesDecider

        llm = self._llm_client()
        return LLMDecider(llm) if llm is not None and not llm.paused() else RulesDecider()

    def _llm_client(self) -> ChatClient | None:
        s = self.core.settings
        if not (s.llm_base_url and s.llm_model):
            return None
        from memcli.infer.llm import ChatClient

        return ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)

    # -- writing ---------------------------------------------------------------------------------

    def apply(
        self,
        decision: Decision,
        meta: dict[str, Any],
        link: Callable[[str], str] | None,
        written: list[str],
        explain: bool = False,
    ) -> dict[str, Any]:
        """Write one decision; the caller holds the writer lock. Returns its result dict."""
        result = self._apply(decision, meta, link, written)
        if explain:
            result["explain"] = {"rule": decision.why, **decision.trace}
        return result

    def _apply(
        self, decision: Decision, meta: dict[str, Any], link: Callable[[str], str] | None, written: list[str]
    ) -> dict[str, Any]:
        decision, old = self._as_now(decision)
        target = decision.target
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
        conflicts = [
            (record, score)
            for existing, score in decision.conflicts
            if (record := self.core.loaded(existing.id)) is not None and record.is_current
        ]
        flags = [record.id for record, _ in conflicts]
        if decision.event == UPDATE and old and not earlier:
            flags += self._flags_of(old, but=set(flags))
        if flags:
            extra["may_conflict"] = flags
        relpath, memory_id = self._create(text, {**meta, **extra})
        written.append(relpath)
        if earlier:
            assert old is not None
            self._add_past(old, memory_id)
            written.append(old.path)
            return {"id": memory_id, "memory": text, "event": ADD, "reason": f"older than {old.id}: kept as its past"}
        result: dict[str, Any] = {"id": memory_id, "memory": text, "event": decision.event}
        if decision.why and decision.why != "new":  # a plain ADD stays Mem0's {id, memory, event}
            result["reason"] = decision.why
        if conflicts:
            result["possible_conflicts"] = [
                {"id": record.id, "memory": record.text, "score": round(score, 3)} for record, score in conflicts
            ]
        if decision.event == UPDATE and old:
            self._mark_superseded(old, memory_id, meta["updated"])
            written.append(old.path)
            result.update(previous_memory=old.text, previous_id=old.id)
        return result

    def _as_now(self, decision: Decision) -> tuple[Decision, MemoryRecord | None]:
        """The decision checked against its memory's file as it is now, and that memory. Another
        writer may have changed it since the decision: never act on a stale view."""
        if decision.target is None:
            return decision, None
        old = self._now(decision.target.id)
        if old is not None and decision.event == UPDATE and not old.is_current:
            decision, old = self._redecide(decision, old)  # the slot's value is now its successor
            if decision.event == NONE:
                return decision, old
        if old is None or not old.is_current:
            if decision.event != UPDATE:
                return replace(decision, event=NONE, why="changed meanwhile; left alone"), None
            return Decision(ADD, text=decision.text, why="its memory changed meanwhile"), None
        return decision, old

    def _now(self, memory_id: str) -> MemoryRecord | None:
        """A memory as its file says now (another process may have changed it since the index
        was read), or None when it is gone; the caller holds the writer lock."""
        record = self.core.loaded(memory_id)
        if record is None:
            self.core.catch_up()  # another writer's new file, not yet in this process's index
            record = self.core.loaded(memory_id)
        return None if record is None else self.core.current(record)

    def _redecide(self, decision: Decision, old: MemoryRecord) -> tuple[Decision, MemoryRecord | None]:
        """An UPDATE whose memory was superseded meanwhile (four processes each adding "I moved
        to …") applies to the memory that superseded it, the slot's value now, followed down the
        chain; the same text there is NONE. Deleted meanwhile: an ADD (the caller's rule)."""
        seen = {old.id}
        head: MemoryRecord | None = old
        while head is not None and head.status == SUPERSEDED and head.superseded_by not in seen:
            seen.add(head.superseded_by or "")
            head = self._now(head.superseded_by) if head.superseded_by else None
        if head is None or not head.is_current or _given(head.scope()) != _given(old.scope()):
            return decision, old
        why = f"{decision.why}; {old.id} was replaced meanwhile by {head.id}"
        if squashed(head.text) == squashed(decision.text or ""):
            return replace(
                decision, event=NONE, target=Existing(head.id, head.text), why=f"already known ({why})"
            ), head
        return replace(decision, target=Existing(head.id, head.text), why=why), head

    def _rewrite(self, record: MemoryRecord, changes: dict[str, Any], body: str | None = None) -> None:
        """Change frontmatter keys (and maybe the body) of a memory's file if it is unchanged on disk."""
        path = self.core.vault.path(record.path)
        file_text, sha = self.core.vault.read(path)
        if record.sha256 and sha != record.sha256:  # the record is what the caller decided on
            raise ConflictError(f"{record.path} changed on disk since mem read it; nothing written, try again")
        self.core.vault.replace(path, markdown.set_keys(file_text, changes, body=body), expected_sha=sha)

    def _flags_of(self, old: MemoryRecord, but: set[str]) -> list[str]:
        """The open possible conflicts of a memory being superseded, for its successor: "A may
        replace B" and C replaces A, so C may replace B (else B would read as current again)."""
        return [
            i
            for i in open_conflicts(old)
            if i not in but and (record := self.core.loaded(i)) is not None and record.is_current
        ]

    def _mark_superseded(self, old: MemoryRecord, by: str, when: str) -> None:
        self._rewrite(old, {"status": SUPERSEDED, "superseded_by": by, "invalid_at": when, "updated": when})

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
            vault.remove(path, expected_sha=record.sha256 or vault.read(path)[1])
            return "Memory purged successfully!"
        if record.status == DELETED:
            return "Memory already deleted."
        now = when or self.core.now()
        history = [*record.history, {"event": "DELETE", "at": now}]
        self._rewrite(record, {"status": DELETED, "invalid_at": now, "updated": now, "history": history})
        return "Memory deleted successfully!"

    # -- supersede by name: an agent's `replaces`, a person's `mem supersede` and `mem review` ------

    def _replaceable(self, ids: list[str], scope: dict[str, str]) -> list[MemoryRecord]:
        """The memories `replaces` names, each checked: a current memory of exactly this scope."""
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidInputError("replaces must be a non-empty list of memory ids")
        records = []
        for memory_id in dict.fromkeys(ids):
            record = self.core.find_editable(memory_id)
            if not record.is_current:
                raise InvalidInputError(f"{memory_id} is {record.status}; only a current memory can be replaced")
            if _given(record.scope()) != scope:
                raise InvalidInputError(
                    f"{memory_id} belongs to another scope ({_scope_text(record.scope())}); scopes never replace each other"
                )
            records.append(record)
        return records

    def _supersede_named(
        self, replaced: list[MemoryRecord], result: dict[str, Any], new_path: str, when: str, written: list[str]
    ) -> None:
        for record in replaced:
            self._supersede(record, new_path, when, written)
        result["event"] = UPDATE
        result.update(previous_memory=replaced[0].text, previous_id=replaced[0].id)
        if len(replaced) > 1:
            result["replaced"] = [{"id": r.id, "memory": r.text} for r in replaced]

    def _supersede(self, old: MemoryRecord, new_path: str, when: str, written: list[str]) -> None:
        """The memory at `new_path` replaces `old`: the old file is marked superseded, the new one
        lists it (and no longer flags it as a possible conflict). The caller holds the writer lock."""
        fresh = self.core.read_record(new_path)
        self._mark_superseded(old, fresh.id, when)
        changes: dict[str, Any] = {"supersedes": [*[i for i in fresh.supersedes if i != old.id], old.id]}
        kept = [i for i in fresh.may_conflict if i != old.id]
        may = kept + self._flags_of(old, but={*kept, fresh.id, *fresh.not_conflicting})
        if may != fresh.may_conflict:
            changes["may_conflict"] = may or markdown.REMOVE
        self._rewrite(fresh, changes)
        written += [old.path, new_path]

    def supersede(self, new_id: str, old_id: str) -> dict[str, Any]:
        """Mark memory `old_id` as replaced by `new_id` (both current, the same scope): what `mem
        supersede NEW OLD` and accepting a possible conflict in `mem review` do."""
        core = self.core
        if new_id == old_id:
            raise InvalidInputError("a memory cannot supersede itself")
        with core.vault.lock():
            new = core.find_editable(new_id)
            if not new.is_current:
                raise InvalidInputError(f"{new_id} is {new.status}; only a current memory can supersede another")
            (old,) = self._replaceable([old_id], _given(new.scope()))
            written: list[str] = []
            self._supersede(old, new.path, core.now(), written)
            core.autocommit(written, f"mem: {new_id} supersedes {old_id}")
        core.index_written(written)
        return {"id": new_id, "memory": new.text, "event": UPDATE, "previous_id": old.id, "previous_memory": old.text}

    def keep_both(self, new_id: str, old_id: str) -> dict[str, Any]:
        """Reject a possible conflict: both memories stay current, and the pair is not asked again."""
        core = self.core
        with core.vault.lock():
            new = core.find_editable(new_id)
            if old_id not in new.may_conflict:
                raise InvalidInputError(f"{new_id} has no open possible conflict with {old_id}; see `mem review`")
            fresh = core.read_record(new.path)
            may = [i for i in fresh.may_conflict if i != old_id]
            self._rewrite(
                fresh,
                {"may_conflict": may or markdown.REMOVE, "not_conflicting": [*fresh.not_conflicting, old_id]},
            )
            core.autocommit([new.path], f"mem: {new_id} and {old_id} are both true")
        core.index_written([new.path])
        return {"id": new_id, "kept": old_id}

    # -- edits -----------------------------------------------------------------------------------

    def update(
        self,
        memory_id: str,
        data: str | None = None,
        *,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        redact: bool | None = None,
    ) -> dict[str, Any]:
        """Replace a memory's text (`data`, or `text=` as Mem0's client names it) and/or its
        metadata (replaced whole), keeping its id; the old text goes into its history."""
        core = self.core
        if data is not None and text is not None and data != text:
            raise InvalidInputError("update takes the new text once: as data or as text=, not both")
        new_text = data if data is not None else text
        if new_text is None and metadata is None:
            raise InvalidInputError("update needs the new text (data= or text=) or metadata=")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a mapping of keys to values")
        check_plain(metadata or {}, "metadata")
        hide = core.settings.redact_secrets if redact is None else redact
        checked = guard(check_text(new_text), redact_secrets=hide) if new_text is not None else None
        new_metadata = guard_mapping(metadata, redact_secrets=hide)
        with core.vault.lock():
            record = core.find_editable(memory_id)
            if record.status != CURRENT:
                raise InvalidInputError(f"{memory_id} is {record.status}; add a new memory instead")
            text = record.text if checked is None else checked
            if text == record.text and (new_metadata is None or new_metadata == record.metadata):
                return {"message": UNCHANGED, "id": memory_id}
            now = core.now()
            written = [record.path]
            changes: dict[str, Any] = {"updated": now}
            if text != record.text:
                changes["history"] = [*record.history, {"event": "UPDATE", "at": now, "old": record.text}]
            if new_metadata is not None:
                changes["metadata"] = new_metadata or markdown.REMOVE
            body = text + "\n" if text != record.text else None  # a metadata change keeps the body as written
            if len(self._rendered(record, changes, body).encode()) > core.settings.max_file_bytes // 2:
                changes = {**changes, **self._move_past_out(record, now, body, written)}
            self._rewrite(record, changes, body=body)
            core.autocommit(written, f"mem: update {memory_id}")
        core.index_written(written)
        return {"message": "Memory updated successfully!", "id": memory_id}

    def _rendered(self, record: MemoryRecord, changes: dict[str, Any], body: str | None) -> str:
        file_text, _ = self.core.vault.read(self.core.vault.path(record.path))
        return markdown.set_keys(file_text, changes, body=body)

    def _move_past_out(self, record: MemoryRecord, now: str, body: str | None, written: list[str]) -> dict[str, Any]:
        """A memory updated often would outgrow the size mem reads (and vanish): its past, the
        text it has now with all its history, moves to a superseded file that it supersedes; its
        own history starts again. `mem history` reads across both. Returns the file's changes."""
        past = {
            "created": record.created,
            "updated": now,
            **_given(record.scope()),
            "tags": record.tags or None,
            "metadata": record.metadata or None,
            "source": record.source,
            "status": SUPERSEDED,
            "superseded_by": record.id,
            "invalid_at": now,
            "supersedes": record.supersedes or None,
            "history": record.history or None,
        }

        def changes(past_id: str) -> dict[str, Any]:
            return {
                "updated": now,
                "history": [{"event": "UPDATE", "at": now, "past": past_id}],  # the old text is the past's
                "supersedes": [past_id, *record.supersedes],
            }

        vault = self.core.vault  # refused before anything is written when even that is too big
        vault.check_size(vault.path(record.path), self._rendered(record, changes(new_id()), body))
        past_path, past_id = self._create(record.text, past)
        written.append(past_path)
        return changes(past_id)

    def delete(self, memory_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Forget a memory: a tombstone (`status: deleted`, kept on disk), or with purge the file goes."""
        core = self.core
        with core.vault.lock():
            record = core.find_editable(memory_id)
            message = self.forget_file(record, purge)
            core.autocommit([record.path], f"mem: {'purge' if purge else 'forget'} {memory_id}")
        core.index_written([record.path])
        return {"message": message, "id": memory_id}

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
        purge: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Forget every memory of exactly this scope (shared memories are left alone), or those
        of it `filters` selects (Mem0's language, as in `search`; its plain scope values count as
        the scope)."""
        core = self.core
        scope, where = scoped(check_scopes(user_id, agent_id, run_id, app_id), filters)
        if not scope:
            raise InvalidInputError(
                "delete_all needs a user_id, agent_id, run_id or app_id; refusing to forget everything"
            )
        targets = [
            r
            for r in core.scan()[0]
            if r.kind == "memory"
            and (purge or r.is_current)
            and all(getattr(r, key) == value for key, value in scope.items())
            and where(r)
        ]
        with core.vault.lock():
            for record in targets:
                self.forget_file(core.current(record), purge)
            scope_text = " ".join(f"{key}={value}" for key, value in scope.items())
            verb = "purge" if purge else "forget"
            core.autocommit([r.path for r in targets], f"mem: {verb} {len(targets)} memories of {scope_text}")
        core.index_written([record.path for record in targets])
        return {"message": "Memories deleted successfully!", "count": len(targets)}

    def delete_users(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        """Forget a user, agent or run (Mem0's delete_users): every memory that names it, whatever
        else its scope says. Each given key is one entity; tombstones stay on disk, with history."""
        given = check_scopes(user_id, agent_id, run_id, app_id)
        if not given:
            raise InvalidInputError("delete_users needs a user_id, agent_id, run_id or app_id")
        count = 0
        for key, value in given.items():
            count += self.delete_all(filters={f"{key}_id": value})["count"]
        return {"message": "Entities deleted successfully!", "count": count}

    def reset(self) -> dict[str, Any]:
        """Forget every memory mem wrote (Mem0's reset): their files under memories/ are removed
        and leave the index. Hand-written notes and entity notes stay. Asks nothing (the
        CLI's `mem reset` does); in a git vault it is one commit, which git can bring back."""
        core = self.core
        with core.vault.lock():
            records = [r for r in core.scan()[0] if written_by_mem(r)]
            for record in records:
                self.forget_file(core.current(record), purge=True)
            core.autocommit([r.path for r in records], f"mem: reset, {len(records)} memories removed")
        core.index_written([r.path for r in records])
        return {"message": "Memory reset successfully!", "count": len(records)}
